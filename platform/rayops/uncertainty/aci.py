"""Adaptive conformal inference: keep intervals honest under drift, from delayed labels.

Split-conformal intervals assume the rows served look like the calibration rows.
Under drift they under- or over-cover. Adaptive conformal inference (Gibbs and
Candès, 2021) moves the miscoverage level the interval is computed at, after
each labeled row::

    α_{t+1} = α_t + γ (α - err_t)        err_t = 1 if y_t fell outside, else 0

so a run of misses widens the intervals and a run of hits narrows them; the
long-run miss rate tends to ``α`` whatever the drift. rayops runs it in the
control loop on delayed feedback, per served version, bounded to
``[α_min, α_max]``, and records every change; serving asks the interval at the
adapted level. It stays off for a version until ``min_labels`` labels exist.

Example:
    >>> aci = AdaptiveLevel(target=0.9, gamma=0.02)
    >>> for _ in range(50):
    ...     _ = aci.update(covered=False)   # the world got noisier: every row missed
    >>> aci.level > 0.9
    True
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rayops.names import validate_name

__all__ = ["LEVELS_PREFIX", "AdaptiveLevel", "level_key", "served_level_of"]

#: Where the control loop keeps each version's served level (see :func:`level_key`).
LEVELS_PREFIX = "uncertainty/levels/"


def level_key(ref: str) -> str:
    """The storage key of ``model@version``'s served level document.

    The ``aci`` control task (:mod:`rayops.monitoring.adaptive`) writes it; serving
    reads ``level`` from it (absent: the nominal level). The document::

        {"ref": "m@1.0.0", "nominal": 0.9, "level": 0.934, "active": true,
         "labels": 812, "updated": "2026-...", "state": {AdaptiveLevel.to_json()}, ...}

    Every change of ``level`` is also kept, once, under ``<key without .json>/history/``.

    Example:
        >>> level_key("churn@1.2.0")
        'uncertainty/levels/churn/1.2.0.json'
    """

    name, sep, version = ref.partition("@")
    if not sep:
        from rayops.errors import InvalidInputError

        raise InvalidInputError(f"Expected model@version, got {ref!r}.")
    return (
        f"{LEVELS_PREFIX}{validate_name(name, 'model name')}/"
        f"{validate_name(version, 'version')}.json"
    )


def served_level_of(doc: dict[str, Any] | None, nominal: float) -> float:
    """The level to serve from a :func:`level_key` document (None: not written yet): its
    ``level`` once ``active``, else ``nominal``. What serving and monitoring both call.

    Example:
        >>> served_level_of({"level": 0.94, "active": True}, 0.9)
        0.94
        >>> served_level_of({"level": 0.94, "active": False}, 0.9), served_level_of(None, 0.9)
        (0.9, 0.9)
    """
    if not doc or not doc.get("active"):
        return nominal
    return float(doc["level"])


@dataclass
class AdaptiveLevel:
    """The adapted coverage level of one version (``level = 1 - α_t``)."""

    target: float = 0.9
    gamma: float = 0.005
    alpha_min: float = 1e-4
    alpha_max: float = 0.5
    alpha_t: float | None = None
    labels: int = 0
    misses: int = 0

    def __post_init__(self) -> None:
        if self.alpha_t is None:
            self.alpha_t = 1.0 - self.target

    @property
    def level(self) -> float:
        """The level intervals are computed at now: ``1 - α_t``, kept within
        ``[1 - α_max, 1 - α_min]`` (α_t itself may go beyond while it accumulates misses,
        as the method needs, but stays within [-1, 1])."""
        assert self.alpha_t is not None
        return 1.0 - min(self.alpha_max, max(self.alpha_min, self.alpha_t))

    def update(self, *, covered: bool) -> float:
        """One labeled row; returns the new level."""
        assert self.alpha_t is not None
        err = 0.0 if covered else 1.0
        self.labels += 1
        self.misses += int(not covered)
        alpha = 1.0 - self.target
        self.alpha_t = min(1.0, max(-1.0, self.alpha_t + self.gamma * (alpha - err)))
        return self.level

    def update_many(self, covered: Iterable[bool]) -> float:
        for c in covered:
            self.update(covered=bool(c))
        return self.level

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target, "gamma": self.gamma, "alpha_min": self.alpha_min,
            "alpha_max": self.alpha_max, "alpha_t": self.alpha_t, "labels": self.labels,
            "misses": self.misses, "level": self.level,
        }  # fmt: skip

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> AdaptiveLevel:
        keys = ("target", "gamma", "alpha_min", "alpha_max", "alpha_t", "labels", "misses")
        return cls(**{k: doc[k] for k in keys if k in doc})
