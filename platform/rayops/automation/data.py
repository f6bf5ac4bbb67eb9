"""Training rows from serving: logged features joined with feedback, point in time.

The gateway logs each predicted row's features as the model saw them (one typed
column per feature) and feedback later brings the actual value (regression) or
label (a classifier's, logged as text). A logged row becomes a training row with
those features, the actual or label as target and the *prediction time* as event
time; only feedback that arrived before ``cutoff`` counts, so a retrain never
learns from labels that were not known when it started. A classifier's labels
are turned back into its classes' own values (``"True"`` into ``True``, ``"3"``
into ``3``); a label that is none of them (another model's class) is left out.

Example:
    >>> import pandas as pd
    >>> log = pd.DataFrame({"f_x": [1.0, 2.5], "f_c": ["a", None],
    ...                     "actual": [3.0, None], "request_id": ["r1", "r2"], "row": [0, 0],
    ...                     "time": pd.to_datetime(["2026-01-01", "2026-01-02"], utc=True)})
    >>> expand_features(log).to_dict(orient="list")
    {'x': [1.0, 2.5], 'c': ['a', nan]}
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from rayops.telemetry.readers import features, joined

if TYPE_CHECKING:
    import pandas as pd

    from rayops.storage import Storage

__all__ = ["expand_features", "has_label", "labeled_rows"]


def has_label(log: pd.DataFrame) -> pd.Series:
    """Rows of a joined log with feedback: an ``actual`` value or an ``actual_label``."""
    labeled = log["actual"].notna()
    if "actual_label" in log.columns:
        labeled |= log["actual_label"].notna()
    return labeled


def expand_features(log: pd.DataFrame) -> pd.DataFrame:
    """One column per logged feature (missing values as None/NaN)."""

    return features(log)


def labeled_rows(
    storage: Storage,
    endpoint: str,
    start: datetime,
    cutoff: datetime,
    *,
    target: str,
    event_time: str | None = None,
    feedback_since: datetime | None = None,
    classes: Sequence[Any] | None = None,
) -> pd.DataFrame:
    """Rows predicted by ``endpoint`` in ``[start, cutoff)`` whose feedback arrived in
    ``[feedback_since, cutoff)``: features, ``target`` (the actual, or with ``classes``
    the label as the class value it names) and ``event_time`` (prediction time).
    ``feedback_since`` leaves out rows an earlier retrain included.

    Example:
        >>> import tempfile
        >>> from rayops.storage import open_storage
        >>> from datetime import UTC
        >>> t = datetime(2026, 1, 1, tzinfo=UTC)
        >>> labeled_rows(open_storage(tempfile.mkdtemp()), "shop", t, t + timedelta(1),
        ...              target="churn", classes=[False, True]).columns.tolist()
        ['churn']
    """
    import pandas as pd

    log = joined(storage, endpoint, start, cutoff, feedback_grace=timedelta(0))
    if len(log) and classes is not None:
        lookup = {str(c): c for c in classes}
        text = log["actual_label"] if "actual_label" in log.columns else None
        value = (
            text.map(lambda v: lookup.get(v) if isinstance(v, str) else None)
            if text is not None
            else pd.Series([None] * len(log), index=log.index, dtype=object)
        )
        log = log.assign(_value=value)
        log = log[log["_value"].notna()]
    if len(log):
        labeled = log["_value"].notna() if classes is not None else log["actual"].notna()
        arrived = pd.to_datetime(log["feedback_time"], utc=True)
        labeled &= arrived < pd.Timestamp(cutoff)
        if feedback_since is not None:
            labeled &= arrived >= pd.Timestamp(feedback_since)
        log = log[labeled].drop_duplicates(["request_id", "row"], keep="last")
    if not len(log):
        cols = [target] + ([event_time] if event_time else [])
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in cols})
    out = expand_features(log)
    if classes is not None:
        out[target] = log["_value"].astype(object).to_numpy()
    else:
        out[target] = log["actual"].astype("float64").to_numpy()
    if event_time:
        out[event_time] = pd.to_datetime(log["time"], utc=True).to_numpy()
    return out.reset_index(drop=True)
