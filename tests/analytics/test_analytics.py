"""Analytics figures against an independent pandas computation on the prepared week."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from analytics_support import ABSOLUTE, END, V1, V2, Truth

from rayops.analytics import AnalyticsReport, MetricStatus, Priority, Trend, analyze
from rayops.analytics.report import TimelineKind
from rayops.automation.requests import request_retrain
from rayops.config import Settings
from rayops.errors import InvalidInputError, InvalidNameError
from rayops.monitoring.metrics import endpoint_metrics
from rayops.storage import Storage
from rayops.telemetry.writers import FeedbackLog, PredictionLog, RequestLog

START = END - timedelta(days=7)
TOL = 5.0  # conftest.ABSOLUTE


def expected(truth: Truth, start: datetime, end: datetime, ref: str | None = None) -> dict:
    """The figures computed straight from what was written, with plain pandas."""
    rows = truth.rows[(truth.rows["time"] >= start) & (truth.rows["time"] < end)]
    out = truth.outcomes[(truth.outcomes["time"] >= start) & (truth.outcomes["time"] < end)]
    if ref is not None:
        rows, out = rows[rows["ref"] == ref], out[out["ref"] == ref]
    err = (rows["prediction"] - rows["actual"]).dropna()
    lat = rows.drop_duplicates("request_id")["latency"]
    return {
        "requests": rows["request_id"].nunique(),
        "rows": len(rows),
        "labeled": len(err),
        "mae": err.abs().mean(),
        "rmse": float(np.sqrt((err**2).mean())),
        "accuracy": (err.abs() <= TOL).mean(),
        "latency_p50_ms": lat.quantile(0.50),
        "latency_p95_ms": lat.quantile(0.95),
        "latency_p99_ms": lat.quantile(0.99),
        "error_rate": (out["status"] >= 400).mean(),
        "failed_requests": int((out["status"] >= 400).sum()),
    }


def test_metrics_match_an_independent_computation(
    week: tuple[Storage, Truth], report7d: AnalyticsReport
) -> None:
    (storage, truth), r = week, report7d
    assert (r.range.start, r.range.end, r.range.bucket_seconds) == (START, END, 6 * 3600)
    whole = expected(truth, START, END)
    current = expected(truth, END - timedelta(hours=24), END)
    previous = expected(truth, START - timedelta(days=7), START)
    assert r.totals.requests == whole["requests"] and r.totals.rows == whole["rows"]
    assert r.totals.labeled == whole["labeled"]
    assert r.totals.failed_requests == whole["failed_requests"] > 0
    for m in r.metrics:
        assert m.value == pytest.approx(whole[m.metric]), m.metric
        assert m.current == pytest.approx(current[m.metric]), m.metric
        assert m.previous == pytest.approx(previous[m.metric]), m.metric
    # The same definitions as monitoring's metrics (one window, one version).
    mon = endpoint_metrics(storage, "shop", START, END, settings=ABSOLUTE)
    assert r.metric("mae").value == pytest.approx(mon["*"].mae)  # type: ignore[union-attr]
    assert r.metric("error_rate").value == pytest.approx(mon["*"].error_rate)  # type: ignore[union-attr]
    for v in r.versions:
        want = expected(truth, START, END, v.ref)
        for key in ("requests", "labeled", "mae", "rmse", "accuracy", "latency_p95_ms"):
            assert getattr(v, key) == pytest.approx(want[key]), (v.ref, key)
        assert v.error_rate == pytest.approx(want["error_rate"])
        assert v.latency_p95_ms == pytest.approx(mon[v.ref].latency_p95_ms)


def test_series_buckets_match_pandas_floor(
    week: tuple[Storage, Truth], report7d: AnalyticsReport
) -> None:
    truth, r = week[1], report7d
    rows = truth.rows[(truth.rows["time"] >= START) & (truth.rows["time"] < END)].copy()
    rows["bucket"] = pd.to_datetime(rows["time"], utc=True).dt.floor("6h")
    rows["abs"] = (rows["prediction"] - rows["actual"]).abs()
    want = rows.groupby(["bucket", "ref"]).agg(rows_=("row", "size"), mae=("abs", "mean"))
    got = {(pd.Timestamp(p.time), p.ref): p for p in r.series if p.ref != "*"}
    assert len(got) == len(want)
    for (bucket, ref), w in want.iterrows():
        p = got[(bucket, ref)]
        assert p.rows == w["rows_"] and p.mae == pytest.approx(w["mae"])
    overall = [p for p in r.series if p.ref == "*"]
    assert sum(p.rows for p in overall) == r.totals.rows


def test_baselines_targets_status_and_trends(
    week: tuple[Storage, Truth], report7d: AnalyticsReport
) -> None:
    storage, r = week[0], report7d
    mae, acc, p95 = r.metric("mae"), r.metric("accuracy"), r.metric("latency_p95_ms")
    assert mae and acc and p95
    # Quality baselines come from the production version's model card (holdout).
    assert (mae.baseline, mae.baseline_source) == (1.0, "model_card")
    assert mae.target == pytest.approx(1.1) and mae.target_source == "baseline_margin"
    assert acc.target == 0.80  # regression: the earlier system's level, on the set T
    assert p95.baseline_source == "previous_period" and p95.baseline == pytest.approx(
        r.metric("latency_p95_ms").previous  # type: ignore[union-attr]
    )
    assert mae.trend.direction is Trend.DECLINING and acc.trend.direction is Trend.DECLINING
    assert mae.status is MetricStatus.CRITICAL and acc.status is MetricStatus.CRITICAL
    assert mae.breach_hours is not None and mae.breach_hours > 24
    assert r.metric("error_rate").trend.direction is Trend.STABLE  # type: ignore[union-attr]
    # A target from the settings wins over the card's margin.
    loose = analyze(storage, "shop", range="7d", end=END,
                    settings=ABSOLUTE.override(analytics_target_mae=100.0))  # fmt: skip
    assert loose.metric("mae").target == 100.0  # type: ignore[union-attr]
    assert loose.metric("mae").status is MetricStatus.WARNING  # type: ignore[union-attr]


def test_versions_deployment_and_timeline(report7d: AnalyticsReport) -> None:
    r = report7d
    by_ref = {v.ref: v for v in r.versions}
    assert (by_ref[V1].weight, by_ref[V2].weight) == (80, 20)
    assert (by_ref[V1].stage, by_ref[V2].stage) == ("production", "staging")
    assert by_ref[V1].reference and "production" in by_ref[V1].aliases
    assert by_ref[V2].mae_change_vs_reference is not None
    assert by_ref[V2].mae_change_vs_reference < -0.5
    assert by_ref[V2].mae_p_value_vs_reference < 0.001  # type: ignore[operator]
    assert sum(v.traffic_share or 0 for v in r.versions) == pytest.approx(1.0)
    d = r.deployments[0]
    assert [(x.ref, x.weight) for x in d.routes] == [(V1, 80), (V2, 20)]
    assert d.rollout is not None and (d.rollout.strategy, d.rollout.weight) == ("canary", 20)
    assert d.rollout.candidate == V2 and d.rollout.status == "running"
    latest = {e.kind for e in d.last_events[:2]}  # newest first: the canary's two events
    assert latest == {TimelineKind.ROUTING, TimelineKind.ROLLOUT}
    assert all("canary 20%" in (e.detail or "") for e in d.last_events[:2])
    assert all(START <= e.time < END for e in r.timeline)
    kinds = [e.kind for e in r.timeline]
    assert kinds == [TimelineKind.ROUTING, TimelineKind.ROLLOUT] + [TimelineKind.ALERT] * 2
    assert [(a.metric, a.severity) for a in r.alerts] == [
        ("latency_p95_ms", "warning"), ("accuracy", "critical"),  # newest first
    ]  # fmt: skip
    assert r.alerts[0].ref == V2 and r.alerts[0].comparator == ">"
    assert {h.ref for h in r.health} == {"*", V1, V2}
    assert {h.state for h in r.health} <= {"healthy", "warning", "critical", "unknown"}


def test_drift_per_feature_and_over_time(report7d: AnalyticsReport) -> None:
    r = report7d
    assert r.drift is not None and r.drift.baseline_ref == V1
    flags = {f.feature: f.drifted for f in r.drift.features}
    assert flags == {"x0": True, "x1": False, "x2": False}
    x0 = sorted((p for p in r.drift.series if p.feature == "x0"), key=lambda p: p.time)
    assert not x0[0].drifted and x0[-1].drifted  # x0 drifts in the last two days only
    assert all(p.rows >= Settings().analytics.drift_min_rows for p in r.drift.series)


def test_recommendations_say_what_to_do(report7d: AnalyticsReport) -> None:
    r = report7d
    messages = [x.message for x in r.recommendations]
    assert r.recommendations[0].priority is Priority.CRITICAL
    assert [x.priority.rank for x in r.recommendations] == sorted(
        x.priority.rank for x in r.recommendations
    )
    quality = next(m for m in messages if m.startswith("Accuracy"))
    assert "below target" in quality and "declining for 7 days" in quality and "retrain" in quality
    assert any("x0" in m and "drifted" in m for m in messages)
    latency = next(x for x in r.recommendations if x.metric == "latency_p95_ms")
    assert (
        latency.ref == V2 and "version 1.1.0" in latency.message and "roll back" in latency.action
    )
    assert any(x.ref == V2 and "promote" in x.action for x in r.recommendations)


def test_model_subject_reads_every_endpoint_serving_it(
    week: tuple[Storage, Truth], report7d: AnalyticsReport
) -> None:
    storage, _ = week
    by_model = analyze(storage, "demand", subject="model", range="7d", end=END, settings=ABSOLUTE)
    by_endpoint = report7d
    assert by_model.endpoints == ["shop"] and by_model.subject.value == "model"
    assert by_model.totals.rows == by_endpoint.totals.rows
    # Requests that failed before routing belong to no model.
    assert by_model.totals.failed_requests < by_endpoint.totals.failed_requests


def test_explicit_dates_empty_endpoints_and_bad_input(storage: Storage) -> None:
    t0 = datetime(2026, 5, 1, 10, tzinfo=UTC)
    log, reqs = PredictionLog(storage, flush_s=3600), RequestLog(storage, flush_s=3600)
    for i in range(12):
        when = t0 + timedelta(minutes=5 * i)
        log.record(request_id=f"q{i}", endpoint="tiny", ref="m@1.0.0",
                   frame=pd.DataFrame({"x": [1.0]}), predictions=[float(i)], latency_ms=10.0 + i,
                   time=when)  # fmt: skip
        reqs.record(request_id=f"q{i}", endpoint="tiny", ref="m@1.0.0", status=200, time=when)
    log.close()
    reqs.close()

    async def feedback() -> None:
        fb = FeedbackLog(storage, now=lambda: t0 + timedelta(hours=2))
        await asyncio.gather(*(fb.write("tiny", f"q{i}", [float(i) + 1.0]) for i in range(12)))

    asyncio.run(feedback())
    request_retrain(storage, "m", reason="MAE 7 > 5", source="alert", endpoint="tiny",
                    now=lambda: t0 + timedelta(minutes=30))  # fmt: skip
    r = analyze(storage, "tiny", start=t0, end=t0 + timedelta(hours=1))
    assert r.range.label is None and r.totals.requests == 12
    assert [e.kind for e in r.timeline] == [TimelineKind.RETRAIN]
    pending = next(x for x in r.recommendations if "retrain of m" in x.title)
    assert pending.priority is Priority.MEDIUM and "30 minutes" in pending.title
    assert r.metric("mae").value == pytest.approx(1.0)  # type: ignore[union-attr]
    assert r.metric("latency_p50_ms").value == pytest.approx(15.5)  # type: ignore[union-attr]
    assert r.drift is None and r.deployments[0].routes == []  # logs only, no routing table
    empty = analyze(storage, "nothing", range="1h", end=t0)
    assert all(m.status is MetricStatus.NO_DATA for m in empty.metrics)
    assert [x.title for x in empty.recommendations] == ["no traffic in the range"]
    with pytest.raises(InvalidInputError, match="duration"):
        analyze(storage, "tiny", range="a week")
    with pytest.raises(InvalidNameError):
        analyze(storage, "../etc", range="1h")
