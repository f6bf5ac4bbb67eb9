"""The target of a training run: its task, its classes and the label vector XGBoost sees.

Every training entry point (tune, train, fine-tune, stacking) turns the target
column into a :class:`Target` first, so they all decide the task the same way
and fail the same way, before anything is trained or written:

* ``task="auto"`` asks :func:`rayops.tasks.infer_task`, unless an objective is
  given: an objective names its task (``binary:logistic`` is binary), so a
  search space or a retrain that carries one never needs ``--task`` again;
* a named task checks the target against it (two classes for binary, at least
  three for multiclass, numbers for regression) and the objective against it;
* classification labels (strings, categoricals, bools, small integers) become
  class indices ``0..K-1`` in :class:`~rayops.tasks.Labels` order, which is
  what the card records as ``classes``.

Example:
    >>> import pandas as pd
    >>> t = prepare_target(pd.DataFrame({"y": ["no", "yes", "no"]}), "y")
    >>> str(t.task), t.classes, t.y.tolist(), t.objective
    ('binary', ['no', 'yes'], [0, 1, 0], 'binary:logistic')
    >>> prepare_target(pd.DataFrame({"y": ["a", "a"]}), "y")
    Traceback (most recent call last):
    ...
    rayops.errors.InvalidInputError: A classifier needs at least two classes; the target \
has 1 (['a']). Check the target column, or train a regression model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rayops.errors import InvalidInputError
from rayops.tasks import Label, Labels, Task, TaskKind, infer_task
from rayops.training.cv import Scoring

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["TASK_CHOICES", "Target", "prepare_target", "resolve_task"]

#: What ``--task`` accepts.
TASK_CHOICES = ("auto", "regression", "binary", "multiclass")


def check_task_name(task: str | Task | None) -> str:
    """``task`` as one of :data:`TASK_CHOICES`; a sentence naming them otherwise.

    Example:
        >>> check_task_name("Binary"), check_task_name(None)
        ('binary', 'auto')
    """
    if isinstance(task, Task):
        return task.kind.value
    name = "auto" if task is None else str(task).lower()
    if name not in TASK_CHOICES:
        raise InvalidInputError(
            f"Unknown task {task!r}: use auto, regression, binary or multiclass."
        )
    return name


def resolve_task(target: pd.Series, requested: str | Task | None, objective: str | None) -> Task:
    """The task of ``target``: ``requested``, else the objective's, else inferred.

    The objective must fit the task (:meth:`Task.check_objective`).
    """
    name = check_task_name(requested)
    if name == "auto" and objective:
        name = Task.of_objective(objective).kind.value
    task = infer_task(target, name)
    if task.kind is TaskKind.MULTICLASS and len(Labels.infer(target)) < 3:
        raise InvalidInputError(
            "--task multiclass needs at least three classes; the target has two: use --task binary."
        )
    task.check_objective(objective)
    return task


@dataclass(frozen=True)
class Target:
    """A target column ready for XGBoost, with what the card records about it.

    Attributes:
        name: the column.
        task: regression, binary or multiclass.
        labels: the ordered classes of a classifier (None for regression).
        y: float64 values (regression) or int64 class indices (classification).
        objective: the XGBoost objective (the task's default unless one was given).
    """

    name: str
    task: Task
    labels: Labels | None
    y: np.ndarray
    objective: str

    @property
    def classes(self) -> list[Label] | None:
        return None if self.labels is None else list(self.labels.classes)

    @property
    def n_classes(self) -> int:
        return 0 if self.labels is None else len(self.labels)

    def scoring(self, tolerance: float = 5.0) -> Scoring:
        """How folds and holdouts of this target are scored (the task's metrics)."""
        return Scoring(self.task, self.n_classes, tolerance)

    def native(self) -> dict[str, Any]:
        """The XGBoost parameters the task fixes: the objective and (multiclass) ``num_class``."""
        out: dict[str, Any] = {"objective": self.objective}
        if self.task.kind is TaskKind.MULTICLASS:
            out["num_class"] = self.n_classes
        return out

    def card(self) -> dict[str, Any]:
        """The registry's task fields (``Registry.register(**target.card())``)."""
        return {
            "task": self.task.kind.value,
            "classes": self.classes,
            "objective": self.objective,
            "threshold": 0.5 if self.task.kind is TaskKind.BINARY else None,
            "target": self.name,
        }

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """The label vector of other rows of the same target (a holdout, new data)."""
        return _vector(frame, self.name, self.task, self.labels)

    def describe(self) -> dict[str, Any]:
        """A JSON-ready summary for run records: task, classes with row counts, objective."""
        import numpy as np

        out: dict[str, Any] = {
            "task": self.task.kind.value,
            "objective": self.objective,
            "classes": self.classes,
        }
        if self.labels is not None:
            counts = np.bincount(self.y, minlength=self.n_classes)
            out["class_counts"] = {
                str(c): int(n) for c, n in zip(self.classes or [], counts, strict=True)
            }
        return out


def _vector(frame: pd.DataFrame, name: str, task: Task, labels: Labels | None) -> np.ndarray:
    import numpy as np

    if name not in frame.columns:
        raise InvalidInputError(
            f"Target column {name!r} is not in the data; columns: {list(frame.columns)}."
        )
    series = frame[name]
    if labels is not None:
        return labels.encode_series(series, where=f"target {name!r}")
    if series.isna().any():
        raise InvalidInputError(f"Target {name!r} has missing values; drop those rows first.")
    try:
        y: np.ndarray = series.to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"A {task} target must be numeric; {name!r} holds {series.dtype} values."
        ) from None
    return y


def prepare_target(
    frame: pd.DataFrame,
    name: str,
    *,
    task: str | Task | None = "auto",
    objective: str | None = None,
    labels: Labels | None = None,
) -> Target:
    """The :class:`Target` of column ``name`` (see the module docstring).

    Args:
        task: ``auto``, ``regression``, ``binary`` or ``multiclass``.
        objective: the XGBoost objective asked for (None: the task's default).
        labels: known classes (fine-tuning a registered classifier): rows are
            encoded with them instead of the classes found in ``frame``.

    Raises:
        InvalidInputError: unknown task or column, a target that does not fit the
            task (one class, few integers under ``auto``, text for regression),
            an objective that does not fit it, or missing labels.
    """
    if name not in frame.columns:
        raise InvalidInputError(
            f"Target column {name!r} is not in the data; columns: {list(frame.columns)}."
        )
    series = frame[name]
    if labels is not None:
        kind = Task.of(labels.kind if task in (None, "auto") else task)
        kind.check_objective(objective)
    else:
        if series.isna().any():
            raise InvalidInputError(
                f"Target {name!r} has {int(series.isna().sum())} missing values; drop those "
                "rows first."
            )
        kind = resolve_task(series, task, objective)
        labels = Labels.infer(series) if kind.is_classification else None
    return Target(
        name=name,
        task=kind,
        labels=labels,
        y=_vector(frame, name, kind, labels),
        objective=kind.check_objective(objective),
    )
