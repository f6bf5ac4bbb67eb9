"""Storage on a local (or shared POSIX) directory.

Atomicity comes from the file system: every object is written to a hidden
temporary file in the same folder and then moved into place, so readers never
see a partial file.

* put-if-absent: ``link(tmp, key)`` fails if ``key`` exists (atomic, and the
  object is complete the moment it appears).
* compare-and-swap: an ``flock`` on a sidecar lock file serialises writers of
  one key across threads and processes; the token is the SHA-256 of the content.

Works across processes on one machine and on file systems with POSIX ``link``
and ``flock`` semantics. For a multi-node Ray cluster use S3 (or NFSv4 with
working locks).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import shutil
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from rayops.errors import (
    AlreadyExistsError,
    ConflictError,
    NotFoundError,
    StorageError,
    StoragePermissionError,
    StorageUnavailableError,
)
from rayops.names import validate_key
from rayops.storage.base import Storage, Versioned

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.fs as pafs

    from rayops.config import Settings

__all__ = ["LocalStorage"]

_TMP = ".rayops-tmp-"
_LOCK = ".rayops-lock-"


def _token(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class LocalStorage(Storage):
    """A storage root in a local directory (created on first use).

    Example:
        >>> import tempfile
        >>> s = LocalStorage(tempfile.mkdtemp())
        >>> s.put_if_absent("a/b.txt", b"hello")
        >>> s.read_bytes("a/b.txt")
        b'hello'
    """

    def __init__(self, root: str | os.PathLike[str], settings: Settings | None = None) -> None:
        self.root = Path(root).expanduser().resolve()
        self.uri = str(self.root)
        self.settings = settings

    # --- helpers -------------------------------------------------------------
    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    def _tmp_for(self, path: Path) -> Path:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except PermissionError as e:
            raise StoragePermissionError(
                f"Cannot create folder {path.parent} under storage root {self.uri}: "
                "permission denied; check RAYOPS_STORAGE points to a writable directory.",
                uri=self.uri,
            ) from e
        except (FileExistsError, NotADirectoryError) as e:
            raise StorageError(
                f"Cannot create folder {path.parent} under storage root {self.uri}: a file is "
                "in the way; check RAYOPS_STORAGE points to a directory.",
                uri=self.uri,
            ) from e
        return path.parent / f"{_TMP}{path.name}-{uuid.uuid4().hex}"

    def _write_tmp(self, path: Path, data: bytes) -> Path:
        tmp = self._tmp_for(path)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        return tmp

    # --- bytes ----------------------------------------------------------------
    def read_versioned(self, key: str) -> Versioned:
        path = self._path(key)
        try:
            data = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as e:
            raise NotFoundError(f"No object {key!r} in {self.uri}.") from e
        except PermissionError as e:
            raise StoragePermissionError(
                f"Cannot read {path}: permission denied.", uri=self.uri
            ) from e
        return Versioned(data, _token(data))

    def write_bytes(self, key: str, data: bytes) -> None:
        path = self._path(key)
        tmp = self._write_tmp(path, data)
        os.replace(tmp, path)

    def put_if_absent(self, key: str, data: bytes) -> None:
        path = self._path(key)
        tmp = self._write_tmp(path, data)
        try:
            os.link(tmp, path)
        except FileExistsError as e:
            raise AlreadyExistsError(f"{key!r} already exists in {self.uri}.") from e
        finally:
            tmp.unlink(missing_ok=True)

    def compare_and_swap(self, key: str, data: bytes, expected: str | None) -> str:
        path = self._path(key)
        tmp = self._write_tmp(path, data)
        lock_path = path.parent / f"{_LOCK}{path.name}"
        try:
            with open(lock_path, "a+b") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    current: str | None = _token(path.read_bytes())
                except FileNotFoundError:
                    current = None
                if current != expected:
                    what = (
                        "was created"
                        if expected is None
                        else ("was deleted" if current is None else "was changed")
                    )
                    raise ConflictError(
                        f"{key!r} {what} by another writer since it was read; re-read it and retry."
                    )
                os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return _token(data)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list_keys(self, prefix: str = "") -> list[str]:
        base = self._path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        if base.is_file():
            return [prefix]
        if not base.is_dir():
            # A prefix may also be the start of a file name ("logs/2026-").
            parent = base.parent
            if not parent.is_dir():
                return []
            stem = base.name
            candidates = [p for p in parent.iterdir() if p.name.startswith(stem)]
        else:
            candidates = [base]
        out: list[str] = []
        for c in candidates:
            if c.is_file():
                if not c.name.startswith((_TMP, _LOCK)):
                    out.append(c.relative_to(self.root).as_posix())
                continue
            for dirpath, _, files in os.walk(c):
                for f in files:
                    if not f.startswith((_TMP, _LOCK)):
                        out.append((Path(dirpath) / f).relative_to(self.root).as_posix())
        return sorted(out)

    def list_children(self, prefix: str = "") -> list[str]:
        base = self._path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        if not base.is_dir():
            return []
        names = []
        for entry in base.iterdir():
            if entry.name.startswith((_TMP, _LOCK)):
                continue
            # Only folders that hold at least one object count, as on S3.
            if entry.is_dir() and not any(
                not f.startswith((_TMP, _LOCK)) for _, _, files in os.walk(entry) for f in files
            ):
                continue
            names.append(entry.name)
        return sorted(names)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> int:
        keys = self.list_keys(prefix)
        base = self._path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        if base.is_dir() and prefix.endswith("/"):
            shutil.rmtree(base, ignore_errors=True)
        else:
            for key in keys:
                self.delete(key)
        return len(keys)

    # --- Parquet -------------------------------------------------------------
    def arrow_filesystem(self) -> tuple[pafs.FileSystem, str]:
        import pyarrow.fs as pafs

        return pafs.LocalFileSystem(), str(self.root)

    def write_parquet(
        self,
        key: str,
        data: pa.Table | Iterable[pa.RecordBatch],
        *,
        schema: pa.Schema | None = None,
        compression: str | Mapping[str, str] = "zstd",
        row_group_size: int | None = None,
    ) -> None:
        from rayops.storage._parquet import write_stream

        path = self._path(key)
        tmp = self._tmp_for(path)
        try:
            with open(tmp, "wb") as f:
                write_stream(
                    f, data, schema=schema, compression=compression, row_group_size=row_group_size
                )
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def _storage_error(self, error: OSError) -> StorageError:
        if isinstance(error, PermissionError):
            return StoragePermissionError(
                f"Storage root {self.uri} is not writable: check RAYOPS_STORAGE and the "
                "folder's permissions.",
                uri=self.uri,
            )
        if error.errno in (errno.ENOSPC, errno.EROFS):
            return StorageUnavailableError(
                f"Storage root {self.uri} cannot be written: {error.strerror}.", uri=self.uri
            )
        return StorageError(f"Storage root {self.uri} failed: {error}.", uri=self.uri)
