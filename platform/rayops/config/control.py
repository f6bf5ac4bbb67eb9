"""The control loop (:mod:`rayops.control`): pass interval and lease."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from rayops.config._section import Section

__all__ = ["ControlSettings"]


class ControlSettings(Section):
    """The control loop (:mod:`rayops.control`): pass interval and lease."""

    env_prefix: ClassVar[str] = "RAYOPS_CONTROL_"

    tick_s: float = Field(
        default=5.0,
        gt=0,
        description=(
            "Seconds between passes of the control loop (rollout analysis, monitoring, online "
            "updates, retrain triggers); a task may run less often. Default 5."
        ),
    )
    lease_s: float = Field(
        default=30.0,
        gt=0,
        description=(
            "Seconds a control loop's lease lasts without renewal; a crashed loop's successor "
            "takes over after at most this long. Default 30."
        ),
    )
