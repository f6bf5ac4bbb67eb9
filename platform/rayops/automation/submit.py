"""Submitting retrain jobs to Ray's Job Submission API, and following them.

Each retrain runs as a Ray job (``python -m rayops.jobs.retrain --model M --job ID``),
so it runs on the cluster, shows in ``ray job list`` and the Ray dashboard, and
survives the controller that started it. The Ray submission id *is* the rayops
job id, so a controller that crashed between submitting and recording the
submission cannot start the same retrain twice: Ray refuses a second job with
the same id, and the controller then simply follows the first one.

The entrypoint is portable: ``python -P -m rayops.jobs.retrain ...``, run by the
cluster's own ``python``, never the submitting machine's interpreter path (a
laptop's venv does not exist on the head node). rayops travels with the job in
its ``runtime_env`` (``py_modules``, :mod:`rayops.runtime_env`), so the job runs
the submitter's rayops on a cluster that never installed it.

Example:
    >>> entrypoint("s3://bucket/rayops", "demand", "retrain-1")
    'python -P -m rayops.jobs.retrain --storage s3://bucket/rayops --model demand --job retrain-1'
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Protocol

from rayops.automation.resources import Capacity, session_capacity
from rayops.config import Settings
from rayops.errors import RayopsError
from rayops.runtime_env import module_entrypoint, runtime_env

__all__ = ["JobStatus", "JobSubmitter", "RaySubmitter", "SubmissionPending", "entrypoint"]

#: Ray job states after which a job does not run any more.
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")


class SubmissionPending(RayopsError):
    """Ray's job agent is not up yet (a cluster that just started); submit again later."""


def entrypoint(storage_uri: str, model: str, job_id: str, *, python: str = "python") -> str:
    """The shell command a retrain job runs (``python`` is the cluster's)."""

    args = ["--storage", storage_uri, "--model", model, "--job", job_id]
    return module_entrypoint("rayops.jobs.retrain", args, python=python)


@dataclass(frozen=True)
class JobStatus:
    """A Ray job's state (PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED) and message."""

    state: str
    message: str = ""

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL


class JobSubmitter(Protocol):
    """What the retrain task needs of a job runner (:class:`RaySubmitter` is the real one).

    A runner may also offer ``capacity() -> Capacity | None`` (free CPUs, checked
    before submitting) and ``exists(submission_id) -> bool`` (a submission made before
    a crash); the task uses them when they are there.
    """

    def submit(self, storage_uri: str, model: str, job_id: str) -> str:
        """Start the retrain job; returns its submission id."""
        ...

    def status(self, submission_id: str) -> JobStatus:
        """Where that job is."""
        ...

    def stop(self, submission_id: str) -> None:
        """Stop it (a job that outlived its timeout)."""
        ...


class RaySubmitter:
    """Submits and follows retrain jobs through ``ray.job_submission.JobSubmissionClient``.

    Args:
        settings: ``retrain_job_address`` (default: the cluster this process runs on)
            and the job's CPU reservation; the job receives these settings whole.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self._client: Any = None

    def _jobs(self) -> Any:
        if self._client is None:
            from ray.job_submission import JobSubmissionClient

            try:
                self._client = JobSubmissionClient(self._address())
            except Exception as e:  # ConnectionError, RuntimeError, ValueError from Ray
                # Transient on a cluster that is still starting (its dashboard registers
                # late): the job stays queued and the next pass tries again, until
                # retrain_max_job_s fails it as never submitted.
                raise SubmissionPending(
                    f"Cannot reach Ray's Job Submission API at "
                    f"{self.settings.automation.job_address or 'this cluster'}: {e}. Set "
                    "RAYOPS_RETRAIN_JOB_ADDRESS to the dashboard (http://head:8265)."
                ) from None
        return self._client

    def _address(self) -> str | None:
        """The configured address, else RAY_ADDRESS, else this cluster's dashboard.

        Never Ray's "auto": it picks a cluster from the files under /tmp/ray, which is
        another cluster when this one runs with its own temp dir (or two are running).
        """
        if self.settings.automation.job_address or os.environ.get("RAY_ADDRESS"):
            return self.settings.automation.job_address or None
        import ray

        if not ray.is_initialized():
            return None
        try:
            from ray._private.services import get_webui_url_from_internal_kv

            url = get_webui_url_from_internal_kv()  # type: ignore[no-untyped-call]
        except Exception:  # an older or newer Ray without it: let Ray decide
            return None
        if not url:
            return None
        return url if "://" in url else f"http://{url}"

    def submit(self, storage_uri: str, model: str, job_id: str) -> str:
        """Start the retrain job; returns the Ray submission id (``job_id``)."""
        # The whole settings, so an override given to the controller (a threshold, a
        # timeout, the storage root) reaches the job exactly as the controller had it.
        env = self.settings.override(storage=storage_uri).job_env()

        try:
            submitted: str = self._jobs().submit_job(
                entrypoint=entrypoint(storage_uri, model, job_id),
                submission_id=job_id,
                entrypoint_num_cpus=self.settings.automation.entrypoint_num_cpus,
                runtime_env=runtime_env(env),
                metadata={"rayops_model": model, "rayops_job": job_id},
            )
        except RuntimeError as e:
            if "already exists" in str(e):  # submitted before a crash: follow that one
                return job_id
            if "No available agent" in str(e):
                raise SubmissionPending(f"Ray's job agent is not ready yet: {e}") from None
            raise RayopsError(f"Ray refused retrain job {job_id}: {e}") from None
        return submitted

    def capacity(self) -> Capacity | None:
        """CPUs of the cluster jobs are sent to: in total and free now (None if unknown).

        From the Jobs API's dashboard (``/api/cluster_status``, refreshed by Ray every
        few seconds) when jobs go to an address, else from this process's own Ray
        session (the controller's cluster).
        """
        address = self._address()
        if address:
            import requests

            try:
                r = requests.get(f"{address.rstrip('/')}/api/cluster_status", timeout=5)
                usage = r.json()["data"]["clusterStatus"]["loadMetricsReport"]["usage"]
                used, total = (float(v) for v in usage["CPU"])
            except Exception:  # unreachable, an older Ray, or no report yet: unknown
                return None
            return Capacity(total=total, free=max(0.0, total - used))
        import ray

        return session_capacity() if ray.is_initialized() else None

    def exists(self, submission_id: str) -> bool:
        """Whether Ray Jobs knows ``submission_id`` (a controller may have crashed right
        after submitting it, before recording the submission)."""
        try:
            self._jobs().get_job_info(submission_id)
        except (RuntimeError, SubmissionPending):
            return False
        return True

    def status(self, submission_id: str) -> JobStatus:
        """The Ray job's state; ``FAILED`` with a message if Ray does not know it."""
        try:
            info = self._jobs().get_job_info(submission_id)
        except RuntimeError as e:
            return JobStatus("FAILED", f"Ray does not know job {submission_id}: {e}")
        return JobStatus(str(getattr(info.status, "value", info.status)), info.message or "")

    def stop(self, submission_id: str) -> None:
        try:
            self._jobs().stop_job(submission_id)
        except RuntimeError:
            pass

    def list(self) -> list[dict[str, Any]]:
        """Every job Ray knows, as dicts (submission_id, status, entrypoint, metadata)."""
        return [
            {"submission_id": j.submission_id, "status": str(getattr(j.status, "value", j.status)),
             "entrypoint": j.entrypoint, "metadata": j.metadata or {}}
            for j in self._jobs().list_jobs()
        ]  # fmt: skip
