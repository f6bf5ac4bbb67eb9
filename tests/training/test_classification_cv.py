"""Classification folds, fold metrics, the logistic baseline and target checks (no Ray),
each checked against an independent scikit-learn computation on the same splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from classdata import breast_cancer, imbalanced, iris, wine
from sklearn import metrics as skm
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, StratifiedShuffleSplit
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from rayops.errors import InvalidInputError
from rayops.tasks import Task
from rayops.training.baseline import score_linear
from rayops.training.cv import FoldPlan, Scoring, aggregate
from rayops.training.fit import split_holdout
from rayops.training.scoring import prepare_frame, score_xgb
from rayops.training.targets import prepare_target

PARAMS = {"max_depth": 3, "learning_rate": 0.3}


def test_stratified_plan_is_sklearns_and_keeps_class_shares() -> None:
    frame = imbalanced(1_003, seed=4)
    target = prepare_target(frame, "label")
    plan = FoldPlan.for_frame(frame, folds=5, seed=7, stratify=target.y)
    assert plan.strategy == "stratified" and plan.describe()["strategy"] == "stratified"
    ref = StratifiedKFold(5, shuffle=True, random_state=7).split(np.zeros(len(frame)), target.y)
    share = target.y.mean()
    for (train, test), (r_train, r_test) in zip(plan.splits, ref, strict=True):
        np.testing.assert_array_equal(train, r_train)
        np.testing.assert_array_equal(test, r_test)
        assert abs(target.y[test].mean() - share) < 0.01
    # regression keeps plain shuffled k-fold
    assert FoldPlan.for_frame(frame, folds=5, seed=7).strategy == "kfold"
    with pytest.raises(InvalidInputError, match="at least 5 rows of every class"):
        FoldPlan.stratified(np.array([0] * 20 + [1] * 3), folds=5)


def _independent(model: xgb.XGBClassifier, X: pd.DataFrame, y: np.ndarray, splits):  # type: ignore[no-untyped-def]
    for train, test in splits:
        yield test, model.fit(X.iloc[train], y[train]).predict_proba(X.iloc[test])


def test_binary_fold_metrics_match_sklearn_on_breast_cancer() -> None:
    frame = breast_cancer()
    target = prepare_target(frame, "label", task="binary")
    assert target.classes == [0, 1] and target.objective == "binary:logistic"
    X = prepare_frame(frame, [c for c in frame.columns if c != "label"])
    plan = FoldPlan.for_frame(frame, folds=5, seed=3, stratify=target.y)
    scores, _ = score_xgb(
        X, target.y, plan, PARAMS, [20], objective=target.objective, seed=3,
        scoring=target.scoring(),
    )  # fmt: skip
    folds = scores[20]
    assert set(folds[0]) == set(Task.of("binary").metric_names)
    model = xgb.XGBClassifier(n_estimators=20, tree_method="hist", n_jobs=1, random_state=3,
                              **PARAMS)  # fmt: skip
    splits = StratifiedKFold(5, shuffle=True, random_state=3).split(X, target.y)
    for fold, (test, proba) in zip(folds, _independent(model, X, target.y, splits), strict=True):
        y = target.y[test]
        assert fold["logloss"] == pytest.approx(skm.log_loss(y, proba), rel=1e-5)
        assert fold["auc"] == pytest.approx(skm.roc_auc_score(y, proba[:, 1]), rel=1e-6)
        assert fold["pr_auc"] == pytest.approx(skm.average_precision_score(y, proba[:, 1]))
        assert fold["accuracy"] == pytest.approx(skm.accuracy_score(y, proba[:, 1] >= 0.5))
        assert fold["f1"] == pytest.approx(skm.f1_score(y, proba[:, 1] >= 0.5))
        assert fold["brier"] == pytest.approx(skm.brier_score_loss(y, proba[:, 1]), rel=1e-5)
    agg = aggregate(folds, Task.of("binary").metric_names)
    assert agg["auc_mean"] == pytest.approx(np.mean([f["auc"] for f in folds]))
    assert agg["auc_std"] == pytest.approx(np.std([f["auc"] for f in folds]))


@pytest.mark.parametrize("load", [iris, wine])
def test_multiclass_fold_metrics_match_sklearn(load) -> None:  # type: ignore[no-untyped-def]
    frame = load()
    target = prepare_target(frame, "label")  # strings / a categorical: auto is multiclass
    assert str(target.task) == "multiclass" and len(target.classes or []) == 3
    assert target.native() == {"objective": "multi:softprob", "num_class": 3}
    X = prepare_frame(frame, [c for c in frame.columns if c != "label"])
    plan = FoldPlan.for_frame(frame, folds=4, seed=1, stratify=target.y)
    scores, _ = score_xgb(
        X, target.y, plan, PARAMS, [15], objective=target.objective, seed=1,
        scoring=target.scoring(),
    )  # fmt: skip
    model = xgb.XGBClassifier(n_estimators=15, tree_method="hist", n_jobs=1, random_state=1,
                              **PARAMS)  # fmt: skip
    splits = StratifiedKFold(4, shuffle=True, random_state=1).split(X, target.y)
    pairs = zip(scores[15], _independent(model, X, target.y, splits), strict=True)
    for fold, (test, proba) in pairs:
        y = target.y[test]
        assert fold["logloss"] == pytest.approx(skm.log_loss(y, proba), rel=1e-5)
        assert fold["accuracy"] == pytest.approx(skm.accuracy_score(y, proba.argmax(1)))
        assert fold["macro_f1"] == pytest.approx(skm.f1_score(y, proba.argmax(1), average="macro"))


def test_logistic_baseline_matches_an_independent_pipeline() -> None:
    frame = breast_cancer()
    target = prepare_target(frame, "label", task="binary")
    cols = [c for c in frame.columns if c != "label"]
    plan = FoldPlan.stratified(target.y, folds=5, seed=0)
    folds = score_linear(prepare_frame(frame, cols), target.y, plan, scoring=target.scoring())
    pipe = Pipeline([
        ("prepare", ColumnTransformer([("numeric", Pipeline([
            ("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), cols)])),
        ("model", LogisticRegression(max_iter=2_000)),
    ])  # fmt: skip
    for fold, (train, test) in zip(folds, plan.splits, strict=True):
        proba = pipe.fit(frame[cols].iloc[train], target.y[train]).predict_proba(
            frame[cols].iloc[test]
        )
        assert fold["logloss"] == pytest.approx(skm.log_loss(target.y[test], proba), rel=1e-6)
        assert fold["auc"] == pytest.approx(skm.roc_auc_score(target.y[test], proba[:, 1]))
    assert np.mean([f["auc"] for f in folds]) > 0.98  # a strong linear problem


def test_logistic_baseline_handles_string_categoricals_and_three_classes() -> None:
    frame = imbalanced(600, seed=2)
    target = prepare_target(frame, "label")
    X = prepare_frame(frame, [c for c in frame.columns if c != "label"])
    plan = FoldPlan.stratified(target.y, folds=3, seed=0)
    with_plan = score_linear(X, target.y, plan, scoring=target.scoring())
    without = score_linear(X.drop(columns="plan"), target.y, plan, scoring=target.scoring())
    metric = Task.of("binary").metric_names
    assert aggregate(with_plan, metric)["logloss_mean"] < aggregate(without, metric)["logloss_mean"]
    wine_frame = wine()
    t3 = prepare_target(wine_frame, "label")
    folds = score_linear(
        prepare_frame(wine_frame, [c for c in wine_frame.columns if c != "label"]), t3.y,
        FoldPlan.stratified(t3.y, folds=3, seed=0), scoring=t3.scoring(),
    )  # fmt: skip
    assert all(f["accuracy"] > 0.85 for f in folds)


def test_a_fold_with_one_class_has_no_auc_and_the_mean_skips_it() -> None:
    s = Scoring(Task.of("binary"), n_classes=2)
    one = s.score(np.array([1, 1, 1]), np.array([0.9, 0.8, 0.7]))
    assert np.isnan(one["auc"]) and one["accuracy"] == 1.0
    two = s.score(np.array([0, 1]), np.array([0.2, 0.9]))
    agg = aggregate([one, two], s.metrics)
    assert agg["auc_mean"] == 1.0 and agg["accuracy_mean"] == 1.0


def test_string_labels_are_encoded_in_sorted_order() -> None:
    frame = imbalanced(500, seed=1)
    target = prepare_target(frame, "label")
    assert str(target.task) == "binary" and target.classes == ["churned", "stayed"]
    np.testing.assert_array_equal(target.y, (frame["label"] == "stayed").to_numpy())
    assert target.card() == {"task": "binary", "classes": ["churned", "stayed"],
                             "objective": "binary:logistic", "threshold": 0.5,
                             "target": "label"}  # fmt: skip
    bools = prepare_target(pd.DataFrame({"y": [True, False, True]}), "y")
    assert bools.classes == [False, True] and bools.y.tolist() == [1, 0, 1]
    # an objective names its task under auto: 0/1 integers need no --task then
    ints = prepare_target(pd.DataFrame({"y": [0, 1, 1, 0]}), "y", objective="binary:logistic")
    assert str(ints.task) == "binary"


@pytest.mark.parametrize(
    ("target", "task", "objective", "message"),
    [
        ([0, 1, 1, 0], "auto", None, "say --task binary to classify them"),
        ([0, 1, 2, 1], "auto", None, "say --task multiclass"),
        (["a", "a", "a"], "auto", None, "at least two classes; the target has 1"),
        (["a", "a", "a"], "binary", None, "at least two classes; the target has 1"),
        (["a", "b", "a"], "binary", "reg:squarederror", "does not fit a binary task"),
        (["a", "b", "a"], "multiclass", None, "needs at least three classes"),
        (["a", "b", "a"], "regression", None, "needs a numeric target"),
        ([1.0, 2.0, 3.0], "sideways", None, "Unknown task 'sideways'"),
        (["a", None, "b"], "auto", None, "missing values"),
    ],
)
def test_bad_targets_are_one_clear_sentence(
    target: list,
    task: str,
    objective: str | None,
    message: str,  # type: ignore[type-arg]
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        prepare_target(pd.DataFrame({"y": target}), "y", task=task, objective=objective)


def test_stratified_holdout_keeps_class_shares_and_time_holdout_the_latest_rows() -> None:
    frame = imbalanced(1_000, seed=3)
    y = prepare_target(frame, "label").y
    train, hold = split_holdout(frame, fraction=0.2, seed=5, stratify=y)
    assert len(hold) == 200 and len(train) == 800
    expected = next(StratifiedShuffleSplit(1, test_size=200, random_state=5).split(frame, y))[1]
    np.testing.assert_array_equal(hold.index.to_numpy(), np.sort(expected))
    assert (hold["label"] == "churned").mean() == pytest.approx((y == 0).mean(), abs=0.006)
    frame["t"] = pd.date_range("2026-01-01", periods=len(frame), freq="h")
    _, latest = split_holdout(frame.sample(frac=1.0, random_state=0), fraction=0.2,
                              time_column="t")  # fmt: skip
    assert latest["t"].min() == frame["t"].iloc[800]
