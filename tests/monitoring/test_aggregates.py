"""Monitoring's per-file aggregates: the exact figures on the same slots, unchanged by a
compaction, late feedback counted in the next pass, and a pass that reads only new files."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from monitoring_support import T0

from rayops.config import Settings
from rayops.monitoring.aggregates import Aggregates
from rayops.monitoring.metrics import ALL_VERSIONS, endpoint_metrics
from rayops.storage import Storage
from rayops.telemetry.compaction import Compactor
from rayops.telemetry.writers import FeedbackLog, PredictionLog, RequestLog

SETTINGS = Settings(monitoring_accuracy_tolerance=5.0, monitoring_log_lag_s=0)


def _write(storage: Storage, first: int, n: int, *, label: bool = True) -> None:
    """``n`` one-row requests a minute apart from request ``first``, one prediction file per
    ten requests (as flushes make them), feedback 30 s after each (unless ``label`` is off)."""
    rng = np.random.default_rng(first)
    log, outcomes = PredictionLog(storage, flush_s=1e9), RequestLog(storage, flush_s=1e9)
    times = []
    for i in range(first, first + n):
        when = T0 + timedelta(minutes=i)
        log.record(request_id=f"r{i}", endpoint="shop", ref="m@1.0.0",
                   frame=pd.DataFrame({"x": [float(i)]}), predictions=[50.0 + i % 7],
                   latency_ms=float(rng.gamma(2.0, 10.0)), time=when)  # fmt: skip
        outcomes.record(request_id=f"r{i}", endpoint="shop", ref="m@1.0.0",
                        status=500 if i % 17 == 0 else 200, time=when)  # fmt: skip
        times.append(when + timedelta(seconds=30))
        if i % 10 == 9:
            log.flush()
            outcomes.flush()
    log.close()
    outcomes.close()
    if label:
        clock = iter(times)

        async def send() -> None:
            fb = FeedbackLog(storage, now=lambda: next(clock))
            for i in range(first, first + n):
                await fb.write("shop", f"r{i}", [50.0 + (i * 3) % 11])

        asyncio.run(send())


def _same(agg: dict, exact: dict) -> None:  # type: ignore[type-arg]
    for ref in exact:
        a, e = agg[ref], exact[ref]
        assert (a.requests, a.rows, a.labeled, a.failed_requests) == (
            e.requests, e.rows, e.labeled, e.failed_requests)  # fmt: skip
        for name in ("mae", "rmse", "accuracy", "error_rate"):
            assert getattr(a, name) == pytest.approx(getattr(e, name)), name
        assert a.latency_p95_ms == pytest.approx(e.latency_p95_ms, rel=0.03)


def test_aggregates_equal_exact_figures_through_compaction_and_late_feedback(
    local: Storage,
) -> None:
    _write(local, 0, 120)
    start, end = T0, T0 + timedelta(hours=3)  # slot-aligned: the same rows either way
    agg = Aggregates(local, "shop", SETTINGS)
    _same(agg.metrics(start, end), endpoint_metrics(local, "shop", start, end, settings=SETTINGS))
    computed = dict(agg.computed)
    again = agg.metrics(start, end)  # nothing new: nothing computed
    assert agg.computed == computed and again[ALL_VERSIONS].labeled == 120

    Compactor(local, SETTINGS.telemetry).run(end)
    after = agg.metrics(start, end)
    _same(after, endpoint_metrics(local, "shop", start, end, settings=SETTINGS))
    assert agg.computed["predictions"] > computed["predictions"]  # the merged files, once
    assert len(agg._files["predictions"]) <= 3  # the replaced inputs are forgotten

    # late traffic and feedback: the next pass counts it; a new process reads the stored cache
    _write(local, 120, 30)
    later = T0 + timedelta(hours=4)
    _same(agg.metrics(start, later),
          endpoint_metrics(local, "shop", start, later, settings=SETTINGS))  # fmt: skip
    fresh = Aggregates(local, "shop", SETTINGS)
    assert fresh.metrics(start, later)[ALL_VERSIONS].labeled == 150
    assert sum(fresh.computed.values()) == 0  # everything came from storage


def test_unlabeled_rows_count_for_traffic_only(
    local: Storage,
) -> None:
    _write(local, 0, 20, label=False)
    end = T0 + timedelta(hours=1)
    m = Aggregates(local, "shop", SETTINGS).metrics(T0, end)[ALL_VERSIONS]
    assert m.requests == 20 and m.labeled == 0 and m.mae is None
