"""Read the serving logs of one endpoint over a time window, and join them.

The gateway writes (see :mod:`rayops.telemetry.writers`)::

    logs/<endpoint>/predictions/date=YYYY-MM-DD/*.parquet   one row per predicted row
    logs/<endpoint>/feedback/date=YYYY-MM-DD/*.parquet      one row per actual value
    logs/<endpoint>/requests/date=YYYY-MM-DD/*.parquet      one row per predict request
                                                            (outcome: HTTP status)

Only the day partitions that overlap the window are listed and read, and the
time filter is pushed into the Parquet reader. Monitoring, rollout analysis,
online learning and retraining all read through here.

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

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from rayops.clock import as_utc
from rayops.errors import InvalidInputError
from rayops.names import validate_name
from rayops.storage import Storage

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "feature_frame",
    "joined",
    "read_feedback",
    "read_partitioned",
    "read_predictions",
    "read_requests",
]

PREDICTION_COLUMNS = (
    "request_id", "row", "endpoint", "model", "version", "shadow", "key", "features",
    "prediction", "latency_ms", "time",
)  # fmt: skip
FEEDBACK_COLUMNS = ("request_id", "row", "endpoint", "actual", "time")
REQUEST_COLUMNS = ("request_id", "endpoint", "model", "version", "status", "time")


def _keys(storage: Storage, endpoint: str, kind: str, start: datetime, end: datetime) -> list[str]:
    validate_name(endpoint, "endpoint name")
    return _partition_keys(storage, f"logs/{endpoint}/{kind}/", start, end)


def _partition_keys(storage: Storage, prefix: str, start: datetime, end: datetime) -> list[str]:
    if end <= start:
        raise InvalidInputError(f"The window ends ({end}) before it starts ({start}).")
    wanted = set()
    day = start.date()
    while day <= end.date():
        wanted.add(f"date={day:%Y-%m-%d}")
        day += timedelta(days=1)
    days = [d for d in storage.list_children(prefix) if d in wanted]
    return [k for d in days for k in storage.list_keys(f"{prefix}{d}/") if k.endswith(".parquet")]


def _read(
    storage: Storage, keys: list[str], columns: tuple[str, ...], start: datetime, end: datetime
) -> pd.DataFrame:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    if not keys:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    lo = pa.scalar(start, pa.timestamp("us", tz="UTC"))
    hi = pa.scalar(end, pa.timestamp("us", tz="UTC"))
    table = storage.read_parquet(
        keys, columns=list(columns), filter=(pc.field("time") >= lo) & (pc.field("time") < hi)
    )
    return table.to_pandas()


def read_predictions(
    storage: Storage,
    endpoint: str,
    start: datetime,
    end: datetime,
    *,
    include_shadow: bool = False,
    columns: tuple[str, ...] = PREDICTION_COLUMNS,
) -> pd.DataFrame:
    """Predicted rows of ``endpoint`` with ``start <= time < end`` (UTC; naive means UTC).

    Shadow rows (answers never returned to callers) are left out unless asked for.
    """
    start, end = as_utc(start), as_utc(end)
    cols = tuple(dict.fromkeys([*columns, "shadow"]))
    frame = _read(storage, _keys(storage, endpoint, "predictions", start, end), cols, start, end)
    if not include_shadow and len(frame):
        frame = frame[~frame["shadow"].astype(bool)]
    return frame.reset_index(drop=True)


def read_feedback(storage: Storage, endpoint: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Actual values received for ``endpoint`` with ``start <= time < end``."""
    start, end = as_utc(start), as_utc(end)
    keys = _keys(storage, endpoint, "feedback", start, end)
    return _read(storage, keys, FEEDBACK_COLUMNS, start, end)


def read_requests(storage: Storage, endpoint: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Outcomes (HTTP status) of the predict requests ``endpoint`` answered in the window.

    ``model`` and ``version`` are null for requests that failed before a version was chosen.
    """
    start, end = as_utc(start), as_utc(end)
    keys = _keys(storage, endpoint, "requests", start, end)
    return _read(storage, keys, REQUEST_COLUMNS, start, end)


def read_partitioned(
    storage: Storage, prefix: str, columns: tuple[str, ...], start: datetime, end: datetime
) -> pd.DataFrame:
    """Rows with ``start <= time < end`` of any ``<prefix>date=YYYY-MM-DD/*.parquet`` series."""
    start, end = as_utc(start), as_utc(end)
    return _read(storage, _partition_keys(storage, prefix, start, end), columns, start, end)


def joined(
    storage: Storage,
    endpoint: str,
    start: datetime,
    end: datetime,
    *,
    feedback_grace: timedelta = timedelta(days=7),
    include_shadow: bool = False,
) -> pd.DataFrame:
    """Predictions in the window with their actual values, and ``error = prediction - actual``.

    Feedback arrives after the prediction, so it is read up to ``feedback_grace``
    past ``end``. Rows without feedback are kept with NaN ``actual`` and ``error``.
    If an actual was sent twice for a row, the latest one counts.
    """
    preds = read_predictions(storage, endpoint, start, end, include_shadow=include_shadow)
    fb = read_feedback(storage, endpoint, as_utc(start), as_utc(end) + feedback_grace)
    if len(fb):
        fb = (
            fb.sort_values("time")
            .drop_duplicates(["request_id", "row"], keep="last")
            .rename(columns={"time": "feedback_time"})[
                ["request_id", "row", "actual", "feedback_time"]
            ]
        )
    else:
        import pandas as pd

        fb = pd.DataFrame(
            {c: pd.Series(dtype=object) for c in ["request_id", "row", "actual", "feedback_time"]}
        )
    out = preds.merge(fb, on=["request_id", "row"], how="left")
    out["actual"] = out["actual"].astype("float64")
    out["error"] = out["prediction"].astype("float64") - out["actual"]
    return out


def feature_frame(predictions: pd.DataFrame) -> pd.DataFrame:
    """The logged feature values of prediction rows as a frame (one column per feature,
    same row order), parsed from the ``features`` JSON column by Arrow's JSON reader.

    Example:
        >>> import pandas as pd
        >>> rows = pd.DataFrame({"features": ['{"x": 1, "c": "a"}', '{"x": 2.5, "c": null}']})
        >>> feature_frame(rows)
             x    c
        0  1.0    a
        1  2.5  NaN
    """
    import io

    import pandas as pd
    import pyarrow.json as pj

    if not len(predictions):
        return pd.DataFrame(index=predictions.index)
    import pyarrow as pa

    texts = predictions["features"].astype(str)
    data = "\n".join(texts).encode()
    try:  # one block, so types are inferred from every row
        options = pj.ReadOptions(block_size=len(data) + 1)
        out = pj.read_json(io.BytesIO(data), read_options=options).to_pandas()
    except pa.ArrowInvalid:  # a column mixing types (numbers and strings): slower, lenient
        import json

        out = pd.DataFrame.from_records([json.loads(t) for t in texts])
    out.index = predictions.index
    return out
