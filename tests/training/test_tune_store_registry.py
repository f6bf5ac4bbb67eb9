"""`rayops tune --features NAME@V --register NAME`: feature store in, registry version out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import xgboost as xgb
from typer.testing import CliRunner

import rayops.features as features_mod
import rayops.registry as registry_mod
from rayops.cli import app
from rayops.datasets import make_regression
from rayops.storage import open_storage
from rayops.training.runs import get_run


def test_tune_from_feature_set_and_register(ray_cluster: Any, tmp_path: Path) -> None:
    storage = open_storage(str(tmp_path / "store"))
    version = features_mod.FeatureStore(storage).write(
        "sales", make_regression(300, seed=6), entity="entity_id", event_time="event_time",
        target="target",
    )  # fmt: skip
    cfg = tmp_path / "grid.yaml"
    cfg.write_text("space:\n  max_depth: {grid: [2, 3]}\n  n_estimators: {grid: [10]}\n"
                   "cv: {folds: 3}\n")  # fmt: skip
    res = CliRunner().invoke(
        app,
        ["tune", "--config", str(cfg), "--features", version.ref, "--register", "sales-xgb",
         "--select-features", "--top-k", "5", "--storage", storage.uri, "--json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    run = get_run(storage, summary["run_id"])
    # the target came from the feature set's roles; entity and event time stay out of X
    assert run["target"] == "target"
    assert "entity_id" not in run["features"] and "event_time" not in run["features"]
    assert run["data"]["feature_set"] == "sales" and run["data"]["sha256"] == version.sha256
    assert len(summary["selection"]["selected"]) == 5

    reg = registry_mod.Registry(storage)
    mv = reg.get(f"sales-xgb@{summary['registered']['version']}")
    card = mv.card
    assert card.run_id == summary["run_id"]
    assert card.lineage.feature_set == "sales" and card.lineage.version == version.version
    assert card.lineage.sha256 == version.sha256
    assert card.params["max_depth"] == summary["best"]["params"]["max_depth"]
    assert card.metrics["rmse_mean"] == pytest.approx(summary["best"]["score"])
    assert card.features == run["refit"]["features"]
    booster = xgb.Booster(model_file=bytearray(storage.read_bytes(run["refit"]["model_key"])))
    assert booster.num_boosted_rounds() == 10
