"""Acceptance 2 and 4 on real Ray Jobs: after concept drift with feedback, the trigger fires,
a Ray job runs (visible through the Job Submission API), a better candidate is registered
and canaried to production; a second trigger while it runs starts no other job.

The gateway serves on the session's shared cluster; retrain jobs run on a separate head
node with a dashboard (the Jobs API, tests/helpers/headnode.py). Both use one storage root.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests
from automation_support import DRIFT_AT, build
from gateway import deploy_gateway_app, serve_http
from harness import logged, wait_until

from rayops.automation.jobs import JobState, JobStore, RetrainDecision
from rayops.automation.retrainer import Retrainer
from rayops.automation.submit import RaySubmitter
from rayops.automation.task import RetrainTask
from rayops.config import Settings
from rayops.registry import Registry
from rayops.rollout import Rollouts, RolloutStatus
from rayops.rollout.controller import RolloutTask


def send(url: str, rows: pd.DataFrame, batch: int = 10, ids: set[str] | None = None) -> int:
    """Predict ``rows`` on endpoint 'shop' in batches and send their feedback; failures.
    The answered request ids are added to ``ids``."""
    features = rows.drop(columns=["target", "entity_id", "event_time"])
    features = features.astype({c: "object" for c in features.select_dtypes("category")})
    failed = 0
    for i in range(0, len(rows), batch):
        part = features.iloc[i : i + batch].to_dict(orient="records")
        r = requests.post(f"{url}/endpoints/shop/predict", json={"instances": part}, timeout=10)
        if r.status_code != 200:
            failed += 1
            continue
        if ids is not None:
            ids.add(r.json()["request_id"])
        actuals = rows["target"].iloc[i : i + batch].tolist()
        fb = requests.post(f"{url}/endpoints/shop/feedback",
                           json={"request_id": r.json()["request_id"], "actuals": actuals},
                           timeout=10)  # fmt: skip
        failed += fb.status_code != 201
    return failed


@pytest.mark.slow
def test_drift_triggers_a_ray_job_whose_better_candidate_is_canaried_to_production(
    ray_cluster: Any, head_node: str, tmp_path: Path
) -> None:
    storage, data = build(tmp_path, drift=True, log=False)
    settings = Settings(retrain_job_address=head_node)
    retrainer = Retrainer(storage, settings=settings)
    retrainer.set_policy({
        "model": "demand", "endpoint": "shop", "features": "demand-fs",
        "triggers": {"age": {"enabled": False}, "drift": {"enabled": False},
                     "health": {"enabled": False}},
        # Base rows are dated January: train on the logged (post-drift) traffic only.
        "window": "1d",
        "canary": {"steps": [50], "interval": "3s", "thresholds": {"min_samples": 30}},
    })  # fmt: skip
    post = data.iloc[DRIFT_AT:]
    with serve_http() as url:
        deploy_gateway_app(url, storage.uri)
        assert send(url, post.iloc[:600]) == 0
        task = RetrainTask(storage, settings)
        assert wait_until(lambda: retrainer.check()[0].fired, timeout=20), retrainer.check()
        (report,) = retrainer.check()
        assert report.first is not None and report.first.name == "new_samples"

        out = task.tick(datetime.now(UTC))
        (started,) = out["started"]
        job_id = started["job"]
        ray_jobs = RaySubmitter(settings).list()
        assert [j["submission_id"] for j in ray_jobs if j["metadata"].get("rayops_job")] == [job_id]
        # Portable: the cluster's `python`, never this machine's interpreter path.
        (mine,) = [j for j in ray_jobs if j["submission_id"] == job_id]
        assert mine["entrypoint"].startswith("python -P -m rayops.jobs.retrain ")
        # A second trigger while the job runs: no second job.
        again = task.tick(datetime.now(UTC))
        assert again["started"] == [] and again["following"] == [job_id]
        assert len([j for j in RaySubmitter(settings).list()
                    if j["metadata"].get("rayops_model") == "demand"]) == 1  # fmt: skip

        def done() -> bool:
            task.tick(datetime.now(UTC))
            return JobStore(storage).get("demand", job_id).state.finished

        assert wait_until(done, timeout=240, interval=2.0), JobStore(storage).get("demand", job_id)
        job = JobStore(storage).get("demand", job_id)
        assert job.state is JobState.SUCCEEDED, job.error
        assert job.decision is RetrainDecision.DEPLOYED and job.candidate is not None
        # The Ray job itself ends a moment after it recorded its outcome.
        assert wait_until(lambda: RaySubmitter(settings).status(job_id).state == "SUCCEEDED",
                          timeout=60, interval=1.0)  # fmt: skip

        # The canary judges the candidate on live post-drift traffic and promotes it.
        rollouts, judge = Rollouts(storage), RolloutTask(storage)
        deadline = time.monotonic() + 90
        while not rollouts.get("shop").finished and time.monotonic() < deadline:
            sent: set[str] = set()
            assert send(url, post.iloc[600:].sample(60, random_state=int(time.time())),
                        ids=sent) == 0  # fmt: skip
            assert logged(storage, "shop", sent)  # judged only once it is logged
            judge.tick(datetime.now(UTC))
    doc = rollouts.get("shop")
    assert doc.status is RolloutStatus.PROMOTED, (doc.reason, doc.analysis)
    assert Registry(storage).get("demand@production").ref == job.candidate
    (finished,) = retrainer.history("demand")
    assert (
        finished.trigger == "new_samples"
        and finished.metrics["candidate"]["rmse"] < (finished.metrics["production"]["rmse"])
    )
