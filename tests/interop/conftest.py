"""Fixtures for MLflow interop: a local file store per test, one `mlflow server` per session,
and small boosters (a binary classifier with string classes, a regressor with categoricals)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import free_port
from mlflowserver import MlflowServer

from rayops.registry import Registry
from rayops.storage import open_storage

# MLflow as a library in the test process: no telemetry (rayops sets this too).
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """A real tracking server (REST API, model registry, proxied artifacts) on 127.0.0.1."""
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server"), free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def file_store(tmp_path: Path) -> str:
    """A local MLflow file store, named as a plain directory (as users give it)."""
    return str(tmp_path / "mlruns")


@pytest.fixture
def reg(tmp_path: Path) -> Registry:
    return Registry(open_storage(str(tmp_path / "rayops")))


@pytest.fixture(scope="session")
def churn() -> Any:
    """Breast-cancer rows with string classes: (frame, features, booster) of a binary model."""
    import xgboost as xgb
    from classdata import breast_cancer

    frame = breast_cancer()
    features = [c for c in frame.columns if c != "label"]
    y = frame["label"].to_numpy()
    d = xgb.DMatrix(frame[features], label=y, nthread=1)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3, "eta": 0.3, "nthread": 1}, d, 8
    )
    frame = frame.assign(label=["benign" if v else "malignant" for v in y])
    return frame, features, booster


@pytest.fixture(scope="session")
def demand() -> Any:
    """Regression rows with categorical features: (frame, features, booster)."""
    from registry_workers import FEATURES, train

    from rayops.datasets import make_regression

    frame = make_regression(400, seed=3)
    return frame, FEATURES, train(frame)
