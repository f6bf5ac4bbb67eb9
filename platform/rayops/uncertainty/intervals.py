"""Split-conformal prediction intervals for regression, stored as JSON.

Fit from residuals the model never trained on — out-of-fold residuals of the
tune run's CV folds, or the training holdout's — an :class:`IntervalModel`
answers, for any level ``1 - α`` asked at serve time, ``[ŷ - q, ŷ + q]`` where
``q`` is the ``⌈(n + 1)(1 - α)⌉``-th smallest absolute residual. On rows
exchangeable with the calibration rows the interval covers the truth with
probability at least ``1 - α`` (Vovk et al., 2005; Lei et al., 2018).

**Mondrian** (per-segment) intervals keep one residual set per value of the
context columns named at training time, so a noisier segment gets wider
intervals; a segment with too few residuals (``min_segment``) falls back to the
global set.

The conformal machinery is crepes' ``ConformalRegressor`` (Boström, 2022); the
model is kept as plain JSON (the residuals, sorted, and the segment of each),
never pickled, and crepes is re-fitted from it when loaded (microseconds).

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> model = IntervalModel.fit(rng.normal(0, 2, 2000))
    >>> lo, hi = model.interval(np.array([10.0]), 0.9)
    >>> 3.1 < float(hi[0] - 10.0) < 3.5  # about 1.645 standard deviations of 2
    True
    >>> back = IntervalModel.from_json(model.to_json())
    >>> bool(back.interval(np.array([10.0]), 0.9)[1][0] == hi[0])
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rayops.errors import InvalidInputError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["IntervalModel", "check_level"]

#: Residuals kept per model (an evenly spaced subsample of the sorted residuals beyond).
MAX_RESIDUALS = 20_000
#: Residuals a Mondrian segment needs to get its own intervals.
MIN_SEGMENT = 50


def check_level(level: Any, what: str = "interval") -> float:
    """A coverage level in (0, 1), or a 422-style error saying what is allowed."""
    if type(level) not in (int, float) or not 0 < float(level) < 1:
        raise InvalidInputError(
            f"'{what}' must be a coverage level strictly between 0 and 1 (e.g. 0.9), got {level!r}."
        )
    return float(level)


def _thin(sorted_values: np.ndarray, limit: int) -> np.ndarray:
    import numpy as np

    if len(sorted_values) <= limit:
        return sorted_values
    idx = np.linspace(0, len(sorted_values) - 1, limit).round().astype(np.int64)
    return sorted_values[idx]


@dataclass
class IntervalModel:
    """Calibration residuals (absolute) for split-conformal intervals, global and per segment.

    Attributes:
        residuals: sorted absolute residuals of every calibration row.
        context: context columns of a Mondrian model (empty: one global set).
        segments: per segment key (context values joined by ``|``), its sorted residuals.
        source: where the residuals came from (``cv``, ``holdout``), for the card.
    """

    residuals: np.ndarray
    context: list[str] = field(default_factory=list)
    segments: dict[str, np.ndarray] = field(default_factory=dict)
    source: str = "holdout"
    _fitted: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def fit(
        cls,
        residuals: Sequence[float] | np.ndarray,
        *,
        segments: Sequence[str] | None = None,
        context: Sequence[str] = (),
        source: str = "holdout",
        min_segment: int = MIN_SEGMENT,
    ) -> IntervalModel:
        """From signed or absolute residuals (``y - ŷ``) and, for Mondrian intervals, each
        row's segment key (see :func:`segment_keys`)."""
        import numpy as np

        r = np.abs(np.asarray(residuals, dtype=np.float64))
        r = r[np.isfinite(r)]
        if len(r) < 10:
            raise InvalidInputError(
                f"Conformal intervals need at least 10 calibration residuals, got {len(r)}."
            )
        groups: dict[str, np.ndarray] = {}
        if segments is not None and context:
            keys = np.asarray(segments, dtype=object)
            for key in sorted(set(keys.tolist())):
                part = r[keys == key] if len(keys) == len(r) else np.empty(0)
                if len(part) >= min_segment:
                    groups[str(key)] = _thin(np.sort(part), MAX_RESIDUALS)
        return cls(_thin(np.sort(r), MAX_RESIDUALS), list(context), groups, source)

    def _regressor(self, segment: str | None) -> Any:
        """crepes' ConformalRegressor for one segment, fitted once (it sorts the scores)."""
        key = segment if segment in self.segments else ""
        found = self._fitted.get(key)
        if found is None:
            from crepes import ConformalRegressor

            found = ConformalRegressor().fit(self.segments[key] if key else self.residuals)
            self._fitted[key] = found
        return found

    def half_width(self, level: float, segment: str | None = None) -> float:
        """``q`` at coverage ``level`` for one segment (None or unknown: the global set);
        infinite when the calibration set is too small for that level."""
        import warnings

        import numpy as np

        with warnings.catch_warnings():  # crepes warns when q is infinite; we return it
            warnings.simplefilter("ignore")
            lo_hi = self._regressor(segment).predict_int(np.zeros(1), confidence=level)
        return float(lo_hi[0, 1])

    def interval(
        self, y_hat: np.ndarray, level: float, segments: Sequence[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(lower, upper)`` for predictions ``y_hat`` at coverage ``level``.

        A level too high for the calibration set (more than ``n/(n+1)``) gives
        infinite bounds, as split conformal prescribes.
        """
        import numpy as np

        y = np.asarray(y_hat, dtype=np.float64)
        if segments is None or not self.segments:
            q = np.full(len(y), self.half_width(level))
        else:
            cache: dict[str, float] = {}
            q = np.array(
                [cache.setdefault(s, self.half_width(level, s)) for s in segments], dtype=np.float64
            )
        return y - q, y + q

    def coverage(self, y: np.ndarray, y_hat: np.ndarray, level: float) -> float:
        """The share of ``y`` inside the intervals of ``y_hat`` (for tests and the card)."""
        import numpy as np

        lo, hi = self.interval(y_hat, level)
        return float(np.mean((np.asarray(y) >= lo) & (np.asarray(y) <= hi)))

    def to_json(self) -> dict[str, Any]:
        """A JSON document (lists of floats): what the registry stores with the version."""
        return {
            "kind": "mondrian" if self.segments else "split",
            "source": self.source,
            "context": list(self.context),
            "residuals": [float(v) for v in self.residuals],
            "segments": {k: [float(v) for v in s] for k, s in self.segments.items()},
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> IntervalModel:
        import numpy as np

        try:
            residuals = np.asarray(doc["residuals"], dtype=np.float64)
            segments = {
                str(k): np.asarray(v, dtype=np.float64) for k, v in doc.get("segments", {}).items()
            }
        except (KeyError, TypeError, ValueError) as e:
            raise InvalidInputError(f"Not an interval model document: {e}.") from None
        return cls(residuals, list(doc.get("context", [])), segments, str(doc.get("source", "")))


def segment_keys(frame: Any, context: Sequence[str]) -> list[str]:
    """One Mondrian segment key per row: the context columns' values joined by ``|``."""
    columns = [list(frame[c]) for c in context]
    return [
        "|".join("" if v is None else str(v) for v in values)
        for values in zip(*columns, strict=True)
    ]
