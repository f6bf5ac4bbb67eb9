"""The prediction log and the feedback log, both Parquet under the storage root.

* :class:`PredictionLog` buffers every predicted row in memory and a background
  thread writes them, off the request path, every ``serving_log_flush_s``
  seconds, when ``serving_log_max_rows`` rows are waiting, and on ``close()``::

      logs/<endpoint>/predictions/date=YYYY-MM-DD/<time>-<id>.parquet

  Columns: request_id, row, endpoint, model, version, shadow, key, features
  (the row's feature values as a JSON object), prediction, latency_ms, time.

* :class:`FeedbackLog` writes actual values before it answers: concurrent
  requests are group-committed into one Parquet object per endpoint and day::

      logs/<endpoint>/feedback/date=YYYY-MM-DD/<time>-<id>.parquet

  Columns: request_id, row, endpoint, actual, time. Join it with the prediction
  log on (request_id, row).

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rayops.names import validate_name
from rayops.storage.base import Storage

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FeedbackLog", "PredictionLog", "feedback_prefix", "predictions_prefix"]

logger = logging.getLogger(__name__)


def predictions_prefix(endpoint: str) -> str:
    return f"logs/{validate_name(endpoint, 'endpoint name')}/predictions/"


def feedback_prefix(endpoint: str) -> str:
    return f"logs/{validate_name(endpoint, 'endpoint name')}/feedback/"


def _utc_now() -> datetime:
    return datetime.now(UTC)


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


class PredictionLog:
    """Buffered, batched prediction log (see the module docstring)."""

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
        self._now = now or _utc_now
        self._entries: list[_Entry] = []
        self._rows = 0
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rayops-prediction-log", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        """Rows waiting to be written."""
        return self._rows

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
    ) -> None:
        """Queue one request's rows; cheap, never touches storage."""
        entry = _Entry(
            request_id,
            endpoint,
            ref,
            shadow,
            key,
            frame,
            predictions,
            latency_ms,
            time or self._now(),
        )
        with self._lock:
            self._entries.append(entry)
            self._rows += len(frame)
            full = self._rows >= self.max_rows
        if full:
            self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_s)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # keep the rows; the next flush retries
                logger.exception("Writing the prediction log failed; retrying later.")

    def flush(self) -> int:
        """Write every buffered row now; returns how many rows were written."""
        with self._flush_lock:
            with self._lock:
                entries, self._entries = self._entries, []
                rows, self._rows = self._rows, 0
            if not entries:
                return 0
            try:
                groups: dict[tuple[str, str], list[_Entry]] = defaultdict(list)
                for e in entries:
                    groups[(e.endpoint, e.time.strftime("%Y-%m-%d"))].append(e)
                for (endpoint, _), group in groups.items():
                    self.storage.write_parquet(
                        _object_key(predictions_prefix(endpoint), group[0].time), _table(group)
                    )
            except BaseException:
                with self._lock:  # put them back in front, in order
                    self._entries = entries + self._entries
                    self._rows += rows
                raise
            return rows

    def close(self) -> None:
        """Stop the background thread and write what is left."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)
        self.flush()


def _table(entries: Sequence[_Entry]) -> Any:
    import pyarrow as pa

    cols: dict[str, list[Any]] = defaultdict(list)
    for e in entries:
        n = len(e.frame)
        model, _, version = e.ref.partition("@")
        records = e.frame.astype(object).where(e.frame.notna(), None).to_dict(orient="records")
        cols["request_id"] += [e.request_id] * n
        cols["row"] += list(range(n))
        cols["endpoint"] += [e.endpoint] * n
        cols["model"] += [model] * n
        cols["version"] += [version] * n
        cols["shadow"] += [e.shadow] * n
        cols["key"] += [e.key] * n
        cols["features"] += [json.dumps(r, default=str) for r in records]
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
class _Feedback:
    endpoint: str
    request_id: str
    actuals: list[float]
    time: datetime


class FeedbackLog:
    """Durable feedback with group commit: ``await write(...)`` returns once it is stored.

    Requests that arrive while a write is in flight are committed together by the
    next write, so under load one Parquet object carries many requests.
    Create and use it on one event loop.
    """

    def __init__(self, storage: Storage, *, now: Callable[[], datetime] | None = None) -> None:
        self.storage = storage
        self._now = now or _utc_now
        self._pending: list[tuple[_Feedback, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None
        self.commits = 0

    async def write(self, endpoint: str, request_id: str, actuals: list[float]) -> None:
        """Store one request's actual values; returns only after they are in storage."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._pending.append((_Feedback(endpoint, request_id, actuals, self._now()), done))
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
            self.storage.write_parquet(
                _object_key(feedback_prefix(endpoint), group[0].time),
                pa.table(dict(cols), schema=schema),
            )
        self.commits += 1
