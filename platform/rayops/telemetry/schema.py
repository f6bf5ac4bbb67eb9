"""The columns of the logs: typed, one per value, readable by any Arrow tool.

**predictions** — one row per predicted row::

    request_id string, row int32, endpoint string, model string, version string,
    shadow bool, key string, latency_ms float64, time timestamp[us, UTC],
    prediction float64          regression: the predicted value (null for classifiers)
    label string                classification: the predicted label (its text)
    p_<class> float64           classification: the probability of each class
    lower float64               regression, asked ``interval``: the conformal lower bound
    upper float64               the conformal upper bound (both null when not asked)
    pset string                 classification, asked ``prediction_set``: the conformal set
                                as JSON list text, e.g. ``["setosa", "versicolor"]``
                                (null when not asked)
    f_<feature> float64|string  each input feature: numbers as float64, categories as text
    c_<feature>, c_bias float64 feature contributions in margin space (the bias last),
                                only for endpoints listed in ``serving_log_contributions``;
                                multiclass: the predicted (highest-margin) class's

**feedback** — one row per actual value::

    request_id string, row int32, endpoint string, time timestamp[us, UTC],
    actual float64              regression: the true value
    actual_label string         classification: the true label (its text)

**requests** — one row per predict request: request_id, endpoint, model, version
(null when it failed before routing), status int32, time.

Features, class probabilities and contributions carry a prefix (``f_``, ``p_``,
``c_``) so that no
feature name can collide with a column of the log. Files written by different
versions may hold different features or classes: readers unify the schemas and
fill what a file lacks with nulls. Labels are stored as text; the model card's
class list turns them back into the training values (class labels of one model
share one type, so the text is unambiguous).

Example:
    >>> feature_column("age"), probability_column(True), strip(["f_age", "time"], "f_")
    ('f_age', 'p_True', ['age'])
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "CONTRIBUTION_PREFIX",
    "FEATURE_PREFIX",
    "PROBABILITY_PREFIX",
    "feature_column",
    "feedback_schema",
    "prediction_base_schema",
    "contribution_column",
    "probability_column",
    "requests_schema",
    "strip",
]

FEATURE_PREFIX = "f_"
PROBABILITY_PREFIX = "p_"
CONTRIBUTION_PREFIX = "c_"

#: Columns every predictions file has, in order.
PREDICTION_BASE = (
    "request_id", "row", "endpoint", "model", "version", "shadow", "key", "latency_ms", "time",
    "prediction", "label", "lower", "upper", "pset",
)  # fmt: skip
FEEDBACK_BASE = ("request_id", "row", "endpoint", "time", "actual", "actual_label")
REQUEST_BASE = ("request_id", "endpoint", "model", "version", "status", "time")


def feature_column(name: str) -> str:
    return f"{FEATURE_PREFIX}{name}"


def probability_column(label: Any) -> str:
    return f"{PROBABILITY_PREFIX}{label}"


def contribution_column(feature: str) -> str:
    """The log column of a feature's contribution (``bias`` for the bias term)."""
    return f"{CONTRIBUTION_PREFIX}{feature}"


def strip(columns: Iterable[str], prefix: str) -> list[str]:
    """The names after ``prefix`` of the columns that have it."""
    return [c[len(prefix) :] for c in columns if c.startswith(prefix)]


def prediction_base_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            ("request_id", pa.string()),
            ("row", pa.int32()),
            ("endpoint", pa.string()),
            ("model", pa.string()),
            ("version", pa.string()),
            ("shadow", pa.bool_()),
            ("key", pa.string()),
            ("latency_ms", pa.float64()),
            ("time", pa.timestamp("us", tz="UTC")),
            ("prediction", pa.float64()),
            ("label", pa.string()),
            ("lower", pa.float64()),
            ("upper", pa.float64()),
            ("pset", pa.string()),
        ]
    )


def feedback_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            ("request_id", pa.string()),
            ("row", pa.int32()),
            ("endpoint", pa.string()),
            ("time", pa.timestamp("us", tz="UTC")),
            ("actual", pa.float64()),
            ("actual_label", pa.string()),
        ]
    )


def requests_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            ("request_id", pa.string()),
            ("endpoint", pa.string()),
            ("model", pa.string()),
            ("version", pa.string()),
            ("status", pa.int32()),
            ("time", pa.timestamp("us", tz="UTC")),
        ]
    )


def feature_arrays(columns: Sequence[str], values: Sequence[Any]) -> list[pa.Array]:
    """Typed Arrow arrays for feature columns given as Python/numpy sequences:
    numbers become float64 (NaN and None are null), anything else text."""
    import numpy as np
    import pyarrow as pa

    out = []
    for _, column in zip(columns, values, strict=True):
        arr = column if isinstance(column, np.ndarray) else None
        if arr is not None and arr.dtype.kind in "fiub":
            data = arr.astype(np.float64, copy=False)
            out.append(pa.array(data, mask=np.isnan(data), type=pa.float64()))
            continue
        items = list(column)
        if all(
            v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in items
        ):
            data = np.array([np.nan if v is None else v for v in items], dtype=np.float64)
            out.append(pa.array(data, mask=np.isnan(data), type=pa.float64()))
        else:
            texts = [None if v is None or v != v else str(v) for v in items]
            out.append(pa.array(texts, type=pa.string()))
    return out
