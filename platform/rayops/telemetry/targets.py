"""The per-target logs of multi-target endpoints, and reading them back joined.

A multi-target endpoint serves a ``multi_target`` ensemble (one member per
target). Its ``predictions`` and ``feedback`` series stay single-valued (the
primary target), so every reader of ``prediction``/``actual`` keeps working;
every target is also logged in long form, one row per (request row, target)::

    logs/<endpoint>/target-predictions/date=YYYY-MM-DD/*.parquet
        request_id, row, endpoint, model, version, shadow, target, prediction, time
    logs/<endpoint>/target-feedback/date=YYYY-MM-DD/*.parquet
        request_id, row, endpoint, target, actual, time

:func:`joined_targets` joins them on ``(request_id, row, target)``, the per-target
counterpart of :func:`rayops.telemetry.readers.joined`.

Example:
    >>> import tempfile
    >>> from datetime import UTC, datetime, timedelta
    >>> from rayops.storage import open_storage
    >>> end = datetime(2026, 1, 2, tzinfo=UTC)
    >>> joined_targets(open_storage(tempfile.mkdtemp()), "perf", end - timedelta(days=1), end).empty
    True
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from rayops.names import validate_name
from rayops.storage.base import Storage

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "TARGET_FEEDBACK_COLUMNS",
    "TARGET_PREDICTION_COLUMNS",
    "joined_targets",
    "read_target_feedback",
    "read_target_predictions",
    "target_feedback_prefix",
    "target_feedback_table",
    "target_predictions_prefix",
    "target_predictions_table",
]

TARGET_PREDICTION_COLUMNS = (
    "request_id", "row", "endpoint", "model", "version", "shadow", "target", "prediction", "time",
)  # fmt: skip
TARGET_FEEDBACK_COLUMNS = ("request_id", "row", "endpoint", "target", "actual", "time")


def target_predictions_prefix(endpoint: str) -> str:
    return f"logs/{validate_name(endpoint, 'endpoint name')}/target-predictions/"


def target_feedback_prefix(endpoint: str) -> str:
    return f"logs/{validate_name(endpoint, 'endpoint name')}/target-feedback/"


def target_predictions_table(entries: Sequence[Any]) -> Any:
    """Long-form Arrow table of prediction-log entries that carry ``targets``."""
    import pyarrow as pa

    cols: dict[str, list[Any]] = defaultdict(list)
    for e in entries:
        model, _, version = e.ref.partition("@")
        for target, values in e.targets.items():
            n = len(values)
            cols["request_id"] += [e.request_id] * n
            cols["row"] += list(range(n))
            cols["endpoint"] += [e.endpoint] * n
            cols["model"] += [model] * n
            cols["version"] += [version] * n
            cols["shadow"] += [e.shadow] * n
            cols["target"] += [target] * n
            cols["prediction"] += [float(p) for p in values]
            cols["time"] += [e.time] * n
    types = {"row": pa.int32(), "shadow": pa.bool_(), "prediction": pa.float64()}
    return _table(cols, TARGET_PREDICTION_COLUMNS, types)


def target_feedback_table(batch: Sequence[Any]) -> Any:
    """Long-form Arrow table of feedback entries that carry ``targets``."""
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
    return _table(cols, TARGET_FEEDBACK_COLUMNS, {"row": pa.int32(), "actual": pa.float64()})


def _table(cols: dict[str, list[Any]], names: Sequence[str], types: dict[str, Any]) -> Any:
    import pyarrow as pa

    fields = [
        (n, pa.timestamp("us", tz="UTC") if n == "time" else types.get(n, pa.string()))
        for n in names
    ]
    schema = pa.schema(fields)
    return pa.table({n: cols.get(n, []) for n in names}, schema=schema)


def read_target_predictions(
    storage: Storage, endpoint: str, start: datetime, end: datetime, *, include_shadow: bool = False
) -> pd.DataFrame:
    """Per-target predictions of ``endpoint`` with ``start <= time < end``."""
    from rayops.telemetry.readers import read_partitioned

    frame = read_partitioned(
        storage, target_predictions_prefix(endpoint), TARGET_PREDICTION_COLUMNS, start, end
    )
    if not include_shadow and len(frame):
        frame = frame[~frame["shadow"].astype(bool)]
    return frame.reset_index(drop=True)


def read_target_feedback(
    storage: Storage, endpoint: str, start: datetime, end: datetime
) -> pd.DataFrame:
    """Per-target actual values received for ``endpoint`` with ``start <= time < end``."""
    from rayops.telemetry.readers import read_partitioned

    return read_partitioned(
        storage, target_feedback_prefix(endpoint), TARGET_FEEDBACK_COLUMNS, start, end
    )


def joined_targets(
    storage: Storage,
    endpoint: str,
    start: datetime,
    end: datetime,
    *,
    feedback_grace: timedelta = timedelta(days=7),
    include_shadow: bool = False,
) -> pd.DataFrame:
    """Per-target predictions in the window with their actuals and ``error = prediction - actual``.

    Like :func:`rayops.telemetry.readers.joined`, one row per (request row, target):
    feedback is read up to ``feedback_grace`` past ``end``, rows without feedback
    keep NaN ``actual``/``error``, and the latest actual of a row and target counts.
    """
    preds = read_target_predictions(storage, endpoint, start, end, include_shadow=include_shadow)
    fb = read_target_feedback(storage, endpoint, start, end + feedback_grace)
    keys = ["request_id", "row", "target"]
    fb = (
        fb.sort_values("time")
        .drop_duplicates(keys, keep="last")
        .rename(columns={"time": "feedback_time"})[[*keys, "actual", "feedback_time"]]
    )
    out = preds.merge(fb, on=keys, how="left")
    out["actual"] = out["actual"].astype("float64")
    out["error"] = out["prediction"].astype("float64") - out["actual"]
    return out
