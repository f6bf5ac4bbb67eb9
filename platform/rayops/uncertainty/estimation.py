"""Performance estimated before labels arrive.

Labels often arrive days after predictions. Until they do, a classifier with
calibrated probabilities still says how well it is doing: if ``p`` is the
calibrated probability of the predicted class, the row is right with probability
``p`` — **confidence-based performance estimation** (as in NannyML's CBPE). Under
covariate shift (the features move, ``P(y | x)`` does not), calibrated
probabilities stay calibrated, so the estimates track the realized metrics:

* expected accuracy: the mean probability of the predicted class;
* expected log loss: the mean entropy of the predicted distribution;
* expected AUC (binary): the AUC of the scores when each row counts as a
  positive with weight ``p`` and as a negative with weight ``1 - p``.

For regression, the expected MAE of a row is the mean absolute calibration
residual of its conformal segment (the whole set without segments), i.e. what the
interval model already holds.

Example:
    >>> import numpy as np
    >>> p = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    >>> round(estimated_classification(p, binary=True)["accuracy"], 3)
    0.767
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rayops.tasks import EPS

if TYPE_CHECKING:
    from rayops.uncertainty.intervals import IntervalModel

__all__ = ["estimated_auc", "estimated_classification", "estimated_mae"]


def estimated_classification(
    proba: Any, *, binary: bool, threshold: float = 0.5
) -> dict[str, float | None]:
    """Expected accuracy, log loss (and AUC for binary) of calibrated ``[N, K]`` probabilities."""
    import numpy as np

    p = np.asarray(proba, dtype=np.float64)
    if not len(p):
        return {"accuracy": None, "logloss": None, **({"auc": None} if binary else {})}
    if binary:
        picked = np.where(p[:, 1] >= threshold, p[:, 1], p[:, 0])
    else:
        picked = p.max(axis=1)
    entropy = -(p * np.log(np.clip(p, EPS, 1.0))).sum(axis=1)
    out: dict[str, float | None] = {
        "accuracy": float(picked.mean()),
        "logloss": float(entropy.mean()),
    }
    if binary:
        out["auc"] = estimated_auc(p[:, 1])
    return out


def estimated_auc(p1: Any) -> float | None:
    """Expected AUC when each row is a positive with probability ``p1`` (its own score)."""
    import numpy as np

    s = np.asarray(p1, dtype=np.float64)
    pos, neg = s, 1.0 - s
    if pos.sum() <= 0 or neg.sum() <= 0:
        return None
    order = np.argsort(s, kind="stable")
    s_sorted, pos_sorted, neg_sorted = s[order], pos[order], neg[order]
    # For each row, the negative mass of strictly lower scores, and half the ties.
    uniq, start = np.unique(s_sorted, return_index=True)
    neg_cum = np.concatenate([[0.0], np.cumsum(neg_sorted)])
    group_end = np.append(start[1:], len(s_sorted))
    below = neg_cum[start]
    tied = neg_cum[group_end] - neg_cum[start]
    idx = np.searchsorted(uniq, s_sorted)
    wins = (pos_sorted * (below[idx] + 0.5 * tied[idx])).sum()
    return float(wins / (pos.sum() * neg.sum()))


def estimated_mae(model: IntervalModel, segments: list[str] | None = None, n: int = 0) -> float:
    """Expected MAE: the mean absolute calibration residual, per row's segment when given."""
    import numpy as np

    if not segments or not model.segments:
        return float(np.mean(model.residuals))
    means = {k: float(np.mean(v)) for k, v in model.segments.items()}
    overall = float(np.mean(model.residuals))
    return float(np.mean([means.get(s, overall) for s in segments]))
