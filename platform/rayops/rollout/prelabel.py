"""The pre-label guard: hold a canary that looks clearly worse before its labels arrive.

Labels often arrive long after predictions, and until they do a canary's quality
cannot be measured, only estimated (:mod:`rayops.uncertainty.estimation`):

* **classifiers**: the expected log loss of a row is the entropy of the
  probabilities the version served (calibrated when the version has a
  calibrator); with calibrated probabilities it is what the log loss will be,
  on average, once the label lands (confidence-based performance estimation);
* **regression**: the expected absolute error of a row is the mean absolute
  calibration residual of the version's conformal model, for the row's Mondrian
  segment when the model has segments (a version without a conformal model has no
  estimate, and the pre-label guard lets it pass).

:func:`prelabel_check` compares the two arms' per-row estimates on the **same
window of live traffic** (every row, labeled or not) with the shared promotion
gate (:func:`rayops.gate.compare`, unpaired, per request, one-sided at ``alpha``,
beyond ``max_degradation``). A candidate that is significantly worse is **held**
(:attr:`~rayops.rollout.state.Verdict.HOLD`: its traffic does not grow and it is
not promoted) while fewer than ``prelabel_label_share`` of its rows in the window
have labels. Once the labels cover that share, they decide (the canary rule of
:mod:`rayops.rollout.analysis`); a labeled breach always rolls back.

Example:
    >>> import numpy as np
    >>> sure = Estimate("m@1", "logloss", np.full(50, 0.1), np.arange(50).astype(str), 50, 0)
    >>> unsure = Estimate("m@2", "logloss", np.full(50, 0.6), np.arange(50).astype(str), 50, 0)
    >>> from rayops.rollout.state import Thresholds
    >>> prelabel_check(sure, unsure, Thresholds(min_samples=30)).verdict
    'worse'
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rayops.gate import compare
from rayops.rollout.arms import row_refs
from rayops.tasks import Task
from rayops.telemetry.readers import features, joined, probabilities
from rayops.uncertainty.intervals import IntervalModel, segment_keys

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from rayops.registry import Registry
    from rayops.rollout.state import Thresholds
    from rayops.storage.base import Storage

__all__ = ["Estimate", "PrelabelResult", "estimate", "estimates", "prelabel_check"]


@dataclass(frozen=True)
class Estimate:
    """One version's per-row estimated loss over a window (``metric``: ``logloss`` or ``mae``)."""

    ref: str
    metric: str
    losses: np.ndarray
    request_ids: np.ndarray
    rows: int
    labeled: int

    @property
    def label_share(self) -> float:
        return self.labeled / self.rows if self.rows else 0.0


@dataclass(frozen=True)
class PrelabelResult:
    """The gate on estimated losses: ``verdict`` is the gate's (``worse`` holds)."""

    verdict: str
    metric: str
    stable: float | None
    candidate: float | None
    p_value: float | None
    label_share: float
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def estimate(registry: Registry, ref: str, part: pd.DataFrame) -> Estimate | None:
    """The estimate of ``ref`` on its rows ``part`` of a joined log (None: no estimate)."""
    import numpy as np

    version = registry.get(ref)
    card = version.card
    task = Task.of(card.task)
    ids = part["request_id"].astype(str).to_numpy() if len(part) else np.empty(0, dtype=object)
    if task.is_classification:
        if card.labels is None:
            return None
        labeled = int(part["actual_label"].notna().sum()) if "actual_label" in part else 0
        p = probabilities(part, card.labels.classes)
        ok = np.isfinite(p).all(axis=1) & (p.sum(axis=1) > 0) if len(p) else np.zeros(0, bool)
        p = p[ok] / p[ok].sum(axis=1, keepdims=True)
        from rayops.tasks import EPS

        entropy = -(p * np.log(np.clip(p, EPS, 1.0))).sum(axis=1)
        return Estimate(ref, "logloss", entropy, ids[ok], len(part), labeled)
    doc = registry.uncertainty(ref)
    if not doc or not doc.get("intervals"):
        return None

    model = IntervalModel.from_json(doc["intervals"])
    overall = float(np.mean(model.residuals))
    if model.segments and len(part):
        means = {k: float(np.mean(v)) for k, v in model.segments.items()}
        keys = segment_keys(features(part), model.context)
        per_row = np.asarray([means.get(k, overall) for k in keys], dtype=np.float64)
    else:
        per_row = np.full(len(part), overall)
    labeled = int(part["actual"].notna().sum()) if "actual" in part else 0
    return Estimate(ref, "mae", per_row, ids, len(part), labeled)


def estimates(
    storage: Storage,
    registry: Registry,
    endpoint: str,
    refs: list[str],
    start: datetime,
    end: datetime,
    *,
    include_shadow: bool = False,
    frame: Any = None,
) -> dict[str, Estimate]:
    """Estimates of ``refs`` over ``[start, end)`` of ``endpoint``'s logs (a ref with no
    rows or no estimate is left out); ``frame``: that window, already read."""

    if frame is None:
        frame = joined(storage, endpoint, start, end, include_shadow=include_shadow)
    refs_of_rows = row_refs(frame)
    out = {}
    for ref in refs:
        part = frame[refs_of_rows == ref]
        if not len(part):
            continue
        found = estimate(registry, ref, part)
        if found is not None:
            out[ref] = found
    return out


def prelabel_check(
    stable: Estimate | None, candidate: Estimate | None, limits: Thresholds
) -> PrelabelResult | None:
    """The gate on the arms' estimated losses (None: nothing to compare).

    Both estimates must be of the same metric and hold ``min_samples`` rows each.
    """
    if stable is None or candidate is None or stable.metric != candidate.metric:
        return None
    if len(stable.losses) < limits.min_samples or len(candidate.losses) < limits.min_samples:
        return None
    # The estimated log loss and MAE are means of the per-row values as they are (no
    # square root as for RMSE): the gate's classification metric is exactly that.
    gate = compare(
        candidate.losses, stable.losses, task="binary", max_degradation=limits.max_degradation,
        alpha=limits.alpha, paired=False, groups=candidate.request_ids,
        incumbent_groups=stable.request_ids, test=limits.ab_test,
        metric_name=f"estimated {candidate.metric}",
    )  # fmt: skip
    p = gate.p_better if gate.improvement > 0 else gate.p_worse
    return PrelabelResult(
        verdict=gate.verdict.value, metric=candidate.metric,
        stable=gate.incumbent_metric, candidate=gate.candidate_metric, p_value=p,
        label_share=candidate.label_share, reason=gate.reason,
    )  # fmt: skip
