"""Append-only lifecycle events of a model: registered, stage moves, deletions.

Each event is its own object ``models/<name>/events/<time>-<id>.json``, created
with put-if-absent and never changed, so concurrent writers never lose one.
Alias moves have their own numbered history (see :mod:`rayops.registry.aliases`);
:meth:`Registry.history` merges both into one timeline.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rayops.errors import NotFoundError
from rayops.registry import layout
from rayops.registry.aliases import AliasState
from rayops.registry.lifecycle import Stage
from rayops.storage.base import Storage

__all__ = ["Event", "EventLog"]

EventKind = Literal["registered", "stage", "alias", "threshold", "deleted"]


class Event(BaseModel):
    """One thing that happened to a model, with when, who and why."""

    model_config = ConfigDict(extra="forbid")

    id: str
    time: datetime
    kind: EventKind
    model: str
    version: str | None = None
    from_stage: Stage | None = None
    to_stage: Stage | None = None
    alias: str | None = None
    previous_version: str | None = Field(default=None, description="alias: where it pointed.")
    actor: str | None = None
    reason: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_alias(cls, model: str, state: AliasState) -> Event:
        return cls(
            id=f"alias-{state.alias}-{state.revision}",
            time=state.set_at,
            kind="alias",
            model=model,
            version=state.version,
            alias=state.alias,
            previous_version=state.previous,
            actor=state.actor,
            reason=state.reason,
            details={"revision": state.revision},
        )


class EventLog:
    """The lifecycle events of one model name."""

    def __init__(self, storage: Storage, name: str, now: Callable[[], datetime]) -> None:
        self._storage = storage
        self._name = name
        self._now = now

    def append(self, kind: EventKind, **fields: Any) -> Event:
        when = self._now()
        event_id = uuid.uuid4().hex
        event = Event(id=event_id, time=when, kind=kind, model=self._name, **fields)
        key = f"{layout.events_prefix(self._name)}/{layout.stamp(when)}-{event_id}.json"
        self._storage.put_json_if_absent(key, event.model_dump(mode="json"))
        return event

    def all(self) -> list[Event]:
        """Every lifecycle event, oldest first."""
        out = []
        for key in self._storage.list_keys(layout.events_prefix(self._name) + "/"):
            try:
                out.append(Event.model_validate(self._storage.read_json(key)))
            except NotFoundError:
                continue
        return sorted(out, key=lambda e: e.time)
