"""The control loop: one restartable place that runs rollouts, monitoring, online
learning and retraining.

Each capability contributes a :class:`ControlTask` whose :meth:`~ControlTask.tick`
reads its state from storage, decides, and writes its decision back. Nothing is
kept only in memory, so a loop that is killed and started again (by Serve, which
hosts it as a one-replica deployment, see :mod:`rayops.apps.controller`)
resumes where the stored state says.

Only one loop acts at a time, even while Serve replaces a replica or an operator
runs ``rayops controller run`` by hand: the loop holds a **lease**
(:class:`~rayops.control.lease.Lease`, ``control/lease.json``, taken and renewed
with compare-and-swap, expiring after ``control_lease_s``). A loop without the
lease waits. The lease is renewed before **each task**, not once per pass, so a
pass longer than the lease keeps it as long as every task is shorter; a loop that
cannot renew skips the rest of its pass.

A lease alone cannot stop a loop that lost it in the middle of a task (a GC
pause, a partition, a slow task) from writing afterwards. So the lease has an
**epoch** (a fencing token, one more for every new holder) and the tasks write
through :attr:`ControlLoop.fenced`, a :class:`~rayops.storage.fenced.FencedStorage`:
every write first checks that the stored lease is still this loop's epoch and
unexpired (one GET per write), and documents carry the epoch that wrote them, so a
stale loop can never overwrite a newer one's decision, even between its check and
its write. A refused write raises :class:`~rayops.errors.LeaseLostError`; the loop
then stops the pass and tries to take the lease again on the next one. Effects
outside storage (a Ray job submission, a webhook) are not fenced; the tasks make
them only after the fenced write that decides them. Build the
tasks with the fenced view by passing a factory (``lambda storage: [...]``);
tasks built beforehand on the raw storage get the per-task lease checks but not
fenced writes.

Example:
    >>> import tempfile
    >>> from datetime import UTC, datetime
    >>> from rayops.storage import open_storage
    >>> class Count(ControlTask):
    ...     name = "count"
    ...     def tick(self, now):
    ...         self.storage.write_json("count.json", {"at": now.isoformat()})
    ...         return {"ticked": now.isoformat()}
    >>> storage = open_storage(tempfile.mkdtemp())
    >>> loop = ControlLoop(storage, lambda fenced: [Count(fenced)], holder="doc")
    >>> loop.run_once(datetime(2026, 1, 1, tzinfo=UTC))["count"]["summary"]
    {'ticked': '2026-01-01T00:00:00+00:00'}
    >>> loop.lease.epoch, storage.read_json("count.json")
    (1, {'at': '2026-01-01T00:00:00+00:00'})
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from rayops.clock import utc_now
from rayops.config import Settings, settings_of
from rayops.control.lease import LEASE_KEY, Lease
from rayops.controltask import ControlTask
from rayops.errors import NotFoundError, RayopsError
from rayops.storage.base import Storage
from rayops.storage.fenced import FencedStorage

__all__ = ["LEASE_KEY", "STATUS_KEY", "ControlLoop", "ControlTask", "Lease", "read_status"]

logger = logging.getLogger(__name__)

STATUS_KEY = "control/status.json"


class ControlLoop:
    """Runs every task at its interval while holding the lease.

    Args:
        storage: the storage root.
        tasks: the tasks to run, or (better) a function that builds them from the
            fenced storage it is given, e.g. ``lambda fenced: default_tasks(fenced)``
            (see :func:`rayops.control.tasks.default_tasks`).
        settings: tunables (``control_tick_s``, ``control_lease_s``).
        holder: this loop's name in the lease (default: a random id).
        now: the clock; inject one in tests.
    """

    def __init__(
        self,
        storage: Storage,
        tasks: Sequence[ControlTask] | Callable[[Storage], Sequence[ControlTask]],
        *,
        settings: Settings | None = None,
        holder: str | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.storage = storage
        self.settings = settings_of(storage, settings)
        self.holder = holder or f"loop-{uuid.uuid4().hex[:12]}"
        self._now = now or utc_now
        self.lease = Lease(storage, self.holder, self.settings.control.lease_s, now=self._now)
        #: The view of ``storage`` the tasks write through: writes need this loop's lease.
        self.fenced = FencedStorage(storage, self.lease, max_retries=self.settings.cas_max_retries)
        self.tasks = list(tasks(self.fenced) if callable(tasks) else tasks)
        names = [t.name for t in self.tasks]
        if len(set(names)) != len(names):
            raise ValueError(f"Control task names must be unique, got {names}.")
        self._due: dict[str, datetime] = {}
        self._status: dict[str, dict[str, Any]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_pass: float | None = None  # time.monotonic() of the last completed pass
        self.leader = False

    # --- one pass ----------------------------------------------------------------------
    def run_once(self, now: datetime | None = None, *, force: bool = True) -> dict[str, Any]:
        """Run every task that is due (all of them with ``force``) once, if the lease is ours.

        The lease is renewed before each task after the first; if a renewal fails, or a
        task's write found the lease lost, the rest of the pass is skipped.

        Returns the per-task status: last run, duration, summary or error.
        """
        now = now or self._now()
        self.leader = acted = self.lease.acquire()
        fresh = True  # just acquired: the first task needs no renewal
        for task in self.tasks if self.leader else []:
            due = self._due.get(task.name)
            if not force and due is not None and now < due:
                continue
            if not fresh and not self.lease.acquire():
                self._lost(f"could not renew the lease before task {task.name!r}")
                break
            fresh = False
            self._due[task.name] = now + timedelta(seconds=task.interval_s)
            self._status[task.name] = self._run_task(task, now)
            if not self.lease.held:
                self._lost(f"task {task.name!r} found the lease lost")
                break
        if self.leader:
            self._write_status(now)
        self.last_pass = time.monotonic()
        return dict(self._status) if acted else {}

    def _lost(self, why: str) -> None:
        logger.warning("Control loop %s %s; skipping the rest of this pass.", self.holder, why)
        self.leader = False

    def _run_task(self, task: ControlTask, now: datetime) -> dict[str, Any]:
        started = time.perf_counter()
        entry: dict[str, Any] = {"last_run": now.isoformat(), "ok": True}
        try:
            entry["summary"] = task.tick(now)
        except RayopsError as e:
            logger.warning("Control task %s failed: %s", task.name, e)
            entry.update(ok=False, error=f"{type(e).__name__}: {e}")
        except Exception as e:  # a bug in one task must not stop the others
            logger.exception("Control task %s crashed.", task.name)
            entry.update(
                ok=False,
                error=f"{type(e).__name__}: {e}",
                traceback=traceback.format_exc(limit=5),
            )
        entry["duration_ms"] = round((time.perf_counter() - started) * 1000, 2)
        return entry

    def _write_status(self, now: datetime) -> None:
        doc = {
            "holder": self.holder,
            "epoch": self.lease.epoch,
            "time": now.isoformat(),
            "tasks": self._status,
        }
        try:  # fenced too: a stale loop must not pass itself off as the leader
            self.fenced.write_json(STATUS_KEY, doc)
        except RayopsError as e:
            logger.warning("Could not write the control status: %s", e)
            if not self.lease.held:
                self.leader = False

    # --- background thread -------------------------------------------------------------
    def start(self) -> None:
        """Run the loop in a daemon thread until :meth:`stop`."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="rayops-control", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once(force=False)
            except Exception:  # storage down while taking the lease: try again next pass
                logger.exception("Control loop pass failed; retrying.")
                self.last_pass = time.monotonic()
            self._stop.wait(self._sleep_s())

    def _sleep_s(self) -> float:
        intervals = [t.interval_s for t in self.tasks] or [self.settings.control.tick_s]
        return max(0.05, min(min(intervals), self.settings.control.lease_s / 3))

    def stop(self) -> None:
        """Stop the thread, release the lease and close every task."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        try:
            self.lease.release()
        except RayopsError:
            pass
        for task in self.tasks:
            try:
                task.close()
            except Exception:
                logger.exception("Closing control task %s failed.", task.name)

    def alive(self) -> bool:
        """Whether the thread runs and finished a pass recently (for health checks)."""
        if self._thread is None or not self._thread.is_alive():
            return False
        if self.last_pass is None:
            return True  # still in its first pass
        limit = max(60.0, 10 * self._sleep_s())
        return time.monotonic() - self.last_pass < limit

    def status(self) -> dict[str, Any]:
        """This loop's view: holder, leadership, lease epoch and every task's last result."""
        return {
            "holder": self.holder,
            "leader": self.leader,
            "epoch": self.lease.epoch,
            "tasks": dict(self._status),
        }


def read_status(storage: Storage) -> dict[str, Any] | None:
    """The status the leading loop wrote last (``control/status.json``), or None."""
    try:
        doc: dict[str, Any] = storage.read_json(STATUS_KEY)
    except NotFoundError:
        return None
    return doc
