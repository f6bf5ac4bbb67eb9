"""Feature store ingest and read against plain pyarrow.parquet, on the same table and disk.

Run:  python bench/feature_store.py [--rows 5000000] [--dir /tmp/rayops-bench]

One in-memory table (default 5M rows x 20 columns: an int64 id, 11 float64,
3 int64, 2 strings, a bool, a timestamp and a float64 with 5% nulls) is

* ingested by ``FeatureStore.write`` (scan: SHA-256 content hash, statistics;
  then parts written and the manifest published), and written by one plain
  ``pyarrow.parquet.write_table`` with the same codec, to the same local storage;
* read back whole by ``FeatureStore.read_arrow`` and by ``pyarrow.parquet.read_table``.

Each is timed once (wall clock) and the throughput ratios printed. Aim: ingest
>= 0.7x and read >= 0.9x the plain throughput.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from rayops.config import Settings
from rayops.features import FeatureStore
from rayops.storage import open_storage


def make_table(rows: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    cols: dict[str, pa.Array] = {"id": pa.array(np.arange(rows, dtype=np.int64))}
    for i in range(11):
        cols[f"f{i}"] = pa.array(rng.standard_normal(rows))
    for i in range(3):
        cols[f"i{i}"] = pa.array(rng.integers(0, 1000, rows))
    colors = np.array(["red", "green", "blue", "yellow", "black"])
    cols["color"] = pa.array(colors[rng.integers(0, 5, rows)])
    cols["segment"] = pa.array(np.char.add("seg-", rng.integers(0, 200, rows).astype(str)))
    cols["flag"] = pa.array(rng.random(rows) < 0.3)
    cols["ts"] = pa.array(pd.date_range("2024-01-01", periods=rows, freq="s").values)
    cols["maybe"] = pa.array(rng.standard_normal(rows), mask=rng.random(rows) < 0.05)
    return pa.table(cols)


def timed(fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--dir", default=None, help="Local storage root (default: a temp dir).")
    args = parser.parse_args()

    root = args.dir or tempfile.mkdtemp(prefix="rayops-bench-")
    os.makedirs(root, exist_ok=True)
    settings = Settings(storage=root)
    storage = open_storage(root, settings)
    store = FeatureStore(storage, settings=settings)
    codec = settings.features.compression

    table, gen_s = timed(lambda: make_table(args.rows))
    gb = table.nbytes / 1e9
    print(
        f"table: {table.num_rows:,} rows x {table.num_columns} columns, {gb:.2f} GB in memory "
        f"(generated in {gen_s:.1f}s); storage {root}; codec {codec}; "
        f"threads {settings.features.threads or os.cpu_count()}"
    )

    plain_path = os.path.join(root, "plain", "data.parquet")
    os.makedirs(os.path.dirname(plain_path), exist_ok=True)
    _, plain_w = timed(lambda: pq.write_table(table, plain_path, compression=codec))
    version, ours_w = timed(lambda: store.write("bench", table, entity="id", event_time="ts"))
    assert not version.reused and version.row_count == table.num_rows

    plain_table, plain_r = timed(lambda: pq.read_table(plain_path))
    ours_table, ours_r = timed(lambda: store.read_arrow(version.ref))
    assert ours_table.num_rows == plain_table.num_rows == table.num_rows
    del plain_table, ours_table

    _, dedup_s = timed(lambda: store.write("bench", table))

    def row(label: str, seconds: float) -> str:
        return f"  {label:<38} {seconds:7.2f} s  {gb / seconds:6.2f} GB/s"

    print("ingest")
    print(row("pyarrow.parquet.write_table", plain_w))
    print(row("FeatureStore.write (hash+stats+write)", ours_w))
    print("read")
    print(row("pyarrow.parquet.read_table", plain_r))
    print(row("FeatureStore.read_arrow", ours_r))
    print(f"dedup re-write of identical content: {dedup_s:.2f} s (hash only, no data written)")
    print(f"ingest throughput ratio rayops/plain: {plain_w / ours_w:.2f}x (aim >= 0.7x)")
    print(f"read throughput ratio rayops/plain:   {plain_r / ours_r:.2f}x (aim >= 0.9x)")
    print(f"sha256 {version.sha256}")
    from _report import result

    peer_w, peer_r = "pyarrow.parquet.write_table", "pyarrow.parquet.read_table"
    result("feature_store", f"ingest throughput, {args.rows:,} rows", plain_w / ours_w,
           ">= 0.7x", plain_w / ours_w >= 0.7, peer=peer_w)  # fmt: skip
    result("feature_store", f"read throughput, {args.rows:,} rows", plain_r / ours_r,
           ">= 0.9x", plain_r / ours_r >= 0.9, peer=peer_r)  # fmt: skip
    if args.dir is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
