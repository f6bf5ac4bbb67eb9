"""The routing watcher: one reader of the routing tables for every gateway replica.

Without it, every replica lists the endpoints and re-reads every routing table
each ``serving_poll_interval_s``, so storage reads grow with replicas x endpoints.
With it (``serving_routing_watcher``, on by default when Ray is initialised):

* :class:`RoutingWatcher` is a named, detached Ray actor (``rayops-routing-v1-<hash
  of the storage root>`` in Serve's namespace, no CPUs, restarted by Ray if it
  dies). It reads every table once per poll interval (one listing plus one read per
  endpoint) and numbers each change.
* A replica long-polls it (:meth:`RoutingWatcher.wait_for_change`): the call
  answers as soon as something changed since the version the replica holds, or
  after ``serving_routing_watcher_wait_s``; it carries only the changed tables,
  so a replica reads no routing table itself. A change reaches every replica
  within about one poll interval.
* If the watcher does not answer (killed, restarting, stuck, or its last good read
  of storage is old), the replica falls back to reading storage itself, as before,
  and tries to reach (or re-create) the watcher every
  ``serving_routing_watcher_retry_s``. Each switch is one log line.

:class:`RoutingFeed` is the replica's side (the loop of the gateway's watcher
thread); :class:`RoutingScan` is the bookkeeping of the actor, without Ray.

Example:
    >>> import tempfile
    >>> from rayops.storage import open_storage
    >>> scan = RoutingScan()
    >>> scan.update(scan.read(open_storage(tempfile.mkdtemp())), now=0.0)
    False
    >>> scan.changes("", 0, now=0.0).names
    ()
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from pydantic import ValidationError

from rayops.config import Settings
from rayops.errors import InvalidInputError, NotFoundError, RayopsError
from rayops.names import validate_name
from rayops.serving.endpoints import ROOT, routing_key
from rayops.serving.routing import RoutingTable
from rayops.storage.base import Storage

__all__ = [
    "NAMESPACE",
    "RoutingChanges",
    "RoutingFeed",
    "RoutingScan",
    "RoutingSource",
    "RoutingWatcher",
    "WatcherClient",
    "WatcherUnavailable",
    "watcher_name",
]

logger = logging.getLogger(__name__)

#: The Ray namespace of the watcher actor: Serve's, where the gateway replicas live.
NAMESPACE = "serve"

#: Bumped when RoutingChanges or the actor's methods change, so that replicas of a new
#: release never talk to a watcher of the old one (they get their own actor).
_PROTOCOL = "v1"

#: An actor call that takes this much longer than the wait it asked for means a dead or
#: stuck watcher (a live one answers a timed-out long poll at once).
_ANSWER_S = 1.0

#: A watcher whose last good read of storage is older than this many poll intervals
#: (and at least _STALE_MIN_S) is not trusted: storage is failing for it, or it is stuck.
_STALE_POLLS = 10
_STALE_MIN_S = 5.0

#: The watcher removes itself after this long without a call: no replica is left.
_IDLE_EXIT_S = 120.0


class RoutingSource(Enum):
    """Where a replica's routing tables come from right now."""

    WATCHER = "watcher"  # the watcher actor's long poll (no storage reads)
    STORAGE = "storage"  # the replica reads every table itself each poll interval


class WatcherUnavailable(RuntimeError):
    """The watcher did not answer in time, died, or its view of storage is stale."""


@dataclass(frozen=True)
class RoutingChanges:
    """What changed in the routing tables since a version a replica holds.

    ``names`` is every endpoint with a table (so a replica drops the others);
    ``changed`` maps the endpoints whose table changed to ``(table, storage token)``.
    A different ``epoch`` (a restarted watcher) makes the replica ask from version 0,
    which returns every table; the tokens tell it which ones are really new.
    """

    epoch: str
    version: int
    names: tuple[str, ...]
    changed: dict[str, tuple[RoutingTable, str]]
    scan_age_s: float


@dataclass
class _Entry:
    table: RoutingTable
    token: str
    version: int


#: What one read of storage found: name -> (table, token), or None if that table could
#: not be read this time (the previous one is kept).
Found = dict[str, "tuple[RoutingTable, str] | None"]


@dataclass
class RoutingScan:
    """The watcher's state: the current tables, numbered by the scan that changed them.

    :meth:`read` does the I/O (run it in a thread); :meth:`update` and :meth:`changes`
    are pure and run on the actor's event loop, so nothing here needs a lock.
    """

    epoch: str = field(default_factory=lambda: uuid.uuid4().hex)
    version: int = 0
    scans: int = 0
    reads: int = 0  # storage calls made by read(): the figure tests compare with replicas
    scanned_at: float | None = None
    _entries: dict[str, _Entry] = field(default_factory=dict)

    def read(self, storage: Storage) -> Found:
        """One listing of ``endpoints/`` plus one read per endpoint (blocking)."""
        found: Found = {}
        children = storage.list_children(ROOT)
        self.reads += 1
        for child in children:
            try:
                validate_name(child)
            except InvalidInputError:
                continue
            try:
                self.reads += 1
                v = storage.read_versioned(routing_key(child))
                found[child] = (RoutingTable.model_validate(v.json()), v.token)
            except NotFoundError:
                continue  # a deleted endpoint: its history stays, its table is gone
            except (RayopsError, ValidationError, ValueError) as e:
                logger.error("Reading the routing table of %s failed: %s", child, e)
                found[child] = None
        return found

    def update(self, found: Found, now: float) -> bool:
        """Take one read's result; returns whether anything changed."""
        entries: dict[str, _Entry] = {}
        changed = False
        for name, got in found.items():
            old = self._entries.get(name)
            if got is None:
                if old is not None:
                    entries[name] = old
                continue
            table, token = got
            if old is not None and old.token == token:
                entries[name] = old
                continue
            if not changed:
                self.version += 1
                changed = True
            entries[name] = _Entry(table, token, self.version)
        if set(entries) != set(self._entries) and not changed:
            self.version += 1
            changed = True
        self._entries = entries
        self.scans += 1
        self.scanned_at = now
        return changed

    def changes(self, epoch: str, since: int, now: float) -> RoutingChanges:
        """The tables changed after ``since`` (every table if ``epoch`` is not ours)."""
        if epoch != self.epoch:
            since = 0
        changed = {n: (e.table, e.token) for n, e in self._entries.items() if e.version > since}
        age = now - self.scanned_at if self.scanned_at is not None else float("inf")
        return RoutingChanges(self.epoch, self.version, tuple(sorted(self._entries)), changed, age)


class RoutingWatcher:
    """The body of the watcher actor (see the module docstring); one per storage root.

    Args:
        storage_uri: the storage root whose routing tables it reads.
        settings: tunables (the poll interval, S3 settings).
        idle_exit_s: the actor removes itself after this long without a call.
    """

    def __init__(
        self, storage_uri: str, settings: Settings, idle_exit_s: float = _IDLE_EXIT_S
    ) -> None:
        from rayops.storage import open_storage

        self._storage = open_storage(storage_uri, settings)
        self._poll_s = settings.serving.poll_interval_s
        self._scan = RoutingScan()
        self._changed = asyncio.Event()
        self._scanned = asyncio.Event()  # set after the first read, good or not
        self._loop: asyncio.Task[None] | None = None
        self._last_call = time.monotonic()
        self._calls = 0
        self._idle_exit_s = idle_exit_s

    def _start(self) -> None:
        # Started by the first call: an async actor's event loop runs only in methods.
        self._last_call = time.monotonic()
        if self._loop is None or self._loop.done():
            self._loop = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                found = await asyncio.to_thread(self._scan.read, self._storage)
                if self._scan.update(found, time.monotonic()):
                    self._changed.set()
                    self._changed = asyncio.Event()
            except Exception:
                logger.exception("Listing the endpoints failed; replicas keep the last tables.")
            self._scanned.set()
            if time.monotonic() - self._last_call > self._idle_exit_s:
                self._exit()
                return
            await asyncio.sleep(self._poll_s)

    def _exit(self) -> None:
        import ray

        logger.info(
            "No gateway replica asked for %.0f s; the routing watcher exits.", self._idle_exit_s
        )
        try:
            ray.kill(ray.get_runtime_context().current_actor, no_restart=True)
        except Exception:  # staying up is harmless: the next call restarts the loop
            logger.exception("The routing watcher could not remove itself.")

    async def wait_for_change(self, epoch: str, since: int, timeout_s: float) -> RoutingChanges:
        """The changes after ``since``, as soon as there are any or after ``timeout_s``."""
        self._start()
        self._calls += 1
        await self._scanned.wait()
        if epoch == self._scan.epoch and self._scan.version <= since and timeout_s > 0:
            try:
                await asyncio.wait_for(self._changed.wait(), timeout_s)
            except TimeoutError:
                pass
        return self._scan.changes(epoch, since, time.monotonic())

    async def stats(self) -> dict[str, Any]:
        """``{"epoch", "version", "scans", "reads", "calls"}``: how much storage the watcher
        read, and how many long polls it answered."""
        self._start()
        s = self._scan
        return {
            "epoch": s.epoch,
            "version": s.version,
            "scans": s.scans,
            "reads": s.reads,
            "calls": self._calls,
        }


def watcher_name(storage_uri: str) -> str:
    """The actor name of the watcher of one storage root.

    Example:
        >>> watcher_name("s3://bucket/rayops")
        'rayops-routing-v1-8b9db65605f4e3c8'
    """
    digest = hashlib.blake2b(storage_uri.encode(), digest_size=8).hexdigest()
    return f"rayops-routing-{_PROTOCOL}-{digest}"


class WatcherClient:
    """A replica's line to the watcher: finds or creates the actor, then asks it.

    Args:
        storage_uri: the storage root (names the actor).
        settings: tunables; ``serving_routing_watcher`` off disables the client.
    """

    def __init__(self, storage_uri: str, settings: Settings) -> None:
        self.name = watcher_name(storage_uri)
        self._uri = storage_uri
        self._settings = settings
        self._actor: Any = None

    @property
    def enabled(self) -> bool:
        """The setting is on and this process is connected to Ray (never starts Ray)."""
        ray = sys.modules.get("ray")
        return bool(
            self._settings.serving.routing_watcher and ray is not None and ray.is_initialized()
        )

    def actor(self) -> Any:
        """The watcher's handle; created if no live actor has the name."""
        if self._actor is None:
            import ray

            self._actor = (
                ray.remote(RoutingWatcher)
                .options(
                    name=self.name,
                    namespace=NAMESPACE,
                    lifetime="detached",
                    get_if_exists=True,
                    max_restarts=-1,
                    num_cpus=0,
                )
                .remote(self._uri, self._settings)
            )
        return self._actor

    def changes(self, epoch: str, since: int, wait_s: float) -> RoutingChanges:
        """The watcher's answer to one long poll; raises WatcherUnavailable."""
        import ray

        try:
            ref = self.actor().wait_for_change.remote(epoch, since, wait_s)
            changes: RoutingChanges = ray.get(ref, timeout=wait_s + _ANSWER_S)
        except Exception as e:  # the actor died, restarts, is stuck or cannot be created
            self._actor = None  # look it up (or create it) again next time
            first = str(e).splitlines()[0] if str(e) else ""
            raise WatcherUnavailable(f"{type(e).__name__}: {first}") from e
        stale = max(_STALE_MIN_S, _STALE_POLLS * self._settings.serving.poll_interval_s)
        if changes.scan_age_s > stale:
            raise WatcherUnavailable(
                f"its last good read of the routing tables was {changes.scan_age_s:.0f} s ago"
            )
        return changes


class RoutingFeed:
    """The loop of a replica's routing thread: follow the watcher, else read storage.

    Args:
        settings: tunables (poll interval, watcher wait and retry).
        client: the line to the watcher (None or disabled: storage only, as before).
        apply: swaps in a :class:`RoutingChanges`; returns False if a version could not
            load yet (the same changes are asked for again after one poll interval).
        refresh: reads every table from storage and swaps in the changed ones.
        stop: set to end :meth:`run`.
    """

    def __init__(
        self,
        settings: Settings,
        client: WatcherClient | None,
        *,
        apply: Callable[[RoutingChanges], bool],
        refresh: Callable[[], None],
        stop: threading.Event,
    ) -> None:
        self._serving = settings.serving
        self._client = client
        self._apply = apply
        self._refresh = refresh
        self._stop = stop
        self.source = RoutingSource.STORAGE
        self._epoch = ""
        self._since = 0

    def run(self) -> None:
        """Until ``stop`` is set; never raises (errors are logged and retried)."""
        client = self._client if self._client is not None and self._client.enabled else None
        next_try = 0.0  # the first attempt to reach the watcher is right after start
        while not self._stop.is_set():
            if self.source is RoutingSource.WATCHER:
                assert client is not None
                try:
                    changes = client.changes(
                        self._epoch, self._since, self._serving.routing_watcher_wait_s
                    )
                except WatcherUnavailable as e:
                    if self._stop.is_set():
                        return  # closing: the watcher may be gone with the test or the app
                    self._switch(RoutingSource.STORAGE, client, str(e))
                    next_try = time.monotonic() + self._serving.routing_watcher_retry_s
                    self._refresh_now()  # at once: a change may be waiting
                    continue
                self._take(changes)
                continue
            if self._stop.wait(self._serving.poll_interval_s):
                return
            self._refresh_now()
            if client is not None and time.monotonic() >= next_try:
                next_try = time.monotonic() + self._serving.routing_watcher_retry_s
                try:
                    # No wait: while this replica reads storage, it must not block here.
                    changes = client.changes("", 0, 0.0)
                except WatcherUnavailable as e:
                    logger.debug("The routing watcher %s is not reachable yet: %s", client.name, e)
                    continue
                self._switch(RoutingSource.WATCHER, client, "")
                self._take(changes)

    def _switch(self, source: RoutingSource, client: WatcherClient, why: str) -> None:
        self.source = source
        self._epoch, self._since = "", 0
        if source is RoutingSource.WATCHER:
            logger.info(
                "Routing: following the watcher actor %s; this replica no longer reads the "
                "routing tables itself.",
                client.name,
            )
        else:
            logger.warning(
                "Routing: the watcher actor %s is unavailable (%s); reading the routing tables "
                "from storage every %.2g s, and trying the watcher again every %.2g s.",
                client.name,
                why,
                self._serving.poll_interval_s,
                self._serving.routing_watcher_retry_s,
            )

    def _take(self, changes: RoutingChanges) -> None:
        try:
            complete = self._apply(changes)
        except Exception:
            logger.exception("Applying the routing changes failed; keeping the current tables.")
            complete = False
        if complete:
            self._epoch, self._since = changes.epoch, changes.version
        else:
            self._stop.wait(self._serving.poll_interval_s)  # retry the load, not at once

    def _refresh_now(self) -> None:
        try:
            self._refresh()
        except Exception:
            logger.exception("Reading the routing tables failed; keeping the current ones.")
