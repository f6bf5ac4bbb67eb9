"""Per-column statistics, accumulated batch by batch so inputs can stream.

Numeric columns merge count/mean/M2 (Chan et al.'s parallel variance), so the
standard deviation of the whole column comes out of per-batch pieces without a
second pass. Categorical columns count values exactly up to a cap
(``features_max_categories``); past it the distinct count is reported
as a lower bound and top values are dropped rather than guessed.

Example:
    >>> import pyarrow as pa
    >>> acc = StatsAccumulator(pa.float64(), max_categories=100, top_values=3)
    >>> acc.update(pa.array([1.0, 2.0, None]))
    >>> acc.update(pa.array([3.0]))
    >>> s = acc.result()
    >>> (s.kind, s.count, s.null_count, s.min, s.max, s.mean)
    ('numeric', 4, 1, 1.0, 3.0, 2.0)
"""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from rayops.features.manifest import CategoryCount, ColumnStats

__all__ = ["StatsAccumulator", "column_kind"]


def column_kind(t: pa.DataType) -> str:
    """``numeric``, ``categorical``, ``temporal`` or ``other`` for a (normalized) type."""
    if pa.types.is_dictionary(t):
        return "categorical"
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "numeric"
    if (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_string_view(t)
        or pa.types.is_boolean(t)
    ):
        return "categorical"
    if pa.types.is_temporal(t):
        return "temporal"
    return "other"


def _finite(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _plain(x: Any) -> Any:
    """A JSON-friendly scalar: numbers stay numbers, everything else becomes a string."""
    if x is None or isinstance(x, bool | int | float | str):
        return _finite(x)
    if hasattr(x, "isoformat"):
        return str(x.isoformat())
    return str(x)


class StatsAccumulator:
    """Statistics of one column, fed with normalized arrays in row order."""

    def __init__(self, type_: pa.DataType, *, max_categories: int, top_values: int) -> None:
        self.kind = column_kind(type_)
        self.is_float = pa.types.is_floating(type_)
        self.max_categories = max_categories
        self.top_values = top_values
        self.count = 0
        self.null_count = 0
        self.nan_count = 0
        # numeric: merged moments over non-null, non-NaN values
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.min: Any = None
        self.max: Any = None
        # categorical
        self.counts: dict[Any, int] | None = {}

    def update(self, arr: pa.Array) -> None:
        self.count += len(arr)
        self.null_count += arr.null_count
        if len(arr) == arr.null_count:
            return
        if self.kind == "numeric":
            self._update_numeric(arr)
        elif self.kind == "temporal":
            self._update_min_max(arr)
        elif self.kind == "categorical":
            self._update_categorical(arr)

    def _update_min_max(self, arr: pa.Array) -> None:
        mm = pc.min_max(arr)
        lo, hi = mm["min"].as_py(), mm["max"].as_py()
        if lo is not None and (self.min is None or lo < self.min):
            self.min = lo
        if hi is not None and (self.max is None or hi > self.max):
            self.max = hi

    def _update_numeric(self, arr: pa.Array) -> None:
        if self.is_float:
            nans = pc.sum(pc.is_nan(arr)).as_py() or 0
            if nans:
                self.nan_count += nans
                arr = pc.filter(arr, pc.invert(pc.is_nan(arr)))
        n = len(arr) - arr.null_count
        if n == 0:
            return
        self._update_min_max(arr)
        if pa.types.is_decimal(arr.type):
            arr = arr.cast(pa.float64())
        mean = pc.mean(arr).as_py()
        m2 = (pc.variance(arr, ddof=0).as_py() or 0.0) * n
        total = self.n + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * self.n * n / total
        self.n = total

    def _update_categorical(self, arr: pa.Array) -> None:
        if self.counts is None:
            return
        vc = pc.value_counts(arr)
        if len(vc) > self.max_categories + 1:  # +1: the null entry
            self.counts = None
            return
        values = vc.field("values").to_pylist()
        counts = vc.field("counts").to_pylist()
        for value, count in zip(values, counts, strict=True):
            if value is not None:
                self.counts[value] = self.counts.get(value, 0) + count
        if len(self.counts) > self.max_categories:
            self.counts = None

    def result(self) -> ColumnStats:
        stats = ColumnStats(
            kind=self.kind,
            count=self.count,
            null_count=self.null_count,
            null_ratio=(self.null_count / self.count) if self.count else 0.0,
        )
        if self.kind == "numeric":
            if self.is_float:
                stats.nan_count = self.nan_count
            if self.n:
                stats.min, stats.max = _plain(self.min), _plain(self.max)
                stats.mean = _finite(float(self.mean))
                stats.std = _finite(math.sqrt(self.m2 / self.n))
        elif self.kind == "temporal":
            stats.min, stats.max = _plain(self.min), _plain(self.max)
        elif self.kind == "categorical":
            if self.counts is None:
                stats.distinct_count = self.max_categories + 1
                stats.distinct_is_lower_bound = True
            else:
                stats.distinct_count = len(self.counts)
                top = sorted(self.counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
                stats.top_values = [
                    CategoryCount(value=_plain(v), count=c) for v, c in top[: self.top_values]
                ]
        return stats
