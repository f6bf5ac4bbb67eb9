"""Reading the logs of one endpoint over a time window, and joining them.

Every reader lists only the day partitions that overlap the window (one
listing per partition, no request per file), keeps the live files of each
(:mod:`rayops.telemetry.manifest`), unifies their schemas (features and classes
added or removed between versions become nulls) and pushes the time filter and
the column projection into the Parquet reader. Monitoring, rollout analysis,
online learning, retraining, ensemble stats and analytics all read through here.

Feature values come back as their own typed columns (``f_<name>``; see
:func:`features`), so nothing is parsed from text.

Example:
    >>> import tempfile
    >>> from datetime import UTC, datetime, timedelta
    >>> from rayops.storage import open_storage
    >>> end = datetime(2026, 1, 2, tzinfo=UTC)
    >>> storage = open_storage(tempfile.mkdtemp())
    >>> read_predictions(storage, "shop", end - timedelta(days=1), end).empty
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from rayops.clock import as_utc
from rayops.errors import InvalidInputError, NotFoundError, StorageError
from rayops.storage import Storage
from rayops.storage.retry import pause
from rayops.telemetry.layout import Log, days_between, log_prefix, partition_day
from rayops.telemetry.manifest import live_sized
from rayops.telemetry.schema import (
    FEATURE_PREFIX,
    FEEDBACK_BASE,
    PREDICTION_BASE,
    PROBABILITY_PREFIX,
    REQUEST_BASE,
    strip,
)

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

__all__ = [
    "dataset",
    "feature_frame",
    "feature_names",
    "features",
    "is_missing_file",
    "join",
    "joined",
    "probabilities",
    "read_feedback",
    "read_log",
    "read_partitioned",
    "read_predictions",
    "read_requests",
    "window_files",
]

#: Reads that lost a file to a concurrent compaction are retried this many times
#: (with a short jittered pause): each retry lists again and sees the merged file.
_RETRIES = 10


def _check_window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    start, end = as_utc(start), as_utc(end)
    if end <= start:
        raise InvalidInputError(f"The window ends ({end}) before it starts ({start}).")
    return start, end


def window_files(
    storage: Storage, endpoint: str, log: Log | str, start: datetime, end: datetime
) -> list[str]:
    """Keys of the live files of ``log`` whose day partition overlaps ``[start, end)``."""
    return [k for k, _ in _window_sized(storage, endpoint, log, start, end)]


def _window_sized(
    storage: Storage, endpoint: str, log: Log | str, start: datetime, end: datetime
) -> list[tuple[str, int | None]]:
    log = Log(log)
    start, end = _check_window(start, end)
    wanted = set(days_between(start, end))
    present = [partition_day(d) for d in storage.list_children(log_prefix(endpoint, log))]
    days = sorted(d for d in present if d is not None and d in wanted)
    return [f for d in days for f in live_sized(storage, endpoint, log, d)]


def dataset(storage: Storage, keys: Sequence[str | tuple[str, int | None]]) -> ds.Dataset:
    """A pyarrow Dataset over ``keys`` (or ``(key, size)`` pairs: sizes from a listing
    spare a metadata request per file) with one schema unified from every file.

    Example (every live prediction file of an endpoint, for DuckDB or pandas):
        >>> from datetime import UTC, datetime  # doctest: +SKIP
        >>> keys = window_files(storage, "shop", "predictions",  # doctest: +SKIP
        ...                     datetime(2026, 1, 1, tzinfo=UTC), datetime.now(UTC))
        >>> dataset(storage, keys).to_table().to_pandas()  # doctest: +SKIP
    """
    import pyarrow as pa
    import pyarrow.dataset as pads

    fs, _ = storage.arrow_filesystem()
    sized = [k if isinstance(k, tuple) else (k, None) for k in keys]
    fmt = pads.ParquetFileFormat()

    def build() -> ds.Dataset:
        fragments = [
            fmt.make_fragment(storage.path_of(k), filesystem=fs, file_size=n) for k, n in sized
        ]
        schemas = [f.physical_schema for f in fragments]  # each file's footer, read once
        schema = (
            pa.unify_schemas(schemas, promote_options="permissive") if schemas else pa.schema([])
        )
        return pads.FileSystemDataset(fragments, schema, fmt, fs)

    return storage._translate(build)


def read_log(
    storage: Storage,
    endpoint: str,
    log: Log | str,
    start: datetime,
    end: datetime,
    *,
    columns: Sequence[str] | None = None,
    base: Sequence[str] = (),
    where: pc.Expression | None = None,
) -> pa.Table:
    """Rows of ``log`` with ``start <= time < end``, as one Arrow table.

    ``columns`` (None: all) are projected in the reader; a column no file has is
    returned as nulls. Columns in ``base`` are always there, typed, even with no rows.
    ``where`` is a further filter pushed into the scan with the time bounds (row groups
    whose statistics exclude it are skipped), e.g. ``pc.field("shadow") == False``.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    start, end = _check_window(start, end)
    for attempt in range(_RETRIES):
        keys = _window_sized(storage, endpoint, log, start, end)
        if not keys:
            return _empty(columns or base)
        try:
            data = dataset(storage, keys)
            lo = pa.scalar(start, pa.timestamp("us", tz="UTC"))
            hi = pa.scalar(end, pa.timestamp("us", tz="UTC"))
            have = _expand(columns, data.schema.names)
            condition = (pc.field("time") >= lo) & (pc.field("time") < hi)
            if where is not None:
                condition = condition & where
            table = data.to_table(columns=have, filter=condition)
        except (NotFoundError, StorageError, OSError) as e:
            if not is_missing_file(e) or attempt == _RETRIES - 1:
                raise
            pause(attempt, storage.settings)  # a compaction replaced a file meanwhile
            continue
        for c in columns or ():
            if not c.endswith("*") and c not in table.schema.names:
                table = table.append_column(c, pa.nulls(table.num_rows))
        return table
    raise AssertionError("unreachable")


def read_partitioned(
    storage: Storage, prefix: str, columns: Sequence[str], start: datetime, end: datetime
) -> pd.DataFrame:
    """Rows with ``start <= time < end`` of any ``<prefix>date=YYYY-MM-DD/*.parquet``
    series that is not a log (monitoring snapshots): every file, no manifest."""
    import pyarrow as pa
    import pyarrow.compute as pc

    start, end = _check_window(start, end)
    wanted = {f"date={d:%Y-%m-%d}" for d in days_between(start, end)}
    days = [d for d in storage.list_children(prefix) if d in wanted]
    keys = [k for d in days for k in storage.list_keys(f"{prefix}{d}/") if k.endswith(".parquet")]
    if not keys:
        return _frame(_empty(columns), columns)
    lo = pa.scalar(start, pa.timestamp("us", tz="UTC"))
    hi = pa.scalar(end, pa.timestamp("us", tz="UTC"))
    data = dataset(storage, keys)
    have = [c for c in columns if c in data.schema.names]
    table = data.to_table(columns=have, filter=(pc.field("time") >= lo) & (pc.field("time") < hi))
    return _frame(table, columns)


_MISSING = ("RESOURCE_NOT_FOUND", "NoSuchKey", "Path does not exist", "No such file")


def is_missing_file(error: BaseException) -> bool:
    """Whether ``error`` says a file is gone (a concurrent compaction deleted it)."""
    if isinstance(error, NotFoundError | FileNotFoundError):
        return True
    text = str(error)
    return isinstance(error, OSError | StorageError) and any(s in text for s in _MISSING)


def _expand(columns: Sequence[str] | None, names: Sequence[str]) -> list[str]:
    """The columns to read: ``None`` is all; ``"f_*"`` is every column starting ``f_``."""
    if columns is None:
        return list(names)
    out: list[str] = []
    for c in columns:
        if c.endswith("*"):
            out += [n for n in names if n.startswith(c[:-1]) and n not in out]
        elif c in names and c not in out:
            out.append(c)
    return out


def _empty(columns: Sequence[str]) -> pa.Table:
    import pyarrow as pa

    return pa.table({c: pa.array([], pa.null()) for c in columns if not c.endswith("*")})


def _frame(table: pa.Table, base: Sequence[str]) -> pd.DataFrame:
    import pandas as pd

    frame = table.to_pandas()
    for c in base:
        if not c.endswith("*") and c not in frame.columns:
            frame[c] = pd.Series(dtype=object)
    return frame


def read_predictions(
    storage: Storage,
    endpoint: str,
    start: datetime,
    end: datetime,
    *,
    include_shadow: bool = False,
    columns: Sequence[str] | None = None,
    refs: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Predicted rows of ``endpoint`` with ``start <= time < end`` (UTC; naive means UTC).

    Every column by default (features as ``f_<name>``, class probabilities as
    ``p_<class>``); shadow rows (answers never returned) are left out unless asked for.
    ``refs`` (``MODEL@VERSION``) keeps only those versions' rows. Both filters are
    pushed into the scan, not applied to a frame afterwards.
    """
    import pyarrow.compute as pc

    cols = None if columns is None else list(dict.fromkeys([*columns, "shadow"]))
    shadow = pc.field("shadow")
    where = None if include_shadow else shadow.is_null() | (shadow == False)  # noqa: E712
    if refs is not None:
        chosen = _refs_filter(refs)
        where = chosen if where is None else where & chosen
    table = read_log(storage, endpoint, Log.PREDICTIONS, start, end, columns=cols,
                     base=PREDICTION_BASE, where=where)  # fmt: skip
    return _frame(table, cols or PREDICTION_BASE)


def _refs_filter(refs: Sequence[str]) -> pc.Expression:
    """Rows whose (model, version) is one of ``refs``; a ref without a version is refused."""
    import pyarrow.compute as pc

    by_model: dict[str, list[str]] = {}
    for ref in refs:
        model, sep, version = ref.partition("@")
        if not sep or not model or not version:
            raise InvalidInputError(f"{ref!r} is not MODEL@VERSION.")
        by_model.setdefault(model, []).append(version)
    if not by_model:
        return pc.scalar(False)
    parts = [(pc.field("model") == m) & pc.field("version").isin(v) for m, v in by_model.items()]
    out = parts[0]
    for part in parts[1:]:
        out = out | part
    return out


def read_feedback(storage: Storage, endpoint: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Actual values received for ``endpoint`` with ``start <= time < end``."""
    table = read_log(storage, endpoint, Log.FEEDBACK, start, end, base=FEEDBACK_BASE)
    return _frame(table, FEEDBACK_BASE)


def read_requests(storage: Storage, endpoint: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Outcomes (HTTP status) of the predict requests ``endpoint`` answered in the window.

    ``model`` and ``version`` are null for requests that failed before a version was chosen.
    """
    table = read_log(storage, endpoint, Log.REQUESTS, start, end, base=REQUEST_BASE)
    return _frame(table, REQUEST_BASE)


def join(
    predictions: pd.DataFrame,
    feedback: pd.DataFrame,
    keys: Sequence[str] = ("request_id", "row"),
    values: Sequence[str] = ("actual", "actual_label"),
) -> pd.DataFrame:
    """Predictions with their feedback on ``keys`` (left join; the latest feedback wins).

    Adds the ``values`` columns and ``feedback_time``; ``error = prediction - actual``
    where both are numbers. The one join of every log pair (predictions + feedback,
    per-target predictions + per-target feedback).
    """
    import pandas as pd

    keys, values = list(keys), [v for v in values if v in feedback.columns or v == "actual"]
    if len(feedback):
        fb = (
            feedback.sort_values("time")
            .drop_duplicates(keys, keep="last")
            .rename(columns={"time": "feedback_time"})
        )
        fb = fb[[*keys, *[v for v in values if v in fb.columns], "feedback_time"]]
    else:
        fb = pd.DataFrame({c: pd.Series(dtype=object) for c in [*keys, *values, "feedback_time"]})
    out = predictions.merge(fb, on=keys, how="left")
    out["actual"] = pd.to_numeric(out["actual"], errors="coerce").astype("float64")
    if "prediction" in out.columns:
        out["error"] = pd.to_numeric(out["prediction"], errors="coerce") - out["actual"]
    return out


def joined(
    storage: Storage,
    endpoint: str,
    start: datetime,
    end: datetime,
    *,
    feedback_grace: timedelta = timedelta(days=7),
    include_shadow: bool = False,
    columns: Sequence[str] | None = None,
    refs: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Predictions in the window with their actual values (``actual`` / ``actual_label``)
    and, for regression, ``error = prediction - actual``; ``refs`` as in
    :func:`read_predictions`.

    Feedback arrives after the prediction, so it is read up to ``feedback_grace``
    past ``end``. Rows without feedback keep null actuals. If an actual was sent
    twice for a row, the latest one counts.
    """
    preds = read_predictions(
        storage, endpoint, start, end, include_shadow=include_shadow, columns=columns, refs=refs
    )
    fb = read_feedback(storage, endpoint, as_utc(start), as_utc(end) + feedback_grace)
    return join(preds, fb)


def feature_names(frame: pd.DataFrame) -> list[str]:
    """The logged features of a predictions frame, in column order."""
    return strip(frame.columns, FEATURE_PREFIX)


def features(frame: pd.DataFrame, names: Sequence[str] | None = None) -> pd.DataFrame:
    """The logged feature values of prediction rows, one column per feature by its own
    name, same index. ``names`` picks (and orders) them; a missing one is all-null.

    Example:
        >>> import pandas as pd
        >>> rows = pd.DataFrame({"f_x": [1.0, 2.5], "f_c": ["a", "b"], "row": [0, 1]})
        >>> features(rows).to_dict(orient="list")
        {'x': [1.0, 2.5], 'c': ['a', 'b']}
    """
    import pandas as pd

    if "features" in frame.columns and not feature_names(frame):
        return _legacy_features(frame, names)
    wanted = feature_names(frame) if names is None else list(names)
    data: dict[str, Any] = {}
    for name in wanted:
        column = FEATURE_PREFIX + name
        data[name] = (
            frame[column]
            if column in frame.columns
            else pd.Series([None] * len(frame), index=frame.index, dtype=object)
        )
    return pd.DataFrame(data, index=frame.index)


def _legacy_features(frame: pd.DataFrame, names: Sequence[str] | None) -> pd.DataFrame:
    """Features of logs written before typed columns (one JSON object per row)."""
    import json

    import pandas as pd

    records = [json.loads(t) if isinstance(t, str) else {} for t in frame["features"]]
    out = pd.DataFrame.from_records(records, index=frame.index)
    return out if names is None else out.reindex(columns=list(names))


#: The name older callers use.
feature_frame = features


def probabilities(frame: pd.DataFrame, classes: Sequence[Any]) -> Any:
    """The ``[N, K]`` logged class probabilities of ``classes`` (a missing class is 0)."""
    import numpy as np

    out = np.zeros((len(frame), len(classes)), dtype=np.float64)
    for j, c in enumerate(classes):
        column = f"{PROBABILITY_PREFIX}{c}"
        if column in frame.columns:
            out[:, j] = frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
    return out
