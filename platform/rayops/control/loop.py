"""The control loop: one restartable place that runs rollouts, monitoring, online
learning and retraining.

Each capability contributes a :class:`ControlTask` whose :meth:`~ControlTask.tick`
reads its state from storage, decides, and writes its decision back. Nothing is
kept only in memory, so a loop that is killed and started again (by Serve, which
hosts it as a one-replica deployment, see :mod:`rayops.apps.controller`)
resumes where the stored state says.

Only one loop acts at a time, even while Serve replaces a replica or an operator
runs ``rayops controller run`` by hand: the loop holds a **lease**
(``control/lease.json``, taken and renewed with compare-and-swap, expiring after
``control_lease_s``). A loop without the lease waits. The tasks themselves also
change their documents with compare-and-swap, so a lost lease never corrupts
state; the lease only keeps two loops from doing the same work twice.

Example:
    >>> import tempfile
    >>> from datetime import UTC, datetime
    >>> from rayops.storage import open_storage
    >>> class Count(ControlTask):
    ...     name = "count"
    ...     def tick(self, now):
    ...         return {"ticked": now.isoformat()}
    >>> storage = open_storage(tempfile.mkdtemp())
    >>> loop = ControlLoop(storage, [Count(storage)], holder="doc")
    >>> loop.run_once(datetime(2026, 1, 1, tzinfo=UTC))["count"]["summary"]
    {'ticked': '2026-01-01T00:00:00+00:00'}
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
from rayops.config import Settings
from rayops.controltask import ControlTask
from rayops.errors import ConflictError, NotFoundError, RayopsError
from rayops.storage.base import Storage, dumps

__all__ = ["LEASE_KEY", "STATUS_KEY", "ControlLoop", "ControlTask", "Lease", "read_status"]

logger = logging.getLogger(__name__)

LEASE_KEY = "control/lease.json"
STATUS_KEY = "control/status.json"


class Lease:
    """A time-limited claim on the control loop, kept in storage with compare-and-swap.

    Example:
        >>> import tempfile
        >>> from rayops.storage import open_storage
        >>> s = open_storage(tempfile.mkdtemp())
        >>> a, b = Lease(s, "a", 30.0), Lease(s, "b", 30.0)
        >>> a.acquire(), b.acquire()
        (True, False)
        >>> a.release(); b.acquire()
        True
    """

    def __init__(
        self,
        storage: Storage,
        holder: str,
        duration_s: float,
        *,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.storage = storage
        self.holder = holder
        self.duration_s = duration_s
        self._now = now or utc_now

    def acquire(self) -> bool:
        """Take or renew the lease; False while another holder's lease is unexpired."""
        now = self._now()
        try:
            current = self.storage.read_versioned(LEASE_KEY)
            doc, token = current.json(), current.token
        except NotFoundError:
            doc, token = None, None
        if doc is not None and doc.get("holder") != self.holder:
            expires = datetime.fromisoformat(doc["expires_at"])
            if expires > now:
                return False
        new = {
            "holder": self.holder,
            "acquired_at": (
                doc["acquired_at"]
                if doc is not None and doc.get("holder") == self.holder
                else now.isoformat()
            ),
            "renewed_at": now.isoformat(),
            "expires_at": (now + timedelta(seconds=self.duration_s)).isoformat(),
        }
        try:
            self.storage.compare_and_swap(LEASE_KEY, dumps(new), token)
        except ConflictError:
            return False
        return True

    def release(self) -> None:
        """Give the lease up at once (on a graceful stop), if this holder has it."""
        try:
            current = self.storage.read_versioned(LEASE_KEY)
        except NotFoundError:
            return
        doc = current.json()
        if doc.get("holder") != self.holder:
            return
        doc["expires_at"] = self._now().isoformat()
        try:
            self.storage.compare_and_swap(LEASE_KEY, dumps(doc), current.token)
        except ConflictError:
            pass

    def current(self) -> dict[str, Any] | None:
        """The stored lease document, or None."""
        try:
            doc: dict[str, Any] = self.storage.read_json(LEASE_KEY)
        except NotFoundError:
            return None
        return doc


class ControlLoop:
    """Runs every task at its interval while holding the lease.

    Args:
        storage: the storage root.
        tasks: the tasks to run (see :func:`rayops.control.tasks.default_tasks`).
        settings: tunables (``control_tick_s``, ``control_lease_s``).
        holder: this loop's name in the lease (default: a random id).
        now: the clock; inject one in tests.
    """

    def __init__(
        self,
        storage: Storage,
        tasks: Sequence[ControlTask],
        *,
        settings: Settings | None = None,
        holder: str | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        names = [t.name for t in tasks]
        if len(set(names)) != len(names):
            raise ValueError(f"Control task names must be unique, got {names}.")
        self.storage = storage
        self.tasks = list(tasks)
        self.settings = settings or Settings()
        self.holder = holder or f"loop-{uuid.uuid4().hex[:12]}"
        self._now = now or utc_now
        self.lease = Lease(storage, self.holder, self.settings.control.lease_s, now=self._now)
        self._due: dict[str, datetime] = {}
        self._status: dict[str, dict[str, Any]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_pass: float | None = None  # time.monotonic() of the last completed pass
        self.leader = False

    # --- one pass ----------------------------------------------------------------------
    def run_once(self, now: datetime | None = None, *, force: bool = True) -> dict[str, Any]:
        """Run every task that is due (all of them with ``force``) once, if the lease is ours.

        Returns the per-task status: last run, duration, summary or error.
        """
        now = now or self._now()
        self.leader = self.lease.acquire()
        if not self.leader:
            self.last_pass = time.monotonic()
            return {}
        for task in self.tasks:
            due = self._due.get(task.name)
            if not force and due is not None and now < due:
                continue
            self._due[task.name] = now + timedelta(seconds=task.interval_s)
            self._status[task.name] = self._run_task(task, now)
        self._write_status(now)
        self.last_pass = time.monotonic()
        return dict(self._status)

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
        doc = {"holder": self.holder, "time": now.isoformat(), "tasks": self._status}
        try:
            self.storage.write_bytes(STATUS_KEY, dumps(doc))
        except RayopsError as e:
            logger.warning("Could not write the control status: %s", e)

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
        """This loop's view: holder, leadership and every task's last result."""
        return {"holder": self.holder, "leader": self.leader, "tasks": dict(self._status)}


def read_status(storage: Storage) -> dict[str, Any] | None:
    """The status the leading loop wrote last (``control/status.json``), or None."""
    try:
        doc: dict[str, Any] = storage.read_json(STATUS_KEY)
    except NotFoundError:
        return None
    return doc
