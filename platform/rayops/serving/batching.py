"""Combining concurrent small requests for one model version into one predict call.

Group commit, applied to prediction: the first request that finds the model idle
predicts at once (no added latency when traffic is serial); requests that arrive
while a predict runs wait, and the next predict takes all of them together. One
vectorized call then replaces many small ones, which is where XGBoost's
per-call overhead goes.

Only frames of numeric features are combined (categorical columns of separate
requests have separate category sets), and a failing combined call falls back to
one call per request, so a request never fails because of its neighbours.

Example:
    >>> import numpy as np, pandas as pd
    >>> batcher = RowBatcher(lambda frame: np.asarray(frame["x"]) * 2, max_rows=64)
    >>> batcher.predict(pd.DataFrame({"x": [1.0, 2.0]})).tolist()
    [2.0, 4.0]
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["RowBatcher"]


class _Slot:
    __slots__ = ("error", "finished", "frame", "promoted", "result", "wake")

    def __init__(self, frame: Any) -> None:
        self.frame = frame
        self.wake = threading.Event()  # set when finished, or when promoted to leader
        self.finished = False
        self.promoted = False
        self.result: Any = None
        self.error: BaseException | None = None


class RowBatcher:
    """Leader/follower batching of ``predict(frame) -> 1-D array`` across threads.

    A leader runs batches only until its own request is answered, then hands the
    lead to the oldest waiting request, so no request waits for more than the
    batches ahead of it.
    """

    def __init__(self, predict: Callable[[Any], Any], *, max_rows: int = 256) -> None:
        self._predict = predict
        self.max_rows = max_rows
        self._lock = threading.Lock()
        self._pending: list[_Slot] = []
        self._busy = False
        self.calls = 0

    def predict(self, frame: Any) -> Any:
        """Predictions for ``frame``, possibly computed together with concurrent frames."""
        slot = _Slot(frame)
        with self._lock:
            self._pending.append(slot)
            leader = not self._busy
            self._busy = True
        if not leader:
            slot.wake.wait()
        if not slot.finished:  # leader from the start, or promoted
            self._lead(slot)
        if slot.error is not None:
            raise slot.error
        return slot.result

    def _lead(self, own: _Slot) -> None:
        while not own.finished:
            with self._lock:
                batch: list[_Slot] = []
                rows = 0
                while self._pending and (
                    not batch or rows + len(self._pending[0].frame) <= self.max_rows
                ):
                    slot = self._pending.pop(0)
                    batch.append(slot)
                    rows += len(slot.frame)
            self._run(batch)
        with self._lock:
            if self._pending:
                nxt = self._pending[0]
                nxt.promoted = True
                nxt.wake.set()
            else:
                self._busy = False

    def _run(self, batch: list[_Slot]) -> None:
        self.calls += 1
        try:
            if len(batch) == 1:
                outputs = [self._predict(batch[0].frame)]
            else:
                values = self._predict(_concat([s.frame for s in batch]))
                outputs, start = [], 0
                for s in batch:
                    outputs.append(values[start : start + len(s.frame)])
                    start += len(s.frame)
        except Exception:
            if len(batch) == 1:
                batch[0].error = _current_error()
                _finish(batch[0])
                return
            for s in batch:  # one bad neighbour must not fail the others
                try:
                    s.result = self._predict(s.frame)
                except Exception as e:
                    s.error = e
                _finish(s)
            return
        for s, out in zip(batch, outputs, strict=True):
            s.result = out
            _finish(s)


def _concat(parts: list[Any]) -> Any:
    """Requests' rows one after the other (Rows or DataFrames)."""
    from rayops.registry.rows import Rows

    if all(isinstance(p, Rows) for p in parts):
        return Rows.concat(parts)
    import pandas as pd

    return pd.concat(parts, ignore_index=True)


def _finish(slot: _Slot) -> None:
    slot.finished = True
    slot.wake.set()


def _current_error() -> BaseException:
    import sys

    error = sys.exc_info()[1]
    assert error is not None
    return error
