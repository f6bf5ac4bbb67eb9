"""`rayops tune --task binary|multiclass` on the shared Ray cluster: fold metrics checked
against scikit-learn on the same stratified splits, the CLI's JSON, and bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xgboost as xgb
from classdata import breast_cancer, imbalanced, iris
from sklearn import metrics as skm
from sklearn.model_selection import StratifiedKFold
from typer.testing import CliRunner

from rayops.cli import app
from rayops.config import Settings
from rayops.registry import Registry
from rayops.storage import open_storage
from rayops.training import get_run, parse_space, run_tune

runner = CliRunner()
GRID = "space:\n  max_depth: {grid: [2, 4]}\n  n_estimators: {grid: [10, 20]}\ncv: {folds: 4}\n"


def test_binary_tune_on_string_labels_matches_independent_sklearn(
    ray_cluster: Any, tmp_path: Path
) -> None:
    frame = imbalanced(1_200, seed=6)
    storage = open_storage(str(tmp_path))
    result = run_tune(
        frame, target="label", space=parse_space(GRID), storage=storage,
        settings=Settings(storage=storage.uri, cv_seed=5),
    )  # fmt: skip
    run = get_run(storage, result.run_id)
    assert run["task"] == "binary" and run["classes"] == ["churned", "stayed"]
    assert run["objective"] == "binary:logistic" and run["metric"] == "logloss"
    assert run["mode"] == "min" and run["cv"]["strategy"] == "stratified"
    assert run["class_counts"]["churned"] == int((frame["label"] == "churned").sum())
    assert run["baseline"]["model"].startswith("logistic regression")

    X = frame.drop(columns="label").assign(plan=lambda f: f["plan"].astype("category"))
    y = (frame["label"] == "stayed").to_numpy().astype(int)
    splits = list(StratifiedKFold(4, shuffle=True, random_state=5).split(X, y))
    trials = result.trials
    assert len(trials) == 4 and set(trials["status"]) == {"completed"}
    for _, row in trials.iterrows():
        model = xgb.XGBClassifier(
            n_estimators=int(row["param_n_estimators"]), max_depth=int(row["param_max_depth"]),
            tree_method="hist", enable_categorical=True, n_jobs=1, random_state=5,
        )  # fmt: skip
        for i, (train, test) in enumerate(splits):
            proba = model.fit(X.iloc[train], y[train]).predict_proba(X.iloc[test])
            assert row["logloss_folds"][i] == pytest.approx(skm.log_loss(y[test], proba), rel=1e-5)
            assert row["auc_folds"][i] == pytest.approx(
                skm.roc_auc_score(y[test], proba[:, 1]), rel=1e-6
            )
            assert row["recall_folds"][i] == pytest.approx(
                skm.recall_score(y[test], proba[:, 1] >= 0.5)
            )
        assert row["logloss_mean"] == pytest.approx(np.mean(row["logloss_folds"]))
        assert row["auc_std"] == pytest.approx(np.std(row["auc_folds"]))
    assert result.best["score"] == pytest.approx(trials["logloss_mean"].min())
    assert {"auc_mean", "logloss_mean", "accuracy_mean", "f1_std"} <= set(result.best["metrics"])
    assert result.baseline["metrics"]["auc_mean"] > 0.8


def test_multiclass_tune_selects_by_metric_and_registers_classes(
    ray_cluster: Any, tmp_path: Path
) -> None:
    storage = open_storage(str(tmp_path))
    space = parse_space("space:\n  max_depth: {grid: [1, 3]}\n  n_estimators: {grid: [5, 25]}\n"
                        "cv: {folds: 3}\n")  # fmt: skip
    result = run_tune(
        iris(), target="label", space=space, storage=storage, metric="accuracy",
        select_features=True, selection_method="permutation", top_k=2, register="iris-xgb",
        settings=Settings(storage=storage.uri),
    )  # fmt: skip
    assert result.run["task"] == "multiclass" and result.run["mode"] == "max"
    assert result.best["score"] == pytest.approx(result.trials["accuracy_mean"].max())
    assert {"logloss_mean", "macro_f1_mean", "brier_mean"} <= set(result.best["metrics"])
    sel = result.selection
    assert sel is not None and len(sel["selected"]) == 2
    assert "accuracy_mean" in sel["score_with"]
    card = Registry(storage).get("iris-xgb").card
    assert card.task.value == "multiclass" and card.classes == ["setosa", "versicolor", "virginica"]
    assert card.objective == "multi:softprob" and card.target == "label"
    assert card.params["objective"] == "multi:softprob"
    assert card.params["n_estimators"] == result.best["params"]["n_estimators"]
    predicted = Registry(storage).load("iris-xgb").predict(iris())
    assert predicted.shape == (150, 3)
    np.testing.assert_allclose(predicted.sum(axis=1), 1.0, rtol=1e-6)


def _tune(*args: str) -> Any:
    return runner.invoke(app, ["tune", *args, "--json"])


def test_cli_tune_task_binary_json_has_auc_and_logloss(ray_cluster: Any, tmp_path: Path) -> None:
    data = tmp_path / "cancer.parquet"
    breast_cancer().to_parquet(data)
    cfg = tmp_path / "grid.yaml"
    cfg.write_text(GRID)
    store = str(tmp_path / "store")
    res = _tune("--config", str(cfg), "--data", str(data), "--target", "label",
                "--task", "binary", "--metric", "auc", "--register", "cancer",
                "--storage", store)  # fmt: skip
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["task"] == "binary" and summary["classes"] == [0, 1]
    assert summary["metric"] == "auc" and summary["objective"] == "binary:logistic"
    best = summary["best"]
    assert best["score"] == pytest.approx(best["metrics"]["auc_mean"])
    assert 0.95 < best["metrics"]["auc_mean"] <= 1.0 and best["metrics"]["logloss_mean"] > 0
    assert set(best["metrics"]) >= {f"{m}_mean" for m in ("auc", "logloss", "accuracy", "ece")}
    assert summary["baseline"]["metrics"]["auc_mean"] > 0.98
    card = Registry(open_storage(store)).get("cancer").card
    assert card.task.value == "binary" and card.classes == [0, 1] and card.threshold == 0.5


@pytest.mark.parametrize(
    ("args", "frame", "message"),
    [
        (["--task", "ordinal"], "cancer", "Unknown task 'ordinal'"),
        (["--task", "binary", "--metric", "rmse"], "cancer", "'rmse' is not a binary metric"),
        (["--task", "binary", "--config-objective"], "cancer", "does not fit a binary task"),
        ([], "cancer", "integers with only 2 distinct values"),
        (["--task", "binary"], "one-class", "at least two classes; the target has 1"),
    ],
)
def test_cli_tune_bad_input_exits_2_and_writes_nothing(
    ray_cluster: Any, tmp_path: Path, args: list[str], frame: str, message: str
) -> None:
    rows = breast_cancer()
    if frame == "one-class":
        rows = rows.assign(label="yes")
    data = tmp_path / "rows.parquet"
    rows.to_parquet(data)
    cfg = tmp_path / "grid.yaml"
    text = GRID
    if "--config-objective" in args:
        args = [a for a in args if a != "--config-objective"]
        text = "objective: reg:squarederror\n" + GRID
    cfg.write_text(text)
    store = tmp_path / "store"
    res = _tune("--config", str(cfg), "--data", str(data), "--target", "label",
                "--storage", str(store), *args)  # fmt: skip
    assert res.exit_code == 2, res.output
    error = json.loads(res.stdout)
    assert error["error"] == "InvalidInputError" and message in error["message"]
    assert error["message"].count(". ") <= 1  # one sentence (two when it says what to do)
    assert not (store / "runs").exists() or not any((store / "runs").iterdir())
