"""Fold plans, metrics, the round-sharing shortcut and the linear baseline (no Ray)."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb
from sklearn import metrics as skm
from sklearn.model_selection import KFold

from rayops.datasets import make_regression
from rayops.errors import InvalidInputError
from rayops.training.baseline import score_linear
from rayops.training.cv import FoldPlan, aggregate, regression_metrics
from rayops.training.scoring import prepare_frame, score_xgb


def test_kfold_matches_sklearn_and_partitions_rows() -> None:
    plan = FoldPlan.kfold(103, folds=5, seed=7)
    ref = list(KFold(5, shuffle=True, random_state=7).split(np.zeros(103)))
    assert len(plan) == 5
    for (train, test), (r_train, r_test) in zip(plan.splits, ref, strict=True):
        np.testing.assert_array_equal(train, r_train)
        np.testing.assert_array_equal(test, r_test)
    assert sorted(np.concatenate([t for _, t in plan.splits]).tolist()) == list(range(103))
    # a different seed gives different folds
    assert not np.array_equal(FoldPlan.kfold(103, seed=8).splits[0][1], plan.splits[0][1])


def test_group_folds_keep_groups_together() -> None:
    df = make_regression(500, n_entities=20, seed=1)
    plan = FoldPlan.for_frame(df, strategy="group", folds=4, seed=0, column="entity_id")
    for train, test in plan.splits:
        assert not set(df["entity_id"].iloc[train]) & set(df["entity_id"].iloc[test])
    with pytest.raises(InvalidInputError, match="at least 30 groups"):
        FoldPlan.group(df["entity_id"], folds=30)


def test_time_folds_train_only_on_the_past() -> None:
    df = make_regression(300, seed=2).sample(frac=1.0, random_state=0)  # shuffled rows
    plan = FoldPlan.for_frame(df, strategy="time", folds=3, column="event_time")
    times = df["event_time"].to_numpy()
    for train, test in plan.splits:
        assert times[train].max() < times[test].min()
    with pytest.raises(InvalidInputError, match="needs a column"):
        FoldPlan.for_frame(df, strategy="time", folds=3, column="nope")


def test_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(50, 10, 200)
    p = y + rng.normal(0, 6, 200)
    m = regression_metrics(y, p, tolerance=5.0)
    assert m["rmse"] == pytest.approx(skm.root_mean_squared_error(y, p))
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(y, p))
    assert m["r2"] == pytest.approx(skm.r2_score(y, p))
    assert m["accuracy"] == pytest.approx(np.mean(np.abs(y - p) <= 5.0))
    assert regression_metrics(y, p, tolerance=1.0)["accuracy"] < m["accuracy"]
    agg = aggregate([m, {**m, "rmse": m["rmse"] + 2}])
    assert agg["rmse_mean"] == pytest.approx(m["rmse"] + 1) and agg["rmse_std"] == pytest.approx(1)


def _frame_with_nan(n: int, seed: int) -> tuple[object, np.ndarray]:
    df = make_regression(n, seed=seed)
    df.loc[df.index[::7], "num_2"] = np.nan  # missing values
    df.loc[df.index[::11], "cat_0"] = None
    X = prepare_frame(df, [c for c in df.columns if c.startswith(("num_", "cat_"))])
    return X, df["target"].to_numpy()


def test_shared_rounds_score_exactly_like_separate_models() -> None:
    """Scoring 10 rounds from a 30-round model equals training 10 rounds: no shortcut."""
    X, y = _frame_with_nan(400, 3)
    plan = FoldPlan.kfold(len(y), folds=3, seed=0)
    params = {"max_depth": 3, "learning_rate": 0.3, "subsample": 0.8}
    shared, _ = score_xgb(X, y, plan, params, [10, 30], token="t-shared")
    alone, _ = score_xgb(X, y, plan, params, [10])
    assert shared[10] == alone[10]
    assert shared[30] != shared[10]


def test_linear_baseline_handles_categoricals_and_nan() -> None:
    X, y = _frame_with_nan(400, 4)
    plan = FoldPlan.kfold(len(y), folds=5, seed=0)
    folds = score_linear(X, y, plan)
    assert len(folds) == 5 and all(np.isfinite(f["rmse"]) for f in folds)
    # independent pipeline: the one-hot columns matter (category effects are in the target)
    no_cats = score_linear(X[[c for c in X.columns if c.startswith("num_")]], y, plan)
    assert aggregate(folds)["rmse_mean"] < aggregate(no_cats)["rmse_mean"]


def test_xgboost_matrix_cache_is_per_token() -> None:
    from rayops.training import scoring

    X, y = _frame_with_nan(200, 5)
    plan = FoldPlan.kfold(len(y), folds=2, seed=0)
    score_xgb(X, y, plan, {"max_depth": 2}, [3], token="a")
    assert {k[0] for k in scoring._MATRICES} == {"a"}
    score_xgb(X, y, plan, {"max_depth": 2}, [3], token="b")
    assert {k[0] for k in scoring._MATRICES} == {"b"}
    assert isinstance(next(iter(scoring._MATRICES.values()))[0], xgb.QuantileDMatrix)
