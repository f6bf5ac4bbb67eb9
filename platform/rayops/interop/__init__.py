"""Interoperability with other ML tools: MLflow today.

* :func:`export_model` -- a registered booster as an MLflow model (xgboost flavor,
  UBJSON) with the card's params, metrics and tags, optionally registered in
  MLflow's model registry.
* :func:`export_run` -- a tune run as one MLflow parent run and a child per
  configuration.
* :func:`import_model` -- an MLflow xgboost model (``models:/``, ``runs:/`` or a
  directory) registered here, read as UBJSON or JSON only: nothing is unpickled.

MLflow is an optional dependency (``pip install 'rayops[mlflow]'``, which brings
``mlflow-skinny``); it is imported inside these functions only. Reading an MLflow
model directory (:mod:`rayops.interop.mlmodel`) needs no MLflow at all.

Example:
    >>> from rayops.interop import tracking_uri
    >>> tracking_uri("file:///tmp/mlruns")
    'file:///tmp/mlruns'
"""

from __future__ import annotations

from rayops.interop._session import tracking_uri
from rayops.interop.mlflow import (
    MlflowModelExport,
    MlflowModelImport,
    export_model,
    import_model,
)
from rayops.interop.mlflow_runs import MlflowRunExport, export_run
from rayops.interop.mlmodel import RefusedModelError, read_xgboost_model

__all__ = [
    "MlflowModelExport",
    "MlflowModelImport",
    "MlflowRunExport",
    "RefusedModelError",
    "export_model",
    "export_run",
    "import_model",
    "read_xgboost_model",
    "tracking_uri",
]
