"""Logged rows with their labels, as a task sees them: targets, outputs and per-row loss.

The joined log (:func:`rayops.telemetry.readers.joined`) holds, per row, what the
model answered and what feedback said, as logged: ``prediction``/``actual`` for
regression, ``p_<class>`` columns and ``actual_label`` text for classification.
:func:`labeled_rows` turns the rows that have feedback into what metrics and the
promotion gate take: ``y`` (the target, or class indices), ``output`` (values, or
``[N, K]`` probabilities in the model's class order) and the task's per-row
``loss``, with the request id of each row (the gate tests per request).

Labels are matched by their text against the model's classes (one model's classes
share a type, so text is unambiguous); feedback whose label is not a class of
this model (a class another version had) is left out and counted.

Example:
    >>> import pandas as pd
    >>> from rayops.tasks import Labels, Task
    >>> log = pd.DataFrame({"request_id": ["a", "a", "b"], "p_no": [0.8, 0.3, 0.6],
    ...                     "p_yes": [0.2, 0.7, 0.4], "actual_label": ["no", "yes", None]})
    >>> rows = labeled_rows(log, Task.of("binary"), Labels(["no", "yes"]))
    >>> rows.y.tolist(), rows.output.shape, rows.loss.round(3).tolist()
    ([0, 1], (2, 2), [0.223, 0.357])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rayops.tasks import Labels, Task
from rayops.telemetry.readers import probabilities

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["LabeledRows", "labeled_rows"]


@dataclass(frozen=True)
class LabeledRows:
    """The labeled rows of a joined log, ready for :meth:`Task.metrics` and the gate."""

    y: np.ndarray
    output: np.ndarray
    loss: np.ndarray
    request_id: np.ndarray
    index: pd.Index
    unknown_labels: int = 0

    def __len__(self) -> int:
        return len(self.y)

    def metrics(self, task: Task, labels: Labels | None, **kwargs: Any) -> dict[str, Any]:
        """The task's metrics on these rows (see :meth:`rayops.tasks.Task.metrics`)."""
        return task.metrics(self.y, self.output, labels=labels, **kwargs)


def labeled_rows(frame: pd.DataFrame, task: Task, labels: Labels | None) -> LabeledRows:
    """The rows of a joined log that have feedback, decoded for ``task`` (see the module)."""
    import numpy as np
    import pandas as pd

    if not task.is_classification:
        actual = pd.to_numeric(frame.get("actual", pd.Series(dtype=float)), errors="coerce")
        pred = pd.to_numeric(frame.get("prediction", pd.Series(dtype=float)), errors="coerce")
        mask = (actual.notna() & pred.notna()).to_numpy() if len(frame) else np.zeros(0, bool)
        part = frame[mask]
        y = actual[mask].to_numpy(np.float64)
        out = pred[mask].to_numpy(np.float64)
        return LabeledRows(y, out, task.row_loss(y, out), _ids(part), part.index)
    assert labels is not None
    text = (
        frame["actual_label"]
        if "actual_label" in frame.columns
        else pd.Series([None] * len(frame), index=frame.index, dtype=object)
    )
    lookup = {str(c): i for i, c in enumerate(labels.classes)}
    codes = text.map(lambda v: lookup.get(str(v), -1) if isinstance(v, str) else -2)
    has = (codes != -2).to_numpy()
    known = (codes >= 0).to_numpy()
    part = frame[known]
    proba = probabilities(part, labels.classes)
    scored = ~np.isnan(proba).any(axis=1) if len(part) else np.zeros(0, bool)
    part, proba = part[scored], proba[scored]
    y = codes[known][scored].to_numpy(np.int64)
    return LabeledRows(
        y, proba, task.row_loss(y, proba), _ids(part), part.index,
        unknown_labels=int(has.sum() - known.sum()),
    )  # fmt: skip


def _ids(frame: pd.DataFrame) -> np.ndarray:
    import numpy as np

    if "request_id" not in frame.columns:
        ids: np.ndarray = np.arange(len(frame)).astype(str)
    else:
        ids = frame["request_id"].astype(str).to_numpy()
    return ids
