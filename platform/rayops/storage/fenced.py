"""Writes fenced by a lease epoch, so a writer that lost its lease cannot act.

A control loop holds a lease with an **epoch** (a fencing token) that grows by one
each time a new holder takes it. :class:`FencedStorage` wraps the real storage for
the loop's tasks; reads go straight through, and every write first asks the
:class:`Fence` (the loop's lease) to confirm that its epoch is still the current,
unexpired one, raising :class:`~rayops.errors.LeaseLostError` otherwise. That costs
one GET of the lease document per write: fine in the control loop, whose writes are
few, and never paid by reads.

A lease check alone leaves a window: the check passes, the writer stalls (a GC
pause, a slow request), a newer holder takes over and writes, then the stale write
lands. Documents close that window with a **stamp**: every JSON object written by
:meth:`FencedStorage.compare_and_swap` (and so :meth:`~Storage.update_json`) or
:meth:`FencedStorage.write_json` carries the writer's epoch under
:data:`~rayops.storage.base.FENCE_FIELD`, and a write over a document stamped with
a higher epoch is refused. The check reads the version it replaces and the write is
a compare-and-swap on that version, so the two are atomic: no stale write can slip
in between. Readers never see the stamp (:func:`~rayops.storage.base.loads` drops
it), and a write outside any loop (an operator's ``rayops promote``) clears it, which
is right: fencing orders loops, compare-and-swap orders everyone.

Blind writes (:meth:`~FencedStorage.write_bytes`, ``put_if_absent``, ``delete``,
``write_parquet``) carry opaque bytes (model artifacts, Parquet, append-only
records) that must stay byte-exact, so they are fenced by the lease check only.
Writes through :meth:`~Storage.arrow_filesystem` bypass the fence altogether.

Example:
    >>> import tempfile
    >>> from rayops.storage import open_storage
    >>> class Epoch:  # a fence whose holder is at epoch 2
    ...     def verify(self):
    ...         return 2
    >>> raw = open_storage(tempfile.mkdtemp())
    >>> fenced = FencedStorage(raw, Epoch())
    >>> fenced.write_json("a.json", {"n": 1})
    >>> raw.read_json("a.json"), fence_of(raw.read_bytes("a.json"))
    ({'n': 1}, 2)
    >>> raw.write_bytes("b.json", b'{"_fence":3,"n":1}')  # a newer holder's document
    >>> fenced.update_json("b.json", lambda doc: {"n": 2})
    Traceback (most recent call last):
    ...
    rayops.errors.LeaseLostError: ...
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from rayops.errors import ConflictError, LeaseLostError, NotFoundError
from rayops.storage.base import FENCE_FIELD, Storage, Versioned, dumps

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.fs as pafs

    from rayops.storage.check import StorageCheck

__all__ = ["Fence", "FencedStorage", "fence_of", "stamp"]

T = TypeVar("T")


class Fence(Protocol):
    """What a :class:`FencedStorage` asks before each write (the control loop's lease)."""

    def verify(self) -> int:
        """The writer's epoch, after checking it still holds the lease.

        Raises:
            LeaseLostError: the lease expired or has a newer holder.
        """
        ...


def fence_of(data: bytes) -> int:
    """The epoch stamped on a stored JSON document (0 if none or not JSON).

    Example:
        >>> fence_of(b'{"_fence":7,"n":1}'), fence_of(b'{"n":1}'), fence_of(b"PAR1")
        (7, 0, 0)
    """
    if FENCE_FIELD.encode() not in data:  # most documents: no parse needed
        return 0
    try:
        doc = json.loads(data)
    except ValueError:
        return 0
    value = doc.get(FENCE_FIELD) if isinstance(doc, dict) else None
    return value if isinstance(value, int) else 0


def stamp(data: bytes, epoch: int) -> bytes:
    """``data`` with ``epoch`` stamped on it, if it is a JSON object (else unchanged).

    Example:
        >>> stamp(b'{"n":1}', 4)
        b'{"_fence":4,"n":1}'
    """
    try:
        doc = json.loads(data)
    except ValueError:
        return data
    if not isinstance(doc, dict):
        return data
    return dumps({**doc, FENCE_FIELD: epoch})


class FencedStorage(Storage):
    """A view of ``inner`` whose writes succeed only while ``fence`` holds the lease.

    Args:
        inner: the real storage.
        fence: answers :meth:`Fence.verify` before each write.
        max_retries: attempts of :meth:`write_json` when other writers keep racing it.
    """

    def __init__(self, inner: Storage, fence: Fence, *, max_retries: int = 64) -> None:
        self.inner = inner
        self.fence = fence
        self.max_retries = max_retries
        self.uri = inner.uri

    # --- reads: straight through -----------------------------------------------------------
    def read_versioned(self, key: str) -> Versioned:
        return self.inner.read_versioned(key)

    def read_bytes(self, key: str) -> bytes:
        return self.inner.read_bytes(key)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def list_keys(self, prefix: str = "") -> list[str]:
        return self.inner.list_keys(prefix)

    def list_children(self, prefix: str = "") -> list[str]:
        return self.inner.list_children(prefix)

    def arrow_filesystem(self) -> tuple[pafs.FileSystem, str]:
        return self.inner.arrow_filesystem()

    def check(self, *, raise_on_failure: bool = True) -> StorageCheck:
        return self.inner.check(raise_on_failure=raise_on_failure)

    def _translate(self, fn: Callable[[], T], key: str | None = None) -> T:
        return self.inner._translate(fn, key)

    # --- documents: lease check and stamp ------------------------------------------------
    def _refuse_newer(self, key: str, current: bytes, epoch: int) -> None:
        written = fence_of(current)
        if written > epoch:
            raise LeaseLostError(
                f"{key!r} was written by a newer control loop (lease epoch {written}) than this "
                f"one (epoch {epoch}); this loop lost its lease and must not overwrite it."
            )

    def compare_and_swap(self, key: str, data: bytes, expected: str | None) -> str:
        """Compare-and-swap, refused unless the lease holds and no newer epoch wrote ``key``.

        Costs a GET of the lease and one of ``key`` (to read its stamp) before the write.
        """
        epoch = self.fence.verify()
        if expected is not None:
            try:
                current = self.inner.read_versioned(key)
            except NotFoundError:
                raise ConflictError(f"{key!r} was deleted since it was read; re-read it.") from None
            if current.token != expected:
                raise ConflictError(f"{key!r} changed since it was read; re-read it.")
            self._refuse_newer(key, current.data, epoch)
        # The CAS is on the version just checked, so check and write are atomic.
        return self.inner.compare_and_swap(key, stamp(data, epoch), expected)

    def write_json(self, key: str, obj: Any) -> None:
        """Replace a document (last writer wins among current holders), stamped and fenced."""
        for _ in range(self.max_retries):
            epoch = self.fence.verify()
            try:
                current = self.inner.read_versioned(key)
            except NotFoundError:
                token = None
            else:
                self._refuse_newer(key, current.data, epoch)
                token = current.token
            try:
                self.inner.compare_and_swap(key, stamp(dumps(obj), epoch), token)
                return
            except ConflictError:
                continue
        raise ConflictError(
            f"Gave up writing {key!r} after {self.max_retries} conflicting writes; try again."
        )

    # --- blind writes: lease check only --------------------------------------------------
    def write_bytes(self, key: str, data: bytes) -> None:
        self.fence.verify()
        self.inner.write_bytes(key, data)

    def put_if_absent(self, key: str, data: bytes) -> None:
        self.fence.verify()
        self.inner.put_if_absent(key, data)

    def delete(self, key: str) -> None:
        self.fence.verify()
        self.inner.delete(key)

    def delete_prefix(self, prefix: str) -> int:
        self.fence.verify()
        return self.inner.delete_prefix(prefix)

    def write_parquet(
        self,
        key: str,
        data: pa.Table | Iterable[pa.RecordBatch],
        *,
        schema: pa.Schema | None = None,
        compression: str | Mapping[str, str] = "zstd",
        row_group_size: int | None = None,
    ) -> None:
        self.fence.verify()
        self.inner.write_parquet(
            key, data, schema=schema, compression=compression, row_group_size=row_group_size
        )

    def __repr__(self) -> str:
        return f"FencedStorage({self.inner!r})"
