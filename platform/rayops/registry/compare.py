"""Side-by-side evaluation of model versions on one data set, per task.

Every version is scored on the same rows with its task's metrics (scikit-learn's,
via :meth:`rayops.tasks.Task.metrics`: MAE, RMSE, R² and accuracy within a tolerance
for regression; log loss, AUC, accuracy, F1... for classifiers) and the best by the
task's primary metric is named. Versions of different tasks, or classifiers with
different classes, are not comparable and are refused. Latency is the best of
``repeats`` timed predictions over the whole frame, in milliseconds per 1,000 rows.
Each result also carries the version's top features by importance, from its card.

Example:
    >>> import numpy as np
    >>> m = regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 10.0]), 5.0)
    >>> m["mae"], round(m["accuracy_within"], 3)
    (2.3333333333333335, 0.667)
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from rayops.errors import InvalidInputError
from rayops.registry import layout
from rayops.storage.base import Storage
from rayops.tasks import Task, direction_of

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "Comparison",
    "ComparisonResult",
    "compare_versions",
    "evaluate",
    "regression_metrics",
]


class ComparisonResult(BaseModel):
    """How one version did on the comparison data."""

    model_config = ConfigDict(extra="forbid")

    ref: str
    task: str = "regression"
    metrics: dict[str, float | None] = Field(default_factory=dict)
    latency_ms_per_1k: float
    top_features: list[str] = Field(default_factory=list, description="By card importance.")
    # Regression figures as fields, as comparisons have always had them:
    mae: float | None = None
    rmse: float | None = None
    r2: float | None = None
    accuracy_within: float | None = Field(
        default=None, description="Share of rows with |error| <= tolerance."
    )


class Comparison(BaseModel):
    """A stored comparison of versions on the same rows."""

    model_config = ConfigDict(extra="forbid")

    id: str
    created_at: datetime
    target: str
    rows: int
    tolerance: float
    task: str = "regression"
    metric: str = Field(default="rmse", description="The metric that picks the best.")
    dataset: str | None = Field(default=None, description="Where the rows came from, if known.")
    results: list[ComparisonResult]
    best: str = Field(description="ref with the best primary metric.")
    keys: list[str] = Field(default_factory=list, description="Where it is stored.")

    def result(self, ref: str) -> ComparisonResult:
        for r in self.results:
            if r.ref == ref:
                return r
        raise KeyError(ref)


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray, tolerance: float) -> dict[str, Any]:
    """MAE, RMSE, R² and accuracy within ``tolerance`` of two equal-length arrays."""

    m = Task.of("regression").metrics(y_true, y_pred, tolerance=tolerance)
    return {"mae": m["mae"], "rmse": m["rmse"], "r2": m["r2"] or 0.0,
            "accuracy_within": m["accuracy"]}  # fmt: skip


def _top(card: Any, k: int = 5) -> list[str]:
    imp = getattr(card, "importance", None) or {}
    kind = next((x for x in ("mean_abs_contribution", "gain") if x in imp), None)
    if kind is None:
        return []
    return [f for f, _ in sorted(imp[kind].items(), key=lambda kv: -kv[1])[:k]]


def evaluate(
    predictor: Any,
    frame: pd.DataFrame,
    y_true: np.ndarray,
    tolerance: float,
    repeats: int,
    card: Any = None,
) -> ComparisonResult:
    """Metrics and best-of-``repeats`` latency of one predictor on ``frame``."""
    predictor.predict(frame.head(1))  # warm up (lazy init, caches) outside the timing
    best = float("inf")
    pred = None
    for _ in range(repeats):
        started = time.perf_counter()
        pred = predictor.predict(frame)
        best = min(best, time.perf_counter() - started)
    assert pred is not None
    task = predictor.task
    metrics = task.metrics(
        y_true, pred, labels=predictor.labels, tolerance=tolerance,
        threshold=getattr(predictor, "threshold", 0.5),
    )  # fmt: skip
    legacy = regression_metrics(y_true, pred, tolerance) if not task.is_classification else {}
    return ComparisonResult(
        ref=predictor.ref,
        task=str(task),
        metrics=metrics,
        latency_ms_per_1k=best * 1e6 / len(frame),
        top_features=_top(card),
        **legacy,
    )


def compare_versions(
    storage: Storage,
    refs: Sequence[str],
    load: Callable[[str], Any],
    frame: pd.DataFrame,
    target: str,
    *,
    when: datetime,
    tolerance: float,
    repeats: int,
    dataset: str | None = None,
    card: Callable[[str], Any] | None = None,
) -> Comparison:
    """Load each ref with ``load``, evaluate it on ``frame`` and store the comparison.

    It is stored, append-only, as ``models/<name>/comparisons/<time>-<id>.json`` for
    every model name involved.
    """
    if not refs:
        raise InvalidInputError("Give at least one version to compare.")
    if target not in frame.columns:
        raise InvalidInputError(
            f"Target column {target!r} is not in the data; columns: {list(frame.columns)}."
        )
    if len(frame) == 0:
        raise InvalidInputError("Cannot compare on an empty data set.")
    predictors = [load(ref) for ref in refs]
    first = predictors[0]
    for p in predictors[1:]:
        if p.task != first.task or p.labels != first.labels:
            raise InvalidInputError(
                f"{p.ref} ({p.task} {p.labels or ''}) is not comparable with {first.ref} "
                f"({first.task} {first.labels or ''}): versions must share task and classes."
            )
    task = first.task
    if task.is_classification:
        y = first.labels.encode_series(frame[target], where=f"target column {target!r}")
    else:
        y = frame[target].to_numpy(dtype="float64")
    results = [
        evaluate(p, frame, y, tolerance, repeats, card(ref) if card else None)
        for ref, p in zip(refs, predictors, strict=True)
    ]
    metric = task.primary_metric
    sign = 1.0 if direction_of(metric) == "min" else -1.0
    scored = [r for r in results if r.metrics.get(metric) is not None]
    best = min(scored or results, key=lambda r: sign * float(r.metrics.get(metric) or 0.0))
    cid = f"{layout.stamp(when)}-{uuid.uuid4().hex[:8]}"
    names = sorted({r.ref.split("@")[0] for r in results})
    comparison = Comparison(
        id=cid,
        created_at=when,
        target=target,
        rows=len(frame),
        tolerance=tolerance,
        task=str(task),
        metric=metric,
        dataset=dataset,
        results=results,
        best=best.ref,
        keys=[f"{layout.comparisons_prefix(n)}/{cid}.json" for n in names],
    )
    for key in comparison.keys:
        storage.put_json_if_absent(key, comparison.model_dump(mode="json"))
    return comparison
