"""Aliases: named, movable pointers to versions (``production``, ``champion``...).

Each alias is one JSON document moved with compare-and-swap, so two operators
moving the same alias cannot both win from the same stale read: the loser gets a
conflict, re-reads and re-decides. Every move is also kept, append-only, as a
numbered revision, which answers "what did ``production`` point at, at time T"
and "move it back to where it was before".

A move swaps the pointer first and then writes its revision record. If a writer
dies in between, the next move (or any reader) restores the missing record from
the pointer, which carries the same content.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from rayops.errors import AlreadyExistsError, ConflictError, NotFoundError
from rayops.registry import layout
from rayops.storage.base import Storage, dumps
from rayops.storage.retry import pause

__all__ = ["AliasBook", "AliasState"]


class AliasState(BaseModel):
    """One revision of an alias: where it points and who moved it, when and why."""

    model_config = ConfigDict(extra="forbid")

    alias: str
    version: str
    revision: int = Field(ge=1, description="1 for the first assignment, then +1 per move.")
    previous: str | None = Field(default=None, description="Version before this move.")
    set_at: datetime
    actor: str | None = None
    reason: str | None = None


class AliasBook:
    """The aliases of one model name."""

    def __init__(
        self, storage: Storage, name: str, now: Callable[[], datetime], max_retries: int
    ) -> None:
        self._storage = storage
        self._name = name
        self._now = now
        self._max_retries = max_retries

    def get(self, alias: str) -> AliasState | None:
        try:
            return AliasState.model_validate(
                self._storage.read_json(layout.alias_key(self._name, alias))
            )
        except NotFoundError:
            return None

    def names(self) -> list[str]:
        children = self._storage.list_children(layout.aliases_prefix(self._name))
        return [c[: -len(".json")] for c in children if c.endswith(".json")]

    def all(self) -> dict[str, AliasState]:
        out = {}
        for alias in self.names():
            state = self.get(alias)
            if state is not None:
                out[alias] = state
        return out

    def move(
        self,
        alias: str,
        target: Callable[[AliasState | None], str],
        *,
        actor: str | None,
        reason: str | None,
    ) -> AliasState:
        """Point ``alias`` at ``target(current)`` with compare-and-swap, retrying on conflict.

        ``target`` sees the alias as it is right now (re-read after each lost race)
        and returns the version to point at, or raises to refuse.
        """
        key = layout.alias_key(self._name, alias)
        for attempt in range(self._max_retries):
            try:
                seen = self._storage.read_versioned(key)
                current: AliasState | None = AliasState.model_validate(seen.json())
                token: str | None = seen.token
            except NotFoundError:
                current, token = None, None
            if current is not None:
                self._record(current)  # heal a revision whose writer died after its swap
            new = AliasState(
                alias=alias,
                version=target(current),
                revision=(current.revision + 1) if current else 1,
                previous=current.version if current else None,
                set_at=self._now(),
                actor=actor,
                reason=reason,
            )
            try:
                self._storage.compare_and_swap(key, dumps(new.model_dump(mode="json")), token)
            except ConflictError:
                pause(attempt, self._storage.settings)
                continue  # someone moved it since we read it: re-read and decide again
            self._record(new)
            return new
        raise ConflictError(
            f"Gave up moving alias {alias!r} of {self._name!r} after {self._max_retries} "
            "conflicting writers; try again."
        )

    def _record(self, state: AliasState) -> None:
        try:
            self._storage.put_json_if_absent(
                layout.alias_history_key(self._name, state.alias, state.revision),
                state.model_dump(mode="json"),
            )
        except AlreadyExistsError:
            pass

    def history(self, alias: str) -> list[AliasState]:
        """Every revision of ``alias``, oldest first."""
        keys = self._storage.list_keys(layout.alias_history_prefix(self._name, alias) + "/")
        states = {}
        for key in keys:
            try:
                s = AliasState.model_validate(self._storage.read_json(key))
            except NotFoundError:
                continue
            states[s.revision] = s
        current = self.get(alias)
        if current is not None:
            states.setdefault(current.revision, current)
        return [states[r] for r in sorted(states)]

    def at(self, alias: str, when: datetime) -> str | None:
        """The version ``alias`` pointed at, at time ``when`` (None if it did not exist yet)."""
        version = None
        for state in self.history(alias):
            if state.set_at <= when:
                version = state.version
        return version
