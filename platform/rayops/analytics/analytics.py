"""Compute the analytics report of an endpoint (or a model) over a time range.

:func:`analyze` reads the serving logs once for the range and the previous period
of the same length, then builds every part of an
:class:`~rayops.analytics.report.AnalyticsReport`:

* **metrics** — per metric (MAE, RMSE, accuracy, latency p50/p95/p99, error rate):
  the value over the range, the *current* value (last ``analytics_current_hours``),
  the previous period, the baseline (the reference version's model-card holdout
  value for quality metrics, else the previous period), target, limit, status and
  trend (:mod:`~rayops.analytics.trends` on the per-bucket series);
* **versions** — every version served in the range with its metrics, current
  weight, stage and comparison with the *reference* version (the one with the most
  traffic now);
* **series** — per time bucket and version, for charts;
* **uncertainty** (coverage, interval width, estimated against realized per bucket),
  **calibration** curves, **importance** over time and per-feature **histograms** of
  the baseline against current traffic (:mod:`~rayops.analytics.uncertainty`);
* **drift** per feature (:mod:`~rayops.analytics.drift`), **deployments**,
  **timeline**, **alerts**, **health** (:mod:`~rayops.analytics.deployment`) and
  **recommendations** (:mod:`~rayops.analytics.recommendations`).

No Ray is needed: everything is read from the storage root.

Example:
    >>> import tempfile
    >>> from datetime import UTC, datetime
    >>> from rayops.storage import open_storage
    >>> r = analyze(open_storage(tempfile.mkdtemp()), "shop", range="24h",
    ...             end=datetime(2026, 1, 2, tzinfo=UTC))
    >>> r.totals.requests, [x.title for x in r.recommendations]
    (0, ['no traffic in the range'])
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from rayops.analytics.deployment import (
    RegistryView,
    TimelineContext,
    alerts_of,
    deployment_of,
    health_of,
    timeline,
)
from rayops.analytics.frames import LogWindow, bucket_width, load_window, metrics_of, series_of
from rayops.analytics.recommendations import recommend
from rayops.analytics.report import (
    AnalyticsReport,
    MetricStatus,
    MetricSummary,
    ReportSettings,
    SeriesPoint,
    Subject,
    TimelineEvent,
    TimelineKind,
    TimeRange,
    Totals,
    VersionSummary,
)
from rayops.analytics.targets import (
    METRICS,
    MetricSpec,
    limit_for,
    metrics_for,
    past,
    primary_loss,
    quality_names,
    status_of,
    target_for,
)
from rayops.analytics.trends import Trend, TrendResult, classify_trend
from rayops.config import Settings, settings_of
from rayops.monitoring.metrics import ALL_VERSIONS, parse_window
from rayops.monitoring.quality import VersionInfo, derived_tolerance, version_info
from rayops.names import validate_name
from rayops.storage.base import Storage
from rayops.tasks import TaskKind

__all__ = ["analyze"]

_SEVERITY = {MetricStatus.CRITICAL: 3, MetricStatus.WARNING: 2, MetricStatus.OK: 1}


def _enough(point: dict[str, Any], spec: MetricSpec, min_rows: int) -> bool:
    if spec.needs == "labeled":
        return bool(point["labeled"] >= min_rows)
    if spec.needs == "requests":
        return bool(point["requests"] >= min_rows)
    return bool(point["requests"] + point["failed_requests"] >= min_rows)


def _trend(points: list[dict[str, Any]], spec: MetricSpec, settings: Settings) -> TrendResult:
    usable = [p for p in points if _enough(p, spec, settings.analytics.trend_min_rows)]
    return classify_trend(
        [p["time"] for p in usable],
        [p[spec.name] for p in usable],
        higher_is_better=spec.higher_is_better,
        threshold=settings.analytics.trend_threshold,
        alpha=settings.analytics.trend_alpha,
        min_points=settings.analytics.trend_min_points,
    )


def _breach_hours(
    points: list[dict[str, Any]], spec: MetricSpec, target: float | None, end: datetime
) -> float | None:
    if target is None:
        return None
    since = None
    for p in reversed([p for p in points if p[spec.name] is not None]):
        if not past(p[spec.name], target, higher_is_better=spec.higher_is_better):
            break
        since = p["time"]
    return 0.0 if since is None else (end - since).total_seconds() / 3600


def _requests(frame: Any, ref: str) -> int:
    part = frame[frame["ref"] == ref]
    return int(part.drop_duplicates(["endpoint", "request_id"]).shape[0])


def _pooled(part: LogWindow, infos: dict[str, VersionInfo], info: VersionInfo) -> dict[str, Any]:
    """Regression quality over every version's rows, each judged with its own tolerance."""
    import numpy as np

    out = metrics_of(part.frame.iloc[0:0], part.outcomes, info)
    f = part.frame[part.frame["error"].notna()]
    if len(f):
        tol = f["ref"].map({r: i.tolerance for r, i in infos.items()}).fillna(info.tolerance)
        err = f["error"].to_numpy(np.float64)
        out.update(
            labeled=len(f), mae=float(np.abs(err).mean()),
            rmse=float(np.sqrt(float((err**2).mean()))),
            accuracy=float((np.abs(err) <= tol.to_numpy(np.float64)).mean()),
        )  # fmt: skip
    return out


def _endpoints_of_model(storage: Storage, model: str, settings: Settings) -> list[str]:
    from rayops.errors import InvalidInputError
    from rayops.serving.endpoints import Endpoints

    names = set(Endpoints(storage, registry=False, settings=settings).list())
    for child in storage.list_children("logs"):
        try:
            names.add(validate_name(child, "endpoint name"))
        except InvalidInputError:
            continue
    return sorted(names)


def _mains(deployments: list[Any]) -> list[str]:
    """Each deployment's main version, as :attr:`RoutingTable.main` decides it."""
    from rayops.serving.routing import Route, RoutingTable

    return [
        RoutingTable(
            endpoint=d.endpoint, routes=[Route(ref=r.ref, weight=r.weight) for r in d.routes]
        ).main.ref
        for d in deployments
        if d.routes
    ]


def _versions(
    window: LogWindow,
    series: list[dict[str, Any]],
    weights: dict[str, int],
    shadows: set[str],
    registry: RegistryView,
    infos: dict[str, VersionInfo],
    task: str,
    settings: Settings,
    reference: str | None,
) -> list[VersionSummary]:
    """Each version's summary, compared with ``reference`` (the endpoint's main version)."""
    import numpy as np
    from scipy import stats

    f, o = window.frame, window.outcomes
    refs = sorted(set(f["ref"].dropna()) | set(o["ref"].dropna()) | set(weights))
    total = max(int(f.drop_duplicates(["endpoint", "request_id"]).shape[0]), 1)
    min_rows = settings.analytics.trend_min_rows
    loss_metric = primary_loss(task)
    specs = [m for m in metrics_for(task) if m.name in (*quality_names(task), "latency_p95_ms",
                                                         "error_rate")]  # fmt: skip
    found, losses = {}, {}
    for ref in refs:
        part = f[f["ref"] == ref]
        found[ref] = metrics_of(part, o[o["ref"] == ref], infos[ref])
        losses[ref] = np.asarray(found[ref].pop("losses"), dtype=np.float64)
        found[ref]["first_seen"] = part["time"].min() if len(part) else None
        found[ref]["last_seen"] = part["time"].max() if len(part) else None
    if reference not in found:
        reference = max(refs, key=lambda r: found[r]["requests"], default=None)
    out = []
    for ref in refs:
        m = found[ref]
        model, _, version = ref.partition("@")
        stage, aliases = registry.stage(ref)
        info = infos[ref]
        statuses = []
        for spec in specs:
            base = info.baseline.get(spec.name)
            target, _ = target_for(spec, settings, base, info)
            st = status_of(
                m[spec.name], target, limit_for(spec, settings, info), Trend.STABLE,
                higher_is_better=spec.higher_is_better,
            )  # fmt: skip
            statuses.append(st)
        status = max(statuses, key=lambda s: _SEVERITY.get(s, 0))
        points = [p for p in series if p["ref"] == ref]
        change = p_value = None
        if ref != reference and reference is not None:
            # per-row losses (squared error or log loss): for regression the rank test on
            # them is the one on absolute errors (a monotone transform)
            a, b = losses[ref], losses[reference]
            ref_value = found[reference][loss_metric]
            if len(a) >= min_rows and len(b) >= min_rows and ref_value and m[loss_metric]:
                change = (m[loss_metric] - ref_value) / ref_value
                p_value = float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)
        counts: dict[str, Any] = {
            k: m[k] for k in ("requests", "rows", "labeled", "failed_requests")
        }
        values: dict[str, Any] = {k: m.get(k) for k in _VERSION_VALUES}
        regression = task == "regression"
        out.append(
            VersionSummary(
                ref=ref,
                model=model,
                version=version,
                stage=stage,
                aliases=aliases,
                weight=weights.get(ref),
                shadow=ref in shadows,
                first_seen=m["first_seen"],
                last_seen=m["last_seen"],
                traffic_share=m["requests"] / total,
                **counts,
                **values,
                status=status,
                mae_trend=_trend(points, METRICS[loss_metric], settings).direction,
                reference=ref == reference,
                mae_change_vs_reference=change if regression else None,
                mae_p_value_vs_reference=p_value if regression else None,
                loss_metric="mae" if regression else "logloss",
                loss_change_vs_reference=change,
                loss_p_value_vs_reference=p_value,
            )  # fmt: skip
        )
    return out


_VERSION_VALUES = (
    "mae", "rmse", "accuracy", "logloss", "auc", "pr_auc", "precision", "recall", "f1", "brier",
    "ece", "positive_rate", "macro_f1", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms",
    "error_rate",
)  # fmt: skip


def analyze(
    storage: Storage,
    name: str,
    *,
    range: str | timedelta | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    subject: Subject | str = Subject.ENDPOINT,
    now: Callable[[], datetime] | None = None,
    settings: Settings | None = None,
) -> AnalyticsReport:
    """The analytics report of endpoint ``name`` (or model ``name`` with
    ``subject="model"``) over ``range`` ending at ``end`` (default now), or over
    ``[start, end)``. Default range: ``analytics_range``."""
    from datetime import UTC

    settings = settings_of(storage, settings)
    subject = Subject(subject)
    validate_name(name, f"{subject.value} name")
    if range is None and start is None:
        range = settings.analytics.range
    start, end = parse_window(range, start=start, end=end, now=now)
    span = end - start
    step = bucket_width(span, settings.analytics.buckets)
    current_start = max(start, end - timedelta(hours=settings.analytics.current_hours))
    prev_start = start - span
    model = name if subject is Subject.MODEL else None
    candidates = [name] if model is None else _endpoints_of_model(storage, name, settings)
    window = load_window(storage, candidates, prev_start, end, model=model)
    in_range = window.between(start, end)
    registry = RegistryView(storage, settings)
    notes: list[str] = []
    if model is None:
        endpoints, models = [name], set(in_range.frame["model"].dropna())
    else:
        seen = set(window.frame["endpoint"]) | set(window.outcomes["endpoint"])
        endpoints, models = [e for e in candidates if e in seen], {name}
    deployments = [deployment_of(storage, ep, registry, settings) for ep in endpoints]
    for d in deployments:
        if model is None:
            models |= {r.ref.partition("@")[0] for r in d.routes}
        else:  # only this model's routes
            d.routes = [r for r in d.routes if r.ref.startswith(f"{name}@")]
    ctx = TimelineContext(storage, endpoints, sorted(models), start, end, settings, notes)
    events = timeline(ctx)
    for d in deployments:
        mine = [e for e in events if e.endpoint in (d.endpoint, None)]
        d.last_events = mine[-settings.analytics.events :][::-1]
    weights: dict[str, int] = {}
    for d in deployments:
        for r in d.routes:
            weights[r.ref] = max(weights.get(r.ref, 0), r.weight)
    mains = _mains(deployments)
    shadows = {d.shadow_ref for d in deployments if d.shadow_ref}
    f, o = window.frame, window.outcomes
    served = sorted(set(f["ref"].dropna()) | set(o["ref"].dropna()) | set(weights))
    cache: dict[str, VersionInfo] = {}
    infos = {r: version_info(storage, r, settings, cache=cache) for r in served}
    # The reference version decides the task, baselines and targets: the endpoint's main
    # version (RoutingTable.main; of several endpoints, the busiest main), else the busiest.
    reference = max(mains or served, key=lambda r: _requests(in_range.frame, r), default=None)
    fallback = VersionInfo.regression(derived_tolerance(None, settings))
    info = infos[reference] if reference is not None else fallback
    task = str(info.task)
    series = series_of(in_range, start, end, step, infos, info)
    versions = _versions(
        in_range, series, weights, shadows, registry, infos, task, settings, reference
    )
    card = registry.version(reference).card if reference and registry.version(reference) else None
    same = [r for r in served if infos[r].task == info.task and infos[r].labels == info.labels]

    def whole_of(part: LogWindow) -> dict[str, Any]:
        quality = metrics_of(part.frame[part.frame["ref"].isin(same)], part.outcomes, info)
        if not info.task.is_classification:
            quality = _pooled(part, infos, info)
        traffic = metrics_of(part.frame, part.outcomes.iloc[0:0], info)
        for k in ("rows", "requests", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms"):
            quality[k] = traffic[k]
        quality.pop("losses", None)
        return quality

    whole = whole_of(in_range)
    current = whole_of(window.between(current_start, end))
    previous = whole_of(window.between(prev_start, start))
    overall = [p for p in series if p["ref"] == ALL_VERSIONS]
    metrics = []
    for spec in metrics_for(task):
        base = info.baseline.get(spec.name)
        target, target_source = target_for(spec, settings, base, info)
        limit = limit_for(spec, settings, info)
        trend = _trend(overall, spec, settings)
        metrics.append(
            MetricSummary(
                metric=spec.name,
                label=spec.label,
                unit=spec.unit,
                higher_is_better=spec.higher_is_better,
                value=whole[spec.name],
                current=current[spec.name],
                previous=previous[spec.name],
                baseline=base if base is not None else previous[spec.name],
                baseline_source="model_card"
                if base is not None
                else ("previous_period" if previous[spec.name] is not None else None),
                target=target,
                target_source=target_source,
                limit=limit,
                status=status_of(
                    current[spec.name],
                    target,
                    limit,
                    trend.direction,
                    higher_is_better=spec.higher_is_better,
                ),
                trend=trend,
                breach_hours=_breach_hours(overall, spec, target, end),
            )  # fmt: skip
        )
    drift = None
    if card is not None and card.baseline:
        from rayops.analytics.drift import drift_summary

        drift = drift_summary(
            storage, endpoints, card.ref, card.baseline, start=start,
            current_start=current_start, end=end, step=step, settings=settings, model=model,
        )  # fmt: skip
        if drift is None and len(in_range.frame) > 0:
            notes.append(
                f"Feature drift needs at least {settings.analytics.drift_min_rows} logged rows "
                "with features the baseline knows; the range has fewer."
            )
    elif reference is not None:
        notes.append(f"{reference} has no baseline in its model card: feature drift not computed.")
    from rayops.analytics.uncertainty import uncertainty_parts

    parts = uncertainty_parts(
        storage, endpoints, infos, card.baseline if card is not None else None, start=start,
        current_start=current_start, end=end, step_s=int(step.total_seconds()), model=model,
        settings=settings,
    )  # fmt: skip
    alerts = [a for ep in endpoints for a in alerts_of(storage, ep, start, end, notes)]
    health = [h for ep in endpoints for h in health_of(storage, ep, end, settings, notes)]
    in_window = [e for e in events if start <= e.time < end]
    in_window += [
        TimelineEvent(
            time=a.time,
            kind=TimelineKind.ALERT,
            endpoint=a.endpoint,
            ref=a.ref,
            title=f"{a.severity} alert: {a.rule}",
            detail=a.message,
        )  # fmt: skip
        for a in alerts
    ]
    in_window.sort(key=lambda e: e.time)
    totals = Totals(
        requests=whole["requests"], rows=whole["rows"], labeled=whole["labeled"],
        failed_requests=whole["failed_requests"], versions=sum(v.requests > 0 for v in versions),
    )  # fmt: skip
    return AnalyticsReport(
        subject=subject,
        name=name,
        task=TaskKind(task).value,  # type: ignore[arg-type]
        classes=[str(c) for c in info.labels.classes] if info.labels else None,
        endpoints=endpoints,
        generated_at=datetime.now(UTC) if now is None else now(),
        range=TimeRange(
            label=range if isinstance(range, str) else None,
            start=start,
            end=end,
            bucket_seconds=int(step.total_seconds()),
            current_start=current_start,
            previous_start=prev_start,
        ),  # fmt: skip
        settings=ReportSettings(
            trend_threshold=settings.analytics.trend_threshold,
            trend_alpha=settings.analytics.trend_alpha,
            trend_min_points=settings.analytics.trend_min_points,
            trend_min_rows=settings.analytics.trend_min_rows,
            accuracy_tolerance=info.tolerance if task == "regression" else None,
            quality_margin=settings.analytics.quality_margin,
        ),
        totals=totals,
        metrics=metrics,
        versions=versions,
        series=[SeriesPoint.model_validate(p) for p in series],
        drift=drift,
        **parts,
        deployments=deployments,
        health=health,
        alerts=alerts,
        timeline=in_window,
        recommendations=recommend(
            metrics=metrics,
            versions=versions,
            drift=drift,
            deployments=deployments,
            timeline=events,
            totals=totals,
            end=end,
            settings=settings,
        ),  # fmt: skip
        notes=notes,
    )
