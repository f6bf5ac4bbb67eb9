"""Persisted tuning runs: ``runs/<run_id>/trials.parquet`` + ``run.json`` (+ ``model.ubj``).

``trials.parquet`` holds one row per scored configuration: its parameters, every
fold's metrics, their mean and standard deviation, timing and status.
``run.json`` is written last (put-if-absent), so a run is listed only once it is
complete: it holds the search space, the fold plan, the data lineage, the
baseline, the feature-selection result, the best configuration and, when
registered, the model version.

Example:
    >>> new_run_id()  # doctest: +SKIP
    '20261122T142301Z-3f9a1c'
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rayops.errors import NotFoundError
from rayops.names import validate_name
from rayops.storage import Storage

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RUNS", "get_run", "list_runs", "new_run_id", "read_trials", "save_run"]

RUNS = "runs"


def new_run_id(now: datetime | None = None) -> str:
    """A sortable, unique run id: UTC timestamp plus random hex."""
    ts = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{ts}-{secrets.token_hex(3)}"


def save_run(
    storage: Storage,
    run_id: str,
    run: dict[str, Any],
    trials: pd.DataFrame,
    model_ubj: bytes | None = None,
) -> None:
    """Write a run's trials table, refit model and (last) its ``run.json``."""
    import pyarrow as pa

    validate_name(run_id, "run id")
    base = f"{RUNS}/{run_id}"
    storage.write_parquet(
        f"{base}/trials.parquet", pa.Table.from_pandas(trials, preserve_index=False)
    )
    if model_ubj is not None:
        storage.write_bytes(f"{base}/model.ubj", model_ubj)
    storage.put_json_if_absent(f"{base}/run.json", {**run, "run_id": run_id})


def get_run(storage: Storage, run_id: str) -> dict[str, Any]:
    """The ``run.json`` of one run. Raises NotFoundError if there is no such run."""
    validate_name(run_id, "run id")
    try:
        doc: dict[str, Any] = storage.read_json(f"{RUNS}/{run_id}/run.json")
    except NotFoundError:
        raise NotFoundError(
            f"No run {run_id!r} in {storage.uri}; `rayops runs list` shows the runs there."
        ) from None
    return doc


def read_trials(storage: Storage, run_id: str) -> pd.DataFrame:
    """The trials table of one run as a DataFrame."""
    get_run(storage, run_id)
    table = storage.read_parquet(f"{RUNS}/{validate_name(run_id, 'run id')}/trials.parquet")
    frame: pd.DataFrame = table.to_pandas()
    return frame


def list_runs(storage: Storage) -> list[dict[str, Any]]:
    """A summary of every complete run, newest first."""
    out = []
    for run_id in reversed(storage.list_children(RUNS)):
        run_id = run_id.rstrip("/")
        if not storage.exists(f"{RUNS}/{run_id}/run.json"):
            continue  # still running, or failed before it finished
        doc = storage.read_json(f"{RUNS}/{run_id}/run.json")
        best = doc.get("best") or {}
        out.append(
            {
                "run_id": run_id,
                "created_at": doc.get("created_at"),
                "config": doc.get("config_name"),
                "data": (doc.get("data") or {}).get("source"),
                "metric": doc.get("metric"),
                "best_score": best.get("score"),
                "baseline_score": (doc.get("baseline") or {}).get("score"),
                "configs": doc.get("n_configs"),
                "model": (doc.get("registered") or {}).get("version"),
            }
        )
    return out
