"""Recommendations: what to do about a report, how urgent, in plain words.

Rules, in the order they are checked (each gives at most one recommendation per
metric and version):

* **quality** (the task's: accuracy, MAE, RMSE for regression; accuracy, AUC, log
  loss, F1, Brier, ECE for classifiers) past target and declining → *high* (critical
  past the hard limit): retrain. Past target, stable → *medium* (high past the
  limit): compare versions, check drift. Within target but declining → *medium*: watch.
* **error rate** past the limit → *critical*, past target → *high*: find the failing
  requests, roll back the version that fails.
* **latency p95** of a version past the limit → *high*, past target → *medium*:
  check batch size and replica CPUs, or roll back.
* **drift**: the dataset drifted → *critical* if quality is also past target or
  declining, else *high*: retrain on recent data. Some features drifted → *medium*.
* **versions**: a version significantly worse than the reference (MAE, or log loss
  for classifiers, worse by at least ``rollout_max_degradation``, Mann-Whitney p <
  ``rollout_alpha`` on the per-row losses) → *high*: roll
  it back; significantly better → *medium*: promote it.
* **operations**: a holding rollout, a pending retrain request, traffic without
  feedback, no traffic at all → *medium*.

Example:
    >>> fmt("accuracy", 0.781), fmt("latency_p95_ms", 182.4), fmt("mae", 3.14159)
    ('78.1%', '182 ms', '3.14')
    >>> fmt("auc", 0.91234), fmt("logloss", 0.2345)
    ('0.912', '0.234')
    >>> duration(73)
    '3 days'
"""

from __future__ import annotations

from datetime import datetime

from rayops.analytics.report import (
    DeploymentOut,
    DriftSummary,
    MetricStatus,
    MetricSummary,
    Priority,
    Recommendation,
    TimelineEvent,
    TimelineKind,
    Totals,
    VersionSummary,
)
from rayops.analytics.targets import METRICS, past
from rayops.analytics.trends import Trend
from rayops.config import Settings

__all__ = ["duration", "fmt", "recommend"]

#: Quality metrics of every task (a report carries only its task's).
_QUALITY = ("accuracy", "mae", "rmse", "logloss", "auc", "f1", "macro_f1", "brier", "ece")
_LOSS_NAME = {"mae": "MAE", "logloss": "log loss"}


def fmt(metric: str, value: float | None) -> str:
    """A metric value as people read it: shares in percent, latency in ms."""
    if value is None:
        return "n/a"
    unit = METRICS[metric].unit if metric in METRICS else ""
    if unit == "share":
        return f"{value:.1%}"
    if unit == "ms":
        return f"{value:.0f} ms"
    if unit == "score":
        return f"{value:.3f}"
    return f"{value:.3g}"


def duration(hours: float) -> str:
    """``hours`` as '3 days', '5 hours' or '40 minutes'."""
    if hours >= 36:
        n, unit = round(hours / 24), "day"
    elif hours >= 1.5:
        n, unit = round(hours), "hour"
    else:
        n, unit = max(round(hours * 60), 1), "minute"
    return f"{n} {unit}{'s' if n != 1 else ''}"


def _p(p: float) -> str:
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def _rec(
    priority: Priority, title: str, action: str, metric: str | None = None, ref: str | None = None
) -> Recommendation:
    return Recommendation(
        priority=priority,
        metric=metric,
        ref=ref,
        title=title,
        action=action,
        message=f"{title}: {action}",
    )


def _quality(m: MetricSummary) -> Recommendation | None:
    hib, value = m.higher_is_better, m.current
    side = "below" if hib else "above"
    beyond_target = past(value, m.target, higher_is_better=hib)
    beyond_limit = past(value, m.limit, higher_is_better=hib)
    declining = m.trend.direction is Trend.DECLINING
    label = m.label.split(" (")[0]
    if beyond_target and declining:
        return _rec(
            Priority.CRITICAL if beyond_limit else Priority.HIGH,
            f"{label} {fmt(m.metric, value)} {side} target {fmt(m.metric, m.target)} and "
            f"declining for {duration(m.trend.span_hours)}",
            "retrain on recent data and roll the new version out as a canary",
            m.metric,
        )
    if beyond_target:
        return _rec(
            Priority.HIGH if beyond_limit else Priority.MEDIUM,
            f"{label} {fmt(m.metric, value)} {side} target {fmt(m.metric, m.target)}"
            + (f" for {duration(m.breach_hours)}" if m.breach_hours else ""),
            "compare the versions and check feature drift; retrain if it persists",
            m.metric,
        )
    if declining and m.trend.change is not None:
        return _rec(
            Priority.MEDIUM,
            f"{label} declining ({m.trend.change:+.0%} over {duration(m.trend.span_hours)}), "
            "still within target",
            "watch it and check feature drift before it crosses the target",
            m.metric,
        )
    return None


def _error_rate(m: MetricSummary, versions: list[VersionSummary]) -> Recommendation | None:
    if not past(m.current, m.target, higher_is_better=False):
        return None
    worst = max(versions, key=lambda v: v.error_rate or 0.0, default=None)
    culprit = f" (worst: {worst.ref} at {fmt('error_rate', worst.error_rate)})" if worst else ""
    critical = past(m.current, m.limit, higher_is_better=False)
    return _rec(
        Priority.CRITICAL if critical else Priority.HIGH,
        f"error rate {fmt('error_rate', m.current)} above "
        f"{'limit' if critical else 'target'} "
        f"{fmt('error_rate', m.limit if critical else m.target)}{culprit}",
        "look at the failing requests in the request log; roll back the version that fails",
        "error_rate",
        worst.ref if worst else None,
    )


def _latency(v: VersionSummary, settings: Settings) -> Recommendation | None:
    target, limit = settings.monitoring.latency_warning_ms, settings.monitoring.latency_critical_ms
    if not past(v.latency_p95_ms, target, higher_is_better=False) or not v.weight:
        return None
    critical = past(v.latency_p95_ms, limit, higher_is_better=False)
    bound = f"limit {fmt('latency_p95_ms', limit)}" if critical else None
    bound = bound or f"target {fmt('latency_p95_ms', target)}"
    value = fmt("latency_p95_ms", v.latency_p95_ms)
    return _rec(
        Priority.HIGH if critical else Priority.MEDIUM,
        f"latency p95 {value} above {bound} on version {v.version}",
        "check the batch size (serving_batch_max_rows) and the replicas' CPUs, or roll back",
        "latency_p95_ms",
        v.ref,
    )


def _drift(drift: DriftSummary, metrics: list[MetricSummary]) -> Recommendation | None:
    names = [f.feature for f in drift.features if f.drifted]
    if not names:
        return None
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    if not drift.drifted:
        return _rec(
            Priority.MEDIUM,
            f"feature drift on {shown}",
            "check the upstream data of these features; retrain if quality starts to decline",
            None,
            drift.baseline_ref,
        )
    quality_hurt = any(
        m.metric in _QUALITY
        and (m.status is MetricStatus.CRITICAL or m.trend.direction is Trend.DECLINING)
        for m in metrics
    )
    return _rec(
        Priority.CRITICAL if quality_hurt else Priority.HIGH,
        f"{len(names)} of {len(drift.features)} features drifted ({shown}) against the "
        f"training baseline of {drift.baseline_ref}",
        "retrain on recent data" + (" now: quality is already suffering" if quality_hurt else ""),
        None,
        drift.baseline_ref,
    )


def _versions(versions: list[VersionSummary], settings: Settings) -> list[Recommendation]:
    out = []
    for v in versions:
        change, p = v.loss_change_vs_reference, v.loss_p_value_vs_reference
        if v.reference or change is None or p is None or p >= settings.rollout.alpha:
            continue
        loss = _LOSS_NAME.get(v.loss_metric, v.loss_metric)
        if change >= settings.rollout.max_degradation and v.weight:
            out.append(
                _rec(
                    Priority.HIGH,
                    f"version {v.version} has {change:+.0%} {loss} vs the reference ({_p(p)})",
                    f"roll back {v.ref} or take it out of the routes",
                    v.loss_metric,
                    v.ref,
                )
            )
        elif change <= -settings.rollout.max_degradation:
            out.append(
                _rec(
                    Priority.MEDIUM,
                    f"version {v.version} has {change:+.0%} {loss} vs the reference ({_p(p)})",
                    f"promote {v.ref} if its latency and error rate are fine",
                    v.loss_metric,
                    v.ref,
                )
            )
    return out


def _operations(
    totals: Totals, deployments: list[DeploymentOut], timeline: list[TimelineEvent], end: datetime
) -> list[Recommendation]:
    out = []
    if totals.requests == 0 and totals.failed_requests == 0:
        out.append(
            _rec(
                Priority.MEDIUM,
                "no traffic in the range",
                "check that clients call the endpoint, or pick a longer range",
            )
        )
    elif totals.labeled == 0:
        out.append(
            _rec(
                Priority.MEDIUM,
                f"{totals.requests} requests but no feedback",
                "send actual values to POST /endpoints/<name>/feedback so quality can be measured",
            )
        )
    for d in deployments:
        if d.rollout is not None and d.rollout.status == "holding":
            out.append(
                _rec(
                    Priority.MEDIUM,
                    f"rollout of {d.rollout.candidate} on {d.endpoint} is holding"
                    + (f" ({d.rollout.reason})" if d.rollout.reason else ""),
                    "send more traffic and feedback, or promote / roll back by hand",
                    None,
                    d.rollout.candidate,
                )
            )
    for e in timeline:
        if e.kind is TimelineKind.RETRAIN and "pending" in e.title:
            hours = (end - e.time).total_seconds() / 3600
            out.append(
                _rec(
                    Priority.MEDIUM,
                    f"a retrain of {e.ref} has been pending for {duration(max(hours, 0.0))}",
                    "check that the control loop and its retrain task are running",
                    None,
                    e.ref,
                )
            )
    return out


def recommend(
    *,
    metrics: list[MetricSummary],
    versions: list[VersionSummary],
    drift: DriftSummary | None,
    deployments: list[DeploymentOut],
    timeline: list[TimelineEvent],
    totals: Totals,
    end: datetime,
    settings: Settings,
) -> list[Recommendation]:
    """Every rule's recommendations, most urgent first."""
    out: list[Recommendation] = []
    quality = [r for m in metrics if m.metric in _QUALITY and (r := _quality(m)) is not None]
    if quality:  # one recommendation for quality; the other metrics as evidence
        first = min(quality, key=lambda r: r.priority.rank)
        also = [r.title.split(" and declining")[0] for r in quality if r is not first]
        if also:
            title = f"{first.title} (also {'; '.join(also)})"
            first = first.model_copy(update={"title": title, "message": f"{title}: {first.action}"})
        out.append(first)
    for m in metrics:
        if m.metric == "error_rate" and (rec := _error_rate(m, versions)) is not None:
            out.append(rec)
    out += [r for v in versions if (r := _latency(v, settings)) is not None]
    if drift is not None and (rec := _drift(drift, metrics)) is not None:
        out.append(rec)
    out += _versions(versions, settings)
    out += _operations(totals, deployments, timeline, end)
    return sorted(out, key=lambda r: r.priority.rank)
