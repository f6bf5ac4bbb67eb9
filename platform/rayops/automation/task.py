"""The retrain controller: the control loop's ``retrain`` task.

Each tick, for every enabled retrain policy:

* if the model has an active job, follow it: submit it if a crash left it
  queued, mark it failed if its Ray job died (or ran past ``retrain_max_job_s``)
  without recording an outcome;
* otherwise evaluate the triggers (:func:`rayops.automation.triggers.check`)
  and, if one fires, claim a job (one per model at a time, compare-and-swap)
  and submit it to Ray Jobs — once the cluster has the CPUs it needs free
  (:mod:`rayops.automation.resources`); until then it waits, queued, saying what
  it needs and what is free, and no trigger starts another.

Example:
    >>> import tempfile
    >>> from datetime import UTC, datetime
    >>> from rayops.storage import open_storage
    >>> RetrainTask(open_storage(tempfile.mkdtemp())).tick(datetime(2026, 1, 1, tzinfo=UTC))
    {'started': [], 'following': []}
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from rayops.automation.actions import retrain_action
from rayops.automation.jobs import JobStage, JobState, JobStore, RetrainJob
from rayops.automation.layout import schedule_key
from rayops.automation.policy import PolicyStore, RetrainPolicy
from rayops.automation.resources import JobNeeds, job_needs
from rayops.automation.submit import JobSubmitter, SubmissionPending
from rayops.automation.triggers import check, schedule_state
from rayops.config import Settings, settings_of
from rayops.controltask import AlertAction, ControlTask
from rayops.errors import RayopsError
from rayops.registry import Registry
from rayops.storage.base import Storage

__all__ = ["RetrainTask", "start_job"]

logger = logging.getLogger(__name__)


def start_job(
    storage: Storage,
    policy: RetrainPolicy,
    *,
    trigger: str,
    reason: str,
    submitter: JobSubmitter,
    now: datetime,
    deploy: bool = True,
    requests: list[str] | None = None,
    settings: Settings | None = None,
) -> RetrainJob | None:
    """Claim and submit a retrain of ``policy.model``; None if one is already active."""

    jobs = JobStore(storage, now=lambda: now)
    prod = Registry(storage).production(policy.model)
    production = prod.ref if prod is not None else None
    job = jobs.claim(
        policy.model, trigger=trigger, reason=reason, deploy=deploy,
        production=production, requests=requests,
    )  # fmt: skip
    if job is None:
        return None
    return submit(
        storage, job, submitter, now, needs=job_needs(policy, settings_of(storage, settings))
    )


def submit(
    storage: Storage,
    job: RetrainJob,
    submitter: JobSubmitter,
    now: datetime,
    *,
    needs: JobNeeds | None = None,
) -> RetrainJob:
    """Submit a claimed (queued) job to Ray Jobs and record the submission.

    If Ray's job agent is not up yet, or the cluster has fewer free CPUs than the
    job ``needs`` (:mod:`rayops.automation.resources`), the job stays queued and
    says why; the next pass tries again.
    """

    jobs = JobStore(storage, now=lambda: now)
    capacity = getattr(submitter, "capacity", None)
    found = capacity() if needs is not None and capacity is not None else None
    if needs is not None and found is not None and not found.fits(needs):
        exists = getattr(submitter, "exists", None)
        if exists is not None and exists(job.id):  # submitted before a crash: follow that one
            return jobs.update(
                job.model, job.id, state=JobState.RUNNING, stage=JobStage.SUBMITTED,
                ray_job_id=job.id, submitted_at=now, progress=0.05, error=None, waiting=None,
            )  # fmt: skip
        why = found.describe(needs)
        logger.info("Retrain %s stays queued: %s", job.id, why)
        if job.waiting == why and job.stage is JobStage.WAITING:
            return job
        return jobs.update(job.model, job.id, stage=JobStage.WAITING, waiting=why)
    try:
        ray_id = submitter.submit(storage.uri, job.model, job.id)
    except SubmissionPending as e:
        logger.info("Retrain %s stays queued: %s", job.id, e)
        why = f"not submitted yet: {e}"
        return job if job.error == why else jobs.update(job.model, job.id, error=why)
    except RayopsError as e:
        return jobs.finish(job.model, job.id, JobState.FAILED, error=f"submission failed: {e}")
    return jobs.update(
        job.model, job.id, state=JobState.RUNNING, stage=JobStage.SUBMITTED, ray_job_id=ray_id,
        submitted_at=now, progress=0.05, error=None, waiting=None,
    )  # fmt: skip


class RetrainTask(ControlTask):
    """Trigger, submit and follow retrain jobs (the ``retrain`` task of the control loop)."""

    name = "retrain"

    @classmethod
    def alert_actions(
        cls, storage: Storage, settings: Settings | None = None
    ) -> dict[str, AlertAction]:
        """``retrain``: file a retrain request for the alert's model."""

        return {"retrain": retrain_action(storage, settings)}

    def __init__(
        self,
        storage: Storage,
        settings: Settings | None = None,
        submitter: JobSubmitter | None = None,
    ) -> None:
        super().__init__(storage, settings)
        if submitter is None:
            from rayops.automation.submit import RaySubmitter

            submitter = RaySubmitter(self.settings)
        self.submitter: JobSubmitter = submitter

    def tick(self, now: datetime) -> dict[str, Any]:
        started, following = [], []
        for policy in PolicyStore(self.storage).list():
            if not policy.enabled:
                continue
            try:
                active = JobStore(self.storage, now=lambda: now).active(policy.model)
                if active is not None:
                    followed = self.follow(active, now, needs=job_needs(policy, self.settings))
                    following.append(followed.id)
                    continue
                self._anchor_schedules(policy, now)
                report = check(self.storage, policy, now, settings=self.settings)
                first = report.first
                if first is None:
                    continue
                job = start_job(
                    self.storage, policy, trigger=first.name, reason=report.reason,
                    submitter=self.submitter, now=now, requests=report.requests,
                    settings=self.settings,
                )  # fmt: skip
                if job is not None:
                    self._mark_schedules(policy, report, now)
                    started.append({"model": policy.model, "job": job.id, "reason": job.reason})
            except RayopsError as e:
                logger.warning("Retrain check of %s failed: %s", policy.model, e)
        return {"started": started, "following": following}

    def follow(
        self, job: RetrainJob, now: datetime, *, needs: JobNeeds | None = None
    ) -> RetrainJob:
        """Submit a queued job (a crash, Ray Jobs not up yet, or too few free CPUs left it
        queued); fail one whose Ray job ended without an outcome."""
        jobs = JobStore(self.storage, now=lambda: now)
        if job.state is JobState.QUEUED:
            if (now - job.created_at).total_seconds() > self.settings.automation.max_job_s:
                never = (
                    f"never submitted: {job.waiting}"
                    if job.waiting
                    else "never submitted: Ray Jobs stayed unavailable"
                )
                return jobs.finish(job.model, job.id, JobState.FAILED, error=never)
            return submit(self.storage, job, self.submitter, now, needs=needs)
        # The Ray submission id is the job id: a job whose submission was never recorded
        # (the controller died right after submitting) is followed all the same.
        ray_id = job.ray_job_id or job.id
        status = self.submitter.status(ray_id)
        fresh = jobs.get(job.model, job.id)  # the job may have finished meanwhile
        if fresh.state.finished:
            return fresh
        if status.state == "PENDING" and needs is not None:
            # Ray has not started the job's driver yet: say so if the CPUs are not there.
            capacity = getattr(self.submitter, "capacity", None)
            found = capacity() if capacity is not None else None
            why = found.describe(needs) if found is not None and not found.fits(needs) else None
            if why != fresh.waiting:
                fresh = jobs.update(job.model, job.id, waiting=why)
        if status.finished:
            return jobs.finish(
                job.model, job.id, JobState.FAILED,
                error=f"the Ray job {status.state.lower()} without recording an outcome"
                + (f": {status.message}" if status.message else ""),
            )  # fmt: skip
        started = job.submitted_at or job.created_at
        if (now - started).total_seconds() > self.settings.automation.max_job_s:
            self.submitter.stop(ray_id)
            return jobs.finish(
                job.model, job.id, JobState.FAILED,
                error=(f"stopped after {self.settings.automation.max_job_s:.0f} s "
                       "(retrain_max_job_s)"),
            )  # fmt: skip
        return fresh

    def _anchor_schedules(self, policy: RetrainPolicy, now: datetime) -> None:
        """A schedule counts from when the controller first saw it."""
        known = schedule_state(self.storage, policy.model)
        missing = [s.label for s in policy.schedules if s.label not in known]
        if missing:
            self.storage.update_json(
                schedule_key(policy.model),
                lambda doc: {**dict.fromkeys(missing, now.isoformat()), **(doc or {})},
            )

    def _mark_schedules(self, policy: RetrainPolicy, report: Any, now: datetime) -> None:
        fired = {r.name.removeprefix("schedule ") for r in report.results
                 if r.fired and r.name.startswith("schedule ")}  # fmt: skip
        if fired:
            self.storage.update_json(
                schedule_key(policy.model),
                lambda doc: {**(doc or {}), **dict.fromkeys(fired, now.isoformat())},
            )
