"""Prediction log (batched, flushed on close) and feedback log (group commit) on real storage."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from rayops.registry.rows import Rows
from rayops.storage import Storage
from rayops.telemetry.writers import FeedbackLog, PredictionLog, Scored


def test_prediction_log_batches_and_flushes_on_close(storage: Storage) -> None:
    log = PredictionLog(storage, flush_s=3600)
    frame = pd.DataFrame({"x": [1.0, None], "c": pd.Categorical(["a", None])})
    for i in range(3):
        log.record(
            request_id=f"r{i}",
            endpoint="ep",
            ref="m@1.0.0",
            frame=frame,
            predictions=[1.5, 2.5],
            latency_ms=0.3,
            key="k" if i else None,
        )
    assert log.pending == 6 and storage.list_keys("logs/") == []  # off the request path
    log.close()
    keys = storage.list_keys("logs/ep/predictions/")
    assert len(keys) == 1 and "/date=" in keys[0]
    t = storage.read_parquet("logs/ep/predictions/").to_pandas()
    assert len(t) == 6
    assert t["request_id"].tolist() == ["r0", "r0", "r1", "r1", "r2", "r2"]
    assert t["row"].tolist() == [0, 1] * 3
    assert t["f_x"][0] == 1.0 and pd.isna(t["f_x"][1])
    assert t["f_c"][0] == "a" and pd.isna(t["f_c"][1])
    schema = storage.read_parquet("logs/ep/predictions/").schema
    assert str(schema.field("f_x").type) == "double" and str(schema.field("f_c").type) == "string"
    assert t["prediction"].tolist() == [1.5, 2.5] * 3 and t["label"].isna().all()
    assert t["version"].unique().tolist() == ["1.0.0"] and not t["shadow"].any()
    assert str(t["time"].dtype).startswith("datetime64[us, UTC]")


def test_prediction_log_flushes_on_its_own(storage: Storage) -> None:
    log = PredictionLog(storage, flush_s=0.1)
    log.record(
        request_id="r",
        endpoint="ep",
        ref="m@1.0.0",
        frame=pd.DataFrame({"x": [1.0]}),
        predictions=[0.0],
        latency_ms=0.1,
    )
    deadline = time.monotonic() + 5
    while not storage.list_keys("logs/ep/predictions/") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert storage.list_keys("logs/ep/predictions/")
    log.close()


@pytest.mark.parametrize("storage", ["local"], indirect=True)
def test_feedback_group_commit(storage: Storage) -> None:
    fb = FeedbackLog(storage)

    async def main() -> None:
        await asyncio.gather(*(fb.write("ep", f"r{i}", [float(i)]) for i in range(50)))

    asyncio.run(main())
    keys = storage.list_keys("logs/ep/feedback/")
    t = storage.read_parquet("logs/ep/feedback/").to_pandas()
    assert sorted(t["request_id"]) == sorted(f"r{i}" for i in range(50))
    assert len(keys) == fb.commits < 50  # concurrent requests shared writes


def test_feedback_failure_is_reported_to_every_waiter(storage: Storage) -> None:
    fb = FeedbackLog(storage)

    def broken(batch: object) -> None:
        raise OSError("disk full")

    fb._commit = broken  # type: ignore[method-assign]

    async def main() -> list[object]:
        return await asyncio.gather(
            *(fb.write("ep", f"r{i}", [1.0]) for i in range(5)), return_exceptions=True
        )

    results = asyncio.run(main())
    assert all(isinstance(r, OSError) for r in results)


def test_one_flush_of_interleaved_shapes_keeps_every_row_with_its_own_columns(
    storage: Storage,
) -> None:
    # Requests alternate between two feature sets and two classifiers whose classes come as
    # equal lists, as other list objects, and as 1 vs "1": a flush groups them by value,
    # not by object, and every row keeps its own values.
    log = PredictionLog(storage, flush_s=3600)
    when = datetime(2026, 3, 2, 12, tzinfo=UTC)
    for i in range(12):
        wide = i % 2 == 0
        names = ["a", "b", "c"] if wide else ["a", "b"]
        frame = Rows(list(names), matrix=np.full((1, len(names)), float(i)))
        classes = [0, 1] if i % 3 == 0 else (["0", "1"] if i % 3 == 1 else [0, 1])
        scored = Scored(probabilities=np.array([[1 - i / 12, i / 12]]), classes=classes,
                        labels=[str(i % 2)])  # fmt: skip
        log.record(request_id=f"r{i}", endpoint="ep", ref="m@1.0.0", frame=frame,
                   predictions=scored, latency_ms=float(i), time=when)  # fmt: skip
    log.close()
    assert len(storage.list_keys("logs/ep/predictions/")) == 1
    t = storage.read_parquet("logs/ep/predictions/").to_pandas().set_index("request_id")
    assert sorted(t.index) == sorted(f"r{i}" for i in range(12))
    for i in range(12):
        row = t.loc[f"r{i}"]
        assert row["f_a"] == row["f_b"] == float(i) and row["latency_ms"] == float(i)
        assert (row["f_c"] == float(i)) if i % 2 == 0 else pd.isna(row["f_c"])
        assert row["p_1"] == pytest.approx(i / 12) and row["label"] == str(i % 2)
    assert {c for c in t.columns if c.startswith("p_")} == {"p_0", "p_1"}


@pytest.mark.parametrize("storage", ["local"], indirect=True)
def test_stamps_are_utc_microseconds_from_every_kind_of_clock(storage: Storage) -> None:
    """The wall clock (the gateway's), an injected clock, an aware and a naive ``time``:
    each row keeps its instant to the microsecond, and a flush across midnight writes
    one file per day, each under its own date partition and named for its first row."""
    from datetime import timedelta

    from rayops.telemetry.writers import RequestLog

    before = datetime.now(UTC)
    late = datetime(2026, 3, 1, 23, 59, 59, 999_999, tzinfo=UTC)
    log = PredictionLog(storage, flush_s=3600, now=lambda: late)
    wall, requests = PredictionLog(storage, flush_s=3600), RequestLog(storage, flush_s=3600)
    frame = Rows(["x"], matrix=np.zeros((1, 1)))

    def record(target: PredictionLog, rid: str, when: datetime | None) -> None:
        target.record(request_id=rid, endpoint="ep", ref="m@1.0.0", frame=frame,
                      predictions=[1.0], latency_ms=0.1, time=when)  # fmt: skip

    record(log, "clock", None)
    record(log, "aware", late + timedelta(microseconds=1))
    record(log, "naive", datetime(2026, 3, 2, 0, 0, 1, 5))
    record(wall, "wall", None)
    requests.record(request_id="wall", endpoint="ep", ref="m@1.0.0", status=200)
    requests.record(request_id="naive", endpoint="ep", ref=None, status=503,
                    time=datetime(2026, 3, 2, 0, 0, 1, 5))  # fmt: skip
    for each in (log, wall, requests):
        each.close()
    after = datetime.now(UTC)

    keys = storage.list_keys("logs/ep/predictions/")
    days = sorted(k.split("date=")[1][:10] for k in keys)
    assert days == ["2026-03-01", "2026-03-02", before.date().isoformat()]
    assert any("date=2026-03-01/20260301T235959999999Z-" in k for k in keys), keys
    assert any("date=2026-03-02/20260302T000000000000Z-" in k for k in keys), keys
    t = storage.read_parquet("logs/ep/predictions/").to_pandas().set_index("request_id")
    assert t.loc["clock", "time"] == late
    assert t.loc["aware", "time"] == datetime(2026, 3, 2, tzinfo=UTC)
    assert t.loc["naive", "time"] == datetime(2026, 3, 2, 0, 0, 1, 5, tzinfo=UTC)
    assert before <= t.loc["wall", "time"] <= after
    r = storage.read_parquet("logs/ep/requests/").to_pandas().set_index("request_id")
    assert before <= r.loc["wall", "time"] <= after and r.loc["wall", "status"] == 200
    assert r.loc["naive", "time"] == datetime(2026, 3, 2, 0, 0, 1, 5, tzinfo=UTC)
    assert r.loc["naive", "status"] == 503 and pd.isna(r.loc["naive", "model"])
