"""Fitting a version's uncertainty at training time, from rows the model never saw.

:func:`fit_uncertainty` builds the document the registry stores as the version's
``uncertainty.json`` (see :mod:`rayops.uncertainty`):

* regression: split-conformal ``intervals`` from the holdout's residuals, per
  segment of ``context`` columns when named (Mondrian);
* classification: the probability ``calibration`` chosen by cross-fitted log loss
  (or none, when nothing beats the raw probabilities), and conformal prediction
  ``sets`` fitted on the calibrated holdout probabilities.

Too few holdout rows to say anything honest is not an error: the version simply
has no uncertainty document, and asking it for an interval is a clear 422.

Example:
    >>> import numpy as np
    >>> from rayops.tasks import Task
    >>> doc = fit_uncertainty(Task.of("regression"), np.arange(100.0), np.arange(100.0) + 1)
    >>> doc["intervals"]["kind"], doc["rows"]
    ('split', 100)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rayops.errors import InvalidInputError
from rayops.tasks import Task
from rayops.uncertainty.calibration import fit_calibration
from rayops.uncertainty.intervals import IntervalModel
from rayops.uncertainty.sets import SetModel

__all__ = ["MIN_ROWS", "fit_uncertainty"]

#: Fewest holdout rows that give a version an uncertainty document.
MIN_ROWS = 30


def fit_uncertainty(
    task: Task,
    y: Any,
    output: Any,
    *,
    segments: Sequence[str] | None = None,
    context: Sequence[str] = (),
    source: str = "holdout",
    seed: int = 0,
) -> dict[str, Any] | None:
    """The uncertainty document of a model from its holdout targets ``y`` (class indices
    for a classifier) and outputs; None with fewer than :data:`MIN_ROWS` rows."""
    import numpy as np

    y = np.asarray(y)
    if len(y) < MIN_ROWS:
        return None
    doc: dict[str, Any] = {"source": source, "rows": int(len(y))}
    if not task.is_classification:
        residuals = y.astype(np.float64) - np.asarray(output, dtype=np.float64)
        model = IntervalModel.fit(residuals, segments=segments, context=context, source=source)
        doc["intervals"] = model.to_json()
        return doc
    proba = np.asarray(output, dtype=np.float64)
    try:
        calibrator = fit_calibration(y, proba, seed=seed)
    except InvalidInputError:
        calibrator = None  # too few rows of a class: probabilities are served as they are
    if calibrator is not None:
        doc["calibration"] = calibrator.to_json()
        proba = calibrator.apply(proba)
    doc["sets"] = SetModel.fit(y, proba).to_json()
    return doc
