"""A rayops tune run as MLflow runs: one parent, one child per scored configuration.

The run document (``runs/<run_id>/run.json``) and its trials table
(``trials.parquet``, see :mod:`rayops.training.runs`) become, in the experiment
``registry_mlflow_experiment``:

* a **parent** run named ``tune <run_id>``: params (metric, mode, task, objective,
  target, folds, strategy, seed, configs, features, config file), the best
  configuration's fold means and stds and the baseline's as metrics
  (``best.rmse_mean``, ``baseline.rmse_mean``), tags ``rayops.run_id``,
  ``rayops.kind=tune``, ``rayops.best_child_run_id``, and ``rayops/run.json`` as
  an artifact;
* a **child** per trials row (``mlflow.parentRunId`` = the parent): the
  configuration's params, each metric's fold mean under its own name (``rmse``),
  its std (``rmse_std``) and every fold as the steps of ``rmse_fold``, timings;
  tags ``rayops.config_id``, ``rayops.trial_id``, ``rayops.status``, ``rayops.rank``,
  and ``rayops.best=true`` on the run's best configuration. Completed
  configurations end FINISHED, ASHA-stopped ones KILLED, errors FAILED (with
  ``rayops.error``).

Exporting the same run again finds the earlier export (tagged
``rayops.export=complete``) and returns it instead of writing a second copy.

Example:
    >>> from rayops.interop.mlflow_runs import fold_metrics
    >>> fold_metrics(["config_id", "rmse_folds", "rmse_mean", "mae_folds"])
    ['mae', 'rmse']
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from rayops.config import Settings, settings_of
from rayops.interop._session import (
    experiment_id_for,
    mlflow_session,
    quiet_stdout,
    shown_uri,
    tracking_uri,
)
from rayops.interop.mlflow import metric_key, param_value
from rayops.storage import Storage
from rayops.training.runs import get_run, read_trials

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MlflowRunExport", "export_run", "fold_metrics"]

_STATUS = {"completed": "FINISHED", "stopped": "KILLED", "error": "FAILED"}
_BATCH = 100  # MLflow's limit of params (and of tags) per log_batch call


class MlflowRunExport(BaseModel):
    """Where :func:`export_run` put a tune run."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    children: int
    best_child_run_id: str | None
    already_exported: bool = False


def fold_metrics(columns: Iterable[str]) -> list[str]:
    """The metrics of a trials table: every ``<m>_folds`` column names one, sorted."""
    return sorted(c.removesuffix("_folds") for c in columns if c.endswith("_folds"))


def _number(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _ms(iso: str | None) -> int:
    if not iso:
        return int(time.time() * 1000)
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def _log(client: Any, run_id: str, params: Mapping[str, Any], metrics: Sequence[Any],
         tags: Mapping[str, str]) -> None:  # fmt: skip
    """Everything of one run in as few ``log_batch`` calls as MLflow's limits allow."""
    from mlflow.entities import Param, RunTag

    p = [Param(metric_key(k), param_value(v)) for k, v in params.items()]
    t = [RunTag(k, v) for k, v in tags.items()]
    for i in range(0, max(len(p), len(t), len(metrics), 1), _BATCH):
        client.log_batch(
            run_id, metrics=list(metrics[i : i + _BATCH]), params=p[i : i + _BATCH],
            tags=t[i : i + _BATCH],
        )  # fmt: skip


def _parent_fields(run: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, float]]:
    cv = run.get("cv") or {}
    params = {
        "metric": run.get("metric"),
        "mode": run.get("mode"),
        "task": run.get("task", "regression"),
        "objective": run.get("objective"),
        "target": run.get("target"),
        "folds": cv.get("folds") or cv.get("n_folds"),
        "cv_strategy": cv.get("strategy"),
        "seed": run.get("seed"),
        "configs": run.get("n_configs"),
        "features": run.get("features"),
        "config_name": run.get("config_name"),
        "classes": run.get("classes"),
    }
    metrics: dict[str, float] = {}
    for prefix, part in (("best", run.get("best") or {}), ("baseline", run.get("baseline") or {})):
        for k, v in (part.get("metrics") or {}).items():
            if (x := _number(v)) is not None:
                metrics[metric_key(f"{prefix}.{k}")] = x
        if (x := _number(part.get("score"))) is not None:
            metrics[f"{prefix}.score"] = x
    return {k: v for k, v in params.items() if v is not None}, metrics


def _child(row: Mapping[str, Any], names: Sequence[str], now_ms: int) -> tuple[
    dict[str, Any], list[Any]]:  # fmt: skip
    """A trials row's params and metrics (fold mean, std, and each fold as a step)."""
    from mlflow.entities import Metric

    params = json.loads(row["params_json"])
    metrics = []
    for m in names:
        for key, value in ((m, row.get(f"{m}_mean")), (f"{m}_std", row.get(f"{m}_std"))):
            if (x := _number(value)) is not None:
                metrics.append(Metric(metric_key(key), x, now_ms, 0))
        folds = row.get(f"{m}_folds")
        for step, value in enumerate(list(folds) if folds is not None else []):
            if (x := _number(value)) is not None:
                metrics.append(Metric(metric_key(f"{m}_fold"), x, now_ms, step))
    for key in ("fit_seconds", "trial_seconds", "folds_scored"):
        if (x := _number(row.get(key))) is not None:
            metrics.append(Metric(key, x, now_ms, 0))
    return params, metrics


def _previous_export(client: Any, experiment_id: str, run_id: str) -> Any | None:
    found = client.search_runs(
        [experiment_id],
        filter_string=(
            f"tags.`rayops.run_id` = '{run_id}' and tags.`rayops.kind` = 'tune' "
            "and tags.`rayops.export` = 'complete'"
        ),
        max_results=1,
    )
    return found[0] if found else None


def export_run(
    storage: Storage,
    run_id: str,
    uri: str,
    *,
    experiment: str | None = None,
    settings: Settings | None = None,
) -> MlflowRunExport:
    """Write the tune run ``run_id`` of ``storage`` to the MLflow store at ``uri``.

    Raises:
        NotFoundError: no such run (``rayops runs list`` shows them).

    Example:
        >>> export_run(storage, "20261122T142301Z-3f9a1c", "/tmp/mlruns").children  # doctest: +SKIP
        81
    """
    run = get_run(storage, run_id)
    trials: pd.DataFrame = read_trials(storage, run_id)
    names = fold_metrics(trials.columns)
    best_config = (run.get("best") or {}).get("config_id")
    settings = settings_of(storage, settings)
    store = tracking_uri(uri)
    with mlflow_session(store) as mlflow, quiet_stdout():
        from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

        client = mlflow.MlflowClient()
        experiment_id = experiment_id_for(client, experiment or settings.registry.mlflow_experiment)
        done = _previous_export(client, experiment_id, run_id)
        if done is not None:
            return MlflowRunExport(
                run_id=run_id, tracking_uri=shown_uri(store), experiment_id=experiment_id,
                parent_run_id=done.info.run_id, children=int(done.data.tags.get(
                    "rayops.children", 0)), best_child_run_id=done.data.tags.get(
                    "rayops.best_child_run_id"), already_exported=True,
            )  # fmt: skip
        start = _ms(run.get("created_at"))
        base_tags = {"rayops.run_id": run_id, "rayops.kind": "tune"}
        parent = client.create_run(
            experiment_id, start_time=start, run_name=f"tune {run_id}", tags=base_tags
        )
        parent_id = parent.info.run_id
        params, metrics = _parent_fields(run)
        from mlflow.entities import Metric

        _log(client, parent_id, params, [Metric(k, v, start, 0) for k, v in metrics.items()],
             {"rayops.metric": str(run.get("metric"))})  # fmt: skip
        client.log_dict(parent_id, run, "rayops/run.json")
        best_child: str | None = None
        for row in trials.to_dict("records"):
            child_params, child_metrics = _child(row, names, start)
            is_best = best_config is not None and int(row["config_id"]) == int(best_config)
            tags = {
                **base_tags,
                MLFLOW_PARENT_RUN_ID: parent_id,
                MLFLOW_RUN_NAME: f"config {row['config_id']}",
                "rayops.config_id": str(row["config_id"]),
                "rayops.trial_id": str(row["trial_id"]),
                "rayops.status": str(row["status"]),
                "rayops.best": "true" if is_best else "false",
            }
            if _number(row.get("rank")) is not None:
                tags["rayops.rank"] = str(int(row["rank"]))
            if row.get("error"):
                tags["rayops.error"] = str(row["error"])[:4000]
            child = client.create_run(experiment_id, start_time=start, tags=tags)
            _log(client, child.info.run_id, child_params, child_metrics, {})
            seconds = _number(row.get("trial_seconds")) or 0.0
            client.set_terminated(
                child.info.run_id,
                status=_STATUS.get(str(row["status"]), "FINISHED"),
                end_time=start + int(seconds * 1000),
            )
            if is_best:
                best_child = child.info.run_id
        final = {"rayops.children": str(len(trials)), "rayops.export": "complete"}
        if best_child:
            final["rayops.best_child_run_id"] = best_child
        _log(client, parent_id, {}, [], final)
        client.set_terminated(parent_id, status="FINISHED")
        return MlflowRunExport(
            run_id=run_id,
            tracking_uri=shown_uri(store),
            experiment_id=experiment_id,
            parent_run_id=parent_id,
            children=len(trials),
            best_child_run_id=best_child,
        )
