"""Acceptance 4: `ray job submit ... -- python -m rayops.jobs.tune` on a real head node
(a separate throwaway cluster, see tests/helpers/headnode.py)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from headnode import RAY, head_env

from rayops.datasets import make_regression
from rayops.storage import open_storage
from rayops.training.runs import get_run, list_runs

#: Own clusters, chaos or a browser: the slow tier (`pytest -m slow`).
pytestmark = pytest.mark.slow


def _submit(head_node: str, work: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    """`ray job submit --working-dir WORK -- python -m ARGS...`, retried while the agent starts."""
    cmd = [RAY, "job", "submit", "--address", head_node, "--working-dir", str(work), "--",
           "python", "-m", *args]  # fmt: skip
    deadline = time.monotonic() + 90
    while True:
        out = subprocess.run(cmd, env=head_env(), capture_output=True, text=True, timeout=240)
        # The Jobs API answers a few seconds before the node's job agent is up.
        if "No available agent" not in out.stderr or time.monotonic() > deadline:
            return out
        time.sleep(2)


def _last_json(stdout: str) -> dict:  # type: ignore[type-arg]
    return json.loads(next(line for line in reversed(stdout.splitlines()) if line.startswith("{")))  # type: ignore[no-any-return]


def test_ray_job_submit_runs_the_tune_job(head_node: str, tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "tune_configs").mkdir(parents=True)
    make_regression(300, seed=9).to_parquet(work / "data.parquet")
    (work / "tune_configs" / "tiny.yaml").write_text(
        "space:\n  max_depth: {grid: [2, 3]}\n  n_estimators: {grid: [5, 10]}\ncv: {folds: 3}\n"
    )
    store = tmp_path / "store"
    out = _submit(head_node, work, ["rayops.jobs.tune", "--config", "tune_configs/tiny.yaml",
                  "--data", "data.parquet", "--target", "target", "--exclude", "entity_id",
                  "--storage", str(store)])  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "succeeded" in out.stdout + out.stderr
    summary = _last_json(out.stdout)
    assert summary["configs"] == 4 and summary["statuses"] == {"completed": 4}
    storage = open_storage(str(store))
    assert [r["run_id"] for r in list_runs(storage)] == [summary["run_id"]]
    run = get_run(storage, summary["run_id"])
    assert run["config_name"] == "tiny.yaml" and run["cv"]["folds"] == 3
    assert run["data"]["source"] == "parquet" and run["baseline"]["folds"]


def test_ray_job_submit_runs_the_train_job(head_node: str, tmp_path: Path) -> None:
    """`python -m rayops.jobs.train` as a Ray job: trains, evaluates and registers."""
    from rayops.registry import Registry

    work = tmp_path / "work"
    work.mkdir()
    make_regression(600, seed=3).to_parquet(work / "data.parquet")
    (work / "params.yaml").write_text("max_depth: 3\neta: 0.3\n")
    store = tmp_path / "store"
    out = _submit(head_node, work, ["rayops.jobs.train", "--data", "data.parquet",
                  "--target", "target", "--params", "params.yaml", "--rounds", "20",
                  "--register", "demand", "--storage", str(store)])  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "succeeded" in out.stdout + out.stderr
    record = _last_json(out.stdout)
    assert record["training"]["path"] == "fast" and record["training"]["rounds"] == 20
    assert record["params"]["max_depth"] == 3
    mv = Registry(open_storage(str(store))).get("demand")
    assert mv.ref == record["model"]["ref"] == "demand@1.0.0"
    assert mv.card.run_id == record["run_id"]
