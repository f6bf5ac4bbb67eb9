"""Compaction and retention on local disk and S3: fewer files, every row exactly once."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from rayops.config import TelemetrySettings
from rayops.storage import Storage
from rayops.telemetry.compaction import Compactor, expire
from rayops.telemetry.readers import joined, read_feedback, read_predictions, window_files
from rayops.telemetry.stats import log_stats
from rayops.telemetry.writers import FeedbackLog, PredictionLog

DAY = datetime(2026, 5, 4, tzinfo=UTC)
SETTLED = TelemetrySettings(orphan_grace_s=1.0)


def _predict(storage: Storage, hours: list[int], per_hour: int, tag: str = "r") -> list[str]:
    """``per_hour`` one-request files in each hour of DAY; returns the request ids."""
    ids = []
    for h in hours:
        for i in range(per_hour):
            when = DAY + timedelta(hours=h, minutes=i % 60, seconds=i // 60)
            log = PredictionLog(storage, flush_s=3600)
            rid = f"{tag}{h:02d}-{i:03d}"
            log.record(request_id=rid, endpoint="shop", ref="m@1.0.0",
                       frame=pd.DataFrame({"x": [float(i), float(h)]}),
                       predictions=[float(i), float(h)], latency_ms=1.0, time=when)  # fmt: skip
            log.close()
            ids.append(rid)
    return ids


def _feedback(storage: Storage, ids: list[str], hour: int) -> None:
    async def go() -> None:
        for i, rid in enumerate(ids):
            fb = FeedbackLog(storage, now=lambda i=i: DAY + timedelta(hours=hour, seconds=i))
            await fb.write("shop", rid, [1.0, 2.0])

    asyncio.run(go())


def _rows(storage: Storage) -> pd.DataFrame:
    frame = read_predictions(storage, "shop", DAY, DAY + timedelta(days=1))
    return frame.sort_values(["request_id", "row"]).reset_index(drop=True)


def _codec(storage: Storage, key: str, column: str) -> str:
    meta = pq.ParquetFile(io.BytesIO(storage.read_bytes(key))).metadata
    index = meta.schema.names.index(column)
    return str(meta.row_group(0).column(index).compression)


def _assert_exactly_once(storage: Storage, ids: list[str]) -> None:
    rows = _rows(storage)
    assert not rows.duplicated(["request_id", "row"]).any()
    assert sorted(rows["request_id"].unique()) == sorted(ids)
    assert len(rows) == 2 * len(ids)


def test_compaction_merges_each_hour_and_changes_no_figure(storage: Storage) -> None:
    from rayops.monitoring.metrics import version_metrics

    ids = _predict(storage, [10, 11, 12], per_hour=12)
    _feedback(storage, ids[:20], hour=12)
    before = _rows(storage)
    end = DAY + timedelta(hours=13, minutes=30)
    joined_before = joined(storage, "shop", DAY, end).sort_values(["request_id", "row"])
    metrics_before = version_metrics(storage, "shop", DAY, end)
    small = window_files(storage, "shop", "predictions", DAY, end)
    files_before = len(small)
    # Written on the request path with LZ4 for floats; compaction rewrites them with zstd.
    assert _codec(storage, small[0], "prediction") == "LZ4"
    report = Compactor(storage, SETTLED).run(end)
    assert report["merged_files"] == 4  # hours 10, 11, 12 of predictions; hour 12 of feedback
    files_after = window_files(storage, "shop", "predictions", DAY, end)
    assert files_before == 36 and len(files_after) == 3
    assert all("/compacted-" in k for k in files_after)
    assert {_codec(storage, k, "prediction") for k in files_after} == {"ZSTD"}
    pd.testing.assert_frame_equal(_rows(storage), before, check_like=True)
    joined_after = joined(storage, "shop", DAY, end).sort_values(["request_id", "row"])
    pd.testing.assert_frame_equal(
        joined_after.reset_index(drop=True), joined_before.reset_index(drop=True), check_like=True
    )
    assert version_metrics(storage, "shop", DAY, end) == metrics_before
    # A second pass has nothing to do; files written since are merged with their hour's.
    assert Compactor(storage, SETTLED).run(end)["merged_files"] == 0
    late = _predict(storage, [12], per_hour=2, tag="late")
    assert Compactor(storage, SETTLED).run(end)["merged_files"] == 1
    assert len(window_files(storage, "shop", "predictions", DAY, end)) == 3
    _assert_exactly_once(storage, ids + late)


def test_concurrent_writers_readers_and_compactors(storage: Storage) -> None:
    ids = _predict(storage, [8, 9], per_hour=15)
    now = DAY + timedelta(hours=10, minutes=30)  # writers keep adding files to hour 10
    stop = threading.Event()
    seen: list[int] = []
    problems: list[str] = []
    late: list[str] = []

    def write() -> None:  # the open hour keeps getting files
        i = 0
        while not stop.is_set() and i < 40:
            late.extend(_predict(storage, [10], per_hour=1, tag=f"w{i:02d}-"))
            i += 1

    def read() -> None:
        while not stop.is_set():
            rows = _rows(storage)
            if rows.duplicated(["request_id", "row"]).any():
                problems.append("duplicate rows")
            old = rows[rows["request_id"].isin(ids)]
            seen.append(len(old))

    threads = [threading.Thread(target=write), threading.Thread(target=read)]
    threads += [
        threading.Thread(target=lambda: Compactor(storage, SETTLED).run(now)) for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads[2:]:
        t.join()
    stop.set()
    for t in threads[:2]:
        t.join()
    assert not problems
    assert seen and all(n == 2 * len(ids) for n in seen)  # never a row missing or doubled
    _assert_exactly_once(storage, ids + late)


@pytest.mark.slow
def test_a_killed_compactor_never_leaves_duplicates(
    storage: Storage, request: pytest.FixtureRequest, repo_root: Path
) -> None:
    ids = _predict(storage, [6, 7], per_hour=6)
    now = (DAY + timedelta(hours=9)).isoformat()
    endpoint = ""
    if storage.uri.startswith("s3://"):
        endpoint = request.getfixturevalue("s3_server").endpoint
    worker = repo_root / "tests" / "helpers" / "compactor_worker.py"
    env = {**os.environ, "AWS_EC2_METADATA_DISABLED": "true"}
    # Kill the compactor right after its 1st, 2nd, ... storage mutation, checking each time.
    for crash_after in range(1, 40):
        proc = subprocess.run(
            [sys.executable, str(worker), storage.uri, endpoint, now, str(crash_after)],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
        _assert_exactly_once(storage, ids)
        if proc.returncode == 0:  # finished before the crash point: every point was covered
            break
        assert proc.returncode == 9, proc.stderr
    else:
        raise AssertionError("the compactor never finished")
    # The next run repairs what the dead ones left (orphans older than grace 0: all of them).
    subprocess.run([sys.executable, str(worker), storage.uri, endpoint, now, "0", "0"],
                   check=True, env=env, timeout=120)  # fmt: skip
    _assert_exactly_once(storage, ids)
    names = storage.list_keys("logs/shop/predictions/")
    assert len([n for n in names if n.endswith(".parquet")]) == 2  # one merged file per hour


def test_retention_deletes_whole_old_days(storage: Storage) -> None:
    old = PredictionLog(storage, flush_s=3600)
    for days_ago in (40, 10, 0):
        when = DAY - timedelta(days=days_ago)
        old.record(request_id=f"d{days_ago}", endpoint="shop", ref="m@1.0.0",
                   frame=pd.DataFrame({"x": [1.0]}), predictions=[1.0], latency_ms=1.0,
                   time=when)  # fmt: skip
        old.flush()
    old.close()
    assert expire(storage, DAY, 30) == {"partitions": 1, "files": 1}
    left = read_predictions(storage, "shop", DAY - timedelta(days=60), DAY + timedelta(days=1))
    assert sorted(left["request_id"]) == ["d0", "d10"]
    assert expire(storage, DAY, 0) == {"partitions": 0, "files": 0}  # 0 keeps every day


def test_log_stats_count_files_rows_bytes_and_partitions(storage: Storage) -> None:
    ids = _predict(storage, [3], per_hour=4)
    _feedback(storage, ids, hour=4)
    stats = log_stats(storage, "shop")
    assert stats["predictions"]["files"] == 4 and stats["predictions"]["rows"] == 8
    assert stats["predictions"]["bytes"] > 0 and stats["predictions"]["partitions"] == 1
    assert stats["feedback"]["rows"] == 8
    Compactor(storage, SETTLED).run(DAY + timedelta(hours=6))
    after = log_stats(storage, "shop")
    assert after["predictions"]["live_files"] == 1 and after["predictions"]["rows"] == 8
    assert len(read_feedback(storage, "shop", DAY, DAY + timedelta(days=1))) == 8
