"""The prediction log and the feedback log, both Parquet under the storage root.

* :class:`PredictionLog` buffers every predicted row in memory and a background
  thread writes them, off the request path, every ``serving_log_flush_s``
  seconds, when ``serving_log_max_rows`` rows are waiting, and on ``close()``::

      logs/<endpoint>/predictions/date=YYYY-MM-DD/<time>-<id>.parquet

  Columns: request_id, row, endpoint, model, version, shadow, key, features
  (the row's feature values as a JSON object), prediction, latency_ms, time.

* :class:`RequestLog` records the outcome of every predict request the gateway
  answered (success or failure), batched the same way::

      logs/<endpoint>/requests/date=YYYY-MM-DD/<time>-<id>.parquet

  Columns: request_id, endpoint, model and version (null when the request failed
  before a version was chosen), status (HTTP status), time. Monitoring reads it
  for the error rate.

* :class:`FeedbackLog` writes actual values before it answers: concurrent
  requests are group-committed into one Parquet object per endpoint and day::

      logs/<endpoint>/feedback/date=YYYY-MM-DD/<time>-<id>.parquet

  Columns: request_id, row, endpoint, actual, time. Join it with the prediction
  log on (request_id, row).

* **Multi-target endpoints** keep both series above single-valued: ``prediction``
  and ``actual`` are the *primary* target's (the ensemble's first target), so
  every reader of them works unchanged. Every target, the primary included, is
  also written in long form (one row per row and target) to::

      logs/<endpoint>/target-predictions/date=YYYY-MM-DD/...   (request_id, row, endpoint,
          model, version, shadow, target, prediction, time)
      logs/<endpoint>/target-feedback/date=YYYY-MM-DD/...      (request_id, row, endpoint,
          target, actual, time)

  joined on (request_id, row, target) by :func:`rayops.telemetry.targets.joined_targets`.

Example:
    >>> import tempfile
    >>> from rayops.storage import open_storage
    >>> log = PredictionLog(open_storage(tempfile.mkdtemp()), flush_s=60)
    >>> log.pending
    0
    >>> log.close()
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from rayops.clock import utc_now
from rayops.names import validate_name
from rayops.storage.base import Storage
from rayops.telemetry.targets import (
    target_feedback_prefix,
    target_feedback_table,
    target_predictions_prefix,
    target_predictions_table,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "FeedbackLog",
    "PredictionLog",
    "RequestLog",
    "feedback_prefix",
    "predictions_prefix",
    "requests_prefix",
]

logger = logging.getLogger(__name__)

E = TypeVar("E")


def predictions_prefix(endpoint: str) -> str:
    return f"logs/{validate_name(endpoint, 'endpoint name')}/predictions/"


def feedback_prefix(endpoint: str) -> str:
    return f"logs/{validate_name(endpoint, 'endpoint name')}/feedback/"


def requests_prefix(endpoint: str) -> str:
    return f"logs/{validate_name(endpoint, 'endpoint name')}/requests/"


def _object_key(prefix: str, when: datetime) -> str:
    stamp = when.strftime("%Y%m%dT%H%M%S%fZ")
    return f"{prefix}date={when:%Y-%m-%d}/{stamp}-{uuid.uuid4().hex[:12]}.parquet"


@dataclass(frozen=True)
class _Entry:
    """One request's predictions, kept as given until the flush serializes them."""

    request_id: str
    endpoint: str
    ref: str
    shadow: bool
    key: str | None
    frame: pd.DataFrame
    predictions: Any
    latency_ms: float
    time: datetime
    targets: Mapping[str, Any] | None = None  # multi-target: every target's predictions


class _BatchedLog(Generic[E]):
    """Entries buffered in memory and written by a background thread every
    ``flush_s`` seconds, when ``max_rows`` rows wait, and on :meth:`close`.

    ``record`` methods only append (cheap, never touching storage); a failed
    write puts the entries back in front, in order, and the next flush retries.
    Subclasses say how many rows an entry holds and how a batch is written.
    """

    _thread_name = "rayops-log"

    def __init__(
        self,
        storage: Storage,
        *,
        flush_s: float = 5.0,
        max_rows: int = 50_000,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.storage = storage
        self.flush_s = flush_s
        self.max_rows = max_rows
        self._now = now or utc_now
        self._entries: list[E] = []
        self._rows = 0
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self._thread_name, daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        """Rows waiting to be written."""
        return self._rows

    def _size(self, entry: E) -> int:
        return 1

    def _add(self, entry: E) -> None:
        with self._lock:
            self._entries.append(entry)
            self._rows += self._size(entry)
            full = self._rows >= self.max_rows
        if full:
            self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_s)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # keep the entries; the next flush retries
                logger.exception("Writing %s failed; retrying later.", self._thread_name)

    def flush(self) -> int:
        """Write every buffered entry now; returns how many rows were written."""
        with self._flush_lock:
            with self._lock:
                entries, self._entries = self._entries, []
                rows, self._rows = self._rows, 0
            if not entries:
                return 0
            try:
                for (endpoint, _), group in _by_endpoint_and_day(entries).items():
                    self._write(endpoint, group)
            except BaseException:
                with self._lock:  # put them back in front, in order
                    self._entries = entries + self._entries
                    self._rows += rows
                raise
            return rows

    def _write(self, endpoint: str, entries: list[E]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Stop the background thread and write what is left."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)
        self.flush()


def _by_endpoint_and_day(entries: Sequence[Any]) -> dict[tuple[str, str], list[Any]]:
    """Entries grouped by (endpoint, UTC day): one Parquet object per group and flush."""
    groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for e in entries:
        groups[(e.endpoint, e.time.strftime("%Y-%m-%d"))].append(e)
    return groups


class PredictionLog(_BatchedLog[_Entry]):
    """Buffered, batched prediction log (see the module docstring)."""

    _thread_name = "rayops-prediction-log"

    def _size(self, entry: _Entry) -> int:
        return len(entry.frame)

    def record(
        self,
        *,
        request_id: str,
        endpoint: str,
        ref: str,
        frame: pd.DataFrame,
        predictions: Any,
        latency_ms: float,
        key: str | None = None,
        shadow: bool = False,
        time: datetime | None = None,
        targets: Mapping[str, Any] | None = None,
    ) -> None:
        """Queue one request's rows; cheap, never touches storage.

        ``predictions`` are the primary target's; a multi-target model also gives
        ``targets`` (every target's predictions, by name).
        """
        self._add(
            _Entry(
                request_id,
                endpoint,
                ref,
                shadow,
                key,
                frame,
                predictions,
                latency_ms,
                time or self._now(),
                targets,
            )  # fmt: skip
        )

    def _write(self, endpoint: str, entries: list[_Entry]) -> None:
        self.storage.write_parquet(
            _object_key(predictions_prefix(endpoint), entries[0].time), _table(entries)
        )
        multi = [e for e in entries if e.targets]
        if multi:
            self.storage.write_parquet(
                _object_key(target_predictions_prefix(endpoint), multi[0].time),
                target_predictions_table(multi),
            )


_ENCODE = json.JSONEncoder(default=str).encode


def _features_json(entries: Sequence[_Entry]) -> list[list[str]]:
    """Each entry's rows as JSON objects (null for missing values).

    Entries with the same columns are converted together: per-frame pandas calls
    cost milliseconds each, far more than the rows themselves when requests are small.
    """
    import numpy as np
    import pandas as pd

    out: list[list[str]] = [[] for _ in entries]
    groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for i, e in enumerate(entries):
        floats = all(t.kind == "f" for t in e.frame.dtypes)
        groups[(tuple(e.frame.columns), floats)].append(i)
    for (columns, floats), idx in groups.items():
        frames = [entries[i].frame for i in idx]
        if floats:
            matrix = np.vstack([f.to_numpy(dtype=np.float64) for f in frames])
            rows: list[list[Any]] = matrix.tolist()
            if np.isnan(matrix).any():
                rows = [["null" if v != v else v for v in row] for row in rows]
            # str(float) is what json writes for a finite float, and the keys are fixed:
            # one format call per row instead of building and encoding a dict.
            keys = [_ENCODE(str(c)).replace("{", "{{").replace("}", "}}") for c in columns]
            template = "{{" + ", ".join(f"{k}: {{}}" for k in keys) + "}}"
            dumped = [template.format(*row) for row in rows]
        else:
            big = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
            records = big.astype(object).where(big.notna(), None).to_dict(orient="records")
            dumped = [_ENCODE(r) for r in records]
        start = 0
        for i in idx:
            n = len(entries[i].frame)
            out[i] = dumped[start : start + n]
            start += n
    return out


def _table(entries: Sequence[_Entry]) -> Any:
    import pyarrow as pa

    cols: dict[str, list[Any]] = defaultdict(list)
    features = _features_json(entries)
    for e, rows_json in zip(entries, features, strict=True):
        n = len(e.frame)
        model, _, version = e.ref.partition("@")
        cols["request_id"] += [e.request_id] * n
        cols["row"] += list(range(n))
        cols["endpoint"] += [e.endpoint] * n
        cols["model"] += [model] * n
        cols["version"] += [version] * n
        cols["shadow"] += [e.shadow] * n
        cols["key"] += [e.key] * n
        cols["features"] += rows_json
        cols["prediction"] += [float(p) for p in e.predictions]
        cols["latency_ms"] += [e.latency_ms] * n
        cols["time"] += [e.time] * n
    schema = pa.schema(
        [
            ("request_id", pa.string()),
            ("row", pa.int32()),
            ("endpoint", pa.string()),
            ("model", pa.string()),
            ("version", pa.string()),
            ("shadow", pa.bool_()),
            ("key", pa.string()),
            ("features", pa.string()),
            ("prediction", pa.float64()),
            ("latency_ms", pa.float64()),
            ("time", pa.timestamp("us", tz="UTC")),
        ]
    )
    return pa.table(dict(cols), schema=schema)


@dataclass(frozen=True)
class _Outcome:
    request_id: str
    endpoint: str
    ref: str | None
    status: int
    time: datetime


class RequestLog(_BatchedLog[_Outcome]):
    """Buffered, batched log of request outcomes (see the module docstring)."""

    _thread_name = "rayops-request-log"

    def record(
        self,
        *,
        request_id: str,
        endpoint: str,
        ref: str | None,
        status: int,
        time: datetime | None = None,
    ) -> None:
        """Queue one request's outcome (``ref`` is the routed ``model@version``, None if
        the request failed before routing); cheap, never touches storage."""
        self._add(_Outcome(request_id, endpoint, ref, int(status), time or self._now()))

    def _write(self, endpoint: str, entries: list[_Outcome]) -> None:
        import pyarrow as pa

        schema = pa.schema(
            [
                ("request_id", pa.string()),
                ("endpoint", pa.string()),
                ("model", pa.string()),
                ("version", pa.string()),
                ("status", pa.int32()),
                ("time", pa.timestamp("us", tz="UTC")),
            ]
        )
        cols = {
            "request_id": [e.request_id for e in entries],
            "endpoint": [e.endpoint for e in entries],
            "model": [e.ref.partition("@")[0] if e.ref else None for e in entries],
            "version": [e.ref.partition("@")[2] if e.ref else None for e in entries],
            "status": [e.status for e in entries],
            "time": [e.time for e in entries],
        }
        self.storage.write_parquet(
            _object_key(requests_prefix(endpoint), entries[0].time), pa.table(cols, schema=schema)
        )


@dataclass(frozen=True)
class _Feedback:
    endpoint: str
    request_id: str
    actuals: list[float]
    time: datetime
    targets: Mapping[str, list[float]] | None = None


class FeedbackLog:
    """Durable feedback with group commit: ``await write(...)`` returns once it is stored.

    Requests that arrive while a write is in flight are committed together by the
    next write, so under load one Parquet object carries many requests.
    Create and use it on one event loop.
    """

    def __init__(self, storage: Storage, *, now: Callable[[], datetime] | None = None) -> None:
        self.storage = storage
        self._now = now or utc_now
        self._pending: list[tuple[_Feedback, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None
        self.commits = 0

    async def write(
        self,
        endpoint: str,
        request_id: str,
        actuals: list[float],
        *,
        targets: Mapping[str, list[float]] | None = None,
    ) -> None:
        """Store one request's actual values; returns only after they are in storage.

        ``actuals`` go to the feedback series (for a multi-target endpoint: the
        primary target's, possibly none); ``targets`` (every given target's
        actuals) to the target series.
        """
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        entry = _Feedback(endpoint, request_id, actuals, self._now(), targets)
        self._pending.append((entry, done))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._drain())
        await asyncio.shield(done)

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await asyncio.to_thread(self._commit, [fb for fb, _ in batch])
            except Exception as e:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(e)
            else:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_result(None)

    def _commit(self, batch: list[_Feedback]) -> None:
        import pyarrow as pa

        groups: dict[tuple[str, str], list[_Feedback]] = defaultdict(list)
        for fb in batch:
            groups[(fb.endpoint, fb.time.strftime("%Y-%m-%d"))].append(fb)
        schema = pa.schema(
            [
                ("request_id", pa.string()),
                ("row", pa.int32()),
                ("endpoint", pa.string()),
                ("actual", pa.float64()),
                ("time", pa.timestamp("us", tz="UTC")),
            ]
        )
        for (endpoint, _), group in groups.items():
            cols: dict[str, list[Any]] = defaultdict(list)
            for fb in group:
                n = len(fb.actuals)
                cols["request_id"] += [fb.request_id] * n
                cols["row"] += list(range(n))
                cols["endpoint"] += [endpoint] * n
                cols["actual"] += fb.actuals
                cols["time"] += [fb.time] * n
            if cols["request_id"]:
                self.storage.write_parquet(
                    _object_key(feedback_prefix(endpoint), group[0].time),
                    pa.table(dict(cols), schema=schema),
                )
            multi = [fb for fb in group if fb.targets]
            if multi:
                self.storage.write_parquet(
                    _object_key(target_feedback_prefix(endpoint), multi[0].time),
                    target_feedback_table(multi),
                )
        self.commits += 1
