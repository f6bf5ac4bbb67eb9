"""A Parquet input is streamed: Arrow memory stays far below the size of the data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROWS, COLS = 4_000_000, 4

INGEST = """
import json, sys
import pyarrow as pa
from rayops.config import Settings
from rayops.features import FeatureStore
from rayops.storage import open_storage

settings = Settings(
    features_batch_rows=65_536, features_rows_per_file=131_072, features_threads=2,
    features_compression="snappy",
)
fs = FeatureStore(open_storage(sys.argv[2], settings), settings=settings)
v = fs.write("big", sys.argv[1])
print(json.dumps({"rows": v.row_count, "files": len(v.files),
                  "peak": pa.default_memory_pool().max_memory()}))
"""


def test_parquet_input_streams_with_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.parquet"
    schema = pa.schema([(f"c{i}", pa.float64()) for i in range(COLS)])
    rng = np.random.default_rng(0)
    with pq.ParquetWriter(path, schema, compression="snappy") as writer:
        for _ in range(ROWS // 100_000):
            writer.write_table(
                pa.table({f"c{i}": rng.random(100_000) for i in range(COLS)}, schema=schema)
            )
    data_bytes = ROWS * COLS * 8  # 128 MB once decoded
    out = subprocess.run(
        [sys.executable, "-c", INGEST, str(path), str(tmp_path / "root")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["rows"] == ROWS and report["files"] == 31
    # Reading the whole file first would need more than data_bytes on its own.
    assert report["peak"] < data_bytes * 0.75, report
