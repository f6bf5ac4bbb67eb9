"""Retrain jobs sized against the cluster they are sent to.

A retrain job's driver reserves ``retrain_entrypoint_num_cpus`` (0 by default);
its work runs as Ray tasks and actors that reserve their own CPUs: the fast
training path one task of 1 CPU, Ray Train one worker of 1 CPU each, a re-tune
``tune_cpus_per_trial`` per trial next to a 1-CPU baseline task. Ray queues a
task that does not fit until CPUs free up — on a busy cluster, forever, with
nothing to show for it. So:

* **before submitting**, the controller compares what the job needs
  (:func:`job_needs`: the driver plus its largest single request) with the CPUs
  the cluster has free (:meth:`rayops.automation.submit.RaySubmitter.capacity`).
  A job that does not fit stays queued in stage ``waiting for resources``, with
  what it needs and what is free in ``waiting`` (``rayops retrain status``), and
  is submitted on the first pass where it fits. It stays the model's active job
  meanwhile, so its policy does not trigger another one;
* **while it runs**, the job itself watches (:class:`ResourceWatch`) for its own
  tasks and actors that Ray cannot place (more data than the fast path takes,
  CPUs taken by someone else after the check) and reports them the same way
  within ``retrain_resource_poll_s``, clearing the note once they run.

The rule for serving next to retraining: ``rayops serve`` reserves 1 CPU per
gateway replica and none for the control loop (it reads storage and runs
one-thread online updates), so a 2-CPU machine keeps one CPU for a retrain's
training task.

Example:
    >>> from rayops.automation.policy import RetrainPolicy
    >>> from rayops.config import Settings
    >>> p = RetrainPolicy(model="demand", features="demand-fs")
    >>> needs = job_needs(p, Settings())
    >>> needs.cpus, needs.what
    (1.0, 'its training task')
    >>> Capacity(total=2.0, free=0.5).describe(needs)
    'waiting for resources (needs 1 CPU for its training task, free 0.5 of 2 CPUs)'
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rayops.automation.policy import RetrainPolicy
    from rayops.config import Settings

__all__ = [
    "Capacity",
    "JobNeeds",
    "ResourceWatch",
    "job_needs",
    "pending_demand",
    "session_capacity",
]

logger = logging.getLogger(__name__)

#: What Ray's state API calls a task or an actor it cannot place yet.
_PENDING_TASK = "PENDING_NODE_ASSIGNMENT"
_PENDING_ACTOR = "PENDING_CREATION"


def _cpus(value: float) -> str:
    return f"{value:g} CPU" + ("" if value == 1 else "s")


@dataclass(frozen=True)
class JobNeeds:
    """The CPUs a retrain job must find free to make progress, and what asks for them."""

    cpus: float
    what: str


@dataclass(frozen=True)
class Capacity:
    """CPUs of a cluster: in total and free right now."""

    total: float
    free: float

    def fits(self, needs: JobNeeds) -> bool:
        return needs.cpus <= self.free + 1e-9

    def describe(self, needs: JobNeeds) -> str:
        """The sentence ``rayops retrain status`` shows for a job that does not fit."""
        return (
            f"waiting for resources (needs {_cpus(needs.cpus)} for {needs.what}, "
            f"free {self.free:g} of {_cpus(self.total)})"
        )


def job_needs(policy: RetrainPolicy, settings: Settings) -> JobNeeds:
    """What a retrain of ``policy`` asks the cluster for at its largest single request.

    Ray Train's workers are placed together (one placement group), so they count
    together; a re-tune needs at least its baseline task or one trial.
    """
    driver = settings.automation.entrypoint_num_cpus
    workers = policy.train.workers or 1
    train = (
        (float(workers), f"{workers} Ray Train workers")
        if workers > 1
        else (1.0, "its training task")
    )
    cpus, what = train
    if policy.train.retune:
        trial = float(max(1, settings.training.tune_cpus_per_trial))
        if trial > cpus:
            cpus, what = trial, "a Tune trial"
    if driver > 0:
        what = f"its driver and {what}"
    return JobNeeds(cpus + driver, what)


def session_capacity() -> Capacity:
    """The CPUs of the cluster this process's Ray session is connected to."""
    import ray

    total = float(ray.cluster_resources().get("CPU", 0.0))  # type: ignore[no-untyped-call]
    free = float(ray.available_resources().get("CPU", 0.0))  # type: ignore[no-untyped-call]
    return Capacity(total=total, free=free)


def pending_demand(job_id: str | None = None) -> float:
    """CPUs asked for by tasks and actors (of Ray job ``job_id``, or any) that Ray has not
    placed for lack of resources (0.0 when none). Needs a Ray session with a dashboard
    (the state API); raises if there is none."""
    from ray.util.state import list_actors, list_tasks

    filters: list[tuple[str, str, str]] = [("job_id", "=", job_id)] if job_id else []
    tasks = list_tasks(filters=[*filters, ("state", "=", _PENDING_TASK)], detail=True,
                       raise_on_missing_output=False)  # fmt: skip
    actors = list_actors(filters=[*filters, ("state", "=", _PENDING_ACTOR)], detail=True,
                         raise_on_missing_output=False)  # fmt: skip
    wanted = 0.0
    for item in [*tasks, *actors]:
        resources = getattr(item, "required_resources", None) or {}
        wanted = max(wanted, float(resources.get("CPU", 0.0)))
    return wanted


class ResourceWatch:
    """In a running retrain job: report work Ray cannot place, every ``poll_s`` seconds.

    ``report(text)`` is called with a :meth:`Capacity.describe` sentence once work
    has waited for one whole poll, and with None once it runs again. A session
    without the state API (no dashboard) turns the watch off after one try.

    Use it as a context manager around the stages that run Ray work.
    """

    def __init__(self, report: Callable[[str | None], None], poll_s: float) -> None:
        self.report = report
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._job_id: str | None = None
        self.reported: str | None = None

    def __enter__(self) -> ResourceWatch:
        try:
            import ray

            self._job_id = ray.get_runtime_context().get_job_id()
        except Exception:  # no Ray session: nothing to watch
            return self
        self._thread = threading.Thread(target=self._run, name="rayops-resource-watch",
                                        daemon=True)  # fmt: skip
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.poll_s + 5)
        if self.reported is not None:
            self._say(None)

    def check(self) -> str | None:
        """One look: the sentence for work waiting on resources now, or None."""
        wanted = pending_demand(self._job_id)
        if wanted <= 0:
            return None
        return session_capacity().describe(JobNeeds(wanted, "a task of this job"))

    def _say(self, text: str | None) -> None:
        try:
            self.report(text)
            self.reported = text
        except Exception as e:  # reporting must never break the job
            logger.warning("Could not record the resource wait: %s", e)

    def _run(self) -> None:
        seen = False
        while not self._stop.wait(self.poll_s):
            try:
                text = self.check()
            except Exception as e:  # no state API here (no dashboard): stop watching
                logger.info("Not watching for resource waits: %s", e)
                return
            if text is None:
                seen = False
                if self.reported is not None:
                    self._say(None)
            elif seen and text != self.reported:
                self._say(text)
            else:
                seen = True
