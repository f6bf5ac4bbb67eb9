"""Retrain jobs: their state, progress and history in storage, one at a time per model.

Keys under the storage root::

    automation/jobs/<model>/<job_id>.json      one job: state, stage, progress, outcome (CAS)
    automation/active/<model>.json             the model's running job, or none (CAS)

At most one retrain runs per model: a job is created only by the writer that
swaps the model's ``active`` pointer from empty to its id (compare-and-swap), so
a second trigger while a retrain runs, or a second controller, starts nothing.
The pointer is cleared when the job reaches ``succeeded`` or ``failed``.

States: ``queued`` (claimed, not yet submitted; stage ``waiting for resources``
while the cluster has too few free CPUs for it) → ``running`` (submitted to Ray
Jobs; ``stage`` says where it is, and ``waiting`` says so when Ray cannot place
its work) → ``succeeded`` or ``failed`` (``error`` says
why). The outcome of a success is its ``decision``: ``deployed`` (a canary was
started), ``registered`` (better, but auto-deploy is off or the endpoint is busy)
or ``rejected`` (registered but not better than production).

Example:
    >>> import tempfile
    >>> from rayops.storage import open_storage
    >>> jobs = JobStore(open_storage(tempfile.mkdtemp()))
    >>> job = jobs.claim("demand", trigger="age", reason="production is 8 days old")
    >>> jobs.claim("demand", trigger="new_samples", reason="150 new labels") is None
    True
    >>> jobs.finish(job.model, job.id, JobState.SUCCEEDED, decision="rejected").state.value
    'succeeded'
    >>> jobs.active("demand") is None
    True
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rayops.automation.layout import active_key, job_key, jobs_prefix
from rayops.clock import utc_now
from rayops.errors import ConflictError, NotFoundError
from rayops.storage.base import Storage, dumps

__all__ = ["RetrainDecision", "JobState", "JobStore", "RetrainJob", "JobStage"]


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED)


class JobStage(StrEnum):
    """Where a running retrain is."""

    QUEUED = "queued"
    WAITING = "waiting for resources"
    SUBMITTED = "submitted"
    DATA = "building the feature set"
    TUNE = "re-tuning"
    TRAIN = "training"
    COMPARE = "comparing with production"
    DEPLOY = "starting the canary"
    DONE = "done"


class RetrainDecision(StrEnum):
    DEPLOYED = "deployed"
    REGISTERED = "registered"
    REJECTED = "rejected"


class RetrainJob(BaseModel):
    """One retrain of one model."""

    model_config = ConfigDict(extra="forbid")

    id: str
    model: str
    trigger: str = Field(description="What started it: age, new_samples, health, drift, ...")
    reason: str
    state: JobState = JobState.QUEUED
    stage: JobStage = JobStage.QUEUED
    progress: float = Field(default=0.0, ge=0, le=1)
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None = None
    finished_at: datetime | None = None
    ray_job_id: str | None = Field(default=None, description="The Ray Jobs submission id.")
    deploy: bool = Field(default=True, description="Canary a better candidate.")
    feature_set: str | None = Field(default=None, description="The version trained on.")
    candidate: str | None = Field(default=None, description="The registered candidate.")
    production: str | None = Field(default=None, description="Production when it started.")
    metrics: dict[str, Any] = Field(
        default_factory=dict, description="Holdout metrics: candidate and production."
    )
    decision: RetrainDecision | None = None
    error: str | None = None
    waiting: str | None = Field(
        default=None,
        description=(
            "Why it is not progressing: what it needs and what the cluster has free "
            "('waiting for resources (needs 1 CPU ..., free 0.5 of 2 CPUs)')."
        ),
    )
    requests: list[str] = Field(default_factory=list, description="Retrain requests it answers.")


class JobStore:
    """Retrain jobs of every model in one storage root."""

    def __init__(
        self, storage: Storage, *, now: Callable[[], datetime] | None = None, retries: int = 64
    ) -> None:
        self.storage = storage
        self._now = now or utc_now
        self.retries = retries

    job_key = staticmethod(job_key)
    active_key = staticmethod(active_key)

    # --- the one-at-a-time claim ------------------------------------------------------
    def claim(
        self,
        model: str,
        *,
        trigger: str,
        reason: str,
        deploy: bool = True,
        production: str | None = None,
        requests: list[str] | None = None,
    ) -> RetrainJob | None:
        """Create a queued job and make it ``model``'s active one; None if one is active."""
        now = self._now()
        stamp = now.strftime("%Y%m%dT%H%M%S")
        job = RetrainJob(
            id=f"retrain-{stamp}-{uuid.uuid4().hex[:6]}",
            model=model,
            trigger=trigger,
            reason=reason,
            created_at=now,
            updated_at=now,
            deploy=deploy,
            production=production,
            requests=requests or [],
        )
        key = self.active_key(model)
        try:
            current = self.storage.read_versioned(key)
            doc, token = current.json(), current.token
        except NotFoundError:
            doc, token = None, None
        if doc is not None and doc.get("job"):
            return None
        # The job document first, so the pointer never names a job that does not exist.
        self.storage.put_if_absent(self.job_key(model, job.id), dumps(job.model_dump(mode="json")))
        try:
            self.storage.compare_and_swap(
                key, dumps({"job": job.id, "since": now.isoformat()}), token
            )
        except ConflictError:
            self.storage.delete(self.job_key(model, job.id))  # lost the race: nobody saw it
            return None
        return job

    def active(self, model: str) -> RetrainJob | None:
        """The model's queued or running job, if any."""
        try:
            doc = self.storage.read_json(self.active_key(model))
        except NotFoundError:
            return None
        job_id = doc.get("job")
        return self.get(model, job_id) if job_id else None

    def _release(self, model: str, job_id: str) -> None:
        def clear(doc: Any) -> Any:
            if doc is not None and doc.get("job") == job_id:
                return {"job": None, "since": self._now().isoformat(), "last": job_id}
            return doc

        self.storage.update_json(self.active_key(model), clear, max_retries=self.retries)

    # --- one job ----------------------------------------------------------------------
    def get(self, model: str, job_id: str) -> RetrainJob:
        try:
            return RetrainJob.model_validate(self.storage.read_json(self.job_key(model, job_id)))
        except NotFoundError:
            raise NotFoundError(f"No retrain job {job_id!r} of model {model!r}.") from None

    def update(self, model: str, job_id: str, **changes: Any) -> RetrainJob:
        """Change fields of a job (compare-and-swap); a finished job is never reopened."""
        key = self.job_key(model, job_id)

        def change(doc: Any) -> Any:
            if doc is None:
                raise NotFoundError(f"No retrain job {job_id!r} of model {model!r}.")
            job = RetrainJob.model_validate(doc)
            if job.state.finished:
                return doc
            merged = {**job.model_dump(), **changes, "updated_at": self._now()}
            return RetrainJob.model_validate(merged).model_dump(mode="json")

        return RetrainJob.model_validate(
            self.storage.update_json(key, change, max_retries=self.retries)
        )

    def finish(self, model: str, job_id: str, state: JobState, **changes: Any) -> RetrainJob:
        """Mark the job succeeded or failed and free the model for the next retrain."""
        now = self._now()
        job = self.update(
            model,
            job_id,
            state=state,
            finished_at=now,
            stage=JobStage.DONE,
            progress=1.0,
            **changes,
        )
        self._release(model, job_id)
        return job

    def list(self, model: str | None = None) -> list[RetrainJob]:
        """Jobs, oldest first (of ``model``, or of every model)."""
        prefix = jobs_prefix(model)
        jobs = [
            RetrainJob.model_validate(self.storage.read_json(k))
            for k in self.storage.list_keys(prefix)
            if k.endswith(".json")
        ]
        return sorted(jobs, key=lambda j: (j.created_at, j.id))
