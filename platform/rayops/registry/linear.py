"""A linear XGBoost booster (``gblinear``) evaluated with numpy.

XGBoost has no in-place prediction for linear boosters: each call needs a DMatrix,
which costs about 0.3 ms, more than the rest of a one-row request to a stacked
ensemble (whose meta-learner is ``gblinear``, see :mod:`rayops.training.stacking`).
:meth:`LinearBooster.of` reads the booster's coefficients once and checks, on
random rows, that its numpy evaluation equals XGBoost's own prediction (margins
within float32 rounding of their terms: numpy sums in float64, so with large
terms that nearly cancel it is the more exact of the two); it returns None for
any booster it cannot reproduce, and the caller keeps XGBoost.

Example:
    >>> import numpy as np, xgboost as xgb
    >>> X = np.random.default_rng(0).normal(size=(200, 3)).astype(np.float32)
    >>> y = X @ np.array([1.0, -2.0, 0.5]) + 3.0
    >>> booster = xgb.train({"booster": "gblinear", "nthread": 1}, xgb.DMatrix(X, y), 50)
    >>> linear = LinearBooster.of(booster)
    >>> bool(np.allclose(linear.predict(X[:5]), booster.predict(xgb.DMatrix(X[:5])), atol=1e-5))
    True
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import xgboost as xgb

__all__ = ["LinearBooster", "apply_link", "link_of"]

#: XGBoost objectives by the inverse link that turns a margin into its prediction.
_LINKS = {
    "identity": {"reg:squarederror", "reg:squaredlogerror", "reg:pseudohubererror",
                 "reg:absoluteerror", "binary:logitraw"},
    "sigmoid": {"binary:logistic", "reg:logistic"},
    "exp": {"count:poisson", "reg:gamma", "reg:tweedie"},
    "softmax": {"multi:softprob"},
}  # fmt: skip


def link_of(objective: str) -> str | None:
    """The inverse link of an XGBoost objective (None: not one listed here).

    Example:
        >>> link_of("binary:logistic"), link_of("reg:squarederror"), link_of("rank:ndcg")
        ('sigmoid', 'identity', None)
    """
    return next((name for name, names in _LINKS.items() if objective in names), None)


def apply_link(link: str, margin: np.ndarray) -> np.ndarray:
    """What XGBoost predicts from ``[N, outputs]`` margins: ``[N]``, or ``[N, K]`` for
    ``softmax`` (multiclass)."""
    import numpy as np

    if link == "softmax":
        e = np.exp(margin - margin.max(axis=1, keepdims=True))
        out: np.ndarray = e / e.sum(axis=1, keepdims=True)
        return out
    m = margin[:, 0] if margin.shape[1] == 1 else margin
    if link == "sigmoid":
        return 1.0 / (1.0 + np.exp(-m))  # type: ignore[no-any-return]
    if link == "exp":
        return np.exp(m)  # type: ignore[no-any-return]
    return m


@dataclass(frozen=True)
class LinearBooster:
    """``link(x @ coef + intercept)``, as a ``gblinear`` booster predicts.

    Attributes:
        coef: ``[features, outputs]`` weights (float64).
        intercept: ``[outputs]`` margin at ``x = 0``: the bias plus the base score.
        link: ``identity``, ``sigmoid``, ``exp`` or ``softmax`` (multiclass).
    """

    coef: np.ndarray
    intercept: np.ndarray
    link: str

    @classmethod
    def of(cls, booster: xgb.Booster) -> LinearBooster | None:
        """The numpy form of ``booster``, or None when it is not a linear booster with an
        objective listed here, or its numpy evaluation does not match XGBoost's."""
        import numpy as np
        import xgboost as xgb

        learner = json.loads(booster.save_config())["learner"]
        if learner["gradient_booster"]["name"] != "gblinear":
            return None
        objective = learner["objective"]["name"]
        link = link_of(objective)
        if link is None:
            return None
        model = json.loads(bytes(booster.save_raw("json")))["learner"]
        weights = np.asarray(model["gradient_booster"]["model"]["weights"], dtype=np.float64)
        n = booster.num_features()
        outputs = len(weights) // (n + 1)
        if outputs < 1 or outputs * (n + 1) != len(weights):
            return None

        def dmatrix(x: np.ndarray) -> xgb.DMatrix:
            return xgb.DMatrix(x, feature_names=booster.feature_names,
                               feature_types=booster.feature_types)  # fmt: skip

        # The margin at 0 is the bias plus the base score in XGBoost's own arithmetic
        # (the base score is stored per objective: a probability for logistic ones).
        zero = booster.predict(dmatrix(np.zeros((1, n), dtype=np.float32)), output_margin=True)
        linear = cls(
            coef=weights[: n * outputs].reshape(n, outputs),
            intercept=np.asarray(zero, dtype=np.float64).reshape(outputs),
            link=link,
        )
        probe = np.random.default_rng(0).normal(size=(16, n)).astype(np.float32)
        probe[0, :] = np.nan  # a missing value counts as 0, as in XGBoost's sparse rows
        margin = booster.predict(dmatrix(probe), output_margin=True)
        margin = np.asarray(margin, dtype=np.float64).reshape(len(probe), outputs)
        # XGBoost sums in float32: its error grows with the terms, not with the result
        # (a price-scale intercept and coefficients that nearly cancel), so the margins
        # are compared against the size of the terms; this evaluation sums in float64.
        terms = np.abs(np.nan_to_num(probe)) @ np.abs(linear.coef) + np.abs(linear.intercept)
        if np.any(np.abs(linear.margin(probe) - margin) > 1e-5 * terms + 1e-6):
            return None
        expected = np.asarray(booster.predict(dmatrix(probe)), dtype=np.float64)
        got = apply_link(link, margin)  # the link alone, on XGBoost's own margins
        if got.shape != expected.shape or not np.allclose(got, expected, rtol=1e-5, atol=1e-6):
            return None
        return linear

    def takes(self, x: Any) -> bool:
        """Whether ``x`` is a 2-D matrix with this booster's number of features."""
        return len(getattr(x, "shape", ())) == 2 and x.shape[1] == self.coef.shape[0]

    def margin(self, x: Any) -> np.ndarray:
        """``[N, outputs]`` margins of a ``[N, features]`` matrix (NaN counts as 0)."""
        import numpy as np

        x = np.asarray(x, dtype=np.float64)
        if np.isnan(x).any():
            x = np.nan_to_num(x, nan=0.0)
        out: np.ndarray = x @ self.coef + self.intercept
        return out

    def predict(self, x: Any) -> np.ndarray:
        """What ``booster.predict`` returns: ``[N]``, or ``[N, K]`` for multiclass."""
        return apply_link(self.link, self.margin(x))
