"""The current stage of each version: one small document moved with compare-and-swap.

``models/<name>/<semver>/stage.json`` holds the stage and the last move (when,
who, why). Until the first move there is no such document and the stage is the
one in the card. Two operators moving the same version at once cannot both
succeed from the same reading: the loser re-reads and the lifecycle rules are
checked again against the stage it now sees.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from rayops.errors import ConflictError, NotFoundError
from rayops.registry import layout
from rayops.registry.lifecycle import Stage, check_transition
from rayops.storage.base import Storage, dumps
from rayops.storage.retry import pause

__all__ = ["move_stage", "read_stage"]


def read_stage(
    storage: Storage, name: str, version: str, registered: Callable[[], Stage]
) -> tuple[Stage, str | None]:
    """The current stage and its CAS token (None while it is still the registered stage)."""
    try:
        seen = storage.read_versioned(layout.stage_key(name, version))
    except NotFoundError:
        return registered(), None
    return Stage(seen.json()["stage"]), seen.token


def move_stage(
    storage: Storage,
    name: str,
    version: str,
    target: Stage,
    *,
    registered: Callable[[], Stage],
    guard: Callable[[Stage], None],
    now: Callable[[], datetime],
    actor: str | None,
    reason: str | None,
    max_attempts: int,
    follow_alias: bool = False,
) -> Stage:
    """Move ``name@version`` to ``target``; returns the stage it moved from.

    ``guard(current)`` runs after the lifecycle check on every attempt and may
    raise to refuse the move. ``follow_alias`` skips the one-step rule: the
    production stage follows the production alias (see the registry's lifecycle).
    """
    for attempt in range(max_attempts):
        current, token = read_stage(storage, name, version, registered)
        if follow_alias and current is target:
            return current
        if not follow_alias:
            check_transition(current, target, f"{name}@{version}")
        guard(current)
        doc = {"stage": target.value, "since": now().isoformat(), "actor": actor, "reason": reason}
        try:
            storage.compare_and_swap(layout.stage_key(name, version), dumps(doc), token)
        except ConflictError:
            pause(attempt, storage.settings)
            continue  # someone moved it meanwhile: re-check from the stage it has now
        return current
    raise ConflictError(f"Gave up moving {name}@{version} after repeated conflicts; try again.")
