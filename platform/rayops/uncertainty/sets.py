"""Conformal prediction sets for classifiers, stored as JSON.

The non-conformity score of a row is ``1 - p(true class)`` (on calibrated
out-of-fold probabilities); a set at level ``1 - α`` holds every class whose
score is within the calibration scores' conformal quantile, so it contains the
true class with probability at least ``1 - α`` on exchangeable rows. The
machinery is crepes' ``ConformalClassifier`` (without smoothing, so sets are
deterministic); the model is the sorted scores, as JSON.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> p = rng.dirichlet([1, 1, 1], 3000)
    >>> y = np.array([rng.choice(3, p=row) for row in p])
    >>> sets = SetModel.fit(y, p)
    >>> chosen = sets.sets(p, 0.9)
    >>> 0.88 <= float(chosen[np.arange(len(y)), y].mean()) <= 0.92
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rayops.errors import InvalidInputError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["SetModel"]


@dataclass
class SetModel:
    """Calibration scores (``1 - p(true class)``) for conformal prediction sets."""

    scores: np.ndarray
    _fitted: Any = field(default=None, repr=False, compare=False)

    @classmethod
    def fit(cls, y: Any, proba: Any) -> SetModel:
        import numpy as np

        yy = np.asarray(y, dtype=np.int64)
        p = np.asarray(proba, dtype=np.float64)
        if len(yy) < 10:
            raise InvalidInputError(
                f"Prediction sets need at least 10 labeled rows, got {len(yy)}."
            )
        scores = 1.0 - p[np.arange(len(yy)), yy]
        return cls(np.sort(scores))

    def _classifier(self) -> Any:
        if self._fitted is None:
            from crepes import ConformalClassifier

            self._fitted = ConformalClassifier().fit(self.scores)
        return self._fitted

    def sets(self, proba: np.ndarray, level: float) -> np.ndarray:
        """A ``[N, K]`` 0/1 matrix: which classes each row's set holds at ``level``."""
        import warnings

        import numpy as np

        alphas = 1.0 - np.asarray(proba, dtype=np.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out: np.ndarray = self._classifier().predict_set(
                alphas, confidence=level, smoothing=False
            )
        return out.astype(bool)

    def to_json(self) -> dict[str, Any]:
        return {"kind": "score", "scores": [round(float(v), 9) for v in self.scores]}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> SetModel:
        import numpy as np

        try:
            return cls(np.asarray(doc["scores"], dtype=np.float64))
        except (KeyError, TypeError, ValueError) as e:
            raise InvalidInputError(f"Not a prediction-set model document: {e}.") from None
