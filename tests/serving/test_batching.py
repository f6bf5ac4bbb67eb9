"""Concurrent small requests share predict calls; answers stay per request."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pytest

from rayops.serving.batching import RowBatcher


def slow_double(frame: pd.DataFrame) -> Any:
    time.sleep(0.02)  # like a predict call: fixed overhead per call
    if (frame["x"] < 0).any():
        raise ValueError("negative")
    return np.asarray(frame["x"]) * 2


def test_concurrent_requests_are_combined_and_answered_individually() -> None:
    batcher = RowBatcher(slow_double, max_rows=64)
    with ThreadPoolExecutor(32) as pool:
        out = list(pool.map(lambda i: batcher.predict(pd.DataFrame({"x": [float(i)]})), range(200)))
    assert [o.tolist() for o in out] == [[2.0 * i] for i in range(200)]
    assert batcher.calls < 100  # far fewer calls than requests


def test_a_failing_neighbour_fails_only_itself() -> None:
    batcher = RowBatcher(slow_double, max_rows=64)
    barrier = threading.Barrier(8)

    def one(i: int) -> Any:
        barrier.wait()
        try:
            return batcher.predict(pd.DataFrame({"x": [float(-1 if i == 3 else i)]})).tolist()
        except ValueError:
            return "error"

    with ThreadPoolExecutor(8) as pool:
        out = list(pool.map(one, range(8)))
    assert out[3] == "error"
    assert [o for i, o in enumerate(out) if i != 3] == [[2.0 * i] for i in range(8) if i != 3]


def test_serial_requests_are_not_delayed() -> None:
    batcher = RowBatcher(slow_double, max_rows=64)
    start = time.perf_counter()
    for i in range(5):
        assert batcher.predict(pd.DataFrame({"x": [float(i)]})).tolist() == [2.0 * i]
    # Unbatched: five 20 ms calls, not five batching windows (a loaded machine adds slack).
    assert time.perf_counter() - start < 5 * 0.02 + 1.0
    assert batcher.calls == 5


@pytest.mark.parametrize("max_rows", [1, 3])
def test_batches_respect_max_rows(max_rows: int) -> None:
    sizes: list[int] = []

    def record(frame: pd.DataFrame) -> Any:
        sizes.append(len(frame))
        time.sleep(0.005)
        return np.asarray(frame["x"])

    batcher = RowBatcher(record, max_rows=max_rows)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: batcher.predict(pd.DataFrame({"x": [float(i)]})), range(64)))
    assert max(sizes) <= max_rows and sum(sizes) == 64
