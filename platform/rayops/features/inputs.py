"""Checks and conversions of what callers pass to the feature store.

Example:
    >>> to_utc("2026-03-01").isoformat()
    '2026-03-01T00:00:00+00:00'
    >>> to_utc("2026-03-01", end_of_day=True).isoformat()
    '2026-03-01T23:59:59.999999+00:00'
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from rayops.errors import InvalidInputError
from rayops.features.manifest import Expectations, Roles

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["as_list", "check_metadata", "parse_expectations", "roles_for", "to_utc"]


def to_utc(value: datetime | date | str, *, end_of_day: bool = False) -> datetime:
    """A timezone-aware UTC datetime from a datetime, date or ISO string (naive = UTC).

    A plain date means its start, or with ``end_of_day`` the last instant of that day.
    """
    if isinstance(value, str):
        try:
            stamp = datetime.fromisoformat(value)
            plain_date = "T" not in value and " " not in value and len(value) <= 10
            parsed: datetime | date = stamp.date() if plain_date else stamp
        except ValueError as e:
            raise InvalidInputError(
                f"{value!r} is not an ISO date or time; use e.g. 2026-01-31 or "
                "2026-01-31T12:00:00+00:00."
            ) from e
        value = parsed
    if not isinstance(value, datetime):
        if not isinstance(value, date):
            raise InvalidInputError(f"Expected a date or datetime, got {type(value).__name__}.")
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
        if end_of_day:
            value = value.replace(hour=23, minute=59, second=59, microsecond=999_999)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def check_metadata(metadata: dict[str, Any] | None) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict) or not all(isinstance(k, str) for k in metadata):
        raise InvalidInputError("metadata must be a dict with string keys.")
    try:
        json.dumps(metadata, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise InvalidInputError(f"metadata must be JSON-serializable: {e}.") from e
    return dict(metadata)


def parse_expectations(value: Expectations | dict[str, Any] | None) -> Expectations | None:
    if value is None or isinstance(value, Expectations):
        return value
    try:
        return Expectations.model_validate(value)
    except ValidationError as e:
        raise InvalidInputError(f"Invalid expectations: {e}") from None


def as_list(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def roles_for(
    schema: pa.Schema,
    entity: str | list[str] | None,
    event_time: str | None,
    target: str | list[str] | None,
) -> Roles:
    import pyarrow as pa

    roles = Roles(entity=as_list(entity), event_time=event_time, target=as_list(target))
    missing = [c for c in roles.columns() if c not in schema.names]
    if missing:
        raise InvalidInputError(
            f"Role column(s) {missing} are not in the data; its columns are {schema.names}."
        )
    if event_time is not None:
        t = schema.field(event_time).type
        if not (pa.types.is_temporal(t) or pa.types.is_integer(t)):
            raise InvalidInputError(
                f"The event-time column {event_time!r} must hold timestamps, dates or "
                f"integers, not {t}."
            )
    return roles
