"""Publishing a new version safely with many writers and no locks.

The steps, in order (see :mod:`rayops.features.layout` for the keys):

1. **reserve** the content hash: put-if-absent on ``by-hash/<sha256>.json``.
   Exactly one writer of identical content wins; the others wait for its
   manifest and return it, writing no data.
2. **claim** the next version number: put-if-absent on ``claims/<n>.json``,
   taking ``n + 1`` when someone else has ``n``.
3. **write the parts**, several in parallel, into ``<n>/``.
4. **publish** ``<n>/manifest.json`` with put-if-absent: from this moment the
   version exists; then record the version in the hash index.

A write that fails undoes steps 1 and 3 (**abandon**); its claim stays, marked
abandoned, so version numbers never go back. If the undo itself fails (storage
went away mid-write), the reservation stays behind: a later write from the same
process sees that it belongs to a writer of this process that is no longer
running and takes it over at once; a reservation of a writer in another process
that died is taken over with compare-and-swap once older than
``features_stale_reservation_s``.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Executor, Future
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rayops.config import Settings
from rayops.errors import AlreadyExistsError, ConflictError, InvalidInputError, NotFoundError
from rayops.features import layout
from rayops.features.inputs import to_utc
from rayops.features.manifest import FeatureSetVersion
from rayops.features.source import split_parts
from rayops.storage.base import dumps

if TYPE_CHECKING:
    from rayops.features.source import Source
    from rayops.storage import Storage

__all__ = ["VersionPublisher", "json_or_none", "new_writer"]

#: Identifies this process in writer ids, so it can recognise its own dead writers.
_PROCESS = uuid.uuid4().hex[:12]
#: Writers of this process that are still running.
_RUNNING: set[str] = set()
_RUNNING_LOCK = threading.Lock()


def _forked() -> None:
    """In a forked child: a process id of its own and no running writers. Without it,
    children forked after the import (a forkserver's, a preloading server's) shared
    the parent's id, each took the others' live reservations for its own dead ones,
    and identical content was published as several versions."""
    global _PROCESS, _RUNNING_LOCK
    _PROCESS = uuid.uuid4().hex[:12]
    _RUNNING.clear()
    _RUNNING_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_forked)


def new_writer() -> str:
    """A fresh writer id, registered as running until :func:`writer_done`."""
    writer = f"{_PROCESS}-{uuid.uuid4().hex}"
    with _RUNNING_LOCK:
        _RUNNING.add(writer)
    return writer


def writer_done(writer: str) -> None:
    with _RUNNING_LOCK:
        _RUNNING.discard(writer)


def _dead_writer_of_this_process(writer: object) -> bool:
    if not isinstance(writer, str) or not writer.startswith(f"{_PROCESS}-"):
        return False
    with _RUNNING_LOCK:
        return writer not in _RUNNING


def json_or_none(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None


class VersionPublisher:
    """The write-side protocol of one storage root (steps above)."""

    def __init__(
        self,
        storage: Storage,
        settings: Settings,
        now: Callable[[], datetime],
        load: Callable[[str, int], FeatureSetVersion | None],
    ) -> None:
        self.storage = storage
        self.settings = settings
        self._now = now
        self._load = load

    def reserve(self, name: str, sha: str, writer: str) -> FeatureSetVersion | None:
        """Reserve ``sha`` for this writer (None), or return the version that holds it.

        Concurrent writers of identical content race on one put-if-absent; the
        losers wait for the winner's manifest instead of writing data.
        """
        key = layout.hash_key(name, sha)
        s = self.settings
        deadline = time.monotonic() + s.features.wait_timeout_s
        pause = 0.02
        while True:
            mine = dumps({"sha256": sha, "writer": writer, "reserved_at": self._now().isoformat()})
            try:
                current = self.storage.read_versioned(key)
            except NotFoundError:
                try:
                    self.storage.put_if_absent(key, mine)
                    return None
                except AlreadyExistsError:
                    continue
            doc = json_or_none(current.data) or {}
            version = doc.get("version")
            if isinstance(version, int):
                found = self._load(name, version)
                if found is not None and found.sha256 == sha:
                    return found
                stale = True  # the index points at a version that is gone
            else:
                try:
                    reserved_at = to_utc(str(doc.get("reserved_at")))
                    age = (self._now() - reserved_at).total_seconds()
                except InvalidInputError:
                    age = float("inf")
                stale = age > s.features.stale_reservation_s or _dead_writer_of_this_process(
                    doc.get("writer")
                )
            if stale:
                # The dead writer may have published its manifest and died before
                # updating this index: then that version is the answer.
                published = self._published_by(name, doc.get("writer"), sha)
                if published is not None:
                    self.record(name, sha, published.version, str(doc.get("writer")))
                    return published
                try:
                    self.storage.compare_and_swap(key, mine, current.token)
                    return None
                except ConflictError:
                    continue
            if time.monotonic() > deadline:
                raise ConflictError(
                    f"Another writer is still storing identical content in feature set "
                    f"{name!r} (reserved at {doc.get('reserved_at')}); retry later."
                )
            time.sleep(pause)
            pause = min(pause * 2, 0.5)

    def _published_by(self, name: str, writer: object, sha: str) -> FeatureSetVersion | None:
        """The version ``writer`` claimed and published for ``sha``, if there is one."""
        if not isinstance(writer, str):
            return None
        claims = self.storage.list_children(layout.claims_dir(name))
        names = [c.removesuffix(".json") for c in claims]
        numbers = sorted((int(c) for c in names if c.isdigit()), reverse=True)
        for n in numbers:
            try:
                claim = json_or_none(self.storage.read_bytes(layout.claim_key(name, n))) or {}
            except NotFoundError:
                continue
            if claim.get("writer") == writer:
                found = self._load(name, n)
                return found if found is not None and found.sha256 == sha else None
        return None

    def claim(self, name: str, sha: str, writer: str) -> int:
        taken = [
            int(c.removesuffix(".json"))
            for c in self.storage.list_children(layout.claims_dir(name))
            if c.removesuffix(".json").isdigit()
        ]
        number = max(taken, default=0) + 1
        doc = {"sha256": sha, "writer": writer, "claimed_at": self._now().isoformat()}
        for _ in range(self.settings.cas_max_retries):
            try:
                self.storage.put_json_if_absent(layout.claim_key(name, number), doc)
                return number
            except AlreadyExistsError:
                number += 1
        raise ConflictError(
            f"Gave up claiming a version of {name!r} after {self.settings.cas_max_retries} "
            "attempts; too many concurrent writers, retry."
        )

    def write_parts(
        self, name: str, version: int, source: Source, pool: Executor, threads: int
    ) -> list[str]:
        """Write the Parquet parts in parallel, holding at most ``threads + 1`` in memory."""

        s = self.settings
        prefix = layout.version_dir(name, version)
        files: list[str] = []
        pending: list[Future[None]] = []
        try:
            for index, part in enumerate(
                split_parts(source, s.features.rows_per_file, s.features.batch_rows)
            ):
                files.append(layout.part_name(index))
                pending.append(
                    pool.submit(
                        self.storage.write_parquet,
                        prefix + files[-1],
                        part,
                        compression=s.features.compression,
                    )
                )
                while len(pending) > threads:
                    pending.pop(0).result()
            for f in pending:
                f.result()
        except BaseException:
            # Let in-flight parts land before the caller deletes the folder.
            for f in pending:
                f.exception()
            raise
        return files

    def abandon(self, name: str, version: int | None, sha: str, writer: str) -> None:
        """Undo what a failed write left: its parts and its dedup reservation."""
        try:
            if version is not None and not self.storage.exists(layout.manifest_key(name, version)):
                self.storage.delete_prefix(layout.version_dir(name, version))
                self.storage.write_json(
                    layout.claim_key(name, version), {"writer": writer, "abandoned": True}
                )
            key = layout.hash_key(name, sha)
            doc = json_or_none(self.storage.read_bytes(key)) if self.storage.exists(key) else None
            if doc and doc.get("writer") == writer and doc.get("version") is None:
                self.storage.delete(key)
        except Exception:  # noqa: BLE001 - best effort: the original error matters more
            pass

    def record(self, name: str, sha: str, version: int, writer: str) -> None:
        """Point the hash index at the published version (step 4, after the manifest)."""
        self.storage.write_json(
            layout.hash_key(name, sha), {"sha256": sha, "version": version, "writer": writer}
        )
