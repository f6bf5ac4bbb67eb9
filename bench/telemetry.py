"""Telemetry at production volume, side by side with the earlier JSON-string logs (issue 20).

Run:  python bench/telemetry.py [--rows 1000000] [--quick]

(a) **Read and join** ``--rows`` logged rows (8 numeric + 2 categorical features, 100 rows
    a request) with their feedback. *typed*: :func:`rayops.telemetry.readers.joined` over
    the typed files the gateway's writers produce. *json*: the same rows in the earlier
    format (one ``features`` JSON string per row), read with pyarrow and parsed as the
    earlier reader did (``pyarrow.json.read_json`` over the column), joined with pandas.
    Aim: typed <= 2 s.
(b) **Monitoring pass** (health and alert metrics of a window) as the window grows from
    10k to ``--rows`` rows at a constant 40k rows/hour (past hours compacted, the current
    hour in 1-minute files). *full*: every pass reads the whole window
    (``endpoint_metrics``, what a pass cost before aggregates). *incremental*: a
    long-lived :class:`rayops.monitoring.aggregates.Aggregates` after 5 s of new traffic
    (one new prediction, request and feedback file); its first pass in a new process is
    shown too ("cold": it computes every file of the window's day partitions, or loads
    what an earlier process stored under monitoring/<endpoint>/aggregates/; the windows
    share one storage root, so later windows find earlier ones' files stored).
    Aim: incremental roughly flat.
(c) **Log write cost per row** through :class:`rayops.telemetry.writers.PredictionLog`
    (record + flush, local disk) for 1-row and 100-row requests, against the earlier
    serialisation (``json.dumps`` of each row's features into one string column, then
    the same Parquet write). Each is the median of ``--repeats`` rounds of ``--write-rows``
    rows, one log per round as a long-lived gateway keeps it (the first round of a fresh
    process also pays for first-time allocations and imports), with the start-up heap frozen
    as a gateway replica freezes it (:func:`rayops.apps.gateway.freeze_startup_heap`).
    Aim: <= 3 µs/row amortised.
(d) **File count** after 30 simulated minutes of 20 requests/s: predictions flushed
    every 5 s, every request's feedback written as the gateway does (group commit of the
    requests that arrive together, here each second's), the requests log flushed every
    5 s, with the telemetry compaction task every ``telemetry_compact_interval_s``.
    Time is simulated with injected clocks (file names carry the simulated time).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from rayops.config import Settings
from rayops.storage import Storage, open_storage
from rayops.telemetry.writers import FeedbackLog, PredictionLog, RequestLog

NUMERIC = [f"num_{i}" for i in range(8)]
CATEGORICAL = ["cat_0", "cat_1"]
REF = "bench@1.0.0"
T0 = datetime(2026, 3, 2, tzinfo=UTC)
RATE_PER_HOUR = 40_000


def timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {c: rng.normal(size=rows) for c in NUMERIC}
    for c in CATEGORICAL:
        data[c] = rng.choice(["a", "b", "c", "d"], size=rows)
    return pd.DataFrame(data)


def write_hours(
    storage: Storage, endpoint: str, rows: int, end: datetime, *, per_request: int = 100
) -> None:
    """``rows`` rows ending at ``end`` at RATE_PER_HOUR, with feedback a minute later: past
    hours as one file per log (as compaction leaves them), the last hour in 1-minute files."""
    x = frame(rows, 0)
    pred = np.random.default_rng(1).normal(50, 10, rows)
    actual = pred + np.random.default_rng(2).normal(0, 3, rows)
    requests = rows // per_request
    start = end - timedelta(hours=rows / RATE_PER_HOUR)
    step = (end - start) / requests
    log, outcomes = PredictionLog(storage, flush_s=1e9), RequestLog(storage, flush_s=1e9)
    pending: list[tuple[datetime, str, list[float]]] = []

    def feedback() -> None:
        if not pending:
            return
        clock = iter([t for t, _, _ in pending])

        async def send() -> None:
            fb = FeedbackLog(storage, now=lambda: next(clock))
            await asyncio.gather(*(fb.write(endpoint, rid, a) for _, rid, a in pending))

        asyncio.run(send())
        pending.clear()

    last_key = None
    for i in range(requests):
        when = start + step * i
        recent = end - when <= timedelta(hours=1)
        key = (when.replace(second=0, microsecond=0) if recent
               else when.replace(minute=0, second=0, microsecond=0))  # fmt: skip
        if last_key is not None and key != last_key:
            log.flush()
            outcomes.flush()
            feedback()
        last_key = key
        rows_i = slice(i * per_request, (i + 1) * per_request)
        log.record(request_id=f"r{i}", endpoint=endpoint, ref=REF, frame=x.iloc[rows_i],
                   predictions=pred[rows_i], latency_ms=5.0 + i % 13, time=when)  # fmt: skip
        outcomes.record(request_id=f"r{i}", endpoint=endpoint, ref=REF, status=200, time=when)
        pending.append((when + timedelta(seconds=30), f"r{i}", list(actual[rows_i])))
    log.close()
    outcomes.close()
    feedback()


# --- (a) read and join --------------------------------------------------------------------
def old_format(storage: Storage, endpoint: str, start: datetime, end: datetime) -> list[str]:
    """The same predictions in the earlier layout: a ``features`` JSON string per row."""
    import pyarrow as pa

    from rayops.telemetry.readers import dataset, window_files

    keys = []
    for n, key in enumerate(window_files(storage, endpoint, "predictions", start, end)):
        t = dataset(storage, [key]).to_table().to_pandas()
        feats = t[[f"f_{c}" for c in NUMERIC + CATEGORICAL]]
        feats.columns = NUMERIC + CATEGORICAL
        text = [json.dumps(r) for r in feats.to_dict(orient="records")]
        base = t[["request_id", "row", "endpoint", "model", "version", "shadow", "latency_ms",
                  "time", "prediction"]]  # fmt: skip
        table = pa.Table.from_pandas(base, preserve_index=False).append_column(
            "features", pa.array(text, pa.string())
        )
        key = f"old/{endpoint}/predictions/part-{n:05d}.parquet"
        storage.write_parquet(key, table)
        keys.append(key)
    return keys


def old_joined(storage: Storage, keys: list[str], endpoint: str, start: datetime, end: datetime):  # type: ignore[no-untyped-def]
    """The earlier read: the prediction files, their features parsed from JSON with
    pyarrow.json, joined with feedback in pandas."""
    import pyarrow.json as pajson

    from rayops.telemetry.readers import dataset, read_feedback

    table = dataset(storage, keys).to_table()
    text = "\n".join(table.column("features").to_pylist()).encode()
    feats = pajson.read_json(io.BytesIO(text)).to_pandas()
    preds = table.drop(["features"]).to_pandas()
    preds = pd.concat([preds, feats], axis=1)
    fb = read_feedback(storage, endpoint, start, end + timedelta(days=7))
    fb = fb.sort_values("time").drop_duplicates(["request_id", "row"], keep="last")
    out = preds.merge(fb[["request_id", "row", "actual"]], on=["request_id", "row"], how="left")
    out["error"] = out["prediction"] - out["actual"]
    return out


def bench_read(rows: int) -> list[tuple[str, str, str]]:
    from rayops.telemetry.readers import joined

    storage = open_storage(tempfile.mkdtemp(prefix="bench-telemetry-"))
    end = T0 + timedelta(hours=rows / RATE_PER_HOUR + 1)
    write_hours(storage, "read", rows, end)
    start = end - timedelta(days=2)
    keys = old_format(storage, "read", start, end)
    typed, t_typed = timed(lambda: joined(storage, "read", start, end))
    old, t_old = timed(lambda: old_joined(storage, keys, "read", start, end))
    assert len(typed) == len(old) == rows and typed["actual"].notna().sum() == rows
    assert np.allclose(np.sort(typed["f_num_0"].to_numpy()), np.sort(old["num_0"].to_numpy()))
    return [
        ("(a) read+join typed", f"{rows:,} rows", f"{t_typed:.2f} s  (aim <= 2 s)"),
        ("(a) read+join json", f"{rows:,} rows", f"{t_old:.2f} s  ({t_old / t_typed:.1f}x typed)"),
    ]


# --- (b) monitoring pass ------------------------------------------------------------------
def _add_five_seconds(storage: Storage, endpoint: str, end: datetime, seq: int) -> None:
    """5 s of traffic ending at ``end`` (55 rows, 11 rows/s): one file per log."""
    x = frame(55, 100 + seq)
    log, outcomes = PredictionLog(storage, flush_s=1e9), RequestLog(storage, flush_s=1e9)
    ids = []
    for i in range(55):
        when = end - timedelta(seconds=5) + timedelta(seconds=i / 11)
        rid = f"n{seq}-{i}"
        log.record(request_id=rid, endpoint=endpoint, ref=REF, frame=x.iloc[i : i + 1],
                   predictions=[50.0], latency_ms=6.0, time=when)  # fmt: skip
        outcomes.record(request_id=rid, endpoint=endpoint, ref=REF, status=200, time=when)
        ids.append(rid)
    log.close()
    outcomes.close()

    async def send() -> None:
        fb = FeedbackLog(storage, now=lambda: end)
        await asyncio.gather(*(fb.write(endpoint, rid, [51.0]) for rid in ids))

    asyncio.run(send())


def bench_pass(rows: int) -> list[tuple[str, str, str]]:
    from rayops.monitoring.aggregates import Aggregates
    from rayops.monitoring.metrics import endpoint_metrics

    storage = open_storage(tempfile.mkdtemp(prefix="bench-monitor-"))
    end = T0 + timedelta(hours=rows / RATE_PER_HOUR + 0.5)
    write_hours(storage, "mon", rows, end)
    settings = Settings(monitoring_accuracy_tolerance=5.0)
    out = []
    sizes = [n for n in (10_000, 100_000, 1_000_000) if n <= rows]
    for k, size in enumerate(sizes):
        pass_end = end + timedelta(seconds=10 * (k + 1))
        window = timedelta(hours=size / RATE_PER_HOUR)
        start = pass_end - window
        full, t_full = timed(endpoint_metrics, storage, "mon", start, pass_end, settings=settings)
        agg = Aggregates(storage, "mon", settings)
        _, t_cold = timed(agg.metrics, start, pass_end)
        # 5 s of new traffic, then the next pass of the same long-lived loop
        later = pass_end + timedelta(seconds=5)
        _add_five_seconds(storage, "mon", later - timedelta(seconds=1), k)
        warm, t_warm = timed(agg.metrics, start, later)
        assert warm["*"].requests >= full["*"].requests - 100
        assert abs((warm["*"].mae or 0) - (full["*"].mae or 0)) < 0.05
        out.append((f"(b) monitoring pass, {size:,}-row window",
                    f"full {t_full * 1000:.0f} ms", f"incremental {t_warm * 1000:.0f} ms "
                    f"(cold {t_cold * 1000:.0f} ms)"))  # fmt: skip
    return out


# --- (c) write cost -----------------------------------------------------------------------
def _old_write(
    storage: Storage, entries: list[tuple[str, list[str], np.ndarray, np.ndarray]]
) -> None:
    """The earlier prediction log: each row's features as one JSON string."""
    import pyarrow as pa

    cols: dict[str, list[Any]] = {"request_id": [], "row": [], "features": [], "prediction": []}
    for rid, names, matrix, pred in entries:
        for i, values in enumerate(matrix.tolist()):
            cols["request_id"].append(rid)
            cols["row"].append(i)
            cols["features"].append(json.dumps(dict(zip(names, values, strict=True))))
            cols["prediction"].append(float(pred[i]))
    n = len(cols["row"])
    table = pa.table({**cols, "endpoint": ["w"] * n, "model": ["bench"] * n,
                      "version": ["1.0.0"] * n, "latency_ms": [5.0] * n})  # fmt: skip
    storage.write_parquet(f"old/w/{time.perf_counter_ns()}.parquet", table)


def _typed_write(log: PredictionLog, batches: list[Any], pred: np.ndarray, ids: list[str]) -> None:
    """What the gateway does per request, given the request's id, rows and answer (it
    stamps no time: the log takes the clock's)."""
    for rid, b in zip(ids, batches, strict=True):
        log.record(request_id=rid, endpoint="w", ref=REF, frame=b, predictions=pred,
                   latency_ms=5.0)  # fmt: skip
    log.flush()


def bench_write(rows: int, repeats: int = 5) -> list[tuple[str, str, str]]:
    """What the gateway logs: ``Rows`` over one float64 matrix per request (10 features)."""
    from rayops.apps.gateway import freeze_startup_heap
    from rayops.registry.rows import Rows

    storage = open_storage(tempfile.mkdtemp(prefix="bench-write-"))
    names = [f"x{i}" for i in range(10)]
    matrix = np.random.default_rng(3).normal(size=(rows, 10))
    out = []
    warm = PredictionLog(storage, flush_s=1e9)  # imports and first-call costs, not measured
    warm.record(request_id="w", endpoint="w", ref=REF, frame=Rows(names, matrix=matrix[:2]),
                predictions=np.ones(2), latency_ms=1.0, time=T0)  # fmt: skip
    warm.close()
    _old_write(storage, [("w", names, matrix[:2], np.ones(2))])
    freeze_startup_heap()  # what a gateway replica does once it has started
    for per_request in (1, 100):
        n = rows // per_request
        parts = [matrix[i * per_request : (i + 1) * per_request] for i in range(n)]
        batches = [Rows(names, matrix=m) for m in parts]
        pred = np.full(per_request, 50.0)
        ids = [f"r{i}" for i in range(n)]
        entries = [(rid, names, m, pred) for rid, m in zip(ids, parts, strict=True)]
        typed, old = [], []
        for _ in range(repeats):  # interleaved, so that both see the same machine
            log = PredictionLog(storage, flush_s=1e9, max_rows=10**9)
            typed.append(timed(_typed_write, log, batches, pred, ids)[1])
            log.close()
            old.append(timed(_old_write, storage, entries)[1])
        t_typed, t_old = float(np.median(typed)), float(np.median(old))
        out.append((f"(c) log write, {per_request}-row requests",
                    f"typed {t_typed / rows * 1e6:.2f} µs/row (aim <= 3)",
                    f"json {t_old / rows * 1e6:.2f} µs/row "
                    f"({t_old / t_typed:.1f}x typed)"))  # fmt: skip
    return out


# --- (d) file count -----------------------------------------------------------------------
def bench_files(minutes: int) -> list[tuple[str, str, str]]:
    from rayops.telemetry.compaction import Compactor
    from rayops.telemetry.stats import log_stats

    storage = open_storage(tempfile.mkdtemp(prefix="bench-files-"))
    settings = Settings()
    every = settings.telemetry.compact_interval_s
    compactor = Compactor(storage, settings.telemetry)
    start = T0 + timedelta(hours=9, minutes=45)  # the half hour crosses an hour boundary
    log, outcomes = PredictionLog(storage, flush_s=1e9), RequestLog(storage, flush_s=1e9)
    x = frame(20, 7)
    rows = [x.iloc[i : i + 1] for i in range(20)]
    seconds = minutes * 60
    stats_before = None

    async def one_second(t: datetime, s: int) -> None:
        fb = FeedbackLog(storage, now=lambda: t)
        await asyncio.gather(*(fb.write("files", f"s{s}-{i}", [51.0]) for i in range(20)))

    for s in range(seconds):
        t = start + timedelta(seconds=s)
        for i in range(20):
            rid = f"s{s}-{i}"
            when = t + timedelta(milliseconds=50 * i)
            log.record(request_id=rid, endpoint="files", ref=REF, frame=rows[i],
                       predictions=[50.0], latency_ms=6.0, time=when)  # fmt: skip
            outcomes.record(request_id=rid, endpoint="files", ref=REF, status=200, time=when)
        asyncio.run(one_second(t + timedelta(milliseconds=999), s))
        if s % 5 == 4:
            log.flush()
            outcomes.flush()
        if s % int(every) == int(every) - 1:
            if stats_before is None:
                stats_before = log_stats(storage, "files")
            compactor.run(t + timedelta(seconds=1))
    log.close()
    outcomes.close()
    stats = log_stats(storage, "files")
    live = {k: v["live_files"] for k, v in stats.items() if v["rows"]}
    written = 360 * minutes // 30 * 2
    rows_ok = stats["predictions"]["rows"] == seconds * 20 == stats["feedback"]["rows"]
    assert rows_ok, stats
    shown = ", ".join(f"{k} {v}" for k, v in live.items())
    return [
        (f"(d) files after {minutes} min at 20 req/s", f"{sum(live.values())} live files ({shown})",
         f"without compaction: {written} + {seconds} feedback group commits"),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--minutes", type=int, default=30)
    parser.add_argument("--write-rows", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5, help="rounds of (c), median shown")
    args = parser.parse_args()
    table: list[tuple[str, str, str]] = []
    for part in (
        lambda: bench_write(args.write_rows, args.repeats),
        lambda: bench_read(args.rows),
        lambda: bench_pass(args.rows),
        lambda: bench_files(args.minutes),
    ):
        found = part()
        for row in found:
            print("  ".join(row), flush=True)
        table += found
    width = [max(len(r[i]) for r in table) for i in range(3)]
    print()
    print(" | ".join(h.ljust(w) for h, w in zip(("what", "rayops", "peer / detail"), width,
                                                   strict=True)))  # fmt: skip
    print("-|-".join("-" * w for w in width))
    for row in table:
        print(" | ".join(c.ljust(w) for c, w in zip(row, width, strict=True)))


if __name__ == "__main__":
    main()
