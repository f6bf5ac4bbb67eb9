"""Score one configuration on every fold of a plan (no Ray here; tasks call this).

XGBoost gets the frame as is: pandas categoricals go in natively
(``enable_categorical``) and NaN is XGBoost's missing value. Each fold's training
matrix (a ``QuantileDMatrix``, whose quantile sketch is the costly part) and test
matrix are built once per process and cached, keyed by the run's data token, so a
reused Tune actor pays for them once per run instead of once per trial.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from rayops.training.cv import FoldPlan, Scoring

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import xgboost as xgb

__all__ = ["FoldScores", "fit_booster", "native_params", "prepare_frame", "score_xgb"]

# Per-process cache of fold matrices: {(token, fold, max_bin, features): (dtrain, dtest)}.
# Only one data token is kept, so a worker never holds two runs' data.
_MATRICES: dict[tuple[Any, ...], tuple[Any, Any]] = {}
_RENAMES = {"reg_lambda": "lambda", "reg_alpha": "alpha"}

#: round count -> per-fold metrics, plus the seconds spent fitting each fold.
FoldScores = tuple[dict[int, list[dict[str, float]]], list[float]]


def prepare_frame(frame: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
    """The feature columns, with strings and objects turned into pandas categoricals."""
    import pandas as pd

    out = frame.loc[:, list(features)].copy()
    for col in out.columns:
        dtype = out[col].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            continue
        if pd.api.types.is_bool_dtype(dtype):
            out[col] = out[col].astype("float64")
        elif not pd.api.types.is_numeric_dtype(dtype):
            out[col] = out[col].astype("category")
    return out


def native_params(
    params: dict[str, Any],
    *,
    objective: str,
    seed: int,
    nthread: int,
    num_class: int | None = None,
) -> dict[str, Any]:
    """XGBoost ``train`` parameters from search-space names (``n_estimators`` removed).

    ``objective`` and ``num_class`` (multiclass) come from the task and win over
    any in ``params``: the labels decide how many classes there are.

    Example:
        >>> native_params({"max_depth": 3, "n_estimators": 50, "reg_lambda": 2.0},
        ...               objective="multi:softprob", seed=0, nthread=1, num_class=3)
        ... # doctest: +NORMALIZE_WHITESPACE
        {'objective': 'multi:softprob', 'seed': 0, 'nthread': 1, 'tree_method': 'hist',
         'max_depth': 3, 'lambda': 2.0, 'num_class': 3}
    """
    out: dict[str, Any] = {"objective": objective, "seed": seed, "nthread": nthread}
    out.setdefault("tree_method", "hist")
    for k, v in params.items():
        if k not in ("n_estimators", "objective", "num_class"):
            out[_RENAMES.get(k, k)] = v
    if num_class:
        out["num_class"] = int(num_class)
    return out


def _matrices(
    X: pd.DataFrame,
    y: np.ndarray,
    plan: FoldPlan,
    fold: int,
    *,
    max_bin: int,
    nthread: int,
    token: str | None,
) -> tuple[Any, Any]:
    import xgboost as xgb

    key = (token, fold, max_bin, tuple(X.columns))
    if token is not None and key in _MATRICES:
        return _MATRICES[key]
    train, test = plan.splits[fold]
    dtrain = xgb.QuantileDMatrix(
        X.iloc[train], y[train], enable_categorical=True, max_bin=max_bin, nthread=nthread
    )
    dtest = xgb.DMatrix(X.iloc[test], y[test], enable_categorical=True, nthread=nthread)
    if token is not None:
        if any(k[0] != token for k in _MATRICES):
            _MATRICES.clear()
        _MATRICES[key] = (dtrain, dtest)
    return dtrain, dtest


def score_xgb(
    X: pd.DataFrame,
    y: np.ndarray,
    plan: FoldPlan,
    params: dict[str, Any],
    rounds: Sequence[int],
    *,
    objective: str = "reg:squarederror",
    seed: int = 0,
    nthread: int = 1,
    tolerance: float = 5.0,
    token: str | None = None,
    on_fold: Callable[[int, dict[int, list[dict[str, float]]]], None] | None = None,
    scoring: Scoring | None = None,
) -> FoldScores:
    """Train on each fold's training rows and score its test rows at every round count.

    One model per fold is trained to ``max(rounds)``; the score at ``n`` rounds
    predicts with the first ``n`` trees (``iteration_range=(0, n)``), which is
    exactly the model trained for ``n`` rounds because boosting is sequential.
    ``on_fold(i, scores_so_far)`` is called after each fold (for Tune reports).
    ``scoring`` names the task's metrics (default: regression with ``tolerance``);
    a classifier's ``y`` holds class indices.
    """
    import xgboost as xgb

    scoring = scoring or Scoring(tolerance=tolerance)
    native = native_params(
        params, objective=objective, seed=seed, nthread=nthread, num_class=scoring.num_class
    )
    max_bin = int(native.get("max_bin", 256))
    top = max(rounds)
    scores: dict[int, list[dict[str, float]]] = {int(r): [] for r in rounds}
    seconds: list[float] = []
    for fold in range(len(plan)):
        dtrain, dtest = _matrices(X, y, plan, fold, max_bin=max_bin, nthread=nthread, token=token)
        start = time.perf_counter()
        booster = xgb.train(native, dtrain, num_boost_round=top)
        seconds.append(time.perf_counter() - start)
        y_test = y[plan.splits[fold][1]]
        for r in scores:
            pred = booster.predict(dtest, iteration_range=(0, r))
            scores[r].append(scoring.score(y_test, pred))
        if on_fold is not None:
            on_fold(fold, scores)
    return scores, seconds


def fit_booster(
    X: pd.DataFrame,
    y: np.ndarray,
    params: dict[str, Any],
    *,
    objective: str = "reg:squarederror",
    seed: int = 0,
    nthread: int = 1,
    num_class: int | None = None,
) -> xgb.Booster:
    """Fit one booster on all rows with ``params`` (``n_estimators`` = rounds, default 100)."""
    import xgboost as xgb

    native = native_params(
        params, objective=objective, seed=seed, nthread=nthread, num_class=num_class
    )
    dtrain = xgb.QuantileDMatrix(
        X, y, enable_categorical=True, max_bin=int(native.get("max_bin", 256)), nthread=nthread
    )
    return xgb.train(native, dtrain, num_boost_round=int(params.get("n_estimators", 100)))
