"""Time in rayops: aware UTC datetimes everywhere, and an injectable clock.

Every stored time is an aware UTC datetime. Components that need "now" take a
``now`` callable (a :data:`Clock`) so that tests run the real code at a chosen
time instead of patching the clock.

Example:
    >>> from datetime import datetime
    >>> as_utc(datetime(2026, 1, 1, 12)).isoformat()
    '2026-01-01T12:00:00+00:00'
    >>> utc_now().tzinfo is UTC
    True
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["UTC", "Clock", "as_utc", "utc_now"]

#: A source of the current time (an aware UTC datetime).
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time as an aware UTC datetime (the default :data:`Clock`)."""
    return datetime.now(UTC)


def as_utc(t: datetime) -> datetime:
    """``t`` in UTC; a naive datetime is read as UTC."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
