"""Claiming version numbers with put-if-absent: concurrent writers never share one.

A writer lists the claims, computes the next version by the bump rules and tries
to create ``models/<name>/claims/<semver>``. If another writer created it first,
it lists again and tries the next one. A claimed number is never handed out
again, even if its registration never finished or the version was deleted.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from rayops.errors import AlreadyExistsError, ConflictError
from rayops.registry import layout
from rayops.registry.versions import Bump, SemVer, is_semver, next_version
from rayops.storage.base import Storage

__all__ = ["claim_version"]


def claim_version(
    storage: Storage,
    name: str,
    bump: Bump,
    *,
    parent: SemVer | None,
    run_id: str | None,
    now: Callable[[], datetime],
    max_attempts: int,
) -> SemVer:
    """Claim and return the next free version of ``name``.

    Raises:
        ConflictError: every one of ``max_attempts`` candidates was taken first.
    """
    candidate: SemVer | None = None
    claim = {"run_id": run_id, "claim_id": uuid.uuid4().hex}
    for _ in range(max_attempts):
        taken = [
            SemVer.parse(c)
            for c in storage.list_children(layout.claims_prefix(name))
            if is_semver(c)
        ]
        fresh = next_version(taken, bump, parent=parent)
        # Never retry a number at or below one already lost, even if a listing lags.
        candidate = fresh if candidate is None else max(fresh, candidate.bump(bump))
        try:
            storage.put_json_if_absent(
                layout.claim_key(name, str(candidate)),
                {**claim, "claimed_at": now().isoformat()},
            )
            return candidate
        except AlreadyExistsError:
            continue  # another writer took it: list again and take the next one
    raise ConflictError(
        f"Could not claim a version of {name!r} after {max_attempts} attempts; too many "
        "concurrent registrations, try again."
    )
