"""``Storage.check()``: prove, against the real root, every property rayops relies on.

Reachability is not enough: a root that answers but cannot write, or an S3
server that ignores conditional headers, would let versions and aliases race
silently. The check runs five probes on keys under a reserved prefix
(``_rayops/probe/<uuid>/``), in this order:

=================  ============================================================
write              an object can be created
read               it reads back byte for byte
put_if_absent      a second writer of the same key is refused (``AlreadyExistsError``)
compare_and_swap   a write with a stale version token is refused (``ConflictError``)
delete             the probe objects can be deleted and are gone afterwards
=================  ============================================================

A probe that cannot reach the root (unreachable, permission denied) skips the
ones after it; a probe that finds broken semantics does not, so the report
shows everything that is wrong. The probe keys are deleted at the end whatever
happened (``cleaned_up`` says whether that worked).

Example:
    >>> import tempfile
    >>> from rayops.storage import open_storage
    >>> report = open_storage(tempfile.mkdtemp()).check()
    >>> report.ok, [p.name.value for p in report.probes]
    (True, ['write', 'read', 'put_if_absent', 'compare_and_swap', 'delete'])
"""

from __future__ import annotations

import enum
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, PrivateAttr, computed_field

from rayops.errors import (
    AlreadyExistsError,
    ConditionalWritesUnsupportedError,
    ConflictError,
    NotFoundError,
    RayopsError,
    StorageError,
    StorageUnavailableError,
)

if TYPE_CHECKING:
    from rayops.storage.base import Storage

__all__ = [
    "CONDITIONAL_WRITES_ADVICE",
    "PROBE_PREFIX",
    "ProbeName",
    "ProbeResult",
    "ProbeStatus",
    "StorageCheck",
    "run_check",
]

#: Reserved key prefix of the check's probe objects; nothing else writes there.
PROBE_PREFIX = "_rayops/probe"

#: What to do when a server ignores conditional writes (ends every such error).
CONDITIONAL_WRITES_ADVICE = (
    "rayops claims versions with put-if-absent (If-None-Match: *) and moves aliases with "
    "compare-and-swap (If-Match: <etag>), so without them concurrent writers silently "
    "overwrite each other. Use a server that refuses these writes with 412 Precondition "
    "Failed: AWS S3 (If-None-Match since August 2024, If-Match since November 2024), a "
    "recent MinIO, or another S3-compatible server that implements conditional PutObject; "
    "`rayops storage check` shows which probe fails."
)


class ProbeName(enum.StrEnum):
    """The probes of :func:`run_check`, in the order they run."""

    WRITE = "write"
    READ = "read"
    PUT_IF_ABSENT = "put_if_absent"
    COMPARE_AND_SWAP = "compare_and_swap"
    DELETE = "delete"


class ProbeStatus(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"  # an earlier probe could not reach the root


#: One sentence per probe: what passing it proves.
PROVES: dict[ProbeName, str] = {
    ProbeName.WRITE: "an object can be created",
    ProbeName.READ: "the object reads back byte for byte",
    ProbeName.PUT_IF_ABSENT: "put-if-absent refuses a second writer of the same key",
    ProbeName.COMPARE_AND_SWAP: "compare-and-swap refuses a stale version (and a deleted key)",
    ProbeName.DELETE: "objects can be deleted and are gone afterwards",
}


class ProbeResult(BaseModel):
    """The outcome of one probe; ``error``/``message`` name the failure, if any."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: ProbeName
    status: ProbeStatus
    proves: str
    duration_ms: float
    error: str | None = None
    message: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ok(self) -> bool:
        return self.status is ProbeStatus.PASSED


class StorageCheck(BaseModel):
    """What :meth:`Storage.check` proved about one storage root.

    ``ok`` is True only if every probe passed. :meth:`raise_for_failure` raises
    the first failure as the rayops error it was (a ``StorageError`` subclass,
    e.g. :class:`~rayops.errors.ConditionalWritesUnsupportedError`).
    """

    model_config = ConfigDict(extra="forbid")

    uri: str
    ok: bool
    probe_prefix: str
    probes: list[ProbeResult]
    cleaned_up: bool
    _failure: RayopsError | None = PrivateAttr(default=None)

    @property
    def failure(self) -> RayopsError | None:
        """The first probe's error, or None if every probe passed."""
        return self._failure

    def raise_for_failure(self) -> StorageCheck:
        """Raise the first failure; return the report itself when all passed."""
        if self._failure is not None:
            raise self._failure
        return self


def _unsupported(storage: Storage, what: str) -> ConditionalWritesUnsupportedError:
    return ConditionalWritesUnsupportedError(
        f"Storage {storage.uri} {what}. {CONDITIONAL_WRITES_ADVICE}", uri=storage.uri
    )


def run_check(storage: Storage) -> StorageCheck:
    """Run every probe against ``storage`` and return the report (never raises a
    RayopsError for a failed probe: see :meth:`StorageCheck.raise_for_failure`)."""
    prefix = f"{PROBE_PREFIX}/{uuid.uuid4().hex}"
    obj, claim, pointer = f"{prefix}/object", f"{prefix}/claim", f"{prefix}/pointer"
    payload = f"rayops storage check {prefix}".encode()
    put_if_absent, compare_and_swap = storage._check_operations()

    def write() -> None:
        storage.write_bytes(obj, payload)

    def read() -> None:
        got = storage.read_bytes(obj)
        if got != payload:
            raise StorageError(
                f"Storage {storage.uri} returned {len(got)} bytes for a {len(payload)}-byte "
                "object just written: the server does not read back what it stored.",
                uri=storage.uri,
            )

    def second_writer() -> None:
        put_if_absent(claim, b"first")
        try:
            put_if_absent(claim, b"second")
        except AlreadyExistsError:
            pass
        else:
            raise _unsupported(
                storage, "let a second put-if-absent overwrite an existing key (If-None-Match: *)"
            )
        if storage.read_bytes(claim) != b"first":
            raise _unsupported(storage, "changed a key that put-if-absent refused to overwrite")

    def stale_swap() -> None:
        t0 = compare_and_swap(pointer, b"v0", None)
        compare_and_swap(pointer, b"v1", t0)
        try:
            compare_and_swap(pointer, b"stale", t0)
        except ConflictError:
            pass
        else:
            raise _unsupported(
                storage, "accepted a compare-and-swap with a stale version token (If-Match)"
            )
        if storage.read_bytes(pointer) != b"v1":
            raise _unsupported(storage, "changed a key a stale compare-and-swap was refused on")
        storage.delete(pointer)
        try:
            compare_and_swap(pointer, b"revived", t0)
        except ConflictError:
            pass
        else:
            raise _unsupported(
                storage,
                "let a compare-and-swap (If-Match) recreate a key deleted since it was read",
            )

    def delete() -> None:
        for key in (obj, claim, pointer):
            storage.delete(key)
        try:
            storage.read_bytes(obj)
        except NotFoundError:
            return
        raise StorageError(
            f"Storage {storage.uri} still serves {obj!r} after deleting it.", uri=storage.uri
        )

    steps: list[tuple[ProbeName, Callable[[], None]]] = [
        (ProbeName.WRITE, write),
        (ProbeName.READ, read),
        (ProbeName.PUT_IF_ABSENT, second_writer),
        (ProbeName.COMPARE_AND_SWAP, stale_swap),
        (ProbeName.DELETE, delete),
    ]
    results: list[ProbeResult] = []
    failure: RayopsError | None = None
    blocked = False  # the root cannot be reached: do not pile up timeouts
    for name, step in steps:
        if blocked:
            results.append(
                ProbeResult(
                    name=name, status=ProbeStatus.SKIPPED, proves=PROVES[name], duration_ms=0.0
                )
            )
            continue
        started = time.perf_counter()
        error: RayopsError | None = None
        try:
            step()
        except RayopsError as e:
            error = e
        except OSError as e:
            error = storage._storage_error(e)
        ms = round((time.perf_counter() - started) * 1000, 3)
        if error is None:
            results.append(
                ProbeResult(
                    name=name, status=ProbeStatus.PASSED, proves=PROVES[name], duration_ms=ms
                )
            )
            continue
        failure = failure or error
        blocked = not isinstance(error, ConditionalWritesUnsupportedError)
        results.append(
            ProbeResult(
                name=name,
                status=ProbeStatus.FAILED,
                proves=PROVES[name],
                duration_ms=ms,
                error=type(error).__name__,
                message=str(error),
            )
        )
    cleaned_up = _clean_up(storage, prefix, results)
    report = StorageCheck(
        uri=storage.uri,
        ok=failure is None,
        probe_prefix=prefix,
        probes=results,
        cleaned_up=cleaned_up,
    )
    report._failure = failure
    return report


def _clean_up(storage: Storage, prefix: str, results: list[ProbeResult]) -> bool:
    """Delete every probe key; False if that failed (or the root was never reached)."""
    nothing_reached = not any(r.ok for r in results)
    first = next((r for r in results if r.status is ProbeStatus.FAILED), None)
    if nothing_reached and first is not None and first.error == StorageUnavailableError.__name__:
        # Nothing was written and the endpoint is down: a cleanup would only wait
        # for another timeout.
        return False
    try:
        storage.delete_prefix(f"{prefix}/")
        return not storage.list_keys(f"{prefix}/")
    except (RayopsError, OSError):
        return False
