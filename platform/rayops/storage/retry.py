"""Pauses between retries of a lost compare-and-swap (exponential backoff, full jitter).

A writer that loses a compare-and-swap re-reads and tries again. Retrying at
once makes the losers of one round collide again in the next (and hammers the
server); sleeping a random time in ``[0, min(cap, base * 2**attempt))`` spreads
them out ("full jitter", from the AWS Architecture Blog post *Exponential
Backoff And Jitter*, 2015). The cap stays small because these are short
metadata writes: a loser should be back within a fraction of a second.

Every retry-on-conflict loop in rayops calls :func:`pause` (or :func:`backoff`
to get the number without sleeping).

Example:
    >>> from rayops.storage.retry import backoff
    >>> 0.0 <= backoff(0) < 0.005
    True
    >>> backoff(30) <= 0.2  # never more than the cap
    True
    >>> backoff(3, rand=lambda: 0.5)  # half of base * 2**3
    0.02
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rayops.config import Settings

__all__ = ["backoff", "pause"]


def _defaults() -> tuple[float, float]:
    # The documented defaults live in Settings; read them without building one
    # (that would read the environment on every retry).
    from rayops.config import Settings

    fields = Settings.model_fields
    return float(fields["cas_backoff_base_s"].default), float(fields["cas_backoff_cap_s"].default)


def backoff(
    attempt: int,
    settings: Settings | None = None,
    *,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number ``attempt`` (0 for the first retry).

    Uniform in ``[0, min(cap, base * 2**attempt))`` with ``base`` and ``cap`` from
    ``settings.cas_backoff_base_s`` / ``settings.cas_backoff_cap_s`` (their
    defaults when ``settings`` is None). ``rand`` returns a float in ``[0, 1)``.
    """
    if settings is None:
        base, cap = _defaults()
    else:
        base, cap = settings.cas_backoff_base_s, settings.cas_backoff_cap_s
    # min() before the power would overflow for a large attempt number.
    ceiling = cap if attempt >= 32 else min(cap, base * 2.0**attempt)
    return rand() * ceiling


def pause(attempt: int, settings: Settings | None = None) -> None:
    """Sleep :func:`backoff` seconds: call it after losing a race, before re-reading.

    Example:
        >>> for attempt in range(3):  # doctest: +SKIP
        ...     try:
        ...         storage.compare_and_swap(key, new, token)
        ...         break
        ...     except ConflictError:
        ...         pause(attempt, settings)
    """
    time.sleep(backoff(attempt, settings))
