"""The SDK behind ``rayops retrain`` and ``rayops schedules``.

Example:
    >>> import tempfile
    >>> from datetime import UTC, datetime
    >>> from rayops.storage import open_storage
    >>> r = Retrainer(open_storage(tempfile.mkdtemp()))
    >>> r.set_policy({"model": "demand", "features": "demand-fs", "endpoint": "shop"}).model
    'demand'
    >>> r.add_schedule("demand", cron="0 2 * * 0").label
    'cron 0 2 * * 0'
    >>> [s.label for s in r.get_policy("demand").schedules]
    ['cron 0 2 * * 0']
    >>> r.history()
    []
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from rayops.automation.jobs import JobState, JobStore, RetrainJob
from rayops.automation.layout import schedule_key
from rayops.automation.pipeline import run_retrain
from rayops.automation.policy import PolicyStore, RetrainPolicy, Schedule, next_run, parse_policy
from rayops.automation.submit import JobSubmitter
from rayops.automation.task import start_job
from rayops.automation.triggers import CheckReport, check, schedule_state
from rayops.clock import utc_now
from rayops.config import Settings, settings_of
from rayops.errors import ConflictError, InvalidInputError, NotFoundError
from rayops.registry import Registry
from rayops.storage.base import Storage

__all__ = ["Retrainer"]


class Retrainer:
    """Retrain policies, schedules, checks and jobs on one storage root.

    Args:
        storage: the storage root.
        settings: tunables (the Ray Jobs address for ``force``).
        now: the clock; inject one in tests.
        submitter: what submits jobs (default :class:`~rayops.automation.submit.RaySubmitter`).
    """

    def __init__(
        self,
        storage: Storage,
        *,
        settings: Settings | None = None,
        now: Callable[[], datetime] | None = None,
        submitter: JobSubmitter | None = None,
    ) -> None:
        self.storage = storage
        self.settings = settings_of(storage, settings)
        self._now = now or utc_now
        self._submitter = submitter
        self.policies = PolicyStore(storage)
        self.jobs = JobStore(storage, now=self._now)

    @property
    def submitter(self) -> Any:
        if self._submitter is None:
            from rayops.automation.submit import RaySubmitter

            self._submitter = RaySubmitter(self.settings)
        return self._submitter

    # --- policies and schedules ---------------------------------------------------------
    def set_policy(self, policy: RetrainPolicy | Mapping[str, Any]) -> RetrainPolicy:
        """Create or replace a model's retrain policy (schedules kept unless given)."""
        parsed = policy if isinstance(policy, RetrainPolicy) else parse_policy(dict(policy))
        return self.policies.put(parsed)

    def get_policy(self, model: str) -> RetrainPolicy:
        return self.policies.get(model)

    def list_policies(self) -> builtins.list[RetrainPolicy]:
        return self.policies.list()

    def remove_policy(self, model: str) -> None:
        self.policies.remove(model)

    def add_schedule(
        self, model: str, *, cron: str | None = None, every: str | None = None
    ) -> Schedule:
        """Add a cron (UTC) or interval schedule to ``model``'s policy; it counts from now."""
        from pydantic import ValidationError

        try:
            schedule = Schedule(cron=cron, every=every)
        except ValidationError as e:
            raise InvalidInputError(f"Invalid schedule: {e.errors()[0]['msg']}.") from None
        policy = self.policies.get(model)
        if any(s.label == schedule.label for s in policy.schedules):
            raise ConflictError(f"Model {model!r} already has the schedule {schedule.label!r}.")
        self.policies.put(policy.model_copy(update={"schedules": [*policy.schedules, schedule]}))
        now = self._now().isoformat()
        self.storage.update_json(
            schedule_key(model),
            lambda doc: {**(doc or {}), schedule.label: now},
        )
        return schedule

    def remove_schedule(self, model: str, label: str) -> None:
        """Remove the schedule ``label`` ('cron 0 2 * * 0', 'every 24h', or just the expression)."""
        policy = self.policies.get(model)
        kept = [s for s in policy.schedules if label not in (s.label, s.cron, s.every)]
        if len(kept) == len(policy.schedules):
            have = ", ".join(s.label for s in policy.schedules) or "none"
            raise NotFoundError(f"Model {model!r} has no schedule {label!r}; it has: {have}.")
        self.policies.put(policy.model_copy(update={"schedules": kept}))

    def schedules(self) -> builtins.list[dict[str, Any]]:
        """Every schedule of every policy, with its next run."""

        out = []
        now = self._now()
        for policy in self.policies.list():
            last = schedule_state(self.storage, policy.model)
            for s in policy.schedules:
                anchor = datetime.fromisoformat(last[s.label]) if s.label in last else now
                nxt = next_run(s, anchor)
                out.append({"model": policy.model, "schedule": s.label,
                            "last": last.get(s.label), "next_run": nxt.isoformat()})  # fmt: skip
        return out

    # --- checks and jobs ----------------------------------------------------------------
    def check(self, model: str | None = None) -> builtins.list[CheckReport]:
        """Which triggers fire now and why; reads storage, writes nothing."""
        policies = [self.policies.get(model)] if model else self.policies.list()
        now = self._now()
        return [check(self.storage, p, now, settings=self.settings) for p in policies]

    def force(
        self, model: str, *, deploy: bool = True, reason: str = "forced by an operator"
    ) -> RetrainJob:
        """Start a retrain now on Ray Jobs, triggers and guards aside."""
        policy = self.policies.get(model)
        job = start_job(
            self.storage, policy, trigger="forced", reason=reason, submitter=self.submitter,
            now=self._now(), deploy=deploy, settings=self.settings,
        )  # fmt: skip
        if job is None:
            active = self.jobs.active(model)
            raise ConflictError(
                f"Model {model!r} is already retraining ({active.id if active else 'a job'}); "
                "wait for it (`rayops retrain status`)."
            )
        return job

    def run_local(
        self, model: str, *, deploy: bool = True, reason: str = "forced by an operator"
    ) -> RetrainJob:
        """Claim a retrain and run it in this process (needs a Ray session), not on Ray Jobs."""

        self.policies.get(model)
        prod = Registry(self.storage).production(model)
        production = prod.ref if prod is not None else None
        job = self.jobs.claim(model, trigger="forced", reason=reason, deploy=deploy,
                              production=production)  # fmt: skip
        if job is None:
            raise ConflictError(f"Model {model!r} is already retraining.")
        return run_retrain(self.storage, model, job.id, settings=self.settings, now=self._now)

    def status(self, model: str | None = None) -> builtins.list[RetrainJob]:
        """Each model's active job, or its latest one."""
        models = [model] if model else [p.model for p in self.policies.list()]
        out = []
        for name in models:
            active = self.jobs.active(name)
            if active is not None:
                out.append(active)
                continue
            jobs = self.jobs.list(name)
            if jobs:
                out.append(jobs[-1])
        return out

    def history(self, model: str | None = None) -> builtins.list[RetrainJob]:
        """Every finished retrain (trigger, reason, times, metrics, decision), oldest first."""
        return [j for j in self.jobs.list(model) if j.state in (JobState.SUCCEEDED,
                                                                 JobState.FAILED)]  # fmt: skip
