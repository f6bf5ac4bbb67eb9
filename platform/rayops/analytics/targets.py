"""The metrics analytics reports on, per task, their targets, hard limits and status.

The endpoint's task (its reference version's model card) decides the metric set:

==========  =======================================================================
task        metrics (then latency p50 / p95 / p99 and error rate for every task)
==========  =======================================================================
regression  mae, rmse, accuracy (within ±T, T derived from the card)
binary      logloss, auc, accuracy, f1, precision, recall, brier, ece
multiclass  logloss, accuracy, macro_f1, brier
==========  =======================================================================

Targets and limits are monitoring's health levels (:func:`rayops.monitoring.health.
quality_limits`, one setting per level): the *warning* level is the target, the
*critical* level the limit, so accuracy and AUC follow the card (10% / 20% worse
than its holdout value) unless set. Metrics on the target's scale or without a
health level follow the card too:

=========================  ======  ==============================================  =====
metric                     better  target                                          limit
=========================  ======  ==============================================  =====
mae, rmse                  lower   ``analytics_target_mae`` / ``_rmse``; unset:    none
                                   holdout × (1 + ``analytics_quality_margin``)
logloss, brier, ece        lower   holdout × (1 + ``analytics_quality_margin``)    none
f1, precision, recall,     higher  holdout × (1 - ``analytics_quality_margin``)    none
macro_f1
accuracy, auc              higher  monitoring's warning level                      its critical
latency_p95_ms             lower   ``monitoring_latency_warning_ms``               ``_critical_ms``
error_rate                 lower   ``monitoring_error_rate_warning``               ``_critical``
latency p50, p99           lower   none                                            none
=========================  ======  ==============================================  =====

A metric is **critical** past its limit, or past its target while declining;
**warning** past its target, or within it but declining; **ok** otherwise.

Example:
    >>> from rayops.config import Settings
    >>> spec = METRICS["accuracy"]
    >>> target_for(spec, Settings(), baseline=None)
    (0.8, 'settings')
    >>> [m.name for m in metrics_for("binary")][:3]
    ['logloss', 'auc', 'accuracy']
    >>> status_of(0.7, 0.8, 0.75, Trend.STABLE, higher_is_better=True)
    <MetricStatus.CRITICAL: 'critical'>
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from rayops.analytics.report import MetricStatus
from rayops.analytics.trends import Trend
from rayops.config import Settings
from rayops.monitoring.health import quality_limits
from rayops.monitoring.quality import card_metric

if TYPE_CHECKING:
    from rayops.monitoring.quality import VersionInfo

__all__ = [
    "METRICS",
    "MetricSpec",
    "card_baseline",
    "limit_for",
    "metrics_for",
    "past",
    "primary_loss",
    "status_of",
    "target_for",
]


@dataclass(frozen=True)
class MetricSpec:
    """How to read one metric: its unit, direction and which rows it needs."""

    name: str
    label: str
    unit: str
    higher_is_better: bool
    needs: Literal["labeled", "requests", "outcomes"]


#: Every metric analytics knows, by name (each task reports a subset: :func:`metrics_for`).
METRICS: dict[str, MetricSpec] = {
    s.name: s
    for s in (
        MetricSpec("mae", "MAE", "target units", False, "labeled"),
        MetricSpec("rmse", "RMSE", "target units", False, "labeled"),
        MetricSpec("logloss", "Log loss", "nats", False, "labeled"),
        MetricSpec("auc", "ROC AUC", "score", True, "labeled"),
        MetricSpec("accuracy", "Accuracy (within ±T)", "share", True, "labeled"),
        MetricSpec("f1", "F1", "score", True, "labeled"),
        MetricSpec("precision", "Precision", "share", True, "labeled"),
        MetricSpec("recall", "Recall", "share", True, "labeled"),
        MetricSpec("macro_f1", "Macro F1", "score", True, "labeled"),
        MetricSpec("brier", "Brier score", "score", False, "labeled"),
        MetricSpec("ece", "Calibration error (ECE)", "share", False, "labeled"),
        MetricSpec("latency_p50_ms", "Latency p50", "ms", False, "requests"),
        MetricSpec("latency_p95_ms", "Latency p95", "ms", False, "requests"),
        MetricSpec("latency_p99_ms", "Latency p99", "ms", False, "requests"),
        MetricSpec("error_rate", "Error rate", "share", False, "outcomes"),
    )
}

_QUALITY = {
    "regression": ("mae", "rmse", "accuracy"),
    "binary": ("logloss", "auc", "accuracy", "f1", "precision", "recall", "brier", "ece"),
    "multiclass": ("logloss", "accuracy", "macro_f1", "brier"),
}
_OPERATIONS = ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "error_rate")


def metrics_for(task: str) -> list[MetricSpec]:
    """The metrics of a ``task`` (regression, binary, multiclass), in report order; a
    classifier's accuracy is the share of right labels, not "within ±T"."""
    out = [METRICS[n] for n in (*_QUALITY.get(task, _QUALITY["regression"]), *_OPERATIONS)]
    if task != "regression":
        out = [
            MetricSpec("accuracy", "Accuracy", "share", True, "labeled")
            if m.name == "accuracy"
            else m
            for m in out
        ]
    return out


def quality_names(task: str) -> tuple[str, ...]:
    """The quality metrics of ``task``."""
    return _QUALITY.get(task, _QUALITY["regression"])


def primary_loss(task: str) -> str:
    """The per-row loss summary versions are compared on: MAE, or log loss."""
    return "mae" if task == "regression" else "logloss"


def target_for(
    spec: MetricSpec,
    settings: Settings,
    baseline: float | None,
    info: VersionInfo | None = None,
) -> tuple[float | None, Literal["settings", "baseline_margin"] | None]:
    """The target of ``spec`` and where it comes from (None: the metric has no target)."""

    margin = settings.analytics.quality_margin
    if spec.name in ("accuracy", "auc"):
        limits = quality_limits(info, settings)
        if spec.name not in limits:
            return None, None
        _, warning, _, source = limits[spec.name]
        return float(warning), "settings" if source != "card" else "baseline_margin"
    fixed = {
        "mae": settings.analytics.target_mae,
        "rmse": settings.analytics.target_rmse,
        "latency_p95_ms": settings.monitoring.latency_warning_ms,
        "error_rate": settings.monitoring.error_rate_warning,
    }.get(spec.name)
    if fixed is not None:
        return float(fixed), "settings"
    if baseline is None or spec.name not in (*_QUALITY["binary"], *_QUALITY["multiclass"],
                                             "mae", "rmse"):  # fmt: skip
        return None, None
    factor = (1 - margin) if spec.higher_is_better else (1 + margin)
    return baseline * factor, "baseline_margin"


def limit_for(
    spec: MetricSpec, settings: Settings, info: VersionInfo | None = None
) -> float | None:
    """The hard limit of ``spec``: the monitoring health's critical level."""

    if spec.name in ("accuracy", "auc"):
        limits = quality_limits(info, settings)
        return float(limits[spec.name][2]) if spec.name in limits else None
    return {
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
    return card_metric(metrics, metric)
