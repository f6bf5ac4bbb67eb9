"""The metrics analytics reports on, their targets, hard limits and status.

Targets and limits are the monitoring health thresholds (one setting per level,
shared with :mod:`rayops.monitoring.health`): the *warning* level is the target,
the *critical* level the limit. MAE and RMSE depend on the target's scale, so
they have their own settings, or follow the model card.

=================  ======  ===================================  ==============================
metric             better  target                               limit (critical past it)
=================  ======  ===================================  ==============================
mae, rmse          lower   ``analytics_target_mae`` / ``_rmse``;  none
                           unset: the model card's holdout value
                           × (1 + ``analytics_quality_margin``)
accuracy           higher  ``monitoring_accuracy_warning``      ``monitoring_accuracy_critical``
latency_p95_ms     lower   ``monitoring_latency_warning_ms``    ``monitoring_latency_critical_ms``
error_rate         lower   ``monitoring_error_rate_warning``    ``monitoring_error_rate_critical``
latency p50, p99   lower   none                                 none
=================  ======  ===================================  ==============================

A metric is **critical** past its limit, or past its target while declining;
**warning** past its target, or within it but declining; **ok** otherwise.

Example:
    >>> from rayops.config import Settings
    >>> spec = METRICS["accuracy"]
    >>> target_for(spec, Settings(), baseline=None)
    (0.8, 'settings')
    >>> status_of(0.7, 0.8, 0.75, Trend.STABLE, higher_is_better=True)
    <MetricStatus.CRITICAL: 'critical'>
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from rayops.analytics.report import MetricStatus
from rayops.analytics.trends import Trend
from rayops.config import Settings

__all__ = ["METRICS", "MetricSpec", "card_baseline", "limit_for", "past", "status_of", "target_for"]


@dataclass(frozen=True)
class MetricSpec:
    """How to read one metric: its unit, direction and which rows it needs."""

    name: str
    label: str
    unit: str
    higher_is_better: bool
    needs: Literal["labeled", "requests", "outcomes"]


METRICS: dict[str, MetricSpec] = {
    s.name: s
    for s in (
        MetricSpec("mae", "MAE", "target units", False, "labeled"),
        MetricSpec("rmse", "RMSE", "target units", False, "labeled"),
        MetricSpec("accuracy", "Accuracy (within ±T)", "share", True, "labeled"),
        MetricSpec("latency_p50_ms", "Latency p50", "ms", False, "requests"),
        MetricSpec("latency_p95_ms", "Latency p95", "ms", False, "requests"),
        MetricSpec("latency_p99_ms", "Latency p99", "ms", False, "requests"),
        MetricSpec("error_rate", "Error rate", "share", False, "outcomes"),
    )
}


def target_for(
    spec: MetricSpec, settings: Settings, baseline: float | None
) -> tuple[float | None, Literal["settings", "baseline_margin"] | None]:
    """The target of ``spec`` and where it comes from (None: the metric has no target)."""
    fixed = {
        "mae": settings.analytics.target_mae,
        "rmse": settings.analytics.target_rmse,
        "accuracy": settings.monitoring.accuracy_warning,
        "latency_p95_ms": settings.monitoring.latency_warning_ms,
        "error_rate": settings.monitoring.error_rate_warning,
    }.get(spec.name)
    if fixed is not None:
        return float(fixed), "settings"
    if spec.name in ("mae", "rmse") and baseline is not None:
        return baseline * (1 + settings.analytics.quality_margin), "baseline_margin"
    return None, None


def limit_for(spec: MetricSpec, settings: Settings) -> float | None:
    """The hard limit of ``spec``: the monitoring health's critical level."""
    return {
        "accuracy": settings.monitoring.accuracy_critical,
        "latency_p95_ms": settings.monitoring.latency_critical_ms,
        "error_rate": settings.monitoring.error_rate_critical,
    }.get(spec.name)


def past(value: float | None, bound: float | None, *, higher_is_better: bool) -> bool:
    """True when ``value`` is on the wrong side of ``bound``."""
    if value is None or bound is None:
        return False
    return value < bound if higher_is_better else value > bound


def status_of(
    value: float | None,
    target: float | None,
    limit: float | None,
    trend: Trend,
    *,
    higher_is_better: bool,
) -> MetricStatus:
    """The status of one metric value (see the module docstring)."""
    if value is None:
        return MetricStatus.NO_DATA
    declining = trend is Trend.DECLINING
    if past(value, limit, higher_is_better=higher_is_better):
        return MetricStatus.CRITICAL
    if past(value, target, higher_is_better=higher_is_better):
        return MetricStatus.CRITICAL if declining else MetricStatus.WARNING
    return MetricStatus.WARNING if declining else MetricStatus.OK


def card_baseline(metrics: Mapping[str, Any], metric: str) -> float | None:
    """``metric`` from a model card's metrics: holdout first, then flat, then CV mean."""
    for split in ("holdout", "cv", "cv_oof"):
        part = metrics.get(split)
        if isinstance(part, Mapping):
            for key in (metric, f"{metric}_mean"):
                if isinstance(part.get(key), int | float):
                    return float(part[key])
        if split == "holdout" and isinstance(metrics.get(metric), int | float):
            return float(metrics[metric])
    return None
