"""`rayops train` for classifiers: stratified holdout, card fields, the Ray Train path,
tuned parameters reaching the card, and the promotion gate against production."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xgboost as xgb
from classdata import breast_cancer, imbalanced, wine
from typer.testing import CliRunner

from rayops.cli import app
from rayops.config import Settings
from rayops.datasets import make_regression
from rayops.features import FeatureStore
from rayops.registry import Registry
from rayops.storage import open_storage
from rayops.training.finetune import fine_tune
from rayops.training.fit import TrainPath, split_holdout, train_model
from rayops.training.pipeline import load_params, run_training
from rayops.training.scoring import prepare_frame

runner = CliRunner()


def _train(*args: str) -> dict[str, Any]:
    res = runner.invoke(app, ["train", *args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)  # type: ignore[no-any-return]


def test_train_binary_registers_task_classes_and_holdout_metrics(
    ray_cluster: Any, tmp_path: Path
) -> None:
    frame = imbalanced(2_000, seed=8)
    data = tmp_path / "churn.parquet"
    frame.to_parquet(data)
    store = str(tmp_path / "store")
    record = _train("--data", str(data), "--target", "label", "--rounds", "30",
                    "--register", "churn", "--storage", store)  # fmt: skip
    assert record["task"] == "binary" and record["classes"] == ["churned", "stayed"]
    assert record["objective"] == "binary:logistic"
    assert record["rows"] == {"train": 1600, "holdout": 400}
    hold = record["holdout"]
    assert {"logloss", "auc", "accuracy", "precision", "recall", "f1", "brier", "ece"} <= set(hold)
    assert 0.8 < hold["auc"] <= 1.0

    # The holdout is stratified: independent recomputation of the same rows and metrics.
    y = (frame["label"] == "stayed").to_numpy().astype(int)
    train, held = split_holdout(frame, fraction=0.2, stratify=y)
    assert (held["label"] == "churned").sum() == round(400 * (y == 0).mean())
    mv = Registry(open_storage(store)).get(record["model"]["ref"])
    card = mv.card
    assert card.task.value == "binary" and card.classes == ["churned", "stayed"]
    assert card.objective == "binary:logistic" and card.threshold == 0.5
    assert card.target == "label" and mv.threshold == 0.5
    assert card.metrics["holdout"]["auc"] == pytest.approx(hold["auc"])
    assert card.params["n_estimators"] == 30 and card.params["objective"] == "binary:logistic"
    from sklearn.metrics import roc_auc_score

    proba = Registry(open_storage(store)).load(mv.ref).predict(prepare_frame(held, card.features))
    assert roc_auc_score((held["label"] == "stayed").astype(int), proba[:, 1]) == pytest.approx(
        hold["auc"]
    )


def test_train_multiclass_from_a_feature_set_target_role(ray_cluster: Any, tmp_path: Path) -> None:
    storage = open_storage(str(tmp_path / "store"))
    FeatureStore(storage).write("wine", wine(), target="label")
    record = run_training(
        storage, target=None, features="wine", params={"max_depth": 2}, num_boost_round=20,
        register="wine-xgb", settings=Settings(storage=storage.uri),
    )  # fmt: skip
    assert record["task"] == "multiclass" and record["classes"] == [
        "barbera", "barolo", "grignolino"
    ]  # fmt: skip
    assert {"logloss", "accuracy", "macro_f1", "recall[barolo]"} <= set(record["holdout"])
    card = Registry(storage).get("wine-xgb").card
    assert card.task.value == "multiclass" and card.params["num_class"] == 3
    assert card.threshold is None


@pytest.mark.slow
def test_ray_train_two_workers_trains_a_binary_classifier_like_plain_xgboost(
    ray_cluster: Any, tmp_path: Path
) -> None:
    frame = imbalanced(3_000, seed=11)
    train, hold = split_holdout(frame, fraction=0.25)
    params = {"max_depth": 3, "eta": 0.3}
    result = train_model(
        train, "label", params=params, num_boost_round=30, workers=2,
        storage=open_storage(str(tmp_path / "root")),
        settings=Settings(train_checkpoint_every=15),
    )  # fmt: skip
    assert result.path is TrainPath.RAY_TRAIN and result.workers == 2 and result.rounds == 30
    assert str(result.task) == "binary" and result.labels is not None
    assert result.params["objective"] == "binary:logistic"
    cols = [c for c in frame.columns if c != "label"]
    y = (train["label"] == "stayed").to_numpy()
    plain = xgb.train(
        {"objective": "binary:logistic", "tree_method": "hist", "nthread": 1, "seed": 0,
         **params},
        xgb.DMatrix(prepare_frame(train, cols), y, enable_categorical=True), 30,
    )  # fmt: skip
    X_hold = xgb.DMatrix(prepare_frame(hold, cols), enable_categorical=True)
    ours, theirs = result.booster.predict(X_hold), plain.predict(X_hold)
    # Data-parallel hist sketches quantiles per shard: close, not bit-identical.
    from sklearn.metrics import log_loss, roc_auc_score

    y_hold = (hold["label"] == "stayed").to_numpy()
    assert np.abs(ours - theirs).mean() < 0.05 and np.corrcoef(ours, theirs)[0, 1] > 0.97
    assert log_loss(y_hold, ours) == pytest.approx(log_loss(y_hold, theirs), rel=0.1)
    assert roc_auc_score(y_hold, ours) == pytest.approx(roc_auc_score(y_hold, theirs), abs=0.01)


def test_tuned_objective_and_rounds_reach_the_card_and_a_retrain(
    ray_cluster: Any, tmp_path: Path
) -> None:
    storage = open_storage(str(tmp_path / "store"))
    data = tmp_path / "rows.parquet"
    make_regression(600, seed=3).to_parquet(data)
    cfg = tmp_path / "grid.yaml"
    cfg.write_text("objective: reg:pseudohubererror\nspace:\n  max_depth: {grid: [2, 3]}\n"
                   "  n_estimators: {grid: [7, 13]}\ncv: {folds: 3}\n")  # fmt: skip
    res = runner.invoke(app, ["tune", "--config", str(cfg), "--data", str(data), "--target",
                              "target", "--exclude", "entity_id", "--storage", storage.uri,
                              "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["objective"] == "reg:pseudohubererror"
    rounds = summary["best"]["params"]["n_estimators"]
    params = load_params(storage, from_run=summary["run_id"])
    assert params["objective"] == "reg:pseudohubererror" and params["n_estimators"] == rounds
    record = _train("--data", str(data), "--target", "target", "--from-run", summary["run_id"],
                    "--register", "demand", "--storage", storage.uri)  # fmt: skip
    assert record["training"]["rounds"] == rounds  # not the default 100
    card = Registry(storage).get(record["model"]["ref"]).card
    assert card.objective == "reg:pseudohubererror"
    assert card.params["objective"] == "reg:pseudohubererror"
    assert card.params["n_estimators"] == rounds
    # A retrain trains from the card's params (rayops.automation.pipeline._params).
    from rayops.automation.pipeline import warm_space

    again = dict(card.params)
    assert warm_space(again).objective == "reg:pseudohubererror"
    retrain = run_training(
        storage, target="target", data=str(data), params=again,
        num_boost_round=int(again.pop("n_estimators", 100)), settings=Settings(),
    )  # fmt: skip
    assert retrain["training"]["rounds"] == rounds
    assert retrain["params"]["objective"] == "reg:pseudohubererror"


def test_the_gate_decides_train_against_production(ray_cluster: Any, tmp_path: Path) -> None:
    data = tmp_path / "cancer.parquet"
    breast_cancer().to_parquet(data)
    store = str(tmp_path / "store")
    weak = tmp_path / "weak.yaml"
    weak.write_text("max_depth: 1\neta: 0.05\n")
    base = ["--data", str(data), "--target", "label", "--task", "binary", "--register",
            "cancer", "--storage", store]  # fmt: skip
    first = _train(*base, "--params", str(weak), "--rounds", "3")
    assert first["production"] is None
    reg = Registry(open_storage(store))
    reg.set_alias("cancer", "production", first["model"]["version"])

    better = _train(*base, "--rounds", "60")
    prod = better["production"]
    assert prod["version"] == first["model"]["version"]
    # Production scored on the very same holdout rows: its metrics are the first run's.
    assert prod["holdout"]["logloss"] == pytest.approx(first["holdout"]["logloss"])
    gate = prod["gate"]
    assert gate["paired"] and gate["n_candidate"] == better["rows"]["holdout"]
    assert gate["n_incumbent"] == gate["n_candidate"]
    assert gate["verdict"] == "better" and prod["candidate_better"] is True
    assert gate["candidate_metric"] == pytest.approx(better["holdout"]["logloss"])
    assert gate["p_better"] < Settings().training.gate_alpha

    reg.set_alias("cancer", "production", better["model"]["version"])
    worse = _train(*base, "--params", str(weak), "--rounds", "3")
    assert worse["production"]["gate"]["verdict"] == "worse"
    assert worse["production"]["candidate_better"] is False
    stored = open_storage(store).read_json(f"training/runs/{worse['run_id']}.json")
    assert stored["production"]["gate"]["verdict"] == "worse"


def test_finetune_of_a_classifier_goes_through_the_gate(ray_cluster: Any, tmp_path: Path) -> None:
    frame = imbalanced(3_000, seed=12)
    storage = open_storage(str(tmp_path / "store"))
    parent = train_model(frame.iloc[:600], "label", params={"max_depth": 2}, num_boost_round=5)
    reg = Registry(storage)
    mv = reg.register("churn", parent.booster, params=parent.params, features=parent.features,
                      feature_types=parent.feature_types, **parent.card())  # fmt: skip
    result = fine_tune(storage, mv.ref, frame.iloc[600:], "label", rounds=40)
    assert result.gate is not None and result.gate["paired"]
    assert result.accepted is (result.gate["verdict"] == "better")
    assert result.accepted, result.reason
    assert "logloss" in result.reason and result.after["logloss"] < result.before["logloss"]
    child = reg.get(f"churn@{result.version}").card
    assert child.classes == ["churned", "stayed"] and child.task.value == "binary"
    assert child.params["n_estimators"] == 5  # the parent's configuration, for retrains
    # a model that was already good: nothing to gain, rejected by the same gate
    again = fine_tune(storage, f"churn@{result.version}", frame.iloc[600:1200], "label",
                      rounds=1, min_improvement=0.05)  # fmt: skip
    assert not again.accepted and again.gate is not None and again.version is None
