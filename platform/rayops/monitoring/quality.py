"""What a version's model card says monitoring should expect, and its quality on logged rows.

Each version is judged as its own task (its card's ``task``, ``classes`` and
decision ``threshold``) and against its own holdout figures:

* :func:`version_info` reads the card once: the task, the labels, the threshold
  in force, the holdout metrics (the *baseline*) and, for regression, the
  tolerance ``T`` of "accuracy within ±T";
* :func:`derived_tolerance`: ``monitoring_accuracy_tolerance`` when set, else
  ``monitoring_tolerance_mae_multiple`` × the card's holdout MAE (default 2 ×
  MAE: a sound model with normal or Laplace errors then has 86-89% of its rows
  within T, so the 80% / 75% levels flag real degradation whatever the target's
  unit), else ``accuracy_tolerance`` (a card without an MAE);
* :func:`quality_of`: the task's metrics on the labeled rows of a joined log
  (:func:`rayops.telemetry.labeled.labeled_rows`, scikit-learn through
  :meth:`rayops.tasks.Task.metrics`), with the per-row losses the promotion
  gate tests on.

Example:
    >>> import pandas as pd
    >>> info = VersionInfo.regression(tolerance=1.0)
    >>> rows = pd.DataFrame({"request_id": ["a", "b"], "prediction": [1.0, 3.0],
    ...                      "actual": [1.5, 1.0]})
    >>> q = quality_of(rows, info)
    >>> q["labeled"], q["mae"], q["accuracy"]
    (2, 1.25, 0.5)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rayops.config import Settings
from rayops.errors import NotFoundError
from rayops.registry import Registry
from rayops.tasks import Labels, Task, TaskKind, normalized
from rayops.telemetry.labeled import labeled_rows

if TYPE_CHECKING:
    import pandas as pd

    from rayops.storage.base import Storage

__all__ = [
    "CLASSIFICATION_METRICS",
    "VersionInfo",
    "card_metric",
    "derived_tolerance",
    "quality_of",
    "version_info",
]

#: Quality metrics a classifier's VersionMetrics may carry (binary and multiclass).
CLASSIFICATION_METRICS = (
    "logloss", "auc", "pr_auc", "precision", "recall", "f1", "brier", "ece", "positive_rate",
    "macro_f1",
)  # fmt: skip


def card_metric(metrics: Mapping[str, Any], metric: str) -> float | None:
    """``metric`` from a model card's metrics: holdout first, then flat, then CV mean.

    Example:
        >>> card_metric({"holdout": {"auc": 0.91}, "cv": {"auc_mean": 0.9}}, "auc")
        0.91
        >>> card_metric({"cv": {"mae_mean": 2.5}}, "mae")
        2.5
    """
    for split in ("holdout", "cv", "cv_oof"):
        part = metrics.get(split)
        if isinstance(part, Mapping):
            for key in (metric, f"{metric}_mean"):
                value = part.get(key)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    return float(value)
        if split == "holdout":
            flat = metrics.get(metric)
            if isinstance(flat, int | float) and not isinstance(flat, bool):
                return float(flat)
    return None


def derived_tolerance(card_metrics: Mapping[str, Any] | None, settings: Settings) -> float:
    """The T of a regression version's "accuracy within ±T" (see the module docstring)."""
    m = settings.monitoring
    if m.accuracy_tolerance is not None:
        return float(m.accuracy_tolerance)
    mae = card_metric(card_metrics or {}, "mae")
    if mae is not None and mae > 0:
        return float(m.tolerance_mae_multiple * mae)
    return float(settings.training.accuracy_tolerance)


@dataclass(frozen=True)
class VersionInfo:
    """How to judge one version: its task, classes, threshold, tolerance and baseline."""

    task: Task
    labels: Labels | None = None
    threshold: float = 0.5
    tolerance: float = 5.0
    baseline: dict[str, float] = field(default_factory=dict)

    @classmethod
    def regression(cls, tolerance: float = 5.0) -> VersionInfo:
        return cls(Task.of(TaskKind.REGRESSION), tolerance=tolerance)

    @property
    def key(self) -> str:
        """What the aggregates of this version depend on (a change recomputes them)."""
        classes = [str(c) for c in self.labels.classes] if self.labels else []
        return f"{self.task}|{classes}|{self.threshold}|{self.tolerance}"


def version_info(
    storage: Storage,
    ref: str,
    settings: Settings,
    *,
    tolerance: float | None = None,
    cache: dict[str, VersionInfo] | None = None,
) -> VersionInfo:
    """What ``ref``'s card says (a version without a card is judged as regression).

    ``tolerance`` (given by the caller, e.g. a rollout's thresholds) wins over the
    derived one.
    """
    key = f"{ref}|{tolerance}"
    if cache is not None and key in cache:
        return cache[key]

    try:
        mv = Registry(storage, settings=settings).get(ref)
    except (NotFoundError, ValueError):
        mv = None
    if mv is None:
        info = VersionInfo.regression(
            tolerance if tolerance is not None else derived_tolerance(None, settings)
        )
    else:
        card = mv.card
        task = Task.of(card.task)
        names = ("mae", "rmse", "accuracy", *CLASSIFICATION_METRICS)
        baseline = {n: v for n in names if (v := card_metric(card.metrics, n)) is not None}
        threshold = mv.threshold if mv.threshold is not None else (card.threshold or 0.5)
        info = VersionInfo(
            task=task,
            labels=card.labels,
            threshold=float(threshold),
            tolerance=tolerance if tolerance is not None else derived_tolerance(card.metrics,
                                                                                settings),
            baseline=baseline,
        )  # fmt: skip
    if cache is not None:
        cache[key] = info
    return info


def quality_of(frame: pd.DataFrame, info: VersionInfo) -> dict[str, Any]:
    """The labeled-row metrics of ``frame`` (a joined log slice of one version).

    Returns ``labeled`` and every metric of the task (None when there is no labeled
    row or the metric is undefined, e.g. AUC with one class present), the
    per-class ``class_recall`` of a classifier, and ``losses`` / ``request_ids`` /
    ``abs_errors`` of the labeled rows for statistical tests.
    """
    import numpy as np

    task = info.task
    rows = labeled_rows(frame, task, info.labels)
    out: dict[str, Any] = {"labeled": len(rows), "losses": rows.loss.tolist(),
                           "request_ids": rows.request_id.tolist(), "abs_errors": []}  # fmt: skip
    if not task.is_classification:
        err = rows.output - rows.y
        abs_err = np.abs(err)
        out["abs_errors"] = abs_err.tolist()
        if len(rows):
            out.update(
                mae=float(abs_err.mean()),
                rmse=float(np.sqrt(float((err**2).mean()))),
                accuracy=float((abs_err <= info.tolerance).mean()),
            )
        return out
    if not len(rows):
        return out
    # rows summing to exactly 1: logged float32 outputs sum to 1 ± 1e-7, which scikit-learn's
    # multiclass Brier score warns about (and log loss normalizes anyway)
    proba = normalized(rows.output)
    found = task.metrics(rows.y, proba, labels=info.labels, threshold=info.threshold)
    recalls = {k[7:-1]: v for k, v in found.items() if k.startswith("recall[")}
    out.update({k: v for k, v in found.items() if not k.startswith("recall[")})
    if recalls:
        out["class_recall"] = {k: float(v) for k, v in recalls.items() if v is not None}
    return out
