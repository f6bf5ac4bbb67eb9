"""Input rows without pandas: one float64 matrix when every feature is a number.

The gateway builds :class:`Rows` straight from a request (JSON or OIP buffers),
the predictors take them as they are (``inplace_predict`` on the matrix, in the
model's feature order), and the prediction log stores the same matrix. A model
with categorical features keeps one column per feature; :meth:`Rows.frame` is
the pandas view XGBoost needs for those, built once and cached.

``Rows`` reads like a small DataFrame where that matters (``len``,
``rows[name]``, ``columns``, ``index``), so ensembles' context segments and the
logs work on either.

Example:
    >>> import numpy as np
    >>> rows = Rows(["a", "b"], matrix=np.array([[1.0, 2.0], [3.0, 4.0]]))
    >>> len(rows), rows["b"].tolist(), rows.matrix_for(["b", "a"]).tolist()
    (2, [2.0, 4.0], [[2.0, 1.0], [4.0, 3.0]])
    >>> Rows.concat([rows, rows]).matrix_for(["a"]).ravel().tolist()
    [1.0, 3.0, 1.0, 3.0]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rayops.errors import InvalidInputError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["Rows", "as_frame"]


class Rows:
    """Rows of named features: a float64 ``matrix`` (all numeric) or ``columns`` by name."""

    __slots__ = ("_frame", "_index", "_matrix32", "columns", "matrix", "values")

    def __init__(
        self,
        names: Sequence[str],
        *,
        matrix: np.ndarray | None = None,
        columns: Mapping[str, Any] | None = None,
    ) -> None:
        if (matrix is None) == (columns is None):
            raise ValueError("Rows take a numeric matrix or columns, one of the two.")
        # A list of names is kept, not copied: the gateway makes a Rows per request over
        # its schema's list, and the prediction log groups requests by that one object.
        # Nothing changes it.
        self.columns: list[str] = names if type(names) is list else list(names)
        self.matrix = matrix
        self.values: dict[str, Any] | None = dict(columns) if columns is not None else None
        self._index: dict[str, int] | None = None  # name -> position, made on first use
        self._frame: pd.DataFrame | None = None
        self._matrix32: dict[tuple[str, ...], np.ndarray] = {}

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Rows:
        """Rows over a DataFrame's columns (numeric frames become one matrix)."""
        import numpy as np

        names = [str(c) for c in frame.columns]
        if all(t.kind in "fiub" for t in frame.dtypes):
            out = cls(names, matrix=frame.to_numpy(dtype=np.float64))
        else:
            out = cls(
                names, columns={n: frame[c] for n, c in zip(names, frame.columns, strict=True)}
            )
        out._frame = frame
        return out

    @property
    def numeric(self) -> bool:
        """Whether every feature is a number (one matrix holds them all)."""
        return self.matrix is not None

    def __len__(self) -> int:
        matrix = self.matrix
        if matrix is not None:
            return len(matrix)  # (a 2-D array's len is its rows; cheaper than .shape[0])
        first = next(iter(self.values.values()), ()) if self.values else ()
        return len(first)

    @property
    def index(self) -> pd.RangeIndex:
        import pandas as pd

        return pd.RangeIndex(len(self))

    def _positions(self) -> dict[str, int]:
        if self._index is None:
            self._index = {n: j for j, n in enumerate(self.columns)}
        return self._index

    def __getitem__(self, name: str) -> Any:
        positions = self._positions()
        if name not in positions:
            raise KeyError(name)
        if self.matrix is not None:
            return self.matrix[:, positions[name]]
        assert self.values is not None
        return self.values[name]

    def __contains__(self, name: object) -> bool:
        return name in self._positions()

    def matrix_for(self, features: Sequence[str]) -> np.ndarray:
        """A float32 matrix of ``features`` in that order (cached per feature list)."""
        import numpy as np

        key = tuple(features)
        found = self._matrix32.get(key)
        if found is not None:
            return found
        if self.matrix is None:
            raise InvalidInputError("These rows hold categorical features; use frame().")
        if features is self.columns or list(features) == self.columns:
            out = self.matrix.astype(np.float32)
        else:
            positions = self._positions()
            missing = [f for f in features if f not in positions]
            if missing:
                raise InvalidInputError(f"The rows lack features {missing}.")
            out = self.matrix[:, [positions[f] for f in features]].astype(np.float32)
        self._matrix32[key] = out
        return out

    def frame(self) -> pd.DataFrame:
        """The rows as a DataFrame (built once)."""
        import pandas as pd

        if self._frame is None:
            if self.matrix is not None:
                self._frame = pd.DataFrame(self.matrix, columns=self.columns, copy=False)
            else:
                assert self.values is not None
                self._frame = pd.DataFrame(self.values, columns=self.columns)
        return self._frame

    @classmethod
    def concat(cls, parts: Sequence[Rows]) -> Rows:
        """Rows of several requests with the same features, one after the other."""
        import numpy as np
        import pandas as pd

        first = parts[0]
        if len(parts) == 1:
            return first
        if all(p.matrix is not None and p.columns == first.columns for p in parts):
            return cls(first.columns, matrix=np.vstack([p.matrix for p in parts]))  # type: ignore[misc]
        return cls.from_frame(pd.concat([p.frame() for p in parts], ignore_index=True))

    def slice(self, start: int, stop: int) -> Rows:
        """Rows ``start:stop`` (a view of the matrix)."""
        if self.matrix is not None:
            return Rows(self.columns, matrix=self.matrix[start:stop])
        return Rows.from_frame(self.frame().iloc[start:stop].reset_index(drop=True))

    def __repr__(self) -> str:
        return f"Rows({len(self)} x {self.columns})"


def as_frame(rows: Rows | pd.DataFrame) -> pd.DataFrame:
    """A DataFrame of ``rows`` (a DataFrame as is)."""
    return rows.frame() if isinstance(rows, Rows) else rows
