"""The task abstraction: metrics against scikit-learn, labels, task inference, outputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.datasets import load_breast_cancer, load_iris

from rayops.errors import InvalidInputError
from rayops.tasks import Labels, Task, expected_calibration_error, infer_task


def test_binary_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    p1 = np.clip(y * 0.6 + rng.uniform(0, 0.4, 500), 0, 1)
    proba = np.column_stack([1 - p1, p1])
    m = Task.of("binary").metrics(y, proba, threshold=0.7)
    predicted = (p1 >= 0.7).astype(int)
    assert m["logloss"] == pytest.approx(skm.log_loss(y, np.clip(proba, 1e-15, 1)))
    assert m["auc"] == pytest.approx(skm.roc_auc_score(y, p1))
    assert m["pr_auc"] == pytest.approx(skm.average_precision_score(y, p1))
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, predicted))
    assert m["precision"] == pytest.approx(skm.precision_score(y, predicted))
    assert m["recall"] == pytest.approx(skm.recall_score(y, predicted))
    assert m["f1"] == pytest.approx(skm.f1_score(y, predicted))
    assert m["brier"] == pytest.approx(skm.brier_score_loss(y, p1))
    assert m["positive_rate"] == pytest.approx(predicted.mean())
    assert 0 <= m["ece"] <= 1  # type: ignore[operator]


def test_metrics_undefined_on_one_class_are_none() -> None:
    m = Task.of("binary").metrics([1, 1, 1], np.array([[0.2, 0.8]] * 3))
    assert m["auc"] is None and m["pr_auc"] is None and m["accuracy"] == 1.0


def test_multiclass_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    raw = rng.dirichlet([1, 1, 1], 300) + np.eye(3)[y] * 0.5
    proba = raw / raw.sum(axis=1, keepdims=True)
    labels = Labels(["a", "b", "c"])
    m = Task.of("multiclass").metrics(y, proba, labels=labels)
    predicted = proba.argmax(axis=1)
    assert m["logloss"] == pytest.approx(skm.log_loss(y, proba))
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y, predicted, average="macro"))
    assert m["brier"] == pytest.approx(skm.brier_score_loss(y, proba, labels=[0, 1, 2]))
    recalls = skm.recall_score(y, predicted, average=None)
    assert [m["recall[a]"], m["recall[b]"], m["recall[c]"]] == pytest.approx(list(recalls))


def test_regression_metrics_and_row_loss() -> None:
    y, pred = np.array([1.0, 2.0, 10.0]), np.array([1.5, 2.0, 4.0])
    m = Task.of("regression").metrics(y, pred, tolerance=1.0)
    assert m["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, pred)))
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(y, pred))
    assert m["accuracy"] == pytest.approx(2 / 3)
    loss = Task.of("regression").row_loss(y, pred)
    assert Task.of("regression").metric_of_loss(loss.mean()) == pytest.approx(m["rmse"])


def test_log_loss_row_loss_averages_to_log_loss() -> None:
    y = np.array([0, 2, 1])
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3]])
    loss = Task.of("multiclass").row_loss(y, p)
    assert loss.mean() == pytest.approx(skm.log_loss(y, p))


def test_ece_is_zero_when_calibrated_and_high_when_not() -> None:
    rng = np.random.default_rng(2)
    p = rng.uniform(0, 1, 200_000)
    y = (rng.uniform(0, 1, p.size) < p).astype(int)
    assert expected_calibration_error(y, p) < 0.01
    assert expected_calibration_error(y, np.sqrt(p)) > 0.1


def test_labels_keep_types_apart_and_name_unknowns() -> None:
    labels = Labels.infer(pd.Series([True, False, True]))
    assert labels.classes == [False, True]
    assert labels.encode([True, False]).tolist() == [1, 0]
    with pytest.raises(InvalidInputError, match="1 is not a class"):
        labels.index_of(1)  # 1 == True in Python, but not a bool label
    ints = Labels([0, 1])
    with pytest.raises(InvalidInputError, match="'1' is not a class"):
        ints.index_of("1")
    with pytest.raises(InvalidInputError, match="at least two classes"):
        Labels(["only"])
    s = pd.Series(["b", "a", "c", "a"], dtype="category")
    assert Labels.infer(s).encode_series(s).tolist() == [1, 0, 2, 0]
    with pytest.raises(InvalidInputError, match="'z', which is not one of"):
        Labels(["a", "b"]).encode_series(pd.Series(["a", "z"]))


def test_task_inference_follows_the_target_type() -> None:
    assert str(infer_task(pd.Series(["no", "yes"]))) == "binary"
    assert str(infer_task(pd.Series([True, False]))) == "binary"
    assert str(infer_task(pd.Series(pd.Categorical(["x", "y", "z"])))) == "multiclass"
    assert str(infer_task(pd.Series(np.arange(100)))) == "regression"
    assert str(infer_task(pd.Series([0.0, 1.0]))) == "regression"
    with pytest.raises(InvalidInputError, match="--task binary"):
        infer_task(pd.Series([0, 1, 0]))
    with pytest.raises(InvalidInputError, match="--task multiclass"):
        infer_task(pd.Series([0, 1, 2, 1]))
    assert str(infer_task(pd.Series([0, 1, 0]), "binary")) == "binary"
    with pytest.raises(InvalidInputError, match="one class|two classes"):
        infer_task(pd.Series(["a", "a"]), "binary")
    with pytest.raises(InvalidInputError, match="Unknown task"):
        infer_task(pd.Series([1.0]), "ranking")
    with pytest.raises(InvalidInputError, match="numeric target"):
        infer_task(pd.Series(["a", "b"]), "regression")


def test_objectives_belong_to_their_task() -> None:
    binary = Task.of("binary")
    assert binary.check_objective(None) == "binary:logistic"
    with pytest.raises(InvalidInputError, match="does not fit a binary task"):
        binary.check_objective("reg:squarederror")
    with pytest.raises(InvalidInputError, match="does not fit a multiclass task"):
        Task.of("multiclass").check_objective("multi:softmax")  # labels, not probabilities
    assert Task.of("binary").check_metric("auc") == "auc"
    with pytest.raises(InvalidInputError, match="not a regression metric"):
        Task.of("regression").check_metric("auc")


def test_xgboost_outputs_become_probabilities_in_class_order() -> None:
    import xgboost as xgb

    x, y = load_iris(return_X_y=True)
    model = xgb.XGBClassifier(n_estimators=5, max_depth=2).fit(x, y)
    raw = model.get_booster().inplace_predict(x.astype(np.float32))
    proba = Task.of("multiclass").probabilities(raw, 3)
    np.testing.assert_allclose(proba, model.predict_proba(x), rtol=1e-6)
    xb, yb = load_breast_cancer(return_X_y=True)
    binary = xgb.XGBClassifier(n_estimators=5, max_depth=2).fit(xb, yb)
    pb = Task.of("binary").probabilities(binary.get_booster().inplace_predict(xb), 2)
    np.testing.assert_allclose(pb, binary.predict_proba(xb), rtol=1e-6)
    assert (Task.of("binary").predicted_index(pb) == binary.predict(xb)).all()
