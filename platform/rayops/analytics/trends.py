"""Is a metric improving, declining or stable? A trend test that noise does not fool.

The earlier system compared the first and last values against a 5% threshold, so
one noisy bucket (or one outlier) flipped the verdict. Here a series of
``(time, value)`` points is classified in two steps:

1. **Size** — the Theil–Sen slope (``scipy.stats.theilslopes``: the median of the
   slopes between every pair of points, which ignores up to ~29% outliers) times
   the span of the series, relative to the series' level (its median, in
   absolute value): ``change = slope * span / |median|``. A trend must move the
   metric by at least ``threshold`` (``analytics_trend_threshold``,
   default 0.05 = 5%) over the span.
2. **Significance** — the Mann–Kendall test (Kendall's tau between time and
   value, ``scipy.stats.kendalltau``): the rank correlation must be significant
   at ``alpha`` (``analytics_trend_alpha``, default 0.05). Noise around a
   flat level has a large p-value, whatever its amplitude.

Both must hold; then the sign of the slope and whether higher is better decide
between *improving* and *declining*. With fewer than ``min_points`` usable points
the trend is *unknown*.

Reference: Sen (1968), "Estimates of the regression coefficient based on
Kendall's tau"; Mann (1945), "Nonparametric tests against trend".

Example:
    >>> from datetime import UTC, datetime, timedelta
    >>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
    >>> times = [t0 + timedelta(hours=h) for h in range(12)]
    >>> classify_trend(times, [1.0 + 0.1 * h for h in range(12)], higher_is_better=False).direction
    <Trend.DECLINING: 'declining'>
    >>> classify_trend(times, [5.0, 5.1, 4.9] * 4, higher_is_better=False).direction
    <Trend.STABLE: 'stable'>
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Trend", "TrendResult", "classify_trend"]

METHOD = "theil-sen slope + mann-kendall test"


class Trend(StrEnum):
    """Direction of a metric over a range, from the point of view of quality."""

    IMPROVING = "improving"
    DECLINING = "declining"
    STABLE = "stable"
    UNKNOWN = "unknown"  # too few points to tell


class TrendResult(BaseModel):
    """The trend of one series and the numbers it was decided on."""

    model_config = ConfigDict(extra="forbid")

    direction: Trend
    slope_per_day: float | None = Field(
        default=None, description="Theil-Sen slope, metric units per day."
    )
    change: float | None = Field(
        default=None,
        description="Relative change over the span: slope * span / |median| (0.1 = +10%).",
    )
    p_value: float | None = Field(default=None, description="Mann-Kendall two-sided p-value.")
    points: int = Field(ge=0, description="Points the trend was computed on.")
    span_hours: float = Field(default=0.0, ge=0, description="Hours from first to last point.")
    threshold: float = Field(gt=0, description="Smallest |change| that counts as a trend.")
    alpha: float = Field(gt=0, lt=1, description="Significance level of the Mann-Kendall test.")
    method: str = METHOD


def classify_trend(
    times: Sequence[datetime],
    values: Sequence[float | None],
    *,
    higher_is_better: bool,
    threshold: float = 0.05,
    alpha: float = 0.05,
    min_points: int = 5,
) -> TrendResult:
    """Classify ``values`` observed at ``times`` (see the module docstring).

    None and NaN values are left out. ``threshold`` is relative (0.05 = 5% of the
    series' median over its span).
    """
    from scipy import stats

    pairs = [
        (t, float(v))
        for t, v in zip(times, values, strict=True)
        if v is not None and math.isfinite(float(v))
    ]
    pairs.sort(key=lambda p: p[0])
    span_days = (pairs[-1][0] - pairs[0][0]).total_seconds() / 86_400 if pairs else 0.0

    def result(
        direction: Trend,
        slope: float | None = None,
        change: float | None = None,
        p_value: float | None = None,
    ) -> TrendResult:
        return TrendResult(
            direction=direction, slope_per_day=slope, change=change, p_value=p_value,
            points=len(pairs), span_hours=span_days * 24, threshold=threshold, alpha=alpha,
        )  # fmt: skip

    if len(pairs) < max(min_points, 3) or span_days <= 0:
        return result(Trend.UNKNOWN)
    t0 = pairs[0][0]
    days = [(t - t0).total_seconds() / 86_400 for t, _ in pairs]
    ys = [v for _, v in pairs]
    if max(ys) == min(ys):  # a constant series: no trend, and kendalltau is undefined
        return result(Trend.STABLE, 0.0, 0.0, 1.0)
    slope = float(stats.theilslopes(ys, days).slope)
    tau = stats.kendalltau(days, ys)
    p_value = float(tau.pvalue) if math.isfinite(float(tau.pvalue)) else 1.0
    level = abs(statistics.median(ys))
    if level <= 0:  # e.g. an error rate that is mostly zero: scale by the mean instead
        level = statistics.fmean(abs(y) for y in ys)
    change = slope * span_days / level if level > 0 else 0.0
    direction = Trend.STABLE
    if p_value < alpha and abs(change) >= threshold:
        rising = slope > 0
        direction = Trend.IMPROVING if rising == higher_is_better else Trend.DECLINING
    return result(direction, slope, change, p_value)
