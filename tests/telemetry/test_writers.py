"""Prediction log (batched, flushed on close) and feedback log (group commit) on real storage."""

from __future__ import annotations

import asyncio
import time

import pandas as pd
import pytest

from rayops.storage import Storage
from rayops.telemetry.writers import FeedbackLog, PredictionLog


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
