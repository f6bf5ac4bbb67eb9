"""The per-target logs of multi-target endpoints, and reading them back joined.

A multi-target endpoint serves a ``multi_target`` ensemble (one member per
target). Its ``predictions`` and ``feedback`` series stay single-valued (the
primary target), so every reader of ``prediction``/``actual`` keeps working;
every target is also logged in long form, one row per (request row, target)::

    logs/<endpoint>/target-predictions/date=YYYY-MM-DD/*.parquet
        request_id, row, endpoint, model, version, shadow, target, prediction, time
    logs/<endpoint>/target-feedback/date=YYYY-MM-DD/*.parquet
        request_id, row, endpoint, target, actual, time

:func:`joined_targets` joins them on ``(request_id, row, target)`` with the same
join as the single-valued logs (:func:`rayops.telemetry.readers.join`).

Example:
    >>> import tempfile
    >>> from datetime import UTC, datetime, timedelta
    >>> from rayops.storage import open_storage
    >>> end = datetime(2026, 1, 2, tzinfo=UTC)
    >>> joined_targets(open_storage(tempfile.mkdtemp()), "perf", end - timedelta(days=1), end).empty
    True
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from rayops.storage.base import Storage
from rayops.telemetry.layout import Log
from rayops.telemetry.readers import join, read_log

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "TARGET_FEEDBACK_COLUMNS",
    "TARGET_PREDICTION_COLUMNS",
    "joined_targets",
    "read_target_feedback",
    "read_target_predictions",
]

TARGET_PREDICTION_COLUMNS = (
    "request_id", "row", "endpoint", "model", "version", "shadow", "target", "prediction", "time",
)  # fmt: skip
TARGET_FEEDBACK_COLUMNS = ("request_id", "row", "endpoint", "target", "actual", "time")


def read_target_predictions(
    storage: Storage, endpoint: str, start: datetime, end: datetime, *, include_shadow: bool = False
) -> pd.DataFrame:
    """Per-target predictions of ``endpoint`` with ``start <= time < end``."""
    table = read_log(storage, endpoint, Log.TARGET_PREDICTIONS, start, end,
                     columns=TARGET_PREDICTION_COLUMNS)  # fmt: skip
    frame = table.to_pandas()
    if not include_shadow and len(frame):
        frame = frame[~frame["shadow"].astype(bool)]
    return frame.reset_index(drop=True)


def read_target_feedback(
    storage: Storage, endpoint: str, start: datetime, end: datetime
) -> pd.DataFrame:
    """Per-target actual values received for ``endpoint`` with ``start <= time < end``."""
    table = read_log(storage, endpoint, Log.TARGET_FEEDBACK, start, end,
                     columns=TARGET_FEEDBACK_COLUMNS)  # fmt: skip
    return table.to_pandas()


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

    One row per (request row, target): feedback is read up to ``feedback_grace``
    past ``end``, rows without feedback keep NaN ``actual``/``error``, and the
    latest actual of a row and target counts.
    """
    preds = read_target_predictions(storage, endpoint, start, end, include_shadow=include_shadow)
    fb = read_target_feedback(storage, endpoint, start, end + feedback_grace)
    return join(preds, fb, keys=("request_id", "row", "target"), values=("actual",))
