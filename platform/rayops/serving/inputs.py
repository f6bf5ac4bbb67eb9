"""Request bodies to DataFrames, with a clear 4xx for every kind of bad input.

Rules (the same for JSON ``instances`` and Open Inference Protocol tensors):

* A row must hold exactly the model's features: a missing one is a 400 naming it,
  an unknown one is a 400 naming it.
* Numeric features take JSON numbers (``true``/``false`` and strings are a 422
  naming the feature). Categorical features take strings.
* **NaN / missing policy**: ``null`` (and a ``NaN`` token) is a missing value that
  XGBoost routes down each tree's learned default branch, exactly as in training.
  With ``serving_reject_missing`` it is a 422 instead. ``Infinity``/``-Infinity``
  are always a 422: XGBoost cannot split on them meaningfully.

Example:
    >>> schema = FeatureSchema(["x", "colour"], ["float", "c"])
    >>> frame = schema.frame_from_instances([{"x": 1.5, "colour": "red"}])
    >>> list(frame.columns), frame["x"].tolist()
    (['x', 'colour'], [1.5])
    >>> schema.frame_from_instances([{"x": "1.5", "colour": "red"}])
    Traceback (most recent call last):
    ...
    rayops.serving.errors.InvalidFeatureError: Feature 'x' must be a number; row 0 has '1.5'.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from itertools import chain
from typing import TYPE_CHECKING, Any

from rayops.errors import InvalidInputError
from rayops.registry.rows import Rows
from rayops.serving.errors import InvalidFeatureError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CATEGORICAL", "FeatureSchema", "schema_of"]

#: XGBoost's feature type for categorical columns.
CATEGORICAL = "c"

_NUMBERS = frozenset({float, int})
_NUMBERS_OR_NULL = _NUMBERS | {type(None)}


class FeatureSchema:
    """The features a model takes, in order, and which are categorical."""

    def __init__(
        self,
        features: Sequence[str],
        feature_types: Sequence[str] | None = None,
        *,
        reject_missing: bool = False,
    ) -> None:
        self.features = list(features)
        types = list(feature_types) if feature_types is not None else ["float"] * len(features)
        self.categorical = {
            f for f, t in zip(self.features, types, strict=False) if t == CATEGORICAL
        }
        self.reject_missing = reject_missing
        # One C call per row picks every feature in order (a 1-tuple is a value: see uses).
        self._getter = operator.itemgetter(*self.features) if self.features else None

    def is_categorical(self, feature: str) -> bool:
        return feature in self.categorical

    # --- JSON instances -----------------------------------------------------------
    def frame_from_instances(self, instances: Any) -> pd.DataFrame:
        """A DataFrame from ``[{feature: value}, ...]``; raises a 4xx error naming the problem."""
        return self.rows_from_instances(instances).frame()

    def rows_from_instances(self, instances: Any) -> Rows:
        """:class:`~rayops.registry.rows.Rows` from ``[{feature: value}, ...]`` (no pandas
        for all-numeric models); raises a 4xx error naming the problem."""
        if not isinstance(instances, list) or not instances:
            raise InvalidInputError(
                "'instances' must be a non-empty list of objects, one per row, like "
                '[{"feature": 1.0}].'
            )
        if not self.categorical:
            matrix = self._matrix_from_instances(instances)
            if matrix is not None:
                return Rows(self.features, matrix=matrix)
        return self._rows_checked(instances)

    def _matrix_from_instances(self, instances: list[Any]) -> Any:
        """The float64 matrix of all-numeric rows that hold exactly the features, each a
        number or null, in C loops (``itemgetter``, ``map``, one ``np.array``); None when
        any row needs :meth:`_rows_checked` to say what is wrong with it."""
        import numpy as np

        if self._getter is None:
            return None
        picked = map(self._getter, instances)
        try:  # one flat list: numpy converts it twice as fast as a list of row tuples
            values = list(picked if len(self.features) == 1 else chain.from_iterable(picked))
        except (KeyError, TypeError, IndexError):  # a missing feature, a row not an object
            return None
        if set(map(len, instances)) != {len(self.features)}:  # unknown features
            return None
        kinds = set(map(type, values))
        if not kinds <= (_NUMBERS if self.reject_missing else _NUMBERS_OR_NULL):
            return None  # bools, strings, nulls to reject: named by the checked path
        matrix = np.array(values, dtype=np.float64).reshape(len(instances), len(self.features))
        if float in kinds:  # only floats are infinite (or NaN: from the fallback parser)
            finite = np.isfinite(matrix)
            if not finite.all():
                if self.reject_missing or not np.isnan(matrix[~finite]).all():
                    return None  # the checked path names the first bad feature and row
        return matrix

    def _rows_checked(self, instances: list[Any]) -> Rows:
        """Rows one value at a time, with the 4xx sentence that names a bad one."""
        wanted = set(self.features)
        for i, row in enumerate(instances):
            if not isinstance(row, dict):
                raise InvalidInputError(
                    f"Row {i} of 'instances' is {type(row).__name__}, not an object of "
                    "feature values."
                )
            if row.keys() != wanted:
                missing = [f for f in self.features if f not in row]
                if missing:
                    raise InvalidInputError(
                        f"Row {i} lacks feature {missing[0]!r}; the model takes {self.features}."
                    )
                extra = sorted(k for k in row if k not in wanted)
                raise InvalidInputError(
                    f"Row {i} has unknown feature {extra[0]!r}; the model takes {self.features}."
                )
        columns = {f: [row[f] for row in instances] for f in self.features}
        return self.rows_from_columns(columns)

    # --- columns (also used by the Open Inference Protocol) ----------------------
    def frame_from_columns(self, columns: dict[str, list[Any]]) -> pd.DataFrame:
        """A DataFrame from one list per feature (all of the same length)."""
        return self.rows_from_columns(columns).frame()

    def rows_from_columns(self, columns: dict[str, Any]) -> Rows:
        """Rows from one list (or array) per feature, all of the same length."""
        import numpy as np

        if not self.categorical:
            # One float64 block: far cheaper to build (and to predict from) than a column each.
            n = len(columns[self.features[0]]) if self.features else 0
            matrix = np.empty((n, len(self.features)), dtype=np.float64)
            for j, f in enumerate(self.features):
                matrix[:, j] = self._numeric(f, columns[f])
            return Rows(self.features, matrix=matrix)
        data: dict[str, Any] = {}
        for f in self.features:
            values = columns[f]
            data[f] = (
                self._categorical(f, values) if f in self.categorical else self._numeric(f, values)
            )
        return Rows(self.features, columns=data)

    def _missing(self, f: str, i: int) -> None:
        if self.reject_missing:
            raise InvalidFeatureError(
                f"Feature {f!r} is missing (null/NaN) in row {i}; this gateway rejects "
                "missing values (serving_reject_missing)."
            )

    def _numeric(self, f: str, values: Any) -> Any:
        import numpy as np

        if isinstance(values, np.ndarray):  # binary OIP tensors: checked vectorized
            return self._numeric_array(f, values)
        kinds = set(map(type, values))
        if kinds <= _NUMBERS:  # the common case: one C-level conversion, then vectorized checks
            return self._numeric_array(f, np.array(values, dtype=np.float64))
        out = np.empty(len(values), dtype=np.float64)
        for i, v in enumerate(values):
            t = type(v)
            if t is float:
                if math.isnan(v):
                    self._missing(f, i)
                elif math.isinf(v):
                    raise InvalidFeatureError(
                        f"Feature {f!r} is infinite in row {i}; send a finite number, or "
                        "null for a missing value."
                    )
                out[i] = v
            elif t is int:
                out[i] = v
            elif v is None:
                self._missing(f, i)
                out[i] = np.nan
            else:
                raise InvalidFeatureError(f"Feature {f!r} must be a number; row {i} has {v!r}.")
        return out

    def _numeric_array(self, f: str, values: Any) -> Any:
        import numpy as np

        if values.dtype.kind not in "fiu":
            raise InvalidFeatureError(f"Feature {f!r} must be a number, not {values.dtype}.")
        out = values.astype(np.float64, copy=False)
        if out.dtype.kind == "f" and values.dtype.kind == "f":
            finite = np.isfinite(out)
            if not finite.all():
                inf = np.flatnonzero(np.isinf(out))
                if len(inf):
                    raise InvalidFeatureError(
                        f"Feature {f!r} is infinite in row {int(inf[0])}; send a finite number, "
                        "or null for a missing value."
                    )
                if self.reject_missing:
                    self._missing(f, int(np.flatnonzero(np.isnan(out))[0]))
        return out

    def _categorical(self, f: str, values: list[Any]) -> Any:
        import pandas as pd

        for i, v in enumerate(values):
            if v is None or (type(v) is float and math.isnan(v)):
                self._missing(f, i)
            elif type(v) is not str:
                raise InvalidFeatureError(
                    f"Feature {f!r} is categorical and must be a string; row {i} has {v!r}."
                )
        return pd.Categorical([None if type(v) is float else v for v in values])


def schema_of(predictor: Any, *, reject_missing: bool = False) -> FeatureSchema:
    """The input schema of a registry Predictor or EnsemblePredictor."""
    types: dict[str, str] = {}

    def collect(p: Any) -> None:
        if hasattr(p, "members"):
            for m in p.members:
                collect(m)
            return
        for f, t in zip(p.features, p.feature_types or ["float"] * len(p.features), strict=False):
            types.setdefault(f, t)

    collect(predictor)
    features = list(predictor.features)
    return FeatureSchema(
        features, [types.get(f, "float") for f in features], reject_missing=reject_missing
    )
