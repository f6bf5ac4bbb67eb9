"""What each target column of a feature set is for: its task and, for classifiers, classes.

Decided once at ingest by the same rule training uses (:func:`rayops.tasks.infer_task`),
or from the task the writer names, and kept in the manifest's roles, so that
``rayops tune`` / ``train --task auto`` on the feature set learn what it was written for.

Example:
    >>> import pandas as pd, pyarrow as pa
    >>> frame = pd.DataFrame({"churned": ["no", "yes", "no"], "spend": [1.5, 2.0, 0.5]})
    >>> tasks = target_tasks(pa.Schema.from_pandas(frame), ["churned", "spend"], None,
    ...                      lambda c: frame[c])
    >>> tasks["churned"].task, tasks["churned"].classes, tasks["spend"].task
    ('binary', ['no', 'yes'], 'regression')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from rayops.errors import InvalidInputError
from rayops.features.manifest import TargetTask
from rayops.tasks import Labels, infer_task

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["check_requested", "target_tasks"]

TASKS = ("auto", "regression", "binary", "multiclass")


def check_requested(task: str | Mapping[str, str] | None, targets: list[str]) -> dict[str, str]:
    """``task`` per target column (one name for every target, or a mapping), checked."""
    if task is None or (task == "auto" and not targets):
        return {}
    if not targets:
        raise InvalidInputError("A task needs a target column: give --target COL too.")
    wanted = dict(task) if isinstance(task, Mapping) else {t: task for t in targets}
    unknown = sorted(set(wanted) - set(targets))
    if unknown:
        raise InvalidInputError(
            f"A task was given for {unknown}, which are not targets ({targets})."
        )
    for column, name in wanted.items():
        if name not in TASKS:
            raise InvalidInputError(
                f"Unknown task {name!r} for target {column!r}: use one of {', '.join(TASKS)}."
            )
    return wanted


def target_tasks(
    schema: pa.Schema,
    targets: list[str],
    task: str | Mapping[str, str] | None,
    read_column: Callable[[str], pd.Series],
) -> dict[str, TargetTask]:
    """Each target's task and classes. ``read_column`` reads one column (not for float
    targets left to ``auto``: their task is regression by type alone).

    A task the writer named must fit the data (binary needs two classes, regression a
    number): otherwise InvalidInputError, before anything is published. Left to
    ``auto``, a target the data cannot decide is recorded with ``task=None`` and the
    reason.
    """
    import pyarrow as pa

    wanted = check_requested(task, targets)
    out: dict[str, TargetTask] = {}
    for column in targets:
        requested = wanted.get(column, "auto")
        if requested == "auto" and pa.types.is_floating(schema.field(column).type):
            out[column] = TargetTask(task="regression")
            continue
        values = read_column(column)
        try:
            kind = infer_task(values, requested)
        except InvalidInputError as e:
            if requested != "auto":
                raise InvalidInputError(f"Target {column!r}: {e}") from None
            out[column] = TargetTask(task=None, note=str(e))
            continue
        classes: Any = Labels.infer(values).classes if kind.is_classification else None
        if kind.kind.value == "multiclass" and classes is not None and len(classes) < 3:
            raise InvalidInputError(
                f"Target {column!r}: multiclass needs at least three classes; it has "
                f"{classes}: use binary."
            )
        out[column] = TargetTask(task=kind.kind.value, classes=classes)
    return out
