"""Progressive delivery: full, canary, A/B and shadow rollouts, judged on live traffic.

* :mod:`~rayops.rollout.rollouts` — :class:`Rollouts`: deploy, promote, roll back, status, history.
* :mod:`~rayops.rollout.arms` — the two arms of a window: requests, latency, per-row losses.
* :mod:`~rayops.rollout.analysis` — the canary, shadow and A/B verdicts (the promotion gate).
* :mod:`~rayops.rollout.controller` — :class:`RolloutTask`, the control loop's rollout step.
* :mod:`~rayops.rollout.state` — the stored rollout document and its events.

Example:
    >>> Strategy("ab").value
    'ab'
"""

from __future__ import annotations

from rayops.rollout.rollouts import Rollouts, parse_interval, parse_steps
from rayops.rollout.state import (
    EventKind,
    Rollout,
    RolloutEvent,
    RolloutStatus,
    Strategy,
    Thresholds,
    Verdict,
)

__all__ = [
    "EventKind",
    "Rollout",
    "RolloutEvent",
    "RolloutStatus",
    "Rollouts",
    "Strategy",
    "Thresholds",
    "Verdict",
    "parse_interval",
    "parse_steps",
]
