"""Immutable JSON records in day partitions: drift reports, detections and alerts.

Each record is one object written once (put-if-absent) under::

    <prefix>date=YYYY-MM-DD/<YYYYmmddTHHMMSSffffffZ>-<id>.json

so a window's records are found by listing only the days it overlaps and
reading only the keys whose time stamp falls inside it. A record written twice
with the same id (a pass repeated after a crash) is stored once.

Example:
    >>> import tempfile
    >>> from datetime import UTC, datetime, timedelta
    >>> from rayops.storage import open_storage
    >>> s = open_storage(tempfile.mkdtemp())
    >>> t = datetime(2026, 1, 1, 12, tzinfo=UTC)
    >>> write_record(s, "monitoring/shop/alerts/", t, "a1", {"n": 1})
    True
    >>> write_record(s, "monitoring/shop/alerts/", t, "a1", {"n": 1})
    False
    >>> read_records(s, "monitoring/shop/alerts/", t, t + timedelta(seconds=1))
    [{'n': 1}]
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from rayops.clock import as_utc
from rayops.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from rayops.storage.base import Storage, dumps

__all__ = ["list_records", "read_records", "record_key", "write_record"]

_STAMP = "%Y%m%dT%H%M%S%fZ"
_READ_THREADS = 8


def record_key(prefix: str, when: datetime, record_id: str) -> str:
    """Key of the record ``record_id`` stamped ``when`` under ``prefix``."""
    when = as_utc(when)
    return f"{prefix}date={when:%Y-%m-%d}/{when.strftime(_STAMP)}-{record_id}.json"


def write_record(storage: Storage, prefix: str, when: datetime, record_id: str, doc: Any) -> bool:
    """Store ``doc`` once; False if a record with this time and id already exists."""
    try:
        storage.put_if_absent(record_key(prefix, when, record_id), dumps(doc))
    except AlreadyExistsError:
        return False
    return True


def _stamp_of(key: str) -> datetime | None:
    name = key.rsplit("/", 1)[-1]
    try:
        return datetime.strptime(name.split("-", 1)[0], _STAMP).replace(tzinfo=UTC)
    except ValueError:
        return None


def list_records(
    storage: Storage, prefix: str, start: datetime | None = None, end: datetime | None = None
) -> list[str]:
    """Keys of the records stamped in ``[start, end)`` (open ends when None), oldest first."""
    start = as_utc(start) if start is not None else None
    end = as_utc(end) if end is not None else None
    if start is not None and end is not None and end <= start:
        raise InvalidInputError(f"The window ends ({end}) before it starts ({start}).")
    days = [d for d in storage.list_children(prefix) if d.startswith("date=")]
    if start is not None:
        days = [d for d in days if d >= f"date={start:%Y-%m-%d}"]
    if end is not None:
        days = [d for d in days if d <= f"date={end:%Y-%m-%d}"]
    keys: list[tuple[datetime, str]] = []
    for day in days:
        for key in storage.list_keys(f"{prefix}{day}/"):
            stamp = _stamp_of(key)
            if stamp is None or not key.endswith(".json"):
                continue
            if (start is None or stamp >= start) and (end is None or stamp < end):
                keys.append((stamp, key))
    return [k for _, k in sorted(keys)]


def read_records(
    storage: Storage, prefix: str, start: datetime | None = None, end: datetime | None = None
) -> list[Any]:
    """The records stamped in ``[start, end)``, oldest first (read in parallel)."""
    keys = list_records(storage, prefix, start, end)

    def read(key: str) -> Any:
        try:
            return storage.read_json(key)
        except NotFoundError:  # deleted while listing
            return None

    if len(keys) <= 1:
        docs = [read(k) for k in keys]
    else:
        with ThreadPoolExecutor(min(_READ_THREADS, len(keys))) as pool:
            docs = list(pool.map(read, keys))
    return [d for d in docs if d is not None]
