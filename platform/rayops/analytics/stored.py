"""Reports computed once and kept in storage, so gateway replicas do not each recompute them.

The web dashboard's JSON (``/dashboard/api/report``) is read from
``analytics/<endpoint>/reports/<range>.json`` when that document is younger than
``analytics_report_ttl_s``; otherwise the replica that asks first computes the
report and writes it there for every replica (and the next poll) to read. Two
replicas that find it stale at the same instant may both compute it (the later
write wins; both answers are correct), so the cost is at most one computation per
replica per TTL, instead of one per replica per ``analytics_cache_s``.

Example:
    >>> import tempfile
    >>> from rayops.config import Settings
    >>> from rayops.storage import open_storage
    >>> s, calls = open_storage(tempfile.mkdtemp()), []
    >>> compute = lambda: calls.append(1) or {"name": "shop"}
    >>> stored_report(s, "shop", "24h", compute, Settings(), clock=lambda: 100.0)
    {'name': 'shop'}
    >>> stored_report(s, "shop", "24h", compute, Settings(), clock=lambda: 105.0), len(calls)
    ({'name': 'shop'}, 1)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rayops.config import Settings
from rayops.errors import NotFoundError
from rayops.names import validate_name
from rayops.storage.base import Storage

__all__ = ["report_key", "stored_report"]


def report_key(endpoint: str, range: str) -> str:
    return (
        f"analytics/{validate_name(endpoint, 'endpoint name')}/reports/"
        f"{validate_name(range, 'range')}.json"
    )


def stored_report(
    storage: Storage,
    endpoint: str,
    range: str,
    compute: Callable[[], dict[str, Any]],
    settings: Settings,
    *,
    clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """The stored report of ``endpoint`` over ``range`` if fresh, else ``compute()``'s,
    stored (see the module docstring)."""
    key = report_key(endpoint, range)
    ttl = settings.analytics.report_ttl_s
    if ttl > 0:
        try:
            doc = storage.read_json(key)
            if clock() - float(doc["computed_at"]) < ttl:
                report: dict[str, Any] = doc["report"]
                return report
        except (NotFoundError, KeyError, TypeError, ValueError):
            pass
    computed_at = clock()
    report = compute()
    if ttl > 0:
        storage.write_json(key, {"computed_at": computed_at, "report": report})
    return report
