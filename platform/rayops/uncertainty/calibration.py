"""Probability calibration fitted on out-of-fold predictions, stored as JSON.

Boosted trees are often over- or under-confident. A :class:`Calibrator` maps a
classifier's probabilities to calibrated ones:

* binary: **isotonic** regression (scikit-learn's ``IsotonicRegression``, kept as
  its thresholds and applied with ``numpy.interp``) or **Platt** scaling (a
  logistic regression on the log-odds, kept as two numbers);
* multiclass: **temperature** scaling (Guo et al., 2017): one number dividing the
  log-probabilities before the softmax.

:func:`fit_calibration` tries each method with cross-fitting (each fold's
calibrator is judged on the other folds' rows, so the choice is honest) and keeps
the one with the lowest out-of-fold log loss — or none when none beats the raw
probabilities. The card records the choice, both log losses, the reliability
curve (scikit-learn's ``calibration_curve``) and the expected calibration error
before and after.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0.05, 0.95, 4000)
    >>> y = (rng.uniform(size=p.size) < p ** 2).astype(int)   # over-confident scores
    >>> cal = fit_calibration(y, np.column_stack([1 - p, p]), seed=0)
    >>> cal.method in ("isotonic", "platt"), cal.ece_after < cal.ece_before
    (True, True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rayops.errors import InvalidInputError
from rayops.tasks import EPS, expected_calibration_error, normalized

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Calibrator", "fit_calibration", "reliability_curve"]

FOLDS = 5


@dataclass
class Calibrator:
    """A fitted calibration map; ``method`` ``none`` leaves probabilities as they are."""

    method: str = "none"
    params: dict[str, Any] = field(default_factory=dict)
    logloss_before: float | None = None
    logloss_after: float | None = None
    ece_before: float | None = None
    ece_after: float | None = None
    curve: dict[str, list[float]] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.method != "none"

    def apply(self, proba: np.ndarray) -> np.ndarray:
        """Calibrated ``[N, K]`` probabilities (rows sum to 1)."""
        import numpy as np

        p = np.asarray(proba, dtype=np.float64)
        if self.method == "none":
            return p
        if self.method == "isotonic":
            x = np.asarray(self.params["x"], dtype=np.float64)
            y = np.asarray(self.params["y"], dtype=np.float64)
            p1 = np.interp(p[:, 1], x, y)
            return np.column_stack([1.0 - p1, p1])
        if self.method == "platt":
            z = _logit(p[:, 1]) * self.params["a"] + self.params["b"]
            p1 = 1.0 / (1.0 + np.exp(-z))
            return np.column_stack([1.0 - p1, p1])
        if self.method == "temperature":
            logits = np.log(np.clip(p, EPS, 1.0)) / self.params["t"]
            logits -= logits.max(axis=1, keepdims=True)
            e = np.exp(logits)
            out: np.ndarray = e / e.sum(axis=1, keepdims=True)
            return out
        raise InvalidInputError(f"Unknown calibration method {self.method!r}.")

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method, "params": self.params,
            "logloss_before": self.logloss_before, "logloss_after": self.logloss_after,
            "ece_before": self.ece_before, "ece_after": self.ece_after, "curve": self.curve,
        }  # fmt: skip

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Calibrator:
        return cls(
            method=str(doc.get("method", "none")),
            params=dict(doc.get("params") or {}),
            logloss_before=doc.get("logloss_before"),
            logloss_after=doc.get("logloss_after"),
            ece_before=doc.get("ece_before"),
            ece_after=doc.get("ece_after"),
            curve=dict(doc.get("curve") or {}),
        )


def _logit(p: np.ndarray) -> np.ndarray:
    import numpy as np

    q = np.clip(p, 1e-7, 1 - 1e-7)
    out: np.ndarray = np.log(q / (1 - q))
    return out


def _fit_one(method: str, y: np.ndarray, proba: np.ndarray) -> Calibrator:
    import numpy as np

    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(proba[:, 1], y)
        x = np.asarray(iso.X_thresholds_, dtype=np.float64)
        yy = np.asarray(iso.y_thresholds_, dtype=np.float64)
        return Calibrator("isotonic", {"x": x.round(9).tolist(), "y": yy.round(9).tolist()})
    if method == "platt":
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=1e6).fit(_logit(proba[:, 1]).reshape(-1, 1), y)
        return Calibrator("platt", {"a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0])})
    if method == "temperature":
        from scipy.optimize import minimize_scalar

        logp = np.log(np.clip(proba, EPS, 1.0))

        def nll(t: float) -> float:
            z = logp / t
            z -= z.max(axis=1, keepdims=True)
            logz = np.log(np.exp(z).sum(axis=1))
            return float(np.mean(logz - z[np.arange(len(y)), y]))

        best = minimize_scalar(nll, bounds=(0.05, 20.0), method="bounded")
        return Calibrator("temperature", {"t": float(best.x)})
    raise InvalidInputError(f"Unknown calibration method {method!r}.")


def reliability_curve(y: np.ndarray, p1: np.ndarray, bins: int = 10) -> dict[str, list[float]]:
    """scikit-learn's reliability curve of binary probabilities (for the card and charts)."""
    from sklearn.calibration import calibration_curve

    observed, predicted = calibration_curve(y, p1, n_bins=bins, strategy="uniform")
    return {"predicted": predicted.round(6).tolist(), "observed": observed.round(6).tolist()}


def fit_calibration(
    y: Any, proba: Any, *, methods: tuple[str, ...] | None = None, seed: int = 0
) -> Calibrator:
    """The calibrator with the lowest cross-fitted log loss on out-of-fold ``proba``
    (``[N, K]``) against class indices ``y``, or ``none`` if none improves on the raw ones.

    The returned calibrator is refitted on all rows; its ``logloss_after`` and
    ``ece_after`` are the cross-fitted (honest) figures.
    """
    import numpy as np
    from sklearn.metrics import log_loss
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(y, dtype=np.int64)
    p = normalized(proba)
    k = p.shape[1]
    if len(y) < 4 * FOLDS or len(np.unique(y)) < 2:
        raise InvalidInputError(
            f"Calibration needs out-of-fold predictions of both classes and at least "
            f"{4 * FOLDS} rows; got {len(y)} rows."
        )
    every = list(range(k))
    before = float(log_loss(y, p, labels=every))
    candidates = methods or (("isotonic", "platt") if k == 2 else ("temperature",))
    folds = StratifiedKFold(
        n_splits=min(FOLDS, int(np.bincount(y).min()) or 2), shuffle=True, random_state=seed
    )
    best_method, best_loss, best_oof = "none", before, p
    for method in candidates:
        oof = np.empty_like(p)
        for fit_idx, eval_idx in folds.split(p, y):
            oof[eval_idx] = _fit_one(method, y[fit_idx], p[fit_idx]).apply(p[eval_idx])
        loss = float(log_loss(y, normalized(oof), labels=every))
        if loss < best_loss:
            best_method, best_loss, best_oof = method, loss, oof
    fitted = _fit_one(best_method, y, p) if best_method != "none" else Calibrator()
    top_before = p[:, 1] if k == 2 else p.max(axis=1)
    top_after = best_oof[:, 1] if k == 2 else best_oof.max(axis=1)
    hit = y if k == 2 else (p.argmax(axis=1) == y).astype(int)
    hit_after = y if k == 2 else (best_oof.argmax(axis=1) == y).astype(int)
    fitted.logloss_before = before
    fitted.logloss_after = best_loss
    fitted.ece_before = expected_calibration_error(hit, top_before)
    fitted.ece_after = expected_calibration_error(hit_after, top_after)
    if k == 2:
        fitted.curve = {
            "before": reliability_curve(y, top_before),  # type: ignore[dict-item]
            "after": reliability_curve(y, top_after),  # type: ignore[dict-item]
        }
    return fitted
