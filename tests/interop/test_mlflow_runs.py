"""A real tune run (Ray Tune, 4 configurations x 3 folds) exported as MLflow runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mlflowserver import MlflowServer
from typer.testing import CliRunner

from rayops.cli import app
from rayops.datasets import make_regression
from rayops.errors import NotFoundError
from rayops.interop import export_run
from rayops.storage import Storage, open_storage
from rayops.training import get_run, parse_space, read_trials, run_tune

runner = CliRunner()

GRID = """
params: {learning_rate: 0.3}
space:
  max_depth: {grid: [2, 3]}
  n_estimators: {grid: [5, 10]}
cv: {folds: 3}
"""


@pytest.fixture(scope="module")
def tuned(ray_cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Storage, str]:
    storage = open_storage(str(tmp_path_factory.mktemp("tuned")))
    result = run_tune(
        make_regression(300, seed=5), target="target", space=parse_space(GRID), storage=storage
    )
    return storage, result.run_id


def _check_export(uri: str, parent_id: str, storage: Storage, run_id: str) -> None:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=uri)
    run, trials = get_run(storage, run_id), read_trials(storage, run_id)
    parent = client.get_run(parent_id)
    assert parent.info.run_name == f"tune {run_id}" and parent.info.status == "FINISHED"
    assert parent.data.tags["rayops.run_id"] == run_id
    assert parent.data.tags["rayops.export"] == "complete"
    assert parent.data.tags["rayops.children"] == str(len(trials)) == "4"
    p = parent.data.params
    assert (p["metric"], p["mode"], p["task"], p["folds"], p["cv_strategy"]) == (
        "rmse", "min", "regression", "3", "kfold",
    )  # fmt: skip
    best = run["best"]["metrics"]["rmse_mean"]
    assert parent.data.metrics["best.rmse_mean"] == pytest.approx(best)
    assert parent.data.metrics["baseline.rmse_mean"] == pytest.approx(
        run["baseline"]["metrics"]["rmse_mean"]
    )
    assert "rayops/run.json" in [f.path for f in client.list_artifacts(parent_id, "rayops")]

    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_id}'"
    )
    assert len(children) == 4
    marked = [c for c in children if c.data.tags["rayops.best"] == "true"]
    assert len(marked) == 1
    assert marked[0].info.run_id == parent.data.tags["rayops.best_child_run_id"]
    assert marked[0].data.tags["rayops.config_id"] == str(run["best"]["config_id"])
    by_config = {int(c.data.tags["rayops.config_id"]): c for c in children}
    for row in trials.to_dict("records"):
        child = by_config[int(row["config_id"])]
        assert child.info.status == "FINISHED" and child.data.tags["rayops.status"] == "completed"
        assert child.data.tags["rayops.rank"] == str(int(row["rank"]))
        params = json.loads(row["params_json"])
        assert child.data.params == {k: json.dumps(v) for k, v in params.items()}
        for m in ("rmse", "mae", "r2", "accuracy"):
            assert child.data.metrics[m] == pytest.approx(row[f"{m}_mean"])
            assert child.data.metrics[f"{m}_std"] == pytest.approx(row[f"{m}_std"])
        history = sorted(client.get_metric_history(child.info.run_id, "rmse_fold"),
                         key=lambda h: h.step)  # fmt: skip
        assert [h.step for h in history] == [0, 1, 2]
        assert [h.value for h in history] == pytest.approx(list(row["rmse_folds"]))


def test_a_tune_run_exported_to_a_file_store_through_the_cli(
    tuned: tuple[Storage, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage, run_id = tuned
    store = tmp_path / "mlruns"
    args = ["runs", "export", run_id, "--mlflow", str(store), "--json", "--storage", storage.uri]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["children"] == 4 and out["already_exported"] is False
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    _check_export(store.as_uri(), out["parent_run_id"], storage, run_id)

    # Again: the earlier export is found, nothing is written twice.
    again = json.loads(runner.invoke(app, args).stdout)
    assert again["already_exported"] is True and again["parent_run_id"] == out["parent_run_id"]
    assert again["best_child_run_id"] == out["best_child_run_id"]
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=store.as_uri())
    assert len(client.search_runs([out["experiment_id"]])) == 5


def test_a_tune_run_exported_to_a_tracking_server(
    tuned: tuple[Storage, str], mlflow_server: MlflowServer
) -> None:
    storage, run_id = tuned
    out = export_run(storage, run_id, mlflow_server.url, experiment=f"tune-{run_id}")
    assert out.children == 4 and out.best_child_run_id is not None
    _check_export(mlflow_server.url, out.parent_run_id, storage, run_id)


def test_an_unknown_run_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="rayops runs list"):
        export_run(open_storage(str(tmp_path)), "20260101T000000Z-000000", str(tmp_path / "m"))
