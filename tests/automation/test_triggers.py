"""Acceptance 1: `--check` reports the firing trigger and its reason and changes nothing."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from automation_support import T0, Clock
from typer.testing import CliRunner

from rayops.automation import request_retrain
from rayops.automation.jobs import JobState, JobStore
from rayops.automation.retrainer import Retrainer
from rayops.automation.triggers import check
from rayops.cli import app
from rayops.storage import Storage
from rayops.telemetry.writers import FeedbackLog, PredictionLog


def snapshot(storage: Storage) -> dict[str, bytes]:
    return {k: storage.read_bytes(k) for k in storage.list_keys("")}


def traffic(
    storage: Storage, n: int, start: Any, *, shift: float = 0.0, labels: bool = True
) -> None:
    """``n`` logged rows of endpoint 'shop' from ``start`` (x moved by ``shift``), with labels."""
    rng = np.random.default_rng(n)
    log = PredictionLog(storage, flush_s=3600)
    ids = []
    for i in range(n):
        rid = uuid.uuid4().hex
        x = float(rng.normal() + shift)
        log.record(request_id=rid, endpoint="shop", ref="demand@1.0.0",
                   frame=pd.DataFrame({"x": [x]}), predictions=[2 * x], latency_ms=3.0,
                   time=start + timedelta(seconds=i))  # fmt: skip
        ids.append((rid, 2 * x + 0.1))
    log.close()
    if labels:

        async def send() -> None:
            fb = FeedbackLog(storage, now=lambda: start + timedelta(seconds=n + 1))
            await asyncio.gather(*(fb.write("shop", rid, [y]) for rid, y in ids))

        asyncio.run(send())


@pytest.fixture
def retrainer(storage: Storage, clock: Clock, production: str) -> Retrainer:
    r = Retrainer(storage, now=clock)
    r.set_policy({"model": "demand", "endpoint": "shop", "features": "demand-fs",
                  "triggers": {"drift": {"window": "30d"}}})  # fmt: skip
    return r


def fired(report: Any) -> dict[str, str]:
    return {r.name: r.reason for r in report.results if r.fired}


def test_nothing_fires_for_a_fresh_model(retrainer: Retrainer, clock: Clock) -> None:
    clock.t = T0 + timedelta(days=1)
    (report,) = retrainer.check()
    assert not report.fired and report.production == "demand@1.0.0"
    assert report.days_since_training == pytest.approx(1.0)


def test_age_fires_after_seven_days_and_check_changes_nothing(
    storage: Storage, retrainer: Retrainer, clock: Clock
) -> None:
    traffic(storage, 20, T0 + timedelta(days=2))
    clock.t = T0 + timedelta(days=8)
    before = snapshot(storage)
    (report,) = retrainer.check()
    assert snapshot(storage) == before  # read-only
    assert fired(report) == {"age": "last trained 8.0 days ago (limit 7)"}
    assert report.first is not None and report.first.name == "age"
    assert "age: last trained 8.0 days ago" in report.reason


def test_guards_block_a_trigger_and_say_why(
    storage: Storage, retrainer: Retrainer, clock: Clock
) -> None:
    clock.t = T0 + timedelta(days=8)  # old enough, but no new labels at all
    (report,) = retrainer.check()
    age = next(r for r in report.results if r.name == "age")
    assert not age.fired and age.condition
    assert "but only 0 new labeled rows (guard: 10)" in age.reason


def test_new_samples_fire_at_one_hundred(
    storage: Storage, retrainer: Retrainer, clock: Clock
) -> None:
    traffic(storage, 99, T0 + timedelta(hours=1))
    clock.t = T0 + timedelta(hours=2)
    assert "new_samples" not in fired(retrainer.check()[0])
    traffic(storage, 5, T0 + timedelta(hours=2))
    clock.t = T0 + timedelta(hours=3)
    (report,) = retrainer.check()
    assert fired(report)["new_samples"] == "104 labeled rows since the last training (limit 100)"
    traffic(storage, 50, T0 + timedelta(hours=3), labels=False)  # predictions without labels
    clock.t = T0 + timedelta(hours=4)
    assert retrainer.check()[0].new_samples == 104


def test_drift_and_requests_fire(storage: Storage, retrainer: Retrainer, clock: Clock) -> None:
    traffic(storage, 200, T0 + timedelta(hours=1), shift=3.0)  # x moved by 3 sd
    req = request_retrain(storage, "demand", reason="alert: mae > 5", source="alert")
    clock.t = T0 + timedelta(hours=2)
    report = check(storage, retrainer.get_policy("demand"), clock.t)
    reasons = fired(report)
    assert reasons["drift"].startswith("1 of 1 features drifted over 30d (share 100%")
    assert reasons["requests"] == "1 pending request(s): alert: mae > 5"
    assert report.requests == [req.id]


def test_schedules_fire_when_due_after_being_anchored(
    storage: Storage, retrainer: Retrainer, clock: Clock
) -> None:
    from rayops.automation.task import RetrainTask

    traffic(storage, 20, T0 + timedelta(hours=1))
    clock.t = T0 + timedelta(days=1, hours=9)  # Monday 2026-11-02 09:00
    retrainer.add_schedule("demand", cron="0 2 * * *")
    clock.t = T0 + timedelta(days=2, hours=1)
    assert not any(r.fired for r in retrainer.check()[0].results if r.name.startswith("schedule"))
    clock.t = T0 + timedelta(days=2, hours=2)
    assert "schedule cron 0 2 * * *" in fired(retrainer.check()[0])
    listed = retrainer.schedules()
    assert listed[0]["next_run"] == "2026-11-03T02:00:00+00:00"
    # The controller starts one job and marks the schedule as fired.
    submitted: list[str] = []

    class Recorder:
        def submit(self, uri: str, model: str, job_id: str) -> str:
            submitted.append(job_id)
            return job_id

    out = RetrainTask(storage, submitter=Recorder()).tick(clock.t)
    assert [s["model"] for s in out["started"]] == ["demand"] and len(submitted) == 1
    assert retrainer.schedules()[0]["last"] == clock.t.isoformat()


def test_a_second_trigger_while_a_retrain_runs_starts_nothing(
    storage: Storage, retrainer: Retrainer, clock: Clock
) -> None:
    from rayops.automation.submit import JobStatus
    from rayops.automation.task import RetrainTask

    traffic(storage, 150, T0 + timedelta(hours=1))
    clock.t = T0 + timedelta(hours=2)
    submitted: list[str] = []

    class Submitter:  # a Ray job that keeps running
        def submit(self, uri: str, model: str, job_id: str) -> str:
            submitted.append(job_id)
            return job_id

        def status(self, job_id: str) -> JobStatus:
            return JobStatus("RUNNING")

    task = RetrainTask(storage, submitter=Submitter())
    first = task.tick(clock.t)
    second = task.tick(clock.t + timedelta(minutes=1))
    assert len(submitted) == 1 and first["started"][0]["job"] == submitted[0]
    assert second == {"started": [], "following": [submitted[0]]}
    job = JobStore(storage).get("demand", submitted[0])
    assert job.state is JobState.RUNNING and job.trigger == "new_samples"
    assert job.production == "demand@1.0.0"


def test_a_dead_ray_job_is_marked_failed_and_frees_the_model(
    storage: Storage, retrainer: Retrainer, clock: Clock
) -> None:
    from rayops.automation.submit import JobStatus
    from rayops.automation.task import RetrainTask

    traffic(storage, 150, T0 + timedelta(hours=1))
    clock.t = T0 + timedelta(hours=2)

    class Dead:
        def submit(self, uri: str, model: str, job_id: str) -> str:
            return job_id

        def status(self, job_id: str) -> JobStatus:
            return JobStatus("FAILED", "the node died")

    task = RetrainTask(storage, submitter=Dead())
    task.tick(clock.t)
    task.tick(clock.t + timedelta(minutes=1))
    (job,) = retrainer.history("demand")
    assert job.state is JobState.FAILED and "the node died" in (job.error or "")
    assert JobStore(storage).active("demand") is None
    # New labels after the failed attempt: the cooldown holds the trigger back, and says so.
    traffic(storage, 150, clock.t + timedelta(minutes=2))
    clock.t += timedelta(minutes=10)
    (report,) = retrainer.check()
    samples = next(r for r in report.results if r.name == "new_samples")
    assert not report.fired and samples.condition
    assert "but cooling down for 3" in samples.reason  # ~3000 s of the hour left
    clock.t += timedelta(hours=1)
    assert retrainer.check()[0].fired


def test_cli_check_prints_the_reason_and_writes_nothing(
    storage: Storage, retrainer: Retrainer, clock: Clock
) -> None:
    # The CLI reads the real clock, for which production (trained at T0) is weeks old.
    retrainer.set_policy({"model": "demand", "endpoint": "shop", "features": "demand-fs",
                          "triggers": {"age": {"enabled": False}}})  # fmt: skip
    traffic(storage, 120, T0 + timedelta(hours=1))
    before = snapshot(storage)
    env = {"AWS_ENDPOINT_URL": getattr(storage, "endpoint_url", "") or ""}
    res = CliRunner().invoke(
        app, ["retrain", "--check", "--json", "--storage", storage.uri], env=env
    )
    assert res.exit_code == 0, res.output
    (report,) = json.loads(res.stdout)
    assert [r["name"] for r in report["results"] if r["fired"]] == ["new_samples"]
    assert snapshot(storage) == before


def test_a_job_whose_submission_was_never_recorded_is_still_followed(
    storage: Storage, retrainer: Retrainer, clock: Clock
) -> None:
    """The controller died between submitting and recording; the job marked itself running."""
    from rayops.automation.submit import JobStatus
    from rayops.automation.task import RetrainTask

    jobs = JobStore(storage, now=clock)
    job = jobs.claim("demand", trigger="age", reason="test")
    assert job is not None
    jobs.update("demand", job.id, state=JobState.RUNNING)  # what the job itself writes
    asked: list[str] = []

    class Ray:
        def status(self, ray_id: str) -> JobStatus:
            asked.append(ray_id)
            return JobStatus("FAILED", "worker died")

    RetrainTask(storage, submitter=Ray()).tick(clock.t)
    assert asked == [job.id]  # the Ray submission id is the job id
    done = jobs.get("demand", job.id)
    assert done.state is JobState.FAILED and "worker died" in (done.error or "")
    assert jobs.active("demand") is None


def _classifier_endpoint(storage: Storage, clock: Clock, holdout_logloss: float) -> Retrainer:
    """'churn' (binary, its card's holdout log loss given) serving endpoint 'crm'."""
    import xgboost as xgb

    from rayops.registry import Registry
    from rayops.serving import Endpoints

    rng = np.random.default_rng(0)
    x = pd.DataFrame({"x": rng.normal(size=200)})
    booster = xgb.train({"objective": "binary:logistic", "nthread": 1},
                        xgb.DMatrix(x, label=(x["x"] > 0).astype(int)), 5)  # fmt: skip
    reg = Registry(storage, now=clock)
    mv = reg.register("churn", booster, task="binary", classes=["no", "yes"],
                      metrics={"holdout": {"logloss": holdout_logloss}})  # fmt: skip
    reg.set_alias("churn", "production", mv.version)
    Endpoints(storage).create("crm", mv.ref)
    r = Retrainer(storage, now=clock)
    r.set_policy({"model": "churn", "endpoint": "crm", "features": "churn-fs",
                  "triggers": {"age": {"enabled": False}, "drift": {"enabled": False},
                               "health": {"enabled": False},
                               "performance": {"enabled": True, "window": "1d"}}})  # fmt: skip
    return r


def _labels(storage: Storage, start: Any, n: int, p_true: float) -> None:
    """``n`` one-row requests of churn@1.0.0 on 'crm' whose true class gets ``p_true``."""
    from rayops.telemetry.writers import Scored

    rng = np.random.default_rng(n)
    log = PredictionLog(storage, flush_s=3600)
    sent = []
    for i in range(n):
        rid = uuid.uuid4().hex
        truth = int(rng.integers(0, 2))
        p = np.array([[1 - p_true, p_true]]) if truth else np.array([[p_true, 1 - p_true]])
        log.record(request_id=rid, endpoint="crm", ref="churn@1.0.0",
                   frame=pd.DataFrame({"x": [0.0]}),
                   predictions=Scored(probabilities=p, classes=["no", "yes"], labels=["no"]),
                   latency_ms=1.0, time=start + timedelta(seconds=i))  # fmt: skip
        sent.append((rid, ["no", "yes"][truth]))
    log.close()

    async def send() -> None:
        fb = FeedbackLog(storage, now=lambda: start + timedelta(seconds=n + 1))
        await asyncio.gather(*(fb.write("crm", rid, [y], labels=True) for rid, y in sent))

    asyncio.run(send())


def test_label_feedback_counts_as_new_samples_and_log_loss_drives_performance(
    storage: Storage, clock: Clock
) -> None:
    r = _classifier_endpoint(storage, clock, holdout_logloss=0.3)
    _labels(storage, T0 + timedelta(hours=1), 40, p_true=0.8)  # log loss 0.22: fine
    clock.t = T0 + timedelta(hours=2)
    (report,) = r.check()
    assert report.new_samples == 40
    perf = next(t for t in report.results if t.name == "performance")
    assert not perf.fired and perf.details["logloss"] == pytest.approx(-np.log(0.8))
    _labels(storage, T0 + timedelta(hours=2), 80, p_true=0.45)  # log loss 0.8: degraded
    clock.t = T0 + timedelta(hours=3)
    (report,) = r.check()
    perf = next(t for t in report.results if t.name == "performance")
    assert perf.fired and perf.reason.startswith("logloss 0.") and "vs holdout 0.3" in perf.reason
    assert report.new_samples == 120 and "new_samples" in fired(report)


def test_a_job_that_does_not_fit_waits_queued_saying_why_and_is_not_retriggered(
    storage: Storage, retrainer: Retrainer, clock: Clock
) -> None:
    """The cluster has 0.5 CPU free and the job needs 1: it stays the model's active job,
    queued, 'waiting for resources', until the CPUs are there; then it is submitted."""
    from rayops.automation.jobs import JobStage
    from rayops.automation.resources import Capacity
    from rayops.automation.submit import JobStatus
    from rayops.automation.task import RetrainTask

    traffic(storage, 120, T0 + timedelta(hours=1))
    clock.t = T0 + timedelta(hours=2)
    submitted: list[str] = []

    class Cluster:  # a 2-CPU cluster: serving holds 1.5 CPUs, then frees 0.5
        free = 0.5

        def capacity(self) -> Capacity:
            return Capacity(total=2.0, free=self.free)

        def submit(self, uri: str, model: str, job_id: str) -> str:
            submitted.append(job_id)
            return job_id

        def status(self, job_id: str) -> JobStatus:
            return JobStatus("RUNNING")

    cluster = Cluster()
    task = RetrainTask(storage, submitter=cluster)
    (started,) = task.tick(clock.t)["started"]
    for minutes in (1, 2, 3):  # passes while it waits: one job, never submitted
        assert task.tick(clock.t + timedelta(minutes=minutes))["started"] == []
    assert submitted == []
    (job,) = retrainer.status("demand")
    assert job.id == started["job"] and job.state is JobState.QUEUED
    assert job.stage is JobStage.WAITING
    assert job.waiting == (
        "waiting for resources (needs 1 CPU for its training task, free 0.5 of 2 CPUs)"
    )
    assert len(JobStore(storage).list("demand")) == 1
    if not storage.uri.startswith("s3://"):  # the CLI with the settings a user has
        r = CliRunner().invoke(app, ["retrain", "status", "--storage", storage.uri, "--json"])
        assert json.loads(r.stdout)[0]["waiting"] == job.waiting
    cluster.free = 1.0
    task.tick(clock.t + timedelta(minutes=4))
    job = JobStore(storage).get("demand", job.id)
    assert submitted == [job.id] and job.state is JobState.RUNNING and job.waiting is None


def test_job_needs_follow_the_policy_and_the_settings() -> None:
    from rayops.automation.policy import RetrainPolicy
    from rayops.automation.resources import job_needs
    from rayops.config import Settings

    def needs(train: dict[str, Any], **settings: Any) -> tuple[float, str]:
        p = RetrainPolicy(model="m", features="fs", train=train)
        n = job_needs(p, Settings(**settings))
        return n.cpus, n.what

    assert needs({}) == (1.0, "its training task")
    assert needs({"workers": 3}) == (3.0, "3 Ray Train workers")
    assert needs({"retune": True}, tune_cpus_per_trial=2) == (2.0, "a Tune trial")
    assert needs({}, retrain_entrypoint_num_cpus=0.5) == (1.5, "its driver and its training task")
