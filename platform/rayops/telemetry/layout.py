"""Where the logs live: the one place that knows the layout (a stable interface).

::

    logs/<endpoint>/<log>/date=YYYY-MM-DD/<stamp>-<id>.parquet             as written
    logs/<endpoint>/<log>/date=YYYY-MM-DD/compacted-<hour>-<id>.parquet    merged by compaction
    logs/<endpoint>/<log>/date=YYYY-MM-DD/_manifest.json                   which merged files
                                                                           replaced which inputs
    monitoring/<endpoint>/aggregates/<log>/<day>.json      monitoring's per-file aggregates

``<log>`` is one of :class:`Log`. The directories are hive partitions
(``date=...``), so any Arrow tool reads them with ``partitioning="hive"``; files
and folders starting with ``_`` are ignored by those tools and are rayops' own.

Example:
    >>> from datetime import UTC, datetime
    >>> log_prefix("shop", Log.PREDICTIONS)
    'logs/shop/predictions/'
    >>> partition_prefix("shop", Log.FEEDBACK, datetime(2026, 1, 2, tzinfo=UTC).date())
    'logs/shop/feedback/date=2026-01-02/'
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from enum import StrEnum

from rayops.names import validate_name

__all__ = [
    "COMPACTED_PREFIX",
    "MANIFEST",
    "Log",
    "days_between",
    "endpoint_logs_prefix",
    "log_prefix",
    "manifest_key",
    "new_file_key",
    "partition_day",
    "partition_prefix",
]

ROOT = "logs"
MANIFEST = "_manifest.json"
COMPACTED_PREFIX = "compacted-"


class Log(StrEnum):
    """The logs of an endpoint."""

    PREDICTIONS = "predictions"  # one row per predicted row
    FEEDBACK = "feedback"  # one row per actual value received
    REQUESTS = "requests"  # one row per predict request: its HTTP status
    TARGET_PREDICTIONS = "target-predictions"  # multi-target: one row per row and target
    TARGET_FEEDBACK = "target-feedback"


def endpoint_logs_prefix(endpoint: str) -> str:
    return f"{ROOT}/{validate_name(endpoint, 'endpoint name')}/"


def log_prefix(endpoint: str, log: Log | str) -> str:
    return f"{endpoint_logs_prefix(endpoint)}{Log(log).value}/"


def partition_prefix(endpoint: str, log: Log | str, day: date) -> str:
    return f"{log_prefix(endpoint, log)}date={day:%Y-%m-%d}/"


def manifest_key(endpoint: str, log: Log | str, day: date) -> str:
    return partition_prefix(endpoint, log, day) + MANIFEST


def new_file_key(endpoint: str, log: Log | str, when: datetime) -> str:
    """A fresh, unique key for a file written at ``when`` (UTC), sorting by time."""
    stamp = when.strftime("%Y%m%dT%H%M%S%fZ")
    return f"{partition_prefix(endpoint, log, when.date())}{stamp}-{uuid.uuid4().hex[:12]}.parquet"


def partition_day(name: str) -> date | None:
    """The day of a ``date=YYYY-MM-DD`` partition folder name (None for anything else)."""
    if not name.startswith("date="):
        return None
    try:
        return date.fromisoformat(name[5:])
    except ValueError:
        return None


def days_between(start: datetime, end: datetime) -> list[date]:
    """The UTC days that ``[start, end)`` touches."""
    out, day = [], start.date()
    last = (end - timedelta(microseconds=1)).date() if end > start else start.date()
    while day <= last:
        out.append(day)
        day += timedelta(days=1)
    return out
