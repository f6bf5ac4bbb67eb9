"""The buffer of labeled samples waiting for an endpoint's next online update.

A **sample** is one predicted row the gateway logged (its features as JSON)
joined with the actual value (regression) or label (classification) that
feedback sent for it. The buffer is not a
separate copy of them: it is *derived* from the serving logs in storage —

    logs/<endpoint>/feedback/...      (the gateway stores feedback before it answers 201)
    logs/<endpoint>/predictions/...   (features; written every serving_log_flush_s)

— and the **cursor** in ``online/<endpoint>/state.json``: every feedback row
whose position ``(time, request_id, row)`` is after the cursor is buffered.
An update moves the cursor past the samples it trained on, with
compare-and-swap, only after its outcome is recorded.

**Durable** therefore means: every sample whose feedback was acknowledged
stays buffered until an update has used it, whatever restarts in between —
a gateway replica (its acknowledged feedback is already stored), the control
loop, or the whole cluster; nothing of the buffer lives only in memory. Two
limits, both from the prediction log: a gateway replica that is *hard*-killed
loses up to ``serving_log_flush_s`` of prediction rows (a graceful stop flushes
them); feedback whose prediction has not reached the log yet holds the cursor
for ``online_prediction_wait_s`` and is then counted as ``dropped``. Feedback
younger than ``online_settle_s`` is not buffered yet, so a write still in
flight (stamped on arrival, stored a moment later) is never skipped.
Samples are applied at least once: a crash between a hot-swap and the cursor
write makes the next update train on them again (the validation gate still
judges it).

Example:
    >>> import tempfile
    >>> from datetime import UTC, datetime
    >>> from rayops.config import Settings
    >>> from rayops.storage import open_storage
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> buf = read_buffer(open_storage(tempfile.mkdtemp()), "shop", SampleKey(time=t), t,
    ...                   Settings())
    >>> buf.size, buf.feedback, buf.oldest
    (0, 0, None)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from rayops.config import Settings
from rayops.online.state import SampleKey
from rayops.storage.base import Storage
from rayops.telemetry.readers import features, read_feedback, read_predictions

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SAMPLE_COLUMNS", "Buffer", "join_buffer", "read_buffer"]

#: Columns of :attr:`Buffer.samples`; ``time`` is the prediction's, ``feedback_time``
#: the label's; ``actual`` is a regression target, ``actual_label`` a classifier's label
#: (as text, the way the feedback log keeps it).
SAMPLE_COLUMNS = (
    "request_id", "row", "features", "actual", "actual_label", "time", "feedback_time", "model",
    "version",
)  # fmt: skip


@dataclass(frozen=True)
class Buffer:
    """The samples after the cursor, oldest feedback first.

    Attributes:
        samples: joined rows (:data:`SAMPLE_COLUMNS`), usable by an update.
        feedback: settled feedback rows after the cursor (joined or not).
        waiting: feedback rows whose prediction is not in the log yet; the first
            of them bounds ``samples`` so the cursor never passes it.
        dropped: feedback rows before that bound whose prediction never reached the log.
        oldest: feedback time of the oldest buffered sample (what ``max_age_s`` counts from).
        joined: False when only the feedback was read (``samples`` is then empty).
        skip_to: the last dropped row before the first sample, if any: the cursor
            may move there without losing a sample.
    """

    samples: pd.DataFrame
    feedback: int
    waiting: int
    dropped: int
    oldest: datetime | None
    joined: bool = True
    skip_to: SampleKey | None = None
    #: The settled feedback rows after the cursor, deduplicated, in stream order.
    feedback_rows: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    @property
    def size(self) -> int:
        """Samples buffered: joined rows, or settled feedback rows when not joined."""
        return len(self.samples) if self.joined else self.feedback

    def key(self, i: int) -> SampleKey:
        """The stream position of sample ``i`` (for the cursor)."""
        row = self.samples.iloc[i]
        return SampleKey(
            time=row["feedback_time"].to_pydatetime(),
            request_id=str(row["request_id"]),
            row=int(row["row"]),
        )


def _empty() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({c: pd.Series(dtype=object) for c in SAMPLE_COLUMNS})


def _after(frame: pd.DataFrame, cursor: SampleKey) -> pd.Series:
    """Rows of ``frame`` (time, request_id, row) strictly after ``cursor``."""
    import pandas as pd

    t = pd.Timestamp(cursor.time)
    later = frame["time"] > t
    same = frame["time"] == t
    if bool(same.any()):  # strings are compared only for the rows that need it
        rid = frame["request_id"]
        later |= same & (
            (rid > cursor.request_id) | ((rid == cursor.request_id) & (frame["row"] > cursor.row))
        )
    return later


def read_buffer(
    storage: Storage,
    endpoint: str,
    cursor: SampleKey,
    now: datetime,
    settings: Settings,
    *,
    join: bool = True,
    max_rows: int | None = None,
) -> Buffer:
    """The buffer of ``endpoint`` at ``now``: samples with feedback after ``cursor``.

    With ``join=False`` only the feedback log is read (cheap: enough to decide
    whether an update is due); :func:`join_buffer` completes such a buffer.
    ``max_rows`` (default ``online_max_rows``) caps the samples, oldest first.
    """
    horizon = now - timedelta(seconds=settings.online.settle_s)
    if horizon <= cursor.time:
        return Buffer(_empty(), 0, 0, 0, None, joined=join)
    fb = read_feedback(storage, endpoint, cursor.time, horizon)
    if len(fb):
        fb = fb[_after(fb, cursor)]
        fb = (
            fb.sort_values("time", kind="stable")
            .drop_duplicates(["request_id", "row"], keep="last")
            .sort_values(["time", "request_id", "row"], kind="stable")
            .reset_index(drop=True)
        )
    if not len(fb):
        return Buffer(_empty(), 0, 0, 0, None, joined=join)
    oldest = fb["time"].iloc[0].to_pydatetime()
    light = Buffer(_empty(), len(fb), 0, 0, oldest, joined=False, feedback_rows=fb)
    return (
        join_buffer(storage, endpoint, light, now, settings, max_rows=max_rows) if join else light
    )


def join_buffer(
    storage: Storage,
    endpoint: str,
    light: Buffer,
    now: datetime,
    settings: Settings,
    *,
    max_rows: int | None = None,
) -> Buffer:
    """Join a feedback-only buffer (``read_buffer(..., join=False)``) with the logged
    predictions' features."""
    fb = light.feedback_rows
    if light.joined or fb is None or not len(fb) or light.oldest is None:
        return light if light.joined else Buffer(_empty(), 0, 0, 0, None)
    horizon = now - timedelta(seconds=settings.online.settle_s)
    window = timedelta(seconds=settings.online.feedback_window_s)
    preds = read_predictions(
        storage,
        endpoint,
        light.oldest - window,
        horizon,
        columns=("request_id", "row", "f_*", "time", "model", "version"),
    )
    preds = preds.drop(columns=["shadow"]).drop_duplicates(["request_id", "row"], keep="last")
    # One feature object (JSON text) per sample: the form the buffer, replay and updates keep.
    records = features(preds).astype(object).where(lambda f: f.notna(), None).to_dict("records")
    preds = preds[["request_id", "row", "time", "model", "version"]].assign(
        features=[json.dumps(r) for r in records]
    )
    if "actual_label" not in fb.columns:
        fb = fb.assign(actual_label=None)
    merged = fb.rename(columns={"time": "feedback_time"})[
        ["request_id", "row", "actual", "actual_label", "feedback_time"]
    ].merge(preds, on=["request_id", "row"], how="left")
    unjoined = merged["features"].isna()
    young = merged["feedback_time"] >= now - timedelta(seconds=settings.online.prediction_wait_s)
    waiting = unjoined & young
    bound = int(waiting.to_numpy().argmax()) if bool(waiting.any()) else len(merged)
    head = merged.iloc[:bound]
    usable = head[~head["features"].isna()]
    limit = settings.online.max_rows if max_rows is None else max_rows
    samples = usable.iloc[:limit].reset_index(drop=True)[list(SAMPLE_COLUMNS)]
    samples["actual"] = samples["actual"].astype("float64")
    first = samples["feedback_time"].iloc[0].to_pydatetime() if len(samples) else None
    lead = head[unjoined.iloc[:bound]]
    if len(samples):
        lead = lead[lead.index < usable.index[0]]
    skip_to = None
    if len(lead):
        last = lead.iloc[-1]
        skip_to = SampleKey(
            time=last["feedback_time"].to_pydatetime(),
            request_id=str(last["request_id"]),
            row=int(last["row"]),
        )
    return Buffer(
        samples=samples,
        feedback=len(fb),
        waiting=int(waiting.sum()),
        dropped=int(unjoined.iloc[:bound].sum()),
        oldest=first,
        skip_to=skip_to,
    )
