"""`rayops predict-batch` and `rayops batch list|show`: JSON, exit codes, people's output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from batch_models import register_all, rows
from typer.testing import CliRunner

from rayops.cli import app
from rayops.features import FeatureStore
from rayops.storage import open_storage

runner = CliRunner()


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, boosters: Any) -> str:
    path = str(tmp_path_factory.mktemp("cli-batch"))
    storage = open_storage(path)
    register_all(storage, boosters)
    FeatureStore(storage).write("daily", rows(300, seed=4), entity="entity_id",
                                event_time="event_time", target="target")  # fmt: skip
    return path


def test_predict_batch_json_then_list_and_show(root: str, ray_cluster: Any) -> None:
    res = runner.invoke(app, ["predict-batch", "reg-a", "--features", "daily", "--id-columns",
                              "entity_id,event_time", "--storage", root, "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    manifest = json.loads(res.stdout)
    assert manifest["rows"] == 300 and manifest["definition"]["model"] == "reg-a@1.0.0"
    assert manifest["columns"][:3] == ["entity_id", "event_time", "prediction"]
    job = manifest["job_id"]
    listed = json.loads(runner.invoke(app, ["batch", "list", "--storage", root, "--json"]).stdout)
    assert [(j["job_id"], j["state"], j["rows"]) for j in listed] == [(job, "complete", 300)]
    shown = runner.invoke(app, ["batch", "show", job, "--storage", root])
    assert shown.exit_code == 0 and "scored 300 rows of daily@1 with reg-a@1.0.0" in shown.stdout
    again = runner.invoke(app, ["predict-batch", "reg-a", "--features", "daily", "--id-columns",
                                "entity_id,event_time", "--storage", root])  # fmt: skip
    assert again.exit_code == 0 and f"job {job}" in again.stdout  # the same job, complete


def test_bad_input_exit_codes(root: str, ray_cluster: Any, tmp_path: Path) -> None:
    res = runner.invoke(app, ["predict-batch", "ghost", "--features", "daily", "--storage", root])
    assert res.exit_code == 3 and "No model named 'ghost'" in res.stderr
    res = runner.invoke(app, ["predict-batch", "blend", "--features", "daily", "--explain",
                              "--storage", root])  # fmt: skip
    assert res.exit_code == 2 and "issue 22" in res.stderr
    res = runner.invoke(app, ["predict-batch", "reg-a", "--data", str(tmp_path / "none"),
                              "--storage", root])  # fmt: skip
    assert res.exit_code == 3 and "No input at" in res.stderr
    res = runner.invoke(app, ["batch", "show", "nope", "--storage", root])
    assert res.exit_code == 3 and "No batch job 'nope'" in res.stderr
