"""Fold plans and the metrics every fold is scored with.

A :class:`FoldPlan` is computed once per run from a seed and then shared by every
configuration, the baseline and feature selection, so their scores compare like
with like. A classifier's k-fold plan is stratified (every fold keeps the class
shares of the whole), exactly scikit-learn's
``StratifiedKFold(shuffle=True, random_state=seed)``.

A :class:`Scoring` says which metrics a fold gets: RMSE, MAE, R² and accuracy
within ±T for regression (:func:`regression_metrics`), the task's scikit-learn
metrics (:meth:`rayops.tasks.Task.metrics`) for classification.

Example:
    >>> import numpy as np
    >>> plan = FoldPlan.kfold(10, folds=5, seed=0)
    >>> len(plan), sorted(np.concatenate([t for _, t in plan.splits]).tolist()) == list(range(10))
    (5, True)
    >>> regression_metrics(np.array([1.0, 2.0]), np.array([1.0, 9.0]), tolerance=5.0)["accuracy"]
    0.5
    >>> s = Scoring(Task.of("binary"), n_classes=2)
    >>> round(s.score(np.array([0, 1]), np.array([0.2, 0.6]))["logloss"], 4)
    0.367
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rayops.errors import InvalidInputError
from rayops.tasks import Task

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["METRICS", "FoldPlan", "Scoring", "aggregate", "regression_metrics"]

#: Regression metric names, in the order they are reported.
METRICS = ("rmse", "mae", "r2", "accuracy")


@dataclass(frozen=True)
class Scoring:
    """How a fold (or any set of rows) is scored: the task's metrics.

    Small and picklable: it travels to Tune trials and Ray tasks with the folds.
    """

    task: Task = field(default_factory=lambda: Task.of("regression"))
    n_classes: int = 0
    tolerance: float = 5.0

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metric names of every fold, in report order."""
        return self.task.metric_names

    @property
    def num_class(self) -> int | None:
        """XGBoost's ``num_class``: only multiclass objectives take it."""
        return self.n_classes if self.task.kind.value == "multiclass" else None

    def probabilities(self, raw: Any) -> np.ndarray:
        """XGBoost's output as the task's output (``[N]`` values or ``[N, K]`` probabilities)."""
        return self.task.probabilities(raw, self.n_classes)

    def score(self, y: Any, raw: Any) -> dict[str, float]:
        """Every metric of the task for true ``y`` (class indices) and XGBoost output ``raw``.

        A metric that is undefined on these rows (AUC of a fold with one class) is NaN.
        """
        if not self.task.is_classification:
            return regression_metrics(y, raw, tolerance=self.tolerance)
        out = self.task.metrics(y, self.probabilities(raw), tolerance=self.tolerance)
        return {m: math.nan if (v := out.get(m)) is None else float(v) for m in self.metrics}


@dataclass(frozen=True)
class FoldPlan:
    """Train/test row positions for each fold, plus how they were made.

    ``splits`` holds ``(train_idx, test_idx)`` pairs of int64 positions.
    """

    strategy: str
    seed: int
    splits: tuple[tuple[np.ndarray, np.ndarray], ...]

    def __len__(self) -> int:
        return len(self.splits)

    @classmethod
    def kfold(cls, n_rows: int, *, folds: int = 5, seed: int = 0) -> FoldPlan:
        """Shuffled k-fold, identical to ``sklearn.model_selection.KFold(folds, shuffle=True,
        random_state=seed)``."""
        from sklearn.model_selection import KFold

        _check(n_rows, folds)
        import numpy as np

        split = KFold(n_splits=folds, shuffle=True, random_state=seed).split(np.zeros(n_rows))
        return cls("kfold", seed, _freeze(split))

    @classmethod
    def stratified(cls, y: np.ndarray, *, folds: int = 5, seed: int = 0) -> FoldPlan:
        """Shuffled stratified k-fold on class indices ``y``, identical to
        ``sklearn.model_selection.StratifiedKFold(folds, shuffle=True, random_state=seed)``.

        Every class needs at least ``folds`` rows, so each test fold holds each class.
        """
        import numpy as np
        from sklearn.model_selection import StratifiedKFold

        labels = np.asarray(y)
        _check(len(labels), folds)
        values, counts = np.unique(labels, return_counts=True)
        if counts.min() < folds:
            raise InvalidInputError(
                f"Stratified {folds}-fold CV needs at least {folds} rows of every class; class "
                f"index {values[counts.argmin()]} has {counts.min()}. Use fewer folds."
            )
        split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(
            np.zeros(len(labels)), labels
        )
        return cls("stratified", seed, _freeze(split))

    @classmethod
    def group(cls, groups: pd.Series | np.ndarray, *, folds: int = 5, seed: int = 0) -> FoldPlan:
        """Group k-fold: all rows of a group land in the same test fold."""
        import numpy as np
        from sklearn.model_selection import GroupKFold

        g = np.asarray(groups)
        _check(len(g), folds)
        n_groups = len(np.unique(g))
        if n_groups < folds:
            raise InvalidInputError(
                f"Group k-fold with {folds} folds needs at least {folds} groups; found {n_groups}."
            )
        try:
            splitter = GroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        except TypeError:  # scikit-learn < 1.6: no shuffle, groups balanced by size
            splitter = GroupKFold(n_splits=folds)
        split = splitter.split(np.zeros(len(g)), groups=g)
        return cls("group", seed, _freeze(split))

    @classmethod
    def time(cls, times: pd.Series | np.ndarray, *, folds: int = 5) -> FoldPlan:
        """Time-ordered splits: each fold tests on a later block and trains on all before it.

        Rows are ordered by ``times`` first, so the input order does not matter.
        """
        import numpy as np
        from sklearn.model_selection import TimeSeriesSplit

        t = np.asarray(times)
        _check(len(t), folds + 1)
        order = np.argsort(t, kind="stable")
        splits = TimeSeriesSplit(n_splits=folds).split(order)
        return cls("time", 0, tuple((order[a], order[b]) for a, b in _freeze(splits)))

    @classmethod
    def for_frame(
        cls,
        frame: pd.DataFrame,
        *,
        strategy: str = "kfold",
        folds: int = 5,
        seed: int = 0,
        column: str | None = None,
        stratify: np.ndarray | None = None,
    ) -> FoldPlan:
        """The plan for ``frame`` by strategy name (``kfold``, ``group``, ``time``).

        With ``stratify`` (a classifier's class indices) ``kfold`` is stratified.
        """
        if strategy == "kfold":
            if stratify is not None:
                return cls.stratified(stratify, folds=folds, seed=seed)
            return cls.kfold(len(frame), folds=folds, seed=seed)
        if strategy not in ("group", "time"):
            raise InvalidInputError(f"Unknown CV strategy {strategy!r}; use kfold, group or time.")
        if column is None or column not in frame.columns:
            raise InvalidInputError(
                f"CV strategy {strategy!r} needs a column present in the data "
                f"(cv.column); got {column!r}."
            )
        if strategy == "group":
            return cls.group(frame[column], folds=folds, seed=seed)
        return cls.time(frame[column], folds=folds)

    def describe(self) -> dict[str, Any]:
        """A JSON-ready summary (fold sizes), stored with each run."""
        return {
            "strategy": self.strategy,
            "seed": self.seed,
            "folds": len(self),
            "test_sizes": [len(t) for _, t in self.splits],
        }


def _check(n_rows: int, folds: int) -> None:
    if folds < 2 or n_rows < folds:
        raise InvalidInputError(f"Cannot make {folds} folds from {n_rows} rows.")


def _freeze(split: Any) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    import numpy as np

    return tuple((np.asarray(a, np.int64), np.asarray(b, np.int64)) for a, b in split)


def regression_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, *, tolerance: float = 5.0
) -> dict[str, float]:
    """RMSE, MAE, R² and accuracy within ±``tolerance`` of the truth."""
    import numpy as np

    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    err = p - y
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    ss_res = float(np.sum(err**2))
    return {
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
        "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0,
        "accuracy": float(np.mean(np.abs(err) <= tolerance)),
    }


def aggregate(
    per_fold: list[dict[str, float]], metrics: Sequence[str] = METRICS
) -> dict[str, float]:
    """``<metric>_mean`` and ``<metric>_std`` (population std) over folds.

    Folds where a metric is undefined (NaN) are left out of its mean; a metric
    undefined on every fold is NaN.
    """
    import numpy as np

    out: dict[str, float] = {}
    for m in metrics:
        vals = np.array([f[m] for f in per_fold], dtype=np.float64)
        vals = vals[~np.isnan(vals)]
        out[f"{m}_mean"] = float(vals.mean()) if len(vals) else math.nan
        out[f"{m}_std"] = float(vals.std()) if len(vals) else math.nan
    return out
