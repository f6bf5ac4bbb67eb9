"""Where an endpoint's online learning stands, kept in storage.

``online/<endpoint>/state.json`` (compare-and-swap) holds the **cursor** — the
position in the endpoint's feedback stream up to which samples have been applied
— plus counters and the claim of an update in progress. Samples themselves are
never copied here: the buffer is whatever the serving logs hold after the cursor
(see :mod:`rayops.online.buffer`).

A position is ``(feedback time, request_id, row)``, ordered in that order, so
several rows of one feedback request (same time) can fall on both sides of it.

Example:
    >>> from datetime import UTC, datetime
    >>> a = SampleKey(time=datetime(2026, 1, 1, tzinfo=UTC), request_id="r1", row=0)
    >>> b = SampleKey(time=datetime(2026, 1, 1, tzinfo=UTC), request_id="r1", row=1)
    >>> a < b, a.as_tuple() < b.as_tuple()
    (True, True)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from rayops.errors import ConflictError, NotFoundError
from rayops.online.config import online_prefix
from rayops.storage.base import Storage, dumps
from rayops.storage.retry import pause

__all__ = ["Claim", "OnlineState", "SampleKey", "read_state", "state_key", "update_state"]


class SampleKey(BaseModel):
    """A position in an endpoint's feedback stream."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    time: datetime
    request_id: str = ""
    row: int = -1

    def as_tuple(self) -> tuple[datetime, str, int]:
        return (self.time, self.request_id, self.row)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, SampleKey):
            return NotImplemented
        return self.as_tuple() < other.as_tuple()


class Claim(BaseModel):
    """An update in progress (so a manual update and the control loop never overlap)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    started_at: datetime


class OnlineState(BaseModel):
    """What ``online/<endpoint>/state.json`` holds."""

    model_config = ConfigDict(extra="forbid")

    endpoint: str
    cursor: SampleKey
    attempts: int = 0
    accepted: int = 0
    high_error_streak: int = 0
    last_update: str | None = None
    last_update_at: datetime | None = None
    skipped_rollout: str | None = None
    claim: Claim | None = None


def state_key(endpoint: str) -> str:
    return f"{online_prefix(endpoint)}state.json"


def read_state(storage: Storage, endpoint: str) -> OnlineState | None:
    """The stored state of ``endpoint``, or None before online learning was first enabled."""
    try:
        return OnlineState.model_validate(storage.read_json(state_key(endpoint)))
    except NotFoundError:
        return None


def update_state(
    storage: Storage,
    endpoint: str,
    change: Callable[[OnlineState | None], OnlineState | None],
    *,
    max_retries: int = 64,
) -> OnlineState | None:
    """Read-modify-write the state with compare-and-swap, retrying on conflict.

    ``change`` gets the current state (None if absent) and may run several times;
    returning None leaves the document untouched (and returns None).
    """
    key = state_key(endpoint)
    for attempt in range(max_retries):
        try:
            current = storage.read_versioned(key)
            state, token = OnlineState.model_validate(current.json()), current.token
        except NotFoundError:
            state, token = None, None
        new = change(state)
        if new is None:
            return None
        try:
            storage.compare_and_swap(key, dumps(new.model_dump(mode="json")), token)
            return new
        except ConflictError:
            pause(attempt, storage.settings)
    raise ConflictError(
        f"Gave up updating the online state of {endpoint!r} after {max_retries} conflicting "
        "writes; try again."
    )
