"""Feature contributions: why a model gave this score, per row, and which features it leans on.

**Per prediction.** :func:`contributions` gives each row's contribution of every
feature plus the bias, from XGBoost's ``pred_contribs`` (exact TreeSHAP, Lundberg
et al., 2020; ``approx=True`` is Saabas' faster path). They are in **margin**
space: for regression the margin is the prediction; for a binary classifier it is
the log-odds of the second class (``p = 1 / (1 + exp(-margin))``); for a
multiclass classifier each class has its own margin (its softmax logit) and its
own set of contributions. ``contributions.sum(-1) == margin`` within float
tolerance for a booster.

**Ensembles** combine their members' contributions the way they combine outputs:

=================  ==================================================  =====================
kind               contributions                                       exact?
=================  ==================================================  =====================
weighted           Σ wᵢ · cᵢ                                           regression: yes;
                                                                       classifiers: no (the
                                                                       ensemble averages
                                                                       probabilities, not
                                                                       margins)
stacked            Σ aᵢ · cᵢ, bias b + Σ aᵢ · biasᵢ (linear meta)      regression: yes;
                                                                       classifiers: no (the
                                                                       meta-learner reads
                                                                       probabilities)
dynamic            the chosen member's, per row                        yes, for that member
voting             Σ wᵢⱼ · cᵢ with each row's weights                  regression: yes
=================  ==================================================  =====================

``Contributions.exact`` says which case applies, so callers can say it too.

**Global importance** (:func:`importance`): per feature, mean |contribution| on
rows (the holdout at training time), with XGBoost's gain and weight importance;
the card records it.

Example:
    >>> import numpy as np, xgboost as xgb
    >>> from rayops.registry.predictor import Predictor
    >>> x = np.random.default_rng(0).normal(size=(200, 3))
    >>> b = xgb.train({"max_depth": 2}, xgb.DMatrix(x, label=2 * x[:, 0]), 5)
    >>> p = Predictor("m@1.0.0", b, ["a", "b", "c"])
    >>> c = contributions(p, x[:4])
    >>> c.values.shape, bool(np.allclose(c.values.sum(-1), c.margin, atol=1e-4))
    ((4, 4), True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rayops.errors import InvalidInputError
from rayops.registry.linear import LinearBooster
from rayops.registry.predictor import Combiner, EnsemblePredictor, Predictor
from rayops.registry.rows import Rows, as_frame

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["Contributions", "NotExplainableError", "contributions", "importance", "top_k"]


class NotExplainableError(InvalidInputError):
    """The model cannot explain its predictions (a gblinear booster, a multi-target model)."""

    http_status = 422


@dataclass(frozen=True)
class Contributions:
    """Per-row feature contributions in margin space.

    Attributes:
        features: feature names; ``values[..., j]`` is ``features[j]``, the last is the bias.
        values: ``[N, F + 1]`` (regression, binary) or ``[N, K, F + 1]`` (multiclass).
        margin: the margin they add up to: ``[N]`` or ``[N, K]``.
        exact: whether ``values.sum(-1) == margin`` holds exactly (see the module table).
        note: why not, when not.
    """

    features: list[str]
    values: np.ndarray
    margin: np.ndarray
    exact: bool = True
    note: str | None = None

    @property
    def bias(self) -> np.ndarray:
        out: np.ndarray = self.values[..., -1]
        return out


def _margin_frame(rows: Any, features: Sequence[str]) -> Any:
    import numpy as np
    import xgboost as xgb

    if isinstance(rows, Rows) and rows.numeric:
        return xgb.DMatrix(rows.matrix_for(features), feature_names=list(features))
    if isinstance(rows, np.ndarray):
        return xgb.DMatrix(rows.astype(np.float32), feature_names=list(features))
    frame = as_frame(rows)
    return xgb.DMatrix(frame[list(features)], enable_categorical=True)


def _booster(p: Predictor, rows: Any, approx: bool) -> Contributions:
    import numpy as np

    config = p.booster.save_config()
    if '"gblinear"' in config and '"gbtree"' not in config:
        raise NotExplainableError(
            f"{p.ref} is a linear booster (gblinear); rayops explains tree models only."
        )
    data = _margin_frame(rows, p.features)
    values = np.asarray(p.booster.predict(data, pred_contribs=True, approx_contribs=approx))
    margin = np.asarray(p.booster.predict(data, output_margin=True))
    if p.task.kind.value == "multiclass":
        k = len(p.labels) if p.labels is not None else values.shape[1]
        values = values.reshape(len(margin), k, -1)
        margin = margin.reshape(len(margin), k)
    return Contributions(list(p.features), values.astype(np.float64), margin.astype(np.float64))


def _aligned(c: Contributions, features: list[str]) -> np.ndarray:
    """A member's contributions re-indexed onto the ensemble's features (+ bias)."""
    import numpy as np

    out = np.zeros((*c.values.shape[:-1], len(features) + 1), dtype=np.float64)
    index = {f: j for j, f in enumerate(features)}
    for j, f in enumerate(c.features):
        out[..., index[f]] = c.values[..., j]
    out[..., -1] = c.values[..., -1]
    return out


def contributions(
    predictor: Predictor | EnsemblePredictor,
    rows: pd.DataFrame | Rows | np.ndarray,
    *,
    approx: bool = False,
    combiners: Mapping[str, Combiner] | None = None,
) -> Contributions:
    """Feature contributions of every row (see the module docstring for ensembles)."""
    import numpy as np

    if isinstance(predictor, Predictor):
        return _booster(predictor, rows, approx)
    spec = predictor.spec
    features = predictor.features
    if spec.kind == "multi_target":
        raise NotExplainableError(
            f"{predictor.ref} is a multi-target ensemble; explain one target's model instead."
        )
    classifier = predictor.task.is_classification
    parts = [contributions(m, rows, approx=approx, combiners=combiners) for m in predictor.members]
    aligned = [_aligned(c, features) for c in parts]
    margins = [c.margin for c in parts]
    n = len(margins[0])
    if spec.kind in ("dynamic", "voting"):
        combiner = (combiners or {}).get(predictor.ref)
        if combiner is None:
            weights = np.tile(np.asarray(spec.normalized_weights()), (n, 1))
        else:
            weights = combiner.weights(rows if not isinstance(rows, np.ndarray) else as_frame(rows))
        shape = (n,) + (1,) * (aligned[0].ndim - 1)
        values = sum(weights[:, j].reshape(shape) * a for j, a in enumerate(aligned))
        margin = sum(weights[:, j].reshape(shape[:-1]) * m for j, m in enumerate(margins))
        exact = not classifier or spec.kind == "dynamic"
    elif spec.kind == "stacked":
        meta = predictor.meta
        assert meta is not None
        coef, intercept = _linear_meta(meta, len(parts))
        values = sum(a * coef[j] for j, a in enumerate(aligned))
        values = np.array(values, dtype=np.float64)
        values[..., -1] += intercept
        margin = sum(m * coef[j] for j, m in enumerate(margins)) + intercept
        exact = not classifier
    else:  # weighted
        w = np.asarray(spec.normalized_weights(), dtype=np.float64)
        values = sum(w[j] * a for j, a in enumerate(aligned))
        margin = sum(w[j] * m for j, m in enumerate(margins))
        exact = not classifier
    note = None
    if not exact:
        note = (
            f"a {spec.kind} ensemble of classifiers combines probabilities, which is not "
            "linear in the members' margins: these are the members' margin contributions "
            "combined with the ensemble's weights, an approximation"
        )
    return Contributions(features, np.asarray(values), np.asarray(margin), exact, note)


def _linear_meta(meta: Predictor, members: int) -> tuple[Any, float]:
    """Coefficients and intercept (margin at 0) of a gblinear meta-learner with one
    input and one output per member."""
    linear = LinearBooster.of(meta.booster)
    if linear is None:
        raise NotExplainableError(
            f"{meta.ref} is not a linear meta-learner; a stacked ensemble is explained only "
            "through a gblinear meta-learner."
        )
    if linear.coef.shape != (members, 1):
        raise NotExplainableError(
            f"{meta.ref} reads {linear.coef.shape[0]} inputs for {members} members; only a "
            "meta-learner with one input per member is explained."
        )
    return linear.coef[:, 0], float(linear.intercept[0])


def top_k(c: Contributions, k: int) -> list[list[dict[str, float]]]:
    """Per row, the ``k`` largest |contributions| (``[{feature, contribution}, ...]``);
    for multiclass the predicted class's (highest margin)."""
    import numpy as np

    if not 0 < k <= len(c.features):
        raise InvalidInputError(
            f"top_k must be between 1 and the {len(c.features)} features, got {k}."
        )
    values = c.values
    if values.ndim == 3:
        cls = c.margin.argmax(axis=1)
        values = values[np.arange(len(values)), cls]
    out = []
    for row in values:
        order = np.argsort(-np.abs(row[:-1]), kind="stable")[:k]
        out.append([{"feature": c.features[j], "contribution": float(row[j])} for j in order])
    return out


def importance(
    predictor: Predictor | EnsemblePredictor, rows: pd.DataFrame | Rows | np.ndarray | None = None
) -> dict[str, dict[str, float]]:
    """Per feature: ``mean_abs_contribution`` on ``rows`` (when given), and for a booster
    XGBoost's ``gain`` and ``weight`` importance. Shares sum to 1 per kind."""
    import numpy as np

    out: dict[str, dict[str, float]] = {}
    if rows is not None and len(rows):
        c = contributions(predictor, rows, approx=len(rows) > 5000)
        values = np.abs(c.values[..., :-1])
        mean = values.reshape(-1, values.shape[-1]).mean(axis=0)
        out["mean_abs_contribution"] = dict(zip(c.features, map(float, mean), strict=True))
    if isinstance(predictor, Predictor):
        names = predictor.features
        for kind in ("gain", "weight"):
            try:
                raw = predictor.booster.get_score(importance_type=kind)
            except Exception:  # gblinear has no tree importance
                continue
            scores = {_name(k, names): _score(v) for k, v in raw.items()}
            out[kind] = {f: scores.get(f, 0.0) for f in names}
    return out


def _score(value: Any) -> float:
    """One importance score (a linear booster gives one per class: their mean magnitude)."""
    if isinstance(value, list | tuple):
        return float(sum(abs(float(v)) for v in value) / max(len(value), 1))
    return float(value)


def _name(key: str, names: Sequence[str]) -> str:
    """A feature's name from XGBoost's key (its own name, or ``f<i>`` without names)."""
    if key.startswith("f") and key[1:].isdigit() and int(key[1:]) < len(names):
        return names[int(key[1:])]
    return key


def shares(scores: Mapping[str, float]) -> dict[str, float]:
    """Each feature's share of the total (for attribution drift)."""
    total = sum(abs(v) for v in scores.values())
    return {f: (abs(v) / total if total else 0.0) for f, v in scores.items()}
