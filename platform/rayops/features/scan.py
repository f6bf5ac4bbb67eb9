"""One streaming pass over the input: content hash, statistics and quality checks.

Runs before anything is written, so a duplicate or a rejected (strict) write
costs a read and nothing else. Columns are processed in parallel threads: the
SHA-256 updates and Arrow kernels release the GIL.
"""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass

import pyarrow as pa

from rayops.features.hashing import ColumnHasher, combine, normalize
from rayops.features.manifest import ColumnStats, Expectations, Violation
from rayops.features.quality import ColumnChecker, null_violations
from rayops.features.source import Source
from rayops.features.stats import StatsAccumulator

__all__ = ["ScanResult", "scan"]


@dataclass
class ScanResult:
    sha256: str
    row_count: int
    stats: dict[str, ColumnStats]
    violations: list[Violation]


class _ColumnScan:
    def __init__(
        self, name: str, type_: pa.DataType, exp: Expectations | None, cats: int, top: int
    ) -> None:
        self.hasher = ColumnHasher()
        self.stats = StatsAccumulator(
            normalize(pa.array([], type_)).type, max_categories=cats, top_values=top
        )
        checker = ColumnChecker(name, exp) if exp is not None else None
        self.checker = checker if checker is not None and checker.active else None

    def update(self, arr: pa.Array, row_offset: int) -> None:
        arr = normalize(arr)
        self.hasher.update(arr, row_offset)
        self.stats.update(arr)
        if self.checker is not None:
            self.checker.update(arr)


def scan(
    source: Source,
    *,
    expectations: Expectations | None,
    pool: Executor,
    batch_rows: int,
    max_categories: int,
    top_values: int,
) -> ScanResult:
    """Hash, profile and check every column of ``source`` in one pass."""
    schema = source.schema
    cols = {
        f.name: _ColumnScan(f.name, f.type, expectations, max_categories, top_values)
        for f in schema
    }
    rows = 0
    for batch in source.batches(batch_rows):
        futures = [
            pool.submit(cols[name].update, batch.column(i), rows)
            for i, name in enumerate(batch.schema.names)
        ]
        for f in futures:
            f.result()
        rows += batch.num_rows
    sha = combine(rows, schema, {n: c.hasher.digest() for n, c in cols.items()})
    stats = {n: c.stats.result() for n, c in cols.items()}
    violations: list[Violation] = []
    if expectations is not None:
        violations = null_violations(expectations, schema.names, stats)
        for c in cols.values():
            if c.checker is not None:
                violations.extend(c.checker.violations())
    return ScanResult(sha256=sha, row_count=rows, stats=stats, violations=violations)
