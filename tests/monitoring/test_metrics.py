"""Monitor metrics equal an independent pandas computation on the same logs (acceptance 4)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from rayops.errors import InvalidInputError
from rayops.monitoring.metrics import (
    ALL_VERSIONS,
    endpoint_metrics,
    parse_window,
    read_snapshots,
    snapshot,
    version_metrics,
)
from rayops.storage import Storage
from rayops.telemetry.writers import FeedbackLog, PredictionLog, RequestLog

START = datetime(2026, 2, 28, 23, 0, tzinfo=UTC)  # the traffic crosses a day partition
REFS = ("m@1.0.0", "m@1.1.0")
TOL = 5.0


def _write(storage: Storage) -> None:
    rng = np.random.default_rng(0)
    log, outcomes = PredictionLog(storage, flush_s=3600), RequestLog(storage, flush_s=3600)
    feedback: list[tuple[datetime, str, list[float]]] = []
    for i in range(90):  # one request every 80 s for 2 hours
        when = START + timedelta(seconds=80 * i)
        ref = REFS[int(rng.random() < 0.3)]
        rows = int(rng.integers(1, 4))
        preds = rng.normal(50, 10, rows)
        rid = f"r{i}"
        frame = pd.DataFrame({"x": rng.normal(size=rows)})
        log.record(
            request_id=rid, endpoint="shop", ref=ref, frame=frame, predictions=preds,
            latency_ms=float(rng.gamma(2.0, 10.0)), time=when,
        )  # fmt: skip
        outcomes.record(request_id=rid, endpoint="shop", ref=ref, status=200, time=when)
        if i % 4:  # three requests in four get feedback, some rows far off
            actual = list(preds + rng.normal(0, 6, rows))
            feedback.append((when + timedelta(minutes=10), rid, actual))
        if i % 9 == 0:  # a shadow copy: logged, never counted
            log.record(
                request_id=rid, endpoint="shop", ref="m@2.0.0", frame=frame,
                predictions=preds + 100, latency_ms=999.0, shadow=True, time=when,
            )  # fmt: skip
    for j in range(7):  # failures: 4 after routing, 3 before a version was chosen
        when = START + timedelta(minutes=17 * j + 3)
        ref = REFS[j % 2] if j < 4 else None
        outcomes.record(request_id=f"f{j}", endpoint="shop", ref=ref, status=500, time=when)
    log.close()
    outcomes.close()
    feedback.append((START + timedelta(hours=3), "r1", [0.0] * 3))  # a correction wins

    async def send() -> None:
        clock = iter([t for t, _, _ in feedback])
        fb = FeedbackLog(storage, now=lambda: next(clock))
        await asyncio.gather(*(fb.write("shop", rid, vals) for _, rid, vals in feedback))

    asyncio.run(send())


def _pandas_metrics(storage: Storage, start: datetime, end: datetime) -> dict[str, dict]:
    """The same metrics from the raw Parquet files, with pandas only."""
    preds = storage.read_parquet("logs/shop/predictions/").to_pandas()
    fb = storage.read_parquet("logs/shop/feedback/").to_pandas()
    reqs = storage.read_parquet("logs/shop/requests/").to_pandas()
    preds = preds[(preds.time >= start) & (preds.time < end) & ~preds.shadow]
    reqs = reqs[(reqs.time >= start) & (reqs.time < end)]
    fb = fb.sort_values("time").groupby(["request_id", "row"], as_index=False).last()
    rows = preds.merge(fb[["request_id", "row", "actual"]], on=["request_id", "row"], how="left")
    rows["ref"] = rows.model + "@" + rows.version
    reqs = reqs.assign(ref=reqs.model + "@" + reqs.version)
    out = {}
    for ref in [ALL_VERSIONS, *REFS]:
        part = rows if ref == ALL_VERSIONS else rows[rows.ref == ref]
        oc = reqs if ref == ALL_VERSIONS else reqs[reqs.ref == ref]
        err = (part.prediction - part.actual).dropna()
        lat = part.drop_duplicates("request_id").latency_ms
        out[ref] = {
            "requests": part.request_id.nunique(),
            "rows": len(part),
            "labeled": len(err),
            "mae": err.abs().mean(),
            "rmse": float(np.sqrt((err**2).mean())),
            "accuracy": (err.abs() <= TOL).mean(),
            "latency_p50_ms": lat.quantile(0.5),
            "latency_p95_ms": lat.quantile(0.95),
            "latency_p99_ms": lat.quantile(0.99),
            "error_rate": (oc.status >= 400).mean(),
            "failed_requests": int((oc.status >= 400).sum()),
        }
    return out


def test_metrics_match_an_independent_pandas_computation(storage: Storage) -> None:
    """Acceptance 4, over 1h, 24h and explicit start/end windows (crossing midnight)."""
    _write(storage)
    end = START + timedelta(hours=2)
    windows = [
        parse_window("1h", end=end),
        parse_window("24h", end=end),
        parse_window(start=START + timedelta(minutes=20), end=end),
    ]
    for start, stop in windows:
        got = endpoint_metrics(storage, "shop", start, stop, tolerance=TOL)
        want = _pandas_metrics(storage, start, stop)
        assert set(got) == {ALL_VERSIONS, *REFS}
        for ref, expected in want.items():
            m = got[ref].to_dict()
            for name, value in expected.items():
                assert m[name] == pytest.approx(value, rel=1e-9), (start, ref, name)
    # Every failure; those before routing count for the endpoint only.
    day = endpoint_metrics(storage, "shop", *windows[1], tolerance=TOL)
    assert day[ALL_VERSIONS].failed_requests == 7
    assert sum(day[r].failed_requests for r in REFS) == 4
    assert version_metrics(storage, "shop", *windows[1], tolerance=TOL).keys() == set(REFS)


def test_snapshots_are_parquet_history(local: Storage) -> None:
    storage = local
    _write(storage)
    for h in (1, 2):
        snapshot(storage, "shop", START + timedelta(hours=h - 1), START + timedelta(hours=h))
    frame = read_snapshots(storage, "shop", START, START + timedelta(hours=3))
    assert len(frame) == 6 and set(frame["ref"]) == {ALL_VERSIONS, *REFS}
    keys = storage.list_keys("monitoring/shop/metrics/")
    assert {k.split("/")[3] for k in keys} == {"date=2026-03-01"} and len(keys) == 2
    first = frame[(frame.ref == ALL_VERSIONS)].iloc[0]
    direct = endpoint_metrics(storage, "shop", START, START + timedelta(hours=1))[ALL_VERSIONS]
    assert first["mae"] == pytest.approx(direct.mae) and first["requests"] == direct.requests


def test_windows_and_empty_logs(local: Storage) -> None:
    storage = local
    end = datetime(2026, 1, 31, tzinfo=UTC)
    for text, hours in (("1h", 1), ("24h", 24), ("7d", 168), ("30d", 720), ("90m", 1.5)):
        start, e = parse_window(text, end=end)
        assert e - start == timedelta(hours=hours)
    for bad in ("-1h", "0h", "1y", "soon", ""):
        with pytest.raises(InvalidInputError, match="positive|not a duration"):
            parse_window(bad, end=end)
    with pytest.raises(InvalidInputError, match="before it starts"):
        parse_window(start=end, end=end - timedelta(hours=1))
    assert endpoint_metrics(storage, "nothing", end - timedelta(hours=1), end) == {}
