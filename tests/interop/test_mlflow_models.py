"""MLflow model export and import round trips, on a local file store and on a real server.

Every round trip ends with the imported version's booster byte-identical to the
exported one and its card fields equal; MLflow itself loads the exported models.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mlflowserver import MlflowServer
from typer.testing import CliRunner

import rayops
from rayops.cli import app
from rayops.errors import InvalidInputError
from rayops.interop import export_model, import_model
from rayops.interop._session import mlflow_session, tracking_uri
from rayops.registry import Registry, baseline_from_frame
from rayops.storage import Storage

runner = CliRunner()


def _client(uri: str) -> Any:
    import mlflow

    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def _register_churn(reg: Registry, churn: Any) -> Any:
    frame, features, booster = churn
    mv = reg.register(
        "churn",
        booster,
        classes=["malignant", "benign"],
        target="label",
        params={"max_depth": 3, "eta": 0.3, "objective": "binary:logistic", "n_estimators": 8},
        metrics={
            "cv": {"logloss_mean": 0.12, "auc_mean": 0.99},
            "holdout": {"recall[benign]": 0.97},
        },
        lineage={"feature_set": "cancer", "version": 2, "sha256": "a" * 64, "rows": 569},
        baseline=baseline_from_frame(frame, features),
        run_id="20260101T000000Z-abc123",
        description="breast cancer screen",
    )
    reg.set_threshold(mv.ref, 0.35, reason="recall")
    return reg.get(mv.ref)


def _same_card(a: Any, b: Any) -> None:
    """The card fields an import must preserve (everything but identity and provenance)."""
    for field in (
        "kind",
        "task",
        "classes",
        "objective",
        "target",
        "params",
        "metrics",
        "features",
        "feature_types",
        "lineage",
        "baseline",
        "importance",
        "run_id",
    ):
        assert getattr(a.card, field) == getattr(b.card, field), field
    assert a.card.artifact.sha256 == b.card.artifact.sha256  # the booster, byte for byte
    assert a.threshold == b.threshold


def _download(uri: str, source: str, dst: Path) -> Path:
    with mlflow_session(tracking_uri(uri)) as mlflow:
        return Path(mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(dst)))


def test_round_trip_through_a_file_store(
    reg: Registry, churn: Any, file_store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame, features, _ = churn
    mv = _register_churn(reg, churn)
    out = export_model(reg, "churn@1.0.0", file_store, register_as="churn-mlflow")
    assert (out.registered_name, out.registered_version) == ("churn-mlflow", "1")
    assert out.model_uri == "models:/churn-mlflow/1" and out.sha256 == mv.card.artifact.sha256
    assert out.tracking_uri == Path(file_store).resolve().as_uri()

    # What MLflow users see: params, metrics and tags from the card.
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = _client(out.tracking_uri)
    run = client.get_run(out.run_id)
    assert run.info.run_name == "churn@1.0.0"
    assert run.data.params["max_depth"] == "3" and run.data.params["objective"] == "binary:logistic"
    assert run.data.metrics == {
        "cv.logloss_mean": 0.12, "cv.auc_mean": 0.99, "holdout.recall_benign_": 0.97,
    }  # fmt: skip
    tags = run.data.tags
    assert tags["rayops.ref"] == "churn@1.0.0" and tags["rayops.task"] == "binary"
    assert json.loads(tags["rayops.classes"]) == ["malignant", "benign"]
    assert tags["rayops.threshold"] == "0.35" and tags["rayops.objective"] == "binary:logistic"
    assert tags["rayops.target"] == "label" and json.loads(tags["rayops.features"]) == features
    assert tags["rayops.lineage.feature_set"] == "cancer" and tags["rayops.lineage.version"] == "2"
    assert tags["rayops.rayops_version"] == rayops.__version__
    assert tags["rayops.run_id"] == "20260101T000000Z-abc123"
    version = client.get_model_version("churn-mlflow", "1")
    assert version.run_id == out.run_id and version.tags["rayops.ref"] == "churn@1.0.0"

    # A real xgboost-flavor model: MLflow loads it and predicts what rayops predicts.
    local = _download(file_store, "models:/churn-mlflow/1", tmp_path / "dl")
    import mlflow.xgboost
    import xgboost as xgb
    import yaml

    mlmodel = yaml.safe_load((local / "MLmodel").read_text())
    assert mlmodel["flavors"]["xgboost"]["model_format"] == "ubj"
    assert mlmodel["metadata"]["rayops"]["classes"] == ["malignant", "benign"]
    assert [c["name"] for c in json.loads(mlmodel["signature"]["inputs"])] == features
    loaded = mlflow.xgboost.load_model(str(local))
    assert isinstance(loaded, xgb.Booster)
    expected = reg.load("churn@1.0.0").predict(frame)
    assert np.array_equal(loaded.predict(xgb.DMatrix(frame[features]))[:], expected[:, 1])

    # Back into rayops, three ways: the registry URI, the run URI, the directory.
    back = import_model(reg, "models:/churn-mlflow/1", uri=file_store)
    assert (back.ref, back.from_rayops, back.format) == ("churn@1.1.0", True, "ubj")
    assert back.mlflow_run_id == out.run_id and back.mlflow_model_id == out.model_id
    imported = reg.get(back.ref)
    _same_card(mv, imported)
    assert imported.card.description.startswith("Imported from MLflow models:/churn-mlflow/1")
    assert np.array_equal(reg.load(back.ref).predict(frame), expected)
    by_run = import_model(reg, f"runs:/{out.run_id}/model", uri=file_store, name="churn-run")
    from_dir = import_model(reg, str(local), name="churn-dir")
    for ref in (by_run.ref, from_dir.ref):
        _same_card(mv, reg.get(ref))


def test_round_trip_through_a_tracking_server(
    storage: Storage, demand: Any, mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    """Over HTTP only: the CLI exports to the server's registry and imports by alias."""
    frame, features, booster = demand
    reg = Registry(storage)
    mv = reg.register("demand", booster, metrics={"rmse": 4.2}, params={"max_depth": 3},
                      target="target")  # fmt: skip
    name = f"demand-{uuid.uuid4().hex[:8]}"
    env = {"AWS_ENDPOINT_URL": getattr(storage, "endpoint_url", None) or ""}

    def cli(*args: str) -> tuple[int, Any]:
        res = runner.invoke(app, [*args, "--json", "--storage", storage.uri], env=env)
        return res.exit_code, json.loads(res.stdout) if res.stdout.strip() else None

    code, out = cli("models", "export", "demand@1.0.0", "--mlflow", mlflow_server.url,
                    "--register-as", name, "--experiment", "server-tests")  # fmt: skip
    assert code == 0, out
    assert out["registered_version"] == "1" and out["tracking_uri"] == mlflow_server.url
    client = _client(mlflow_server.url)
    assert client.get_experiment(out["experiment_id"]).name == "server-tests"
    client.set_registered_model_alias(name, "champion", "1")
    local = _download(mlflow_server.url, f"models:/{name}/1", tmp_path / "dl")
    import yaml

    mlmodel = yaml.safe_load((local / "MLmodel").read_text())
    assert "signature" not in mlmodel or mlmodel["signature"] is None  # categorical inputs

    code, back = cli("models", "import", "--mlflow", f"models:/{name}@champion",
                     "--tracking-uri", mlflow_server.url)  # fmt: skip
    assert code == 0, back
    assert back["ref"] == "demand@1.1.0" and back["task"] == "regression"
    assert back["mlflow_run_id"] == out["run_id"]
    _same_card(mv, reg.get(back["ref"]))
    assert np.array_equal(
        reg.load(back["ref"]).predict(frame), reg.load("demand@1.0.0").predict(frame)
    )


def test_a_model_logged_by_plain_mlflow_is_imported_with_its_params_and_metrics(
    reg: Registry, file_store: str
) -> None:
    """Not a rayops export: the task comes from the objective, params and metrics from MLflow."""
    import mlflow.xgboost
    from classdata import iris
    from xgboost import XGBClassifier

    frame = iris()
    features = [c for c in frame.columns if c != "label"]
    y = frame["label"].astype("category").cat.codes.to_numpy()
    model = XGBClassifier(n_estimators=6, max_depth=3, n_jobs=1).fit(frame[features], y)
    with mlflow_session(tracking_uri(file_store)) as mlflow:
        with mlflow.start_run():
            mlflow.log_params({"max_depth": 3, "n_estimators": 6, "booster": "gbtree"})
            mlflow.log_metric("accuracy", 0.96)
            mlflow.xgboost.log_model(
                model, name="model", model_format="json", registered_model_name="iris",
                pip_requirements=[], signature=False,
            )  # fmt: skip
    back = import_model(reg, "models:/iris/latest", uri=file_store)
    assert (back.ref, back.format, back.from_rayops) == ("iris@1.0.0", "json", False)
    card = reg.get(back.ref).card
    assert (card.task.value, card.classes, card.objective) == ("multiclass", [0, 1, 2],
                                                                 "multi:softprob")  # fmt: skip
    assert card.params == {"max_depth": 3, "n_estimators": 6, "booster": "gbtree"}
    assert card.metrics == {"accuracy": 0.96} and card.features == features
    assert np.allclose(reg.load(back.ref).predict(frame), model.predict_proba(frame[features]))


def test_an_ensemble_is_refused_naming_what_can_be_exported(
    reg: Registry, demand: Any, file_store: str
) -> None:
    from rayops.registry import EnsembleSpec

    _, _, booster = demand
    reg.register("a", booster)
    reg.register("b", booster)
    reg.register("blend", EnsembleSpec(kind="weighted", members=["a@1.0.0", "b@1.0.0"]))
    with pytest.raises(InvalidInputError) as e:
        export_model(reg, "blend", file_store)
    assert "weighted ensemble" in str(e.value)
    assert "rayops models export a@1.0.0" in str(e.value)
    assert "rayops models export b@1.0.0" in str(e.value)
    assert not Path(file_store).exists()  # refused before MLflow was touched


def test_the_callers_mlflow_configuration_is_left_as_it_was(
    reg: Registry, demand: Any, file_store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    _, _, booster = demand
    reg.register("demand", booster)
    elsewhere = (tmp_path / "elsewhere").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", elsewhere)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    mlflow.set_tracking_uri(elsewhere)
    try:
        export_model(reg, "demand", file_store)
        assert mlflow.get_tracking_uri() == elsewhere
        assert os.environ["MLFLOW_TRACKING_URI"] == elsewhere
        assert "MLFLOW_ALLOW_FILE_STORE" not in os.environ
        assert "MLFLOW_REGISTRY_URI" not in os.environ
    finally:
        mlflow.set_tracking_uri(None)


def test_models_and_runs_uris_need_a_tracking_store(
    reg: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(InvalidInputError, match="--tracking-uri"):
        import_model(reg, "models:/churn/1")


def test_an_unreachable_server_is_exit_code_5_naming_it(
    reg: Registry, demand: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness import free_port

    _, _, booster = demand
    reg.register("demand", booster)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # MLflow's default retries: minutes
    url = f"http://127.0.0.1:{free_port()}"
    res = runner.invoke(
        app, ["models", "export", "demand", "--mlflow", url, "--json", "--storage", reg.storage.uri]
    )
    assert res.exit_code == 5
    err = json.loads(res.stdout)
    assert err["error"] == "StorageUnavailableError" and url in err["message"]


def test_without_mlflow_installed_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    from rayops.interop._session import import_mlflow

    monkeypatch.setitem(sys.modules, "mlflow", None)  # what `import mlflow` sees when absent
    with pytest.raises(InvalidInputError, match=r"pip install 'rayops\[mlflow\]'"):
        import_mlflow()
