"""Writing the logs: batched predictions and request outcomes, durable feedback.

* :class:`PredictionLog` buffers every predicted row in memory; a background
  thread writes them, off the request path, every ``serving_log_flush_s``
  seconds, when ``serving_log_max_rows`` rows are waiting, and on ``close()``.
* :class:`RequestLog` records the outcome (HTTP status) of every predict request,
  batched the same way; monitoring reads it for the error rate.
* :class:`FeedbackLog` writes actual values *before* it answers: concurrent
  requests are group-committed into one Parquet object per endpoint and day.

Where the files go is :mod:`rayops.telemetry.layout`; their columns are
:mod:`rayops.telemetry.schema` (typed: one column per feature, per-class
probabilities for classifiers). Multi-target endpoints keep the single-valued
series above for their primary target and also write every target in long form
(``target-predictions`` / ``target-feedback``, joined on ``(request_id, row,
target)``).

A batch is converted to Arrow with vectorised numpy work per group of entries
that share their columns, so the cost per row stays a few microseconds even
when every request carries one row.

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
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from time import time_ns
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

from rayops.clock import utc_now
from rayops.registry.rows import Rows
from rayops.storage.base import Storage
from rayops.telemetry.layout import Log, new_file_key
from rayops.telemetry.schema import (
    contribution_column,
    feature_arrays,
    feature_column,
    feedback_schema,
    prediction_base_schema,
    probability_column,
    requests_schema,
)

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

__all__ = ["FeedbackLog", "PredictionLog", "RequestLog", "Scored"]

logger = logging.getLogger(__name__)

E = TypeVar("E")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY_US = 86_400_000_000


def _micros(t: datetime) -> int:
    """``t`` as UTC microseconds since the epoch (a naive ``t`` is read as UTC)."""
    aware = t if t.tzinfo is not None else t.replace(tzinfo=UTC)
    return (aware - _EPOCH) // timedelta(microseconds=1)


def _datetime(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


@dataclass(slots=True)
class Scored:
    """What a model answered for one request's rows, as the log stores it.

    Regression: ``values`` (``[N]``). Classification: ``probabilities``
    (``[N, K]``, in ``classes`` order) and the predicted ``labels``. When the
    request asked: interval bounds ``lower``/``upper`` (``[N]``), prediction sets
    ``pset`` (one JSON list text per row) and ``contributions`` (``(features,
    [N, F + 1])``, the last column the bias). Treat it as immutable (it is not
    frozen: a frozen dataclass's ``__init__`` costs a microsecond on every request).
    """

    values: Any = None
    probabilities: Any = None
    classes: Sequence[Any] | None = None
    labels: Sequence[Any] | None = None
    lower: Any = None
    upper: Any = None
    pset: Sequence[str] | None = None
    contributions: tuple[Sequence[str], Any] | None = None

    @classmethod
    def regression(cls, values: Any) -> Scored:
        return cls(values=values)

    def __len__(self) -> int:
        return len(self.values if self.values is not None else self.probabilities)


# One request's rows as the prediction log buffers them until a flush: a plain tuple in
# the order of _Batch's fields (a tuple costs a fifth of a dataclass instance to make), which
# the flush transposes into columns (_columns). Both logs' entries start with (endpoint,
# us): _by_endpoint_and_day reads those two.
_Entry = tuple[Any, ...]


class _Batch(NamedTuple):
    """A flush's prediction entries transposed: one sequence per field, entry i at index i."""

    endpoint: Sequence[str]
    us: Sequence[int]  # when: UTC microseconds since the epoch (cheaper than datetimes)
    request_id: Sequence[str]
    ref: Sequence[str]
    shadow: Sequence[bool]
    key: Sequence[str | None]
    frame: Sequence[Any]  # Rows or DataFrames
    scored: Sequence[Scored]
    latency_ms: Sequence[float]
    rows: Sequence[int]
    targets: Sequence[Mapping[str, Any] | None]  # multi-target: every target's values


_ENDPOINT, _US, _TARGETS = 0, 1, 10  # the fields read from single entries


def _columns(entries: Sequence[tuple[Any, ...]], fields: int) -> list[list[Any]]:
    """Tuple entries transposed: one list per field. (``zip(*entries)`` would allocate an
    iterator per entry, and at 20,000 entries that sets off the cyclic garbage collector.)"""
    return [list(map(itemgetter(k), entries)) for k in range(fields)]


class _BatchedLog(Generic[E]):
    """Entries buffered in memory and written by a background thread every
    ``flush_s`` seconds, when ``max_rows`` rows wait, and on :meth:`close`.

    ``record`` methods only append (cheap, never touching storage); a failed
    write puts the entries back in front, in order, and the next flush retries.
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
        self._wall = now is None  # the wall clock: stamps come from time_ns, not datetimes
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

    def _stamp(self, t: datetime | None) -> int:
        """``t`` (default: now) in UTC microseconds since the epoch."""
        if t is None:
            if self._wall:
                return time_ns() // 1000
            t = self._now()
        return _micros(t)

    def _add(self, entry: E, size: int = 1) -> None:
        with self._lock:
            self._entries.append(entry)
            self._rows += size
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
    stamps = [e[_US] for e in entries]
    first, last = min(stamps) // _DAY_US, max(stamps) // _DAY_US
    if first == last:  # the usual flush: one day, often one endpoint
        endpoints = {e[_ENDPOINT] for e in entries}
        if len(endpoints) == 1:
            return {(endpoints.pop(), _day(first)): list(entries)}
    groups: dict[tuple[str, int], list[Any]] = defaultdict(list)
    for e in entries:
        groups[(e[_ENDPOINT], e[_US] // _DAY_US)].append(e)
    return {(endpoint, _day(day)): group for (endpoint, day), group in groups.items()}


def _day(days: int) -> str:
    """The ISO date of a day number since the epoch."""
    return _datetime(days * _DAY_US).date().isoformat()


class PredictionLog(_BatchedLog[_Entry]):
    """Buffered, batched prediction log (see the module docstring)."""

    _thread_name = "rayops-prediction-log"

    def record(
        self,
        *,
        request_id: str,
        endpoint: str,
        ref: str,
        frame: Any,
        predictions: Scored | Any,
        latency_ms: float,
        key: str | None = None,
        shadow: bool = False,
        time: datetime | None = None,
        targets: Mapping[str, Any] | None = None,
    ) -> None:
        """Queue one request's rows; cheap, never touches storage.

        ``predictions`` is a :class:`Scored` (a plain sequence is taken as regression
        values); a multi-target model also gives ``targets`` (every target's values).
        """
        scored = predictions if type(predictions) is Scored else Scored(values=predictions)
        rows = len(frame)
        us = time_ns() // 1000 if time is None and self._wall else self._stamp(time)
        entry = (endpoint, us, request_id, ref, shadow, key, frame, scored, latency_ms, rows,
                 targets)  # fmt: skip
        with self._lock:  # _add, inlined: this runs once per request
            self._entries.append(entry)
            self._rows += rows
            full = self._rows >= self.max_rows
        if full:
            self._wake.set()

    def _write(self, endpoint: str, entries: list[_Entry]) -> None:
        when = _datetime(entries[0][_US])
        self.storage.write_parquet(
            new_file_key(endpoint, Log.PREDICTIONS, when),
            predictions_table(entries),
            compression="fast",
        )
        multi = [e for e in entries if e[_TARGETS]]
        if multi:
            self.storage.write_parquet(
                new_file_key(endpoint, Log.TARGET_PREDICTIONS, when),
                target_predictions_table(multi),
                compression="fast",
            )


def _rows(counts: np.ndarray) -> np.ndarray:
    """``0..n-1`` for each entry's ``n`` rows, concatenated."""
    import numpy as np

    total = int(counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(total, dtype=np.int32) - starts.astype(np.int32)


def predictions_table(entries: Sequence[_Entry]) -> pa.Table:
    """The Arrow table of a batch of prediction entries (schema: :mod:`~.schema`)."""
    import pyarrow as pa

    # Entries that share their feature columns, classes and explained features share a
    # table. Consecutive entries usually share them: a run continues while the lists are
    # equal (cheap when they are the same objects), and each run's key is made once. This
    # loop runs once per logged request, so it tests identity before calling anything.
    entries = entries if type(entries) is list else list(entries)
    batch = _Batch(*_columns(entries, len(_Batch._fields)))
    groups: dict[tuple[Any, ...], list[_Entry]] = defaultdict(list)
    start, last = 0, None
    for i, (frame, scored) in enumerate(zip(batch.frame, batch.scored, strict=True)):
        cols, classes, contributions = frame.columns, scored.classes, scored.contributions
        explained = contributions[0] if contributions is not None else None
        if (
            last is not None
            and (cols is last[0] or (type(cols) is list and cols == last[0]))
            and (classes is last[1] or _same(classes, last[1]))
            and (explained is last[2] or _same(explained, last[2]))
        ):
            continue
        if last is not None:
            groups[_signature_key(last)] += entries[start:i]
        start, last = i, (cols, classes, explained)
    if last is not None:
        groups[_signature_key(last)] += entries[start:]
    if len(groups) == 1:  # the usual batch: the whole batch is one group
        ((columns, classes, explained),) = groups
        return _group_table(columns, classes, batch, explained)
    tables = [
        _group_table(columns, classes, _Batch(*_columns(group, len(_Batch._fields))), explained)
        for (columns, classes, explained), group in groups.items()
    ]
    return pa.concat_tables(tables, promote_options="permissive")


def _same(x: Any, y: Any) -> bool:
    """Whether two entries' classes (or explained features) are the same list."""
    return x is y or (type(x) is list and type(y) is list and x == y)


def _signature_key(sig: tuple[Any, Any, Any]) -> tuple[tuple[str, ...], ...]:
    """The group key of a signature, as text (classes 1 and "1" share one group)."""
    return tuple(tuple(map(str, part)) if part is not None else () for part in sig)


def _group_table(
    columns: tuple[str, ...],
    classes: tuple[str, ...],
    b: _Batch,
    explained: tuple[str, ...] = (),
) -> pa.Table:
    import numpy as np
    import pyarrow as pa

    # One pass over the entries for every per-request field, then numpy/Arrow per column
    # (each entry's value repeated over its rows unless every request has one row).
    counts = np.array(b.rows, dtype=np.int64)
    spread = None if (counts == 1).all() else pa.array(np.repeat(np.arange(len(counts)), counts))

    def each(values: Any, type_: pa.DataType | None = None) -> pa.Array:
        arr = values if type_ is None else pa.array(values, type_)
        return arr if spread is None else arr.take(spread)

    # Model and version: each distinct ref (a batch has a few) is split once.
    refs = pa.array(b.ref, pa.string()).dictionary_encode()
    split = [ref.partition("@") for ref in refs.dictionary.to_pylist()]
    data: dict[str, Any] = {
        "request_id": each(b.request_id, pa.string()),
        "row": pa.array(_rows(counts), pa.int32()),
        "endpoint": each(b.endpoint, pa.string()),
        "model": each(pa.array([p[0] for p in split], pa.string()).take(refs.indices)),
        "version": each(pa.array([p[2] for p in split], pa.string()).take(refs.indices)),
        "shadow": each(b.shadow, pa.bool_()),
        "key": each(b.key, pa.string()),
        "latency_ms": each(b.latency_ms, pa.float64()),
        # UTC microseconds since the epoch: the entries keep no datetimes.
        "time": each(b.us, pa.timestamp("us", tz="UTC")),
    }
    if classes:
        proba = np.vstack([np.asarray(s.probabilities, np.float64) for s in b.scored])
        labels = [str(v) for s in b.scored for v in (s.labels or ())]
        data["prediction"] = pa.nulls(len(proba), pa.float64())
        data["label"] = pa.array(labels, pa.string())
        for j, c in enumerate(classes):
            data[probability_column(c)] = pa.array(proba[:, j], pa.float64())
    else:
        values = np.concatenate([s.values for s in b.scored], dtype=np.float64, axis=None)
        data["prediction"] = pa.array(values, pa.float64())
        data["label"] = pa.nulls(len(values), pa.string())
    data.update(_uncertainty_columns(b.scored, counts))
    arrays = feature_arrays(columns, _feature_columns(columns, b.frame))
    for name, arr in zip(columns, arrays, strict=True):
        data[feature_column(name)] = arr
    if explained:
        values = np.vstack([np.asarray(s.contributions[1], np.float64) for s in b.scored])  # type: ignore[index]
        for j, name in enumerate([*explained, "bias"]):
            data[contribution_column(name)] = pa.array(values[:, j], pa.float64())
    base = prediction_base_schema()
    fields = list(base) + [pa.field(n, data[n].type) for n in data if n not in base.names]
    return pa.table(data, schema=pa.schema(fields))


def _uncertainty_columns(scored: Sequence[Scored], counts: np.ndarray) -> dict[str, pa.Array]:
    """``lower``/``upper`` (float64) and ``pset`` (string), null for the rows of requests
    that did not ask."""
    import numpy as np
    import pyarrow as pa

    total = int(counts.sum())
    out: dict[str, pa.Array] = {}
    if not [s for s in scored if s.lower is not None or s.upper is not None or s.pset is not None]:
        # the usual batch: no request asked for intervals or sets
        return {
            "lower": pa.nulls(total, pa.float64()),
            "upper": pa.nulls(total, pa.float64()),
            "pset": pa.nulls(total, pa.string()),
        }
    for name in ("lower", "upper"):
        given = [getattr(s, name) for s in scored]
        if all(v is None for v in given):  # (not list.count: arrays compare elementwise)
            out[name] = pa.nulls(total, pa.float64())
            continue
        parts = [
            np.full(n, np.nan) if v is None else np.asarray(v, np.float64)
            for v, n in zip(given, counts.tolist(), strict=True)
        ]
        values = np.concatenate(parts)
        out[name] = pa.array(values, mask=np.isnan(values), type=pa.float64())
    sets = [s.pset for s in scored]
    if all(v is None for v in sets):
        out["pset"] = pa.nulls(total, pa.string())
    else:
        texts: list[str | None] = []
        for s, n in zip(scored, counts.tolist(), strict=True):
            texts += list(s.pset) if s.pset is not None else [None] * n
        out["pset"] = pa.array(texts, pa.string())
    return out


def _feature_columns(columns: Sequence[str], frames: Sequence[Any]) -> list[Any]:
    """One array (numbers) or list (categories) per feature over every entry's rows.

    ``Rows`` of numeric features (what the gateway builds) are stacked as matrices;
    DataFrames as well when every column is numeric, else concatenated by pandas.
    """
    import numpy as np

    matrices = _numeric_matrices(frames)
    if matrices is not None:
        matrix = np.concatenate(matrices) if matrices else np.empty((0, len(columns)))
        return [matrix[:, j] for j in range(len(columns))]
    import pandas as pd

    parts = [f.frame() if isinstance(f, Rows) else f for f in frames]
    big = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    return [
        big[c].to_numpy() if big[c].dtype.kind in "fiub" else big[c].astype(object).tolist()
        for c in big.columns
    ]


def _numeric_matrices(frames: Sequence[Any]) -> list[np.ndarray] | None:
    """Every frame's float64 matrix, or None if some frame has a categorical feature."""
    import numpy as np

    matrices = [f.matrix for f in frames if type(f) is Rows and f.matrix is not None]
    if len(matrices) == len(frames):  # what the gateway logs: Rows of numbers
        return matrices
    out: list[np.ndarray] = []
    for f in frames:
        if isinstance(f, Rows):
            if f.matrix is None:
                return None
            out.append(f.matrix)
        elif all(t.kind in "fiub" for t in f.dtypes):
            out.append(f.to_numpy(dtype=np.float64))
        else:
            return None
    return out


def target_predictions_table(entries: Sequence[_Entry]) -> pa.Table:
    """Long-form table of the entries of a multi-target model: one row per row and target."""
    import pyarrow as pa

    cols: dict[str, list[Any]] = defaultdict(list)
    for e in entries:
        endpoint, us, request_id, ref, shadow, *_, targets = e
        model, _, version = ref.partition("@")
        for target, values in (targets or {}).items():
            n = len(values)
            cols["request_id"] += [request_id] * n
            cols["row"] += list(range(n))
            cols["endpoint"] += [endpoint] * n
            cols["model"] += [model] * n
            cols["version"] += [version] * n
            cols["shadow"] += [shadow] * n
            cols["target"] += [target] * n
            cols["prediction"] += [float(p) for p in values]
            cols["time"] += [us] * n
    schema = pa.schema(
        [("request_id", pa.string()), ("row", pa.int32()), ("endpoint", pa.string()),
         ("model", pa.string()), ("version", pa.string()), ("shadow", pa.bool_()),
         ("target", pa.string()), ("prediction", pa.float64()),
         ("time", pa.timestamp("us", tz="UTC"))]
    )  # fmt: skip
    return pa.table(dict(cols), schema=schema)


# One request's outcome: (endpoint, us, request_id, ref, status), a tuple like _Entry.
_Outcome = tuple[str, int, str, str | None, int]


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
        us = time_ns() // 1000 if time is None and self._wall else self._stamp(time)
        self._add((endpoint, us, request_id, ref, int(status)))

    def _write(self, endpoint: str, entries: list[_Outcome]) -> None:
        import pyarrow as pa

        endpoints, stamps, ids, refs, statuses = _columns(entries, 5)
        cols = {
            "request_id": ids,
            "endpoint": endpoints,
            "model": [r.partition("@")[0] if r else None for r in refs],
            "version": [r.partition("@")[2] if r else None for r in refs],
            "status": statuses,
            "time": stamps,
        }
        self.storage.write_parquet(
            new_file_key(endpoint, Log.REQUESTS, _datetime(stamps[0])),
            pa.table(cols, schema=requests_schema()),
            compression="fast",
        )


@dataclass(frozen=True)
class _Feedback:
    endpoint: str
    request_id: str
    actuals: Sequence[Any]
    time: datetime
    targets: Mapping[str, Sequence[float]] | None = None
    labels: bool = False  # actuals are class labels (a classifier's feedback)


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
        actuals: Sequence[Any],
        *,
        targets: Mapping[str, Sequence[float]] | None = None,
        labels: bool = False,
    ) -> None:
        """Store one request's actual values; returns only after they are in storage.

        ``actuals`` are numbers, or class labels with ``labels=True``; for a
        multi-target endpoint they are the primary target's (possibly none) and
        ``targets`` holds every given target's actuals.
        """
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        entry = _Feedback(endpoint, request_id, actuals, self._now(), targets, labels)
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
        groups: dict[tuple[str, str], list[_Feedback]] = defaultdict(list)
        for fb in batch:
            groups[(fb.endpoint, fb.time.strftime("%Y-%m-%d"))].append(fb)
        for (endpoint, _), group in groups.items():
            table = feedback_table(group)
            if table.num_rows:
                self.storage.write_parquet(
                    new_file_key(endpoint, Log.FEEDBACK, group[0].time),
                    table,
                    compression="fast",
                )
            multi = [fb for fb in group if fb.targets]
            if multi:
                self.storage.write_parquet(
                    new_file_key(endpoint, Log.TARGET_FEEDBACK, multi[0].time),
                    target_feedback_table(multi),
                    compression="fast",
                )
        self.commits += 1


def feedback_table(batch: Sequence[_Feedback]) -> pa.Table:
    import pyarrow as pa

    cols: dict[str, list[Any]] = defaultdict(list)
    for fb in batch:
        n = len(fb.actuals)
        cols["request_id"] += [fb.request_id] * n
        cols["row"] += list(range(n))
        cols["endpoint"] += [fb.endpoint] * n
        cols["time"] += [fb.time] * n
        if fb.labels:
            cols["actual"] += [None] * n
            cols["actual_label"] += [str(v) for v in fb.actuals]
        else:
            cols["actual"] += [float(v) for v in fb.actuals]
            cols["actual_label"] += [None] * n
    names = feedback_schema().names
    return pa.table({c: cols.get(c, []) for c in names}, schema=feedback_schema())


def target_feedback_table(batch: Sequence[_Feedback]) -> pa.Table:
    """Long-form table of feedback entries that carry ``targets``."""
    import pyarrow as pa

    cols: dict[str, list[Any]] = defaultdict(list)
    for fb in batch:
        for target, values in (fb.targets or {}).items():
            n = len(values)
            cols["request_id"] += [fb.request_id] * n
            cols["row"] += list(range(n))
            cols["endpoint"] += [fb.endpoint] * n
            cols["target"] += [target] * n
            cols["actual"] += [float(v) for v in values]
            cols["time"] += [fb.time] * n
    schema = pa.schema(
        [("request_id", pa.string()), ("row", pa.int32()), ("endpoint", pa.string()),
         ("target", pa.string()), ("actual", pa.float64()),
         ("time", pa.timestamp("us", tz="UTC"))]
    )  # fmt: skip
    return pa.table({c: cols.get(c, []) for c in schema.names}, schema=schema)
