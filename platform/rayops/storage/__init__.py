"""One storage root for every rayops artifact: a local directory or S3.

Example:
    >>> import tempfile
    >>> from rayops.storage import open_storage
    >>> storage = open_storage(tempfile.mkdtemp())
    >>> storage.put_json_if_absent("models/demo/1.0.0/card.json", {"ok": True})
    >>> storage.read_json("models/demo/1.0.0/card.json")
    {'ok': True}
"""

from __future__ import annotations

from rayops.config import Settings
from rayops.errors import InvalidInputError
from rayops.storage.base import Storage, Versioned
from rayops.storage.check import ProbeResult, StorageCheck

__all__ = ["ProbeResult", "Storage", "StorageCheck", "Versioned", "open_storage"]


def open_storage(uri: str | None = None, settings: Settings | None = None) -> Storage:
    """Open the storage root at ``uri`` (default: ``settings.storage``).

    Accepts ``/path``, ``relative/path``, ``~/path``, ``file:///path`` and
    ``s3://bucket[/prefix]``. Opening is cheap and does no I/O; call
    :meth:`Storage.check` to verify the root is reachable.
    """
    settings = settings or Settings()
    uri = uri or settings.storage
    if uri.startswith("s3://"):
        from rayops.storage.s3 import S3Storage

        return S3Storage(uri, settings)
    if uri.startswith("file://"):
        uri = uri[len("file://") :]
    if "://" in uri:
        raise InvalidInputError(
            f"Unsupported storage URI {uri!r}: use a local path, file:///path or s3://bucket/prefix."
        )
    from rayops.storage.local import LocalStorage

    return LocalStorage(uri, settings)
