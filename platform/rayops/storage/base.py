"""The object-store interface every rayops module writes through.

Keys are relative, ``/``-separated strings (``models/churn/1.2.0/card.json``).
Two primitives make many writers safe without a lock service:

* :meth:`Storage.put_if_absent` creates a key only if nobody has; exactly one of
  many concurrent writers wins. Used to claim version numbers.
* :meth:`Storage.compare_and_swap` replaces a key only if it still holds the
  version the caller read. Used for moving pointers (aliases, routing tables).

Every write is atomic: a reader sees the old object or the new one, never a
part of it.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from rayops.errors import ConflictError, NotFoundError
from rayops.names import validate_key

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.fs as pafs

__all__ = ["FENCE_FIELD", "Storage", "Versioned", "loads"]

T = TypeVar("T")

#: Top-level key of a JSON document that records the lease epoch of the control loop
#: that wrote it (see :mod:`rayops.storage.fenced`). Storage metadata, not data: every
#: reader here drops it, and no pydantic model can declare a field with a leading "_".
FENCE_FIELD = "_fence"


def loads(data: bytes) -> Any:
    """Parse a stored JSON document, without its fencing stamp.

    Example:
        >>> loads(b'{"_fence":3,"n":1}')
        {'n': 1}
    """
    doc = json.loads(data)
    if isinstance(doc, dict):
        doc.pop(FENCE_FIELD, None)
    return doc


@dataclass(frozen=True)
class Versioned:
    """Bytes read together with the token that identifies that exact version.

    Pass ``token`` to :meth:`Storage.compare_and_swap` to replace it.
    """

    data: bytes
    token: str

    def json(self) -> Any:
        return loads(self.data)


def dumps(obj: Any) -> bytes:
    """Canonical JSON used for every rayops document: sorted keys, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()


class Storage(ABC):
    """One storage root: a local directory or an S3 prefix.

    Get one with :func:`rayops.storage.open_storage`; do not pick the backend by
    hand. Keys are checked by :func:`rayops.names.validate_key`.
    """

    #: The URI this storage was opened from (``/path`` or ``s3://bucket/prefix``).
    uri: str

    # --- bytes -------------------------------------------------------------
    @abstractmethod
    def read_versioned(self, key: str) -> Versioned:
        """Read a key and its version token. Raises NotFoundError if absent."""

    def read_bytes(self, key: str) -> bytes:
        """Read a whole object. Raises NotFoundError if absent."""
        return self.read_versioned(key).data

    @abstractmethod
    def write_bytes(self, key: str, data: bytes) -> None:
        """Create or replace a key atomically (last writer wins)."""

    @abstractmethod
    def put_if_absent(self, key: str, data: bytes) -> None:
        """Create a key only if it does not exist.

        Raises:
            AlreadyExistsError: the key exists (someone else won the race).
        """

    @abstractmethod
    def compare_and_swap(self, key: str, data: bytes, expected: str | None) -> str:
        """Replace ``key`` only if its current token is ``expected``.

        ``expected=None`` means "only if the key does not exist yet". Returns the
        new token.

        Raises:
            ConflictError: the key changed (or appeared) since it was read.
        """

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether the key holds an object."""

    @abstractmethod
    def list_keys(self, prefix: str = "") -> list[str]:
        """All keys under ``prefix`` (recursively), sorted."""

    @abstractmethod
    def list_children(self, prefix: str = "") -> list[str]:
        """Names of the immediate children (objects and folders) of ``prefix``, sorted."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Delete one key; deleting a missing key is not an error."""

    def delete_prefix(self, prefix: str) -> int:
        """Delete every key under ``prefix``; returns how many were deleted."""
        keys = self.list_keys(prefix)
        for key in keys:
            self.delete(key)
        return len(keys)

    # --- JSON --------------------------------------------------------------
    def read_json(self, key: str) -> Any:
        return loads(self.read_bytes(key))

    def write_json(self, key: str, obj: Any) -> None:
        self.write_bytes(key, dumps(obj))

    def put_json_if_absent(self, key: str, obj: Any) -> None:
        self.put_if_absent(key, dumps(obj))

    def update_json(
        self, key: str, change: Callable[[Any | None], Any], *, max_retries: int = 64
    ) -> Any:
        """Read-modify-write a JSON document with compare-and-swap, retrying on conflict.

        ``change`` gets the current document (``None`` if absent) and returns the new
        one; it may be called several times, so it must not have side effects.

        Example:
            >>> def bump(doc):
            ...     return {"n": (doc or {"n": 0})["n"] + 1}
            >>> storage.update_json("counters/c.json", bump)  # doctest: +SKIP
            {'n': 1}
        """
        for _ in range(max_retries):
            try:
                current = self.read_versioned(key)
                doc, token = current.json(), current.token
            except NotFoundError:
                doc, token = None, None
            new = change(doc)
            try:
                self.compare_and_swap(key, dumps(new), token)
                return new
            except ConflictError:
                continue
        raise ConflictError(
            f"Gave up updating {key!r} after {max_retries} conflicting writes; "
            "too many writers are changing it at once, try again."
        )

    # --- Parquet -----------------------------------------------------------
    @abstractmethod
    def arrow_filesystem(self) -> tuple[pafs.FileSystem, str]:
        """A pyarrow filesystem and the base path of this root inside it.

        For pyarrow.dataset / Ray Data readers that take a filesystem.
        """

    def path_of(self, key: str) -> str:
        """The path of ``key`` inside :meth:`arrow_filesystem`."""
        _, base = self.arrow_filesystem()
        return f"{base}/{validate_key(key)}"

    @abstractmethod
    def write_parquet(
        self,
        key: str,
        data: pa.Table | Iterable[pa.RecordBatch],
        *,
        schema: pa.Schema | None = None,
        compression: str = "zstd",
        row_group_size: int | None = None,
    ) -> None:
        """Write one Parquet object atomically, streaming record batches if given.

        A reader sees the whole file or nothing.
        """

    def read_parquet(
        self,
        keys: str | list[str],
        *,
        columns: list[str] | None = None,
        filter: Any = None,
    ) -> pa.Table:
        """Read one or more Parquet objects (or every file under a prefix ending in '/').

        ``columns`` and ``filter`` (a ``pyarrow.compute`` expression) are pushed into
        the Parquet reader.
        """

        return self.parquet_dataset(keys).to_table(columns=columns, filter=filter)

    def parquet_dataset(self, keys: str | list[str]) -> Any:
        """A ``pyarrow.dataset.Dataset`` over the given Parquet keys or prefix."""
        import pyarrow.dataset as ds

        fs, _ = self.arrow_filesystem()
        if isinstance(keys, str):
            if keys.endswith("/"):
                keys = [k for k in self.list_keys(keys) if k.endswith(".parquet")]
                if not keys:
                    raise NotFoundError(f"No Parquet files under {self.uri}/{keys}.")
            else:
                keys = [keys]
        paths = [self.path_of(k) for k in keys]
        for key in keys:
            if not self.exists(key):
                raise NotFoundError(f"No object {key!r} in {self.uri}.")
        return self._translate(lambda: ds.dataset(paths, format="parquet", filesystem=fs))

    def iter_batches(
        self, keys: str | list[str], *, columns: list[str] | None = None, batch_size: int = 65536
    ) -> Iterator[pa.RecordBatch]:
        """Stream record batches without loading everything in memory."""
        dataset = self.parquet_dataset(keys)
        yield from dataset.to_batches(columns=columns, batch_size=batch_size)

    # --- health --------------------------------------------------------------
    @abstractmethod
    def check(self) -> None:
        """Verify the root is reachable and writable; raise a StorageError if not."""

    def _translate(self, fn: Callable[[], T]) -> T:
        """Run ``fn``, turning backend errors into rayops errors (backends override)."""
        return fn()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.uri!r})"
