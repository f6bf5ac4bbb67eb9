"""Feature selection by importance, validated by cross-validation.

Importances come only from data each fold's model did not train on where that
matters: ``gain`` is the total split gain of each feature in the fold models
(training rows), ``permutation`` is how much the fold's test score on the run's
selection metric (RMSE, log loss, AUC...) gets worse when the feature's test
column is shuffled. Importances are averaged over folds and
normalised to shares; the top ``k`` (or every feature with a share of at least
``threshold``) are kept, and the kept set is scored again on the same folds, so
the run records the score with and without selection side by side.

Folds run as Ray tasks (one CPU each); call this inside a Ray session.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from rayops.errors import InvalidInputError
from rayops.tasks import direction_of
from rayops.training.cv import FoldPlan, Scoring, aggregate
from rayops.training.scoring import native_params, score_xgb

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["SelectionResult", "select_features"]


@dataclass(frozen=True)
class SelectionResult:
    """What selection chose and what it did to the cross-validated score."""

    method: str
    selected: list[str]
    importances: dict[str, float]
    score_with: dict[str, float]
    score_without: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fold_importance(
    X: pd.DataFrame,
    y: np.ndarray,
    plan: FoldPlan,
    fold: int,
    params: dict[str, Any],
    method: str,
    setup: dict[str, Any],
) -> tuple[dict[str, float], dict[str, float]]:
    import numpy as np
    import xgboost as xgb

    scoring: Scoring = setup["scoring"]
    metric: str = setup["metric"]
    sign = 1.0 if direction_of(metric) == "min" else -1.0  # > 0: the shuffled score is worse
    train, test = plan.splits[fold]
    native = native_params(
        params,
        objective=setup["objective"],
        seed=setup["seed"],
        nthread=1,
        num_class=scoring.num_class,
    )
    dtrain = xgb.QuantileDMatrix(
        X.iloc[train], y[train], enable_categorical=True, max_bin=int(native.get("max_bin", 256))
    )
    booster = xgb.train(native, dtrain, num_boost_round=int(params.get("n_estimators", 100)))
    X_test, y_test = X.iloc[test], y[test]
    pred = booster.predict(xgb.DMatrix(X_test, enable_categorical=True))
    metrics = scoring.score(y_test, pred)
    if method == "gain":
        gains = booster.get_score(importance_type="total_gain")
        return {c: float(gains.get(c, 0.0)) for c in X.columns}, metrics  # type: ignore[arg-type]
    rng = np.random.default_rng([setup["seed"], fold])
    out = {}
    for col in X.columns:
        shuffled = X_test.copy()
        shuffled[col] = X_test[col].to_numpy()[rng.permutation(len(X_test))]
        if str(X_test[col].dtype) == "category":
            shuffled[col] = shuffled[col].astype(X_test[col].dtype)
        p = booster.predict(xgb.DMatrix(shuffled, enable_categorical=True))
        worse = sign * (scoring.score(y_test, p)[metric] - metrics[metric])
        out[col] = max(0.0, float(np.nan_to_num(worse)))
    return out, metrics


def _fold_score(
    X: pd.DataFrame,
    y: np.ndarray,
    plan: FoldPlan,
    fold: int,
    params: dict[str, Any],
    setup: dict[str, Any],
) -> dict[str, float]:
    single = FoldPlan(plan.strategy, plan.seed, (plan.splits[fold],))
    rounds = [int(params.get("n_estimators", 100))]
    scores, _ = score_xgb(
        X,
        y,
        single,
        params,
        rounds,
        objective=setup["objective"],
        seed=setup["seed"],
        scoring=setup["scoring"],
    )
    return scores[rounds[0]][0]


def select_features(
    data_ref: Any,
    plan_ref: Any,
    params: dict[str, Any],
    *,
    features: list[str],
    method: Literal["gain", "permutation"] = "gain",
    top_k: int | None = None,
    threshold: float | None = None,
    objective: str = "reg:squarederror",
    seed: int = 0,
    tolerance: float = 5.0,
    scoring: Scoring | None = None,
    metric: str | None = None,
) -> SelectionResult:
    """Select features for ``params`` and score the selection on the same folds.

    ``data_ref`` is an object ref to ``{"X": frame, "y": array}`` and ``plan_ref``
    to a :class:`FoldPlan` (put once by the tuner). Give ``top_k`` or
    ``threshold`` (minimum share of total importance); with neither, about half
    the features are kept. ``scoring`` is the task's (default regression with
    ``tolerance``) and ``metric`` the selection metric permutation importance is
    measured on (default the task's primary metric).
    """
    import ray

    if method not in ("gain", "permutation"):
        raise InvalidInputError(f"Unknown selection method {method!r}; use gain or permutation.")
    if top_k is not None and threshold is not None:
        raise InvalidInputError("Give either top_k or threshold for feature selection, not both.")
    if top_k is not None and not 1 <= top_k <= len(features):
        raise InvalidInputError(f"top_k must be between 1 and {len(features)}; got {top_k}.")
    scoring = scoring or Scoring(tolerance=tolerance)
    metric = scoring.task.check_metric(metric)
    setup = {"objective": objective, "seed": seed, "scoring": scoring, "metric": metric}
    n_folds = len(ray.get(plan_ref))

    @ray.remote(num_cpus=1)
    def importance(data: dict[str, Any], plan: FoldPlan, fold: int) -> Any:
        return _fold_importance(data["X"], data["y"], plan, fold, params, method, setup)

    parts = ray.get([importance.remote(data_ref, plan_ref, f) for f in range(n_folds)])
    total = {c: sum(p[0][c] for p in parts) / n_folds for c in features}
    norm = sum(total.values()) or 1.0
    shares = {c: v / norm for c, v in total.items()}
    ranked = sorted(features, key=lambda c: (-shares[c], c))
    if threshold is not None:
        selected = [c for c in ranked if shares[c] >= threshold] or ranked[:1]
    else:
        selected = ranked[: top_k or max(1, (len(features) + 1) // 2)]

    @ray.remote(num_cpus=1)
    def rescore(data: dict[str, Any], plan: FoldPlan, fold: int) -> dict[str, float]:
        return _fold_score(data["X"][selected], data["y"], plan, fold, params, setup)

    with_sel = ray.get([rescore.remote(data_ref, plan_ref, f) for f in range(n_folds)])
    return SelectionResult(
        method=method,
        selected=[c for c in features if c in selected],
        importances=shares,
        score_with=aggregate(with_sel, scoring.metrics),
        score_without=aggregate([p[1] for p in parts], scoring.metrics),
    )
