"""The control loop killed in the middle of a retrain: the job is followed to its end from
storage, no second job starts, and the endpoint always has a serving version.

Two crashes of the controller, one retrain job on Ray Jobs (the session's ``head_node``):

1. A controller claims a retrain and submits it to Ray, then dies before recording the
   submission (the job document still says ``queued``). This is done with the real
   calls in the order ``start_job`` makes them, stopping where the crash would.
2. The control loop deployed on Serve takes the lease, re-submits the queued job (Ray
   refuses a second job with the same id, so it follows the first), and is killed
   (``ray.kill`` of its replica) while the Ray job runs. Serve starts a new replica,
   which takes the lease and follows the same job to its end.

The mid-rollout kill is ``tests/rollout/test_rollout_http.py::
test_the_controller_resumes_a_rollout_after_being_killed``.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from gateway import serve_http
from harness import wait_until
from ray.job_submission import JobSubmissionClient

from rayops.automation.jobs import JobState, JobStore, RetrainDecision
from rayops.automation.retrainer import Retrainer
from rayops.automation.submit import RaySubmitter
from rayops.config import Settings
from rayops.control.loop import read_status
from rayops.datasets import ConceptDrift, make_regression
from rayops.features import FeatureStore
from rayops.registry import Registry
from rayops.serving import Endpoints
from rayops.storage import Storage, open_storage
from rayops.telemetry.writers import FeedbackLog, PredictionLog
from rayops.training.pipeline import run_training

#: Own clusters, chaos or a browser: the slow tier (`pytest -m slow`).
pytestmark = pytest.mark.slow

DRIFT_AT = 1500
POLICY: dict[str, Any] = {
    "model": "demand",
    "endpoint": "shop",
    "features": "demand-fs",
    "triggers": {
        "age": {"enabled": False},
        "drift": {"enabled": False},
        "health": {"enabled": False},
    },
    "canary": {"steps": [50], "interval": "3s", "thresholds": {"min_samples": 10}},
}


def _world(tmp_path: Path) -> Storage:
    """demand@1.0.0 in production on endpoint 'shop', trained before a concept drift, and
    the drifted rows logged as its traffic with feedback (the new_samples trigger fires)."""
    storage = open_storage(str(tmp_path / "root"))
    data = make_regression(2400, seed=11, concept_drift=ConceptDrift(at_row=DRIFT_AT))
    FeatureStore(storage).write(
        "demand-fs",
        data.iloc[:DRIFT_AT],
        entity="entity_id",
        event_time="event_time",
        target="target",
    )
    record = run_training(
        storage,
        target="target",
        features="demand-fs",
        register="demand",
        params={"max_depth": 4},
        num_boost_round=40,
    )
    Registry(storage).set_alias("demand", "production", record["model"]["version"])
    Endpoints(storage).create("shop", record["model"]["ref"])
    post = data.iloc[DRIFT_AT:]
    features = post.drop(columns=["target", "entity_id", "event_time"])
    start = datetime.now(UTC)  # after the training: these rows are new samples
    log, feedback = PredictionLog(storage, flush_s=3600), []
    for i in range(0, len(post), 20):
        rid = uuid.uuid4().hex
        log.record(
            request_id=rid,
            endpoint="shop",
            ref=record["model"]["ref"],
            frame=features.iloc[i : i + 20].reset_index(drop=True),
            predictions=[0.0] * len(features.iloc[i : i + 20]),
            latency_ms=1.0,
            time=start + timedelta(milliseconds=i),
        )
        feedback.append((rid, post["target"].iloc[i : i + 20].tolist()))
    log.close()

    async def send() -> None:
        writer = FeedbackLog(storage, now=lambda: start + timedelta(seconds=1))
        await asyncio.gather(*(writer.write("shop", rid, ys) for rid, ys in feedback))

    asyncio.run(send())
    time.sleep(max(0.0, (start + timedelta(seconds=1.5) - datetime.now(UTC)).total_seconds()))
    return storage


class RoutingWatcher(threading.Thread):
    """Reads the endpoint's routing table every 0.1 s; records every read without a
    complete, registered serving version."""

    def __init__(self, storage: Storage, endpoint: str) -> None:
        super().__init__(daemon=True)
        self.storage, self.endpoint = storage, endpoint
        self.reads, self.gaps, self.refs = 0, [], set()  # type: ignore[var-annotated]
        self._done = threading.Event()

    def run(self) -> None:
        registry = Registry(self.storage)
        while not self._done.wait(0.1):
            try:
                table = Endpoints(self.storage).get(self.endpoint)
                for route in table.routes:
                    if route.ref not in self.refs:
                        registry.get(route.ref)  # raises if it is not a registered version
                        self.refs.add(route.ref)
                if not table.routes or sum(r.weight for r in table.routes) != 100:
                    self.gaps.append(table.model_dump(mode="json"))
            except Exception as e:
                self.gaps.append(f"{type(e).__name__}: {e}")
            self.reads += 1

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=10)


def _kill_controller_replica() -> str:
    import ray

    from rayops.apps.controller import CONTROLLER_APP

    (replica,) = [
        a
        for a in ray.util.list_named_actors(all_namespaces=True)
        if "Controller" in a["name"] and CONTROLLER_APP in a["name"]
    ]
    ray.kill(ray.get_actor(replica["name"], namespace=replica["namespace"]))
    return str(replica["name"])


def test_a_killed_control_loop_follows_its_retrain_job_and_starts_no_second_one(
    ray_cluster: Any, head_node: str, tmp_path: Path
) -> None:
    from ray import serve

    from rayops.apps.controller import CONTROLLER_APP, deploy_controller

    storage = _world(tmp_path)
    # The retrain's driver reserves a CPU, so it waits while a blocker holds the head node's
    # two: the job is deterministically still running through both crashes.
    settings = Settings(retrain_job_address=head_node, retrain_entrypoint_num_cpus=1)
    retrainer = Retrainer(storage, settings=settings)
    retrainer.set_policy(POLICY)
    assert retrainer.check("demand")[0].fired  # and it keeps firing until a retrain
    submitter = RaySubmitter(settings)  # consumes the logged rows
    ray_jobs_before = {j["submission_id"] for j in submitter.list()}
    blocker = JobSubmissionClient(head_node).submit_job(
        entrypoint="python -c 'import time; time.sleep(900)'", entrypoint_num_cpus=2
    )
    jobs = JobStore(storage)
    watcher = RoutingWatcher(storage, "shop")
    watcher.start()
    timeline: dict[str, float] = {}
    started = time.monotonic()
    try:
        assert wait_until(lambda: submitter.status(blocker).state == "RUNNING", timeout=60)
        # Crash 1: a controller claimed and submitted, then died before recording it.
        job = jobs.claim(
            "demand", trigger="new_samples", reason="logged feedback", production="demand@1.0.0"
        )
        assert job is not None and submitter.submit(storage.uri, "demand", job.id) == job.id
        assert jobs.get("demand", job.id).state is JobState.QUEUED
        with serve_http():
            loop_settings = {
                "retrain_job_address": head_node,
                "control_tick_s": 0.5,
                "control_lease_s": 2.0,
                "retrain_entrypoint_num_cpus": 1,
            }
            deploy_controller(storage.uri, settings=loop_settings, tasks=["retrain"], num_cpus=0)
            try:
                # The loop finds the queued job and submits it again; Ray refuses a second
                # job with the same id, so the loop records the first one as running.
                def running() -> bool:
                    doc = jobs.get("demand", job.id)
                    return doc.state is JobState.RUNNING and doc.ray_job_id == job.id

                assert wait_until(running, timeout=120), jobs.get("demand", job.id)
                timeline["resumed_s"] = time.monotonic() - started
                # The loop writes its status after the pass that recorded the job.
                assert wait_until(lambda: read_status(storage) is not None, timeout=30)
                first = read_status(storage)
                assert first is not None and not submitter.status(job.id).finished
                # Crash 2: the control loop's replica is killed while the Ray job runs.
                _kill_controller_replica()
                timeline["killed_s"] = time.monotonic() - started

                def followed_by_a_new_loop() -> bool:
                    status = read_status(storage)
                    return (
                        status is not None
                        and status["holder"] != first["holder"]
                        and status["tasks"]["retrain"]["summary"]["following"] == [job.id]
                    )

                assert wait_until(followed_by_a_new_loop, timeout=120, interval=0.25), read_status(
                    storage
                )
                timeline["followed_by_new_loop_s"] = time.monotonic() - started
                submitter.stop(blocker)  # now the retrain can run
                assert wait_until(
                    lambda: jobs.get("demand", job.id).state.finished, timeout=240, interval=0.5
                ), jobs.get("demand", job.id)
                timeline["job_finished_s"] = time.monotonic() - started
                # The new loop keeps checking the trigger for a while: nothing new starts.
                after = read_status(storage)
                time.sleep(3.0)
                last = read_status(storage)
            finally:
                serve.delete(CONTROLLER_APP)
    finally:
        submitter.stop(blocker)
        watcher.stop()

    done = jobs.get("demand", job.id)
    assert done.state is JobState.SUCCEEDED, done.error
    assert done.decision is RetrainDecision.DEPLOYED and done.candidate is not None
    # Exactly one retrain job in storage and on Ray, the one claimed before the crashes.
    assert [j.id for j in jobs.list("demand")] == [job.id]
    new_ray_jobs = [
        j["submission_id"]
        for j in submitter.list()
        if j["submission_id"] not in ray_jobs_before
        and j["metadata"].get("rayops_model") == "demand"
    ]
    assert new_ray_jobs == [job.id]
    assert after is not None and last is not None
    assert last["holder"] == after["holder"] != first["holder"]
    assert last["tasks"]["retrain"]["ok"] and last["tasks"]["retrain"]["summary"]["started"] == []
    # The endpoint was never without a serving version; now it canaries the candidate.
    assert watcher.reads > 50 and watcher.gaps == [], watcher.gaps[:3]
    refs = [r.ref for r in Endpoints(storage).get("shop").routes]
    assert refs == ["demand@1.0.0", done.candidate]
    print(
        f"\ncontroller kill mid-retrain: { ({k: round(v, 1) for k, v in timeline.items()}) }, "
        f"{watcher.reads} routing reads without a gap, "
        f"one Ray job ({job.id}), "
        f"decision {done.decision.value}"
    )
