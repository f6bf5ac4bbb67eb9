"""Imports refuse what is not an XGBoost UBJSON/JSON booster, and never unpickle to find out.

Each pickle here, if ever loaded, creates a marker directory (its ``__reduce__``
is ``os.mkdir``); a positive control shows that the same construction does leave
a marker when unpickled, so its absence after a refused import is the proof.
"""

from __future__ import annotations

import json
import os
import pickle
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlflowserver import MlflowServer
from typer.testing import CliRunner

from rayops.cli import app
from rayops.errors import InvalidInputError, UnsafeArtifactError
from rayops.interop import RefusedModelError, export_model, import_model
from rayops.interop._session import mlflow_session, tracking_uri
from rayops.registry import Registry

runner = CliRunner()


class Boom:
    """Unpickling this creates ``marker``: proof that a pickle was executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> Any:
        return (os.mkdir, (self.marker,))

    def predict(self, X: Any) -> Any:  # what mlflow.sklearn.save_model looks for
        return X


def _payload(marker: Path) -> bytes:
    return pickle.dumps(Boom(marker), protocol=pickle.HIGHEST_PROTOCOL)


def test_the_payload_is_live(tmp_path: Path) -> None:
    """Positive control: this construction does execute when unpickled."""
    marker = tmp_path / "control"
    pickle.loads(_payload(marker))  # noqa: S301 (the point of the control)
    assert marker.is_dir()


def _xgboost_dir(booster: Any, path: Path, **kwargs: Any) -> Path:
    import mlflow.xgboost

    mlflow.xgboost.save_model(booster, str(path), pip_requirements=[], **kwargs)
    return path


def _edit_mlmodel(path: Path, **xgboost_flavor: Any) -> None:
    doc = yaml.safe_load((path / "MLmodel").read_text())
    doc["flavors"]["xgboost"].update(xgboost_flavor)
    (path / "MLmodel").write_text(yaml.safe_dump(doc))


def test_an_xgboost_flavor_whose_file_is_a_pickle_is_refused_unexecuted(
    reg: Registry, demand: Any, tmp_path: Path
) -> None:
    _, _, booster = demand
    marker = tmp_path / "pwned"
    model = _xgboost_dir(booster, tmp_path / "model")
    (model / "model.ubj").write_bytes(_payload(marker))  # a real MLflow dir, a pickled file
    with pytest.raises(RefusedModelError) as e:
        import_model(reg, str(model), name="evil")
    message = str(e.value)
    assert "model.ubj" in message and "looks like a Python pickle" in message
    assert "model_format='ubj'" in message
    assert not marker.exists()
    assert reg.list() == []

    # Named as a pickle in the MLmodel too; and through the CLI (exit 2, JSON error).
    (model / "model.ubj").rename(model / "model.pkl")
    _edit_mlmodel(model, data="model.pkl", model_format="pkl")
    res = runner.invoke(
        app, ["models", "import", "--mlflow", str(model), "--name", "evil", "--json",
              "--storage", reg.storage.uri],
    )  # fmt: skip
    assert res.exit_code == 2
    err = json.loads(res.stdout)
    assert err["error"] == "RefusedModelError" and "model.pkl (model_format pkl)" in err["message"]
    assert not marker.exists()


def test_a_scikit_learn_flavor_is_refused_naming_the_flavors_found(
    reg: Registry, tmp_path: Path
) -> None:
    import mlflow.sklearn

    marker = tmp_path / "pwned"
    path = tmp_path / "sk"
    mlflow.sklearn.save_model(
        Boom(marker), str(path), serialization_format="pickle", pip_requirements=[]
    )
    assert (path / "model.pkl").is_file() and not marker.exists()
    with pytest.raises(RefusedModelError) as e:
        import_model(reg, str(path), name="sk")
    message = str(e.value)
    assert "has no xgboost flavor" in message and "never unpickles" in message
    assert "sklearn (pickled_model=model.pkl, serialization_format=pickle)" in message
    assert "python_function" in message
    assert not marker.exists()


def test_a_pickle_served_by_a_tracking_server_is_refused_unexecuted(
    reg: Registry, demand: Any, mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    """Downloaded over HTTP from runs:/, checked, refused; nothing executed on the way."""
    _, _, booster = demand
    marker = tmp_path / "pwned"
    model = _xgboost_dir(booster, tmp_path / "model")
    (model / "model.ubj").write_bytes(_payload(marker))
    with mlflow_session(tracking_uri(mlflow_server.url)) as mlflow:
        client = mlflow.MlflowClient()
        experiment = client.create_experiment(f"evil-{uuid.uuid4().hex[:8]}")
        run = client.create_run(experiment)
        client.log_artifacts(run.info.run_id, str(model), "model")
    with pytest.raises(RefusedModelError, match="looks like a Python pickle"):
        import_model(reg, f"runs:/{run.info.run_id}/model", uri=mlflow_server.url, name="evil")
    assert not marker.exists()


def test_a_legacy_binary_model_is_refused_and_told_to_resave(
    reg: Registry, demand: Any, tmp_path: Path
) -> None:
    _, _, booster = demand
    model = _xgboost_dir(booster, tmp_path / "model")
    (model / "model.ubj").rename(model / "model.xgb")
    (model / "model.xgb").write_bytes(b"binf\x00\x00\x00\x3f" + bytes(range(256)) * 4)
    _edit_mlmodel(model, data="model.xgb", model_format="xgb")
    with pytest.raises(RefusedModelError) as e:
        import_model(reg, str(model), name="old")
    assert "model.xgb (model_format xgb)" in str(e.value)
    assert "neither XGBoost UBJSON nor JSON" in str(e.value)
    assert "model_format='ubj'" in str(e.value)


def test_an_xgb_format_model_is_imported_when_its_bytes_are_ubjson(
    reg: Registry, demand: Any, tmp_path: Path
) -> None:
    """The name says legacy; XGBoost >= 2 writes UBJSON there. The bytes decide."""
    _, _, booster = demand
    with pytest.warns(UserWarning, match="UBJSON format as default"):
        model = _xgboost_dir(booster, tmp_path / "model", model_format="xgb")
    back = import_model(reg, str(model), name="xgbfmt")
    assert (back.file, back.declared_format, back.format) == ("model.xgb", "xgb", "ubj")
    assert reg.get(back.ref).card.features == list(booster.feature_names)


def test_a_data_path_outside_the_model_directory_is_refused(
    reg: Registry, demand: Any, tmp_path: Path
) -> None:
    _, _, booster = demand
    model = _xgboost_dir(booster, tmp_path / "model")
    (tmp_path / "outside.ubj").write_bytes((model / "model.ubj").read_bytes())
    _edit_mlmodel(model, data="../outside.ubj")
    with pytest.raises(InvalidInputError, match="outside it; refused"):
        import_model(reg, str(model), name="escape")


def test_a_rayops_export_whose_booster_was_swapped_fails_its_integrity_check(
    reg: Registry, demand: Any, file_store: str, tmp_path: Path
) -> None:
    from registry_workers import train

    frame, _, booster = demand
    reg.register("demand", booster)
    out = export_model(reg, "demand", file_store)
    with mlflow_session(tracking_uri(file_store)) as mlflow:
        local = Path(mlflow.artifacts.download_artifacts(out.model_uri, dst_path=str(tmp_path)))
    other = train(frame, rounds=3, seed=9)
    (local / "model.ubj").write_bytes(bytes(other.save_raw("ubj")))
    with pytest.raises(UnsafeArtifactError, match="integrity check"):
        import_model(reg, str(local))
    assert [v.version for v in reg.versions("demand")] == ["1.0.0"]
