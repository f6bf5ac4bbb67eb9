"""`rayops train` end to end: feature set in, evaluated and registered model out."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from rayops.cli import app
from rayops.datasets import make_regression
from rayops.features import FeatureStore
from rayops.registry import Registry
from rayops.storage import open_storage

runner = CliRunner()


def _train(root: str, *extra: str) -> dict:  # type: ignore[type-arg]
    res = runner.invoke(
        app,
        ["train", "--features", "demand", "--register", "demand", "--rounds", "30",
         "--storage", root, "--json", *extra],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)  # type: ignore[no-any-return]


def test_train_registers_with_lineage_and_compares_with_production(  # type: ignore[no-untyped-def]
    ray_cluster, tmp_path: Path
) -> None:
    root = str(tmp_path / "root")
    storage = open_storage(root)
    fs = FeatureStore(storage).write(
        "demand", make_regression(3_000, seed=2), entity=["entity_id"], event_time="event_time",
        target=["target"],
    )  # fmt: skip
    first = _train(root)
    assert first["training"]["path"] == "fast"
    assert first["target"] == "target" and "event_time" not in first["features"]
    assert first["rows"] == {"train": 2400, "holdout": 600}
    assert first["production"] is None
    reg = Registry(storage)
    mv = reg.get(first["model"]["ref"])
    assert mv.card.lineage is not None and mv.card.lineage.sha256 == fs.sha256
    assert mv.card.baseline  # drift baseline recorded for monitoring
    assert mv.card.metrics["holdout"]["rmse"] == first["holdout"]["rmse"]

    reg.set_alias("demand", "production", mv.version)
    params = tmp_path / "params.yaml"
    params.write_text("max_depth: 2\neta: 0.05\n")
    second = _train(root, "--params", str(params))
    assert second["production"]["version"] == mv.version
    # Scored on the same holdout rows: the production figure is the first run's.
    assert second["production"]["holdout"]["rmse"] == first["holdout"]["rmse"]
    assert second["production"]["candidate_better"] is (
        second["holdout"]["rmse"] < first["holdout"]["rmse"]
    )
    assert second["model"]["version"] != mv.version
    assert storage.exists(f"training/runs/{second['run_id']}.json")


def test_train_errors_are_clear(ray_cluster, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = str(tmp_path / "root")
    res = runner.invoke(app, ["train", "--features", "ghost", "--storage", root, "--json"])
    assert res.exit_code == 3, res.output
    res = runner.invoke(app, ["train", "--storage", root])
    assert res.exit_code == 2 and "exactly one of" in res.output
    res = runner.invoke(
        app, ["train", "--data", "x.parquet", "--params", "a", "--from-run", "b", "--storage", root]
    )
    assert res.exit_code == 2 and "not both" in res.output
