"""The learning task of a model: regression, binary or multiclass classification.

A :class:`Task` owns everything that differs between them, so every stage (tune,
train, registry, serving, monitoring, rollouts, online learning, retraining,
analytics) asks the task instead of assuming a numeric target:

* the XGBoost objectives it allows, and its default one;
* its metrics, computed with scikit-learn, its primary metric and that metric's
  direction;
* the per-row loss the promotion gate (:mod:`rayops.gate`) tests on: squared
  error for regression (its mean is the MSE; the primary RMSE is its root),
  the negative log-likelihood of the true class for classification (its mean is
  the log loss);
* how labels are encoded for XGBoost (class indices ``0..K-1`` in the order of
  :class:`Labels`) and decoded back to the user's values.

Predictions of a classifier are always an ``[N, K]`` matrix of class
probabilities in :attr:`Labels.classes` order (a binary model's ``[N]``
probability of the second class becomes ``[1 - p, p]``); a regression model's are
an ``[N]`` vector.

Example:
    >>> import numpy as np
    >>> task = Task.of("binary")
    >>> task.primary_metric, task.direction, task.default_objective
    ('logloss', 'min', 'binary:logistic')
    >>> labels = Labels.infer(["no", "yes", "no"])
    >>> labels.classes, labels.encode(["yes", "no"]).tolist()
    (['no', 'yes'], [1, 0])
    >>> p = task.probabilities(np.array([0.9, 0.2]), 2)
    >>> labels.decode(task.predicted_index(p, threshold=0.5))
    ['yes', 'no']
    >>> m = task.metrics(labels.encode(["yes", "no"]), p, labels=labels)
    >>> round(m["logloss"], 4), m["accuracy"]
    (0.1643, 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from rayops.errors import InvalidInputError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "CLASSIFICATION",
    "Label",
    "Labels",
    "Task",
    "TaskKind",
    "expected_calibration_error",
    "infer_task",
    "normalized",
]

#: A class label as users give it: a string, a bool or an integer.
Label = str | bool | int

#: Probabilities are clipped to [EPS, 1 - EPS] before a logarithm.
EPS = 1e-15

#: Bins of the expected calibration error.
ECE_BINS = 10


class TaskKind(StrEnum):
    """The three learning tasks rayops serves."""

    REGRESSION = "regression"
    BINARY = "binary"
    MULTICLASS = "multiclass"


CLASSIFICATION = (TaskKind.BINARY, TaskKind.MULTICLASS)

_OBJECTIVES: dict[TaskKind, tuple[str, ...]] = {
    TaskKind.REGRESSION: (
        "reg:squarederror",
        "reg:absoluteerror",
        "reg:pseudohubererror",
        "reg:squaredlogerror",
        "reg:logistic",
        "reg:quantileerror",
        "reg:gamma",
        "reg:tweedie",
        "count:poisson",
    ),
    # Only objectives whose output is a probability: binary:logitraw and binary:hinge
    # give margins or hard labels, multi:softmax gives labels, and none can be served
    # as probabilities or judged on log loss.
    TaskKind.BINARY: ("binary:logistic",),
    TaskKind.MULTICLASS: ("multi:softprob",),
}

_METRICS: dict[TaskKind, tuple[str, ...]] = {
    TaskKind.REGRESSION: ("rmse", "mae", "r2", "accuracy"),
    TaskKind.BINARY: (
        "logloss", "auc", "pr_auc", "accuracy", "precision", "recall", "f1", "brier", "ece",
        "positive_rate",
    ),
    TaskKind.MULTICLASS: ("logloss", "accuracy", "macro_f1", "brier"),
}  # fmt: skip

#: Metrics where higher is better; every other metric is better lower.
HIGHER_IS_BETTER = frozenset(
    {"r2", "accuracy", "auc", "pr_auc", "precision", "recall", "f1", "macro_f1"}
)


@dataclass(frozen=True)
class Task:
    """One of the three tasks and what it decides; get one with :meth:`of`."""

    kind: TaskKind

    @classmethod
    def of(cls, kind: TaskKind | str | Task | None) -> Task:
        """The task named ``kind`` (None: regression, what a card without a task means)."""
        if isinstance(kind, Task):
            return kind
        if kind is None:
            return cls(TaskKind.REGRESSION)
        try:
            return cls(TaskKind(str(kind).lower()))
        except ValueError:
            raise InvalidInputError(
                f"Unknown task {kind!r}: use regression, binary or multiclass "
                "(or auto to infer it from the target)."
            ) from None

    # --- what the task allows --------------------------------------------------------
    @property
    def is_classification(self) -> bool:
        return self.kind in CLASSIFICATION

    @property
    def objectives(self) -> tuple[str, ...]:
        """XGBoost objectives a model of this task may be trained with."""
        return _OBJECTIVES[self.kind]

    @property
    def default_objective(self) -> str:
        return self.objectives[0]

    @classmethod
    def of_objective(cls, objective: str | None) -> Task:
        """The task an XGBoost objective belongs to (None or unknown: regression).

        Example:
            >>> str(Task.of_objective("multi:softprob")), str(Task.of_objective("reg:gamma"))
            ('multiclass', 'regression')
        """
        for kind, allowed in _OBJECTIVES.items():
            if objective in allowed:
                return cls(kind)
        if objective and objective.startswith(("binary:", "multi:")):
            kind = TaskKind.BINARY if objective.startswith("binary:") else TaskKind.MULTICLASS
            return cls(kind)
        return cls(TaskKind.REGRESSION)

    def check_objective(self, objective: str | None) -> str:
        """``objective`` (default: the task's), refused with a sentence if it does not fit."""
        chosen = objective or self.default_objective
        if chosen not in self.objectives:
            raise InvalidInputError(
                f"Objective {chosen!r} does not fit a {self.kind.value} task; use one of "
                f"{', '.join(self.objectives)}."
            )
        return chosen

    # --- metrics -----------------------------------------------------------------------
    @property
    def metric_names(self) -> tuple[str, ...]:
        return _METRICS[self.kind]

    @property
    def primary_metric(self) -> str:
        """The metric that selects, gates and alerts by default (``rmse`` or ``logloss``)."""
        return self.metric_names[0]

    @property
    def direction(self) -> str:
        """``"min"`` or ``"max"``: which way the primary metric is better."""
        return direction_of(self.primary_metric)

    def check_metric(self, metric: str | None) -> str:
        """A selection metric of this task (default: the primary one)."""
        chosen = metric or self.primary_metric
        if chosen not in self.metric_names:
            raise InvalidInputError(
                f"Metric {chosen!r} is not a {self.kind.value} metric; use one of "
                f"{', '.join(self.metric_names)}."
            )
        return chosen

    def metrics(
        self,
        y: Any,
        predictions: Any,
        *,
        labels: Labels | None = None,
        tolerance: float = 5.0,
        threshold: float = 0.5,
        weights: Any = None,
    ) -> dict[str, float | None]:
        """Every metric of the task, from scikit-learn.

        ``y`` is the target (regression) or the encoded class indices
        (classification); ``predictions`` the ``[N]`` values or ``[N, K]``
        probabilities. A metric that is undefined on these rows (AUC with one class
        present) is None. Multiclass also reports ``recall[<class>]`` per class.
        """
        import numpy as np

        y = np.asarray(y)
        pred = np.asarray(predictions, dtype=np.float64)
        if not len(y):
            return dict.fromkeys(self.metric_names)
        if self.kind is TaskKind.REGRESSION:
            return _regression_metrics(y.astype(np.float64), pred, tolerance, weights)
        return _classification_metrics(self, y.astype(np.int64), pred, labels, threshold, weights)

    # --- per-row loss and outputs -------------------------------------------------------
    def row_loss(self, y: Any, predictions: Any) -> np.ndarray:
        """The per-row loss the promotion gate tests on (lower is better)."""
        import numpy as np

        pred = np.asarray(predictions, dtype=np.float64)
        if self.kind is TaskKind.REGRESSION:
            return np.square(np.asarray(y, dtype=np.float64) - pred)
        idx = np.asarray(y, dtype=np.int64)
        p = pred[np.arange(len(idx)), idx]
        return -np.log(np.clip(p, EPS, 1.0))

    def metric_of_loss(self, mean_loss: float) -> float:
        """The primary metric from a mean per-row loss (RMSE = sqrt(MSE); log loss as is)."""
        return math.sqrt(mean_loss) if self.kind is TaskKind.REGRESSION else mean_loss

    def probabilities(self, raw: Any, n_classes: int) -> np.ndarray:
        """XGBoost's output as class probabilities ``[N, K]`` (regression: ``[N]`` values)."""
        import numpy as np

        out = np.asarray(raw, dtype=np.float64)
        if self.kind is TaskKind.REGRESSION:
            return out.reshape(len(out), -1)[:, 0] if out.ndim > 1 else out
        if self.kind is TaskKind.BINARY:
            p = out.reshape(len(out), -1)[:, -1] if out.ndim > 1 else out
            return np.column_stack([1.0 - p, p])
        # XGBoost's softmax is float32: its rows sum to 1 only within ~1e-7, which
        # scikit-learn's log loss refuses (a warning) once the values are float64.
        probs: np.ndarray = out.reshape(len(out), n_classes)
        normed: np.ndarray = probs / probs.sum(axis=1, keepdims=True)
        return normed

    def predicted_index(self, probabilities: Any, *, threshold: float = 0.5) -> np.ndarray:
        """Class indices from ``[N, K]`` probabilities: the threshold on the second class
        for binary, the most probable class for multiclass."""
        import numpy as np

        p = np.asarray(probabilities, dtype=np.float64)
        if self.kind is TaskKind.BINARY:
            out: np.ndarray = (p[:, 1] >= threshold).astype(np.int64)
        else:
            out = np.argmax(p, axis=1).astype(np.int64)
        return out

    def __str__(self) -> str:
        return self.kind.value


def direction_of(metric: str) -> str:
    """``"max"`` for metrics where higher is better, else ``"min"``.

    Example:
        >>> direction_of("auc"), direction_of("recall[yes]"), direction_of("rmse")
        ('max', 'max', 'min')
    """
    return "max" if metric.partition("[")[0] in HIGHER_IS_BETTER else "min"


def _regression_metrics(
    y: np.ndarray, pred: np.ndarray, tolerance: float, weights: Any
) -> dict[str, float | None]:
    import numpy as np
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    within = (np.abs(y - pred) <= tolerance).astype(np.float64)
    return {
        "rmse": float(np.sqrt(mean_squared_error(y, pred, sample_weight=weights))),
        "mae": float(mean_absolute_error(y, pred, sample_weight=weights)),
        "r2": float(r2_score(y, pred, sample_weight=weights)) if len(y) > 1 else None,
        "accuracy": float(np.average(within, weights=weights)),
    }


def _classification_metrics(
    task: Task,
    y: np.ndarray,
    proba: np.ndarray,
    labels: Labels | None,
    threshold: float,
    weights: Any,
) -> dict[str, float | None]:
    import numpy as np
    from sklearn import metrics as m

    k = proba.shape[1]
    every = list(range(k))
    predicted = task.predicted_index(proba, threshold=threshold)
    clipped = normalized(proba)
    out: dict[str, float | None] = {
        "logloss": float(m.log_loss(y, clipped, labels=every, sample_weight=weights)),
        "accuracy": float(m.accuracy_score(y, predicted, sample_weight=weights)),
    }
    if task.kind is TaskKind.BINARY:
        both = len(np.unique(y)) == 2
        p1 = proba[:, 1]
        out.update(
            auc=float(m.roc_auc_score(y, p1, sample_weight=weights)) if both else None,
            pr_auc=float(m.average_precision_score(y, p1, sample_weight=weights)) if both else None,
            precision=float(
                m.precision_score(y, predicted, zero_division=0, sample_weight=weights)
            ),
            recall=float(m.recall_score(y, predicted, zero_division=0, sample_weight=weights)),
            f1=float(m.f1_score(y, predicted, zero_division=0, sample_weight=weights)),
            brier=float(m.brier_score_loss(y, p1, sample_weight=weights)),
            ece=expected_calibration_error(y, p1),
            positive_rate=float(np.average(predicted, weights=weights)),
        )
        return {name: out.get(name) for name in task.metric_names}
    out["macro_f1"] = float(
        m.f1_score(y, predicted, labels=every, average="macro", zero_division=0)
    )
    out["brier"] = float(m.brier_score_loss(y, proba, labels=every, sample_weight=weights))
    recalls = m.recall_score(y, predicted, labels=every, average=None, zero_division=0)
    names = labels.classes if labels is not None else every
    ordered: dict[str, float | None] = {name: out.get(name) for name in task.metric_names}
    for name, r in zip(names, recalls, strict=True):
        ordered[f"recall[{name}]"] = float(r)
    return ordered


def normalized(proba: Any) -> np.ndarray:
    """``[N, K]`` probabilities clipped away from 0 and rows summing to exactly 1 (what a
    logarithm and scikit-learn's ``log_loss`` need; float32 outputs sum to 1 ± 1e-7)."""
    import numpy as np

    p = np.clip(np.asarray(proba, dtype=np.float64), EPS, 1.0)
    out: np.ndarray = p / p.sum(axis=1, keepdims=True)
    return out


def expected_calibration_error(y: Any, p: Any, bins: int = ECE_BINS) -> float:
    """Expected calibration error of binary probabilities ``p`` (equal-width bins).

    The share-weighted mean, over bins of predicted probability, of
    ``|observed positive rate - mean predicted probability|`` (Naeini et al., 2015).
    scikit-learn's ``calibration_curve`` gives the per-bin rates but not the
    weights, so the sum is written here.

    Example:
        >>> expected_calibration_error([0, 1, 1, 0], [0.1, 0.9, 0.8, 0.3])
        0.175
    """
    import numpy as np

    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if not len(y):
        return 0.0
    idx = np.minimum((p * bins).astype(np.int64), bins - 1)
    total = 0.0
    for b in np.unique(idx):
        mask = idx == b
        total += mask.mean() * abs(float(y[mask].mean()) - float(p[mask].mean()))
    return round(float(total), 12)


# --- labels ------------------------------------------------------------------------------
def _plain(value: Any) -> Label:
    """A label as a JSON-ready Python value (numpy scalars unwrapped)."""
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise InvalidInputError(
        f"Class label {value!r} must be a string, a bool or an integer "
        f"(got {type(value).__name__})."
    )


def _key(value: Any) -> tuple[str, Any]:
    # bool and int compare equal in Python (True == 1): key by kind so they never mix.
    return ("bool" if isinstance(value, bool) else type(value).__name__, value)


class Labels:
    """The ordered classes of a classifier; their order is the output column order.

    Args:
        classes: the distinct labels, in output order (at least two, one type).
    """

    def __init__(self, classes: Sequence[Any]) -> None:
        plain = [_plain(c) for c in classes]
        if len(plain) < 2:
            raise InvalidInputError(
                f"A classifier needs at least two classes; the target has {len(plain)} "
                f"({plain}). Check the target column, or train a regression model."
            )
        kinds = {_key(c)[0] for c in plain}
        if len(kinds) > 1:
            raise InvalidInputError(f"Class labels must share one type, got {plain}.")
        if len({_key(c) for c in plain}) != len(plain):
            raise InvalidInputError(f"Class labels must be distinct, got {plain}.")
        self.classes: list[Label] = plain
        self._index = {_key(c): i for i, c in enumerate(plain)}

    @classmethod
    def infer(cls, values: Iterable[Any]) -> Labels:
        """The sorted distinct non-null values of a target (``False < True``)."""
        import pandas as pd

        series = pd.Series(list(values) if not hasattr(values, "dropna") else values)
        distinct = [_plain(v) for v in pd.unique(series.dropna())]
        return cls(sorted(distinct, key=lambda v: (str(type(v)), v)))

    @property
    def kind(self) -> TaskKind:
        return TaskKind.BINARY if len(self.classes) == 2 else TaskKind.MULTICLASS

    def __len__(self) -> int:
        return len(self.classes)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Labels) and [_key(c) for c in self.classes] == [
            _key(c) for c in other.classes
        ]

    def __hash__(self) -> int:
        return hash(tuple(_key(c) for c in self.classes))

    def __repr__(self) -> str:
        return f"Labels({self.classes!r})"

    def index_of(self, value: Any, *, where: str = "label") -> int:
        """The class index of one label; InvalidInputError naming it if it is unknown."""
        try:
            return self._index[_key(_plain(value))]
        except (KeyError, InvalidInputError):
            raise InvalidInputError(
                f"{where} {value!r} is not a class of this model; its classes are "
                f"{self.classes} (labels must match in type too, e.g. 1 is not '1')."
            ) from None

    def encode(self, values: Iterable[Any], *, where: str = "label") -> np.ndarray:
        """Class indices of ``values``; the first unknown label is an error that names it."""
        import numpy as np

        return np.fromiter(
            (self.index_of(v, where=f"{where}[{i}]") for i, v in enumerate(values)),
            dtype=np.int64,
        )

    def encode_series(self, series: pd.Series, *, where: str = "target") -> np.ndarray:
        """Vectorised :meth:`encode` of a pandas Series (training data)."""
        import numpy as np
        import pandas as pd

        if series.isna().any():
            raise InvalidInputError(
                f"The {where} has {int(series.isna().sum())} missing labels; drop those rows."
            )
        values = series.astype(object).map(_plain)
        codes = pd.Series(
            [self._index.get(_key(v), -1) for v in values], index=series.index, dtype=np.int64
        )
        if (codes < 0).any():
            unknown = values[codes < 0].iloc[0]
            raise InvalidInputError(
                f"The {where} holds {unknown!r}, which is not one of the classes {self.classes}."
            )
        out: np.ndarray = codes.to_numpy()
        return out

    def decode(self, indices: Iterable[int]) -> list[Label]:
        """The labels of class indices."""
        return [self.classes[int(i)] for i in indices]


def infer_task(target: pd.Series, requested: str | TaskKind | None = "auto") -> Task:
    """The task of a target column: ``requested`` unless it is ``auto``.

    ``auto``: a bool, string or categorical target is classification (binary or
    multiclass by its number of classes); a float target is regression; an
    integer target is regression when it has many distinct values, and an error
    asking for ``--task`` when it has few (0/1 may be a label or a count).

    Example:
        >>> import pandas as pd
        >>> str(infer_task(pd.Series(["a", "b", "c"]))), str(infer_task(pd.Series([0.5, 1.5])))
        ('multiclass', 'regression')
        >>> infer_task(pd.Series([0, 1, 1, 0]))
        Traceback (most recent call last):
        ...
        rayops.errors.InvalidInputError: The target holds integers with only 2 distinct \
values ([0, 1]): say --task binary to classify them or --task regression to predict them \
as numbers.
    """
    import pandas as pd

    if requested not in (None, "auto"):
        task = Task.of(requested)
        if task.is_classification:
            labels = Labels.infer(target)
            if task.kind is TaskKind.BINARY and len(labels) != 2:
                raise InvalidInputError(
                    f"--task binary needs exactly two classes; the target has {len(labels)}: "
                    f"{labels.classes[:10]}."
                )
        elif not pd.api.types.is_numeric_dtype(target) or pd.api.types.is_bool_dtype(target):
            raise InvalidInputError(
                f"--task regression needs a numeric target; this one is {target.dtype}."
            )
        return task
    dtype = target.dtype
    if (
        pd.api.types.is_bool_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
        or pd.api.types.is_object_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype)
    ):
        return Task(Labels.infer(target).kind)
    if pd.api.types.is_float_dtype(dtype):
        return Task(TaskKind.REGRESSION)
    if pd.api.types.is_integer_dtype(dtype):
        distinct = sorted(int(v) for v in pd.unique(target.dropna()))
        if len(distinct) > FEW_INTEGERS:
            return Task(TaskKind.REGRESSION)
        shown = distinct if len(distinct) <= 10 else [*distinct[:10], "..."]
        raise InvalidInputError(
            f"The target holds integers with only {len(distinct)} distinct values ({shown}): "
            "say --task binary to classify them or --task regression to predict them "
            "as numbers." if len(distinct) == 2 else
            f"The target holds integers with only {len(distinct)} distinct values ({shown}): "
            "say --task multiclass to classify them or --task regression to predict them "
            "as numbers."
        )  # fmt: skip
    raise InvalidInputError(f"Cannot learn a target of type {dtype}; use numbers or labels.")


#: An integer target with at most this many distinct values needs an explicit --task.
FEW_INTEGERS = 20
