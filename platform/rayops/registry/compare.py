"""Side-by-side evaluation of model versions on one data set.

Metrics: MAE, RMSE, R² and accuracy within a tolerance (the share of rows whose
absolute error is at most ``tolerance``, default ``accuracy_tolerance``).
Latency is the best of ``repeats`` timed predictions over the whole frame,
reported in milliseconds per 1,000 rows.

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
    mae: float
    rmse: float
    r2: float
    accuracy_within: float = Field(description="Share of rows with |error| <= tolerance.")
    latency_ms_per_1k: float


class Comparison(BaseModel):
    """A stored comparison of versions on the same rows."""

    model_config = ConfigDict(extra="forbid")

    id: str
    created_at: datetime
    target: str
    rows: int
    tolerance: float
    dataset: str | None = Field(default=None, description="Where the rows came from, if known.")
    results: list[ComparisonResult]
    best: str = Field(description="ref with the lowest RMSE.")
    keys: list[str] = Field(default_factory=list, description="Where it is stored.")

    def result(self, ref: str) -> ComparisonResult:
        for r in self.results:
            if r.ref == ref:
                return r
        raise KeyError(ref)


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray, tolerance: float) -> dict[str, Any]:
    """MAE, RMSE, R² and accuracy within ``tolerance`` of two equal-length arrays."""
    import numpy as np

    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    err = p - y
    ss_res = float(np.sum(err**2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return {
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0,
        "accuracy_within": float(np.mean(np.abs(err) <= tolerance)),
    }


def evaluate(
    predictor: Any, frame: pd.DataFrame, y_true: np.ndarray, tolerance: float, repeats: int
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
    return ComparisonResult(
        ref=predictor.ref,
        latency_ms_per_1k=best * 1e6 / len(frame),
        **regression_metrics(y_true, pred, tolerance),
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
    y = frame[target].to_numpy()
    results = [evaluate(load(ref), frame, y, tolerance, repeats) for ref in refs]
    cid = f"{layout.stamp(when)}-{uuid.uuid4().hex[:8]}"
    names = sorted({r.ref.split("@")[0] for r in results})
    comparison = Comparison(
        id=cid,
        created_at=when,
        target=target,
        rows=len(frame),
        tolerance=tolerance,
        dataset=dataset,
        results=results,
        best=min(results, key=lambda r: r.rmse).ref,
        keys=[f"{layout.comparisons_prefix(n)}/{cid}.json" for n in names],
    )
    for key in comparison.keys:
        storage.put_json_if_absent(key, comparison.model_dump(mode="json"))
    return comparison
