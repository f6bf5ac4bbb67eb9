"""Analytics and dashboards (:mod:`rayops.analytics`): ranges, trends, targets."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from rayops.config._section import Section
from rayops.durations import DURATION_PATTERN

__all__ = ["AnalyticsSettings"]


class AnalyticsSettings(Section):
    """Analytics and dashboards (:mod:`rayops.analytics`): ranges, trends, targets."""

    env_prefix: ClassVar[str] = "RAYOPS_ANALYTICS_"
    env_names: ClassVar[dict[str, tuple[str, ...]]] = {
        "dashboard_refresh_s": ("RAYOPS_DASHBOARD_REFRESH_S",),
    }

    range: str = Field(
        default="24h",
        pattern=DURATION_PATTERN,
        description="Time range of analytics and dashboards when none is given. Default 24h.",
    )
    buckets: int = Field(
        default=24,
        ge=4,
        le=500,
        description=(
            "About this many time buckets per range for charts and trends (widths are rounded "
            "to 1, 2, 5, 10, 15, 30 min, 1, 2, 3, 6, 12 h or 1 day). Default 24."
        ),
    )
    current_hours: float = Field(
        default=24.0,
        gt=0,
        description=(
            "A metric's 'current' value is measured over the last this many hours of the range "
            "(the whole range if shorter). Default 24."
        ),
    )
    trend_threshold: float = Field(
        default=0.05,
        gt=0,
        description=(
            "A trend is improving or declining only if its Theil-Sen slope moves the metric by at "
            "least this share of its median over the range (0.05 = 5%)."
        ),
    )
    trend_alpha: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description="Significance level of the Mann-Kendall test a trend must also pass.",
    )
    trend_min_points: int = Field(
        default=5, ge=3, description="Fewest buckets with data for a trend; fewer: unknown."
    )
    trend_min_rows: int = Field(
        default=10,
        ge=1,
        description=(
            "Buckets with fewer labeled rows (quality) or requests (latency, errors) are left out "
            "of trends. Default 10."
        ),
    )
    target_mae: float | None = Field(
        default=None,
        gt=0,
        description=(
            "Target MAE. Unset: the model card's holdout MAE × (1 + analytics_quality_margin)."
        ),
    )
    target_rmse: float | None = Field(
        default=None,
        gt=0,
        description=(
            "Target RMSE. Unset: the model card's holdout RMSE × (1 + analytics_quality_margin)."
        ),
    )
    quality_margin: float = Field(
        default=0.1,
        ge=0,
        description=(
            "Without a set MAE/RMSE target, the target is the model card's holdout value plus "
            "this share (0.1 = 10%)."
        ),
    )
    drift_max_rows: int = Field(
        default=20_000,
        ge=100,
        description=(
            "Most logged rows whose features are parsed for drift per report (the latest); "
            "bounds the cost of drift on busy endpoints."
        ),
    )
    drift_min_rows: int = Field(
        default=200,
        ge=20,
        description=(
            "Fewest rows a drift-over-time bucket needs; chart buckets are merged until they "
            "hold this many (drift statistics on a few dozen rows are noise). Default 200."
        ),
    )
    events: int = Field(
        default=10, ge=1, description="Latest deployment events shown per endpoint."
    )
    cache_s: float = Field(
        default=5.0,
        ge=0,
        description=(
            "Seconds the web dashboard keeps a computed report, so open pages do not re-read "
            "storage on every poll. Default 5."
        ),
    )
    report_ttl_s: float = Field(
        default=10.0,
        ge=0,
        description=(
            "Seconds a dashboard report stored under analytics/<endpoint>/reports/ is served to "
            "every gateway replica before one recomputes it; 0 computes in each replica. "
            "Default 10."
        ),
    )
    dashboard_refresh_s: float = Field(
        default=10.0,
        gt=0,
        description="Seconds between refreshes of the web and terminal dashboards. Default 10.",
    )
