"""A retrain run end to end in this process (the body of the Ray job), on the shared cluster:
feature set + logged feedback → train → compare → canary, or registered but not deployed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from automation_support import DRIFT_AT, build

from rayops.automation.jobs import JobState, RetrainDecision
from rayops.automation.retrainer import Retrainer
from rayops.features import FeatureStore
from rayops.registry import Registry
from rayops.rollout import Rollouts, RolloutStatus
from rayops.serving import Endpoints
from rayops.storage import Storage


@pytest.fixture
def world(ray_cluster: Any, tmp_path: Path) -> tuple[Storage, pd.DataFrame]:
    return build(tmp_path, drift=True)


@pytest.fixture
def stable_world(ray_cluster: Any, tmp_path: Path) -> tuple[Storage, pd.DataFrame]:
    return build(tmp_path, drift=False)


def test_a_better_candidate_is_registered_and_canaried(world: tuple[Storage, pd.DataFrame]) -> None:
    storage, data = world
    r = Retrainer(storage)
    r.set_policy({"model": "demand", "endpoint": "shop", "features": "demand-fs",
                  "canary": {"steps": [50], "interval": "3s"}})  # fmt: skip
    job = r.run_local("demand")
    assert job.state is JobState.SUCCEEDED and job.decision is RetrainDecision.DEPLOYED, job
    assert job.candidate == "demand@1.1.0" and job.production == "demand@1.0.0"
    cand, prod = job.metrics["candidate"]["rmse"], job.metrics["production"]["rmse"]
    assert cand < 0.9 * prod  # the post-drift holdout: the candidate learned the new relation
    gate = job.metrics["gate"]  # the promotion gate on both models over the same holdout rows
    assert gate["accepted"] and gate["paired"] and gate["reason"].startswith("better: rmse")
    assert gate["candidate_metric"] == pytest.approx(cand)
    assert gate["incumbent_metric"] == pytest.approx(prod)
    assert job.metrics["logged_rows"] == len(data) - DRIFT_AT
    # The new feature set version: base rows plus the logged rows, with their cut-off.
    v2 = FeatureStore(storage).get("demand-fs")
    assert v2.version == 2 and v2.row_count == len(data)
    assert v2.metadata["retrain_job"] == job.id and "rayops_logged_until" in v2.metadata
    card = Registry(storage).get("demand@1.1.0").card
    assert card.lineage is not None and card.lineage.version == 2
    rollout = Rollouts(storage).get("shop")
    assert rollout.candidate == "demand@1.1.0" and rollout.status is RolloutStatus.RUNNING
    assert (rollout.reason or "").startswith(f"retrain {job.id}")
    (done,) = r.history("demand")
    assert done.id == job.id and "canary started on shop" in done.reason
    # A second run adds no logged row twice.
    again = r.run_local("demand", deploy=False)
    assert again.metrics["logged_rows"] == 0 and again.decision is not RetrainDecision.DEPLOYED
    assert FeatureStore(storage).get("demand-fs").row_count == len(data)


def test_a_worse_candidate_is_registered_but_not_deployed(
    stable_world: tuple[Storage, pd.DataFrame],
) -> None:
    storage, _ = stable_world
    r = Retrainer(storage)
    table_before = Endpoints(storage).get("shop")
    r.set_policy({"model": "demand", "endpoint": "shop", "features": "demand-fs",
                  "train": {"params": {"max_depth": 1, "n_estimators": 1}}})  # fmt: skip
    job = r.run_local("demand")
    assert job.state is JobState.SUCCEEDED and job.decision is RetrainDecision.REJECTED
    assert "is not better than production" in job.reason and "not deployed" in job.reason
    assert job.candidate is not None and Registry(storage).get(job.candidate)  # registered
    assert Registry(storage).get("demand@production").ref == "demand@1.0.0"
    assert Endpoints(storage).get("shop").routes == table_before.routes
    with pytest.raises(Exception, match="no rollout"):
        Rollouts(storage).get("shop")
