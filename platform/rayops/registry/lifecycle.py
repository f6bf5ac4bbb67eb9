"""The lifecycle of a model version: a stage enum and the moves allowed between stages.

::

    draft -> trained -> staging -> production        forward, one step at a time
                        staging <- production        roll back / demote
             trained <- staging                      failed validation
    any stage -> archived                            retire (artifacts are kept)
             trained <- archived                     restore

Forward moves go one step at a time (no ``trained -> production`` shortcut), so a
version reaches production only through staging. The backward moves are the two
things operators do: demote a production version to staging when rolling back,
and send a staging version back to trained when it fails validation. An archived
version keeps its artifacts; it can be restored to ``trained`` or deleted.

Example:
    >>> check_transition(Stage.TRAINED, Stage.STAGING, "churn@1.0.0")
    >>> check_transition(Stage.TRAINED, Stage.PRODUCTION, "churn@1.0.0")
    Traceback (most recent call last):
    ...
    rayops.errors.InvalidInputError: Cannot move churn@1.0.0 from trained to production; ...
"""

from __future__ import annotations

from enum import StrEnum

from rayops.errors import InvalidInputError

__all__ = ["ALLOWED", "Stage", "check_transition", "parse_stage"]


class Stage(StrEnum):
    """Where a model version is in its life."""

    DRAFT = "draft"
    TRAINED = "trained"
    STAGING = "staging"
    PRODUCTION = "production"
    ARCHIVED = "archived"


#: stage -> stages it may move to, in the order they are suggested.
ALLOWED: dict[Stage, tuple[Stage, ...]] = {
    Stage.DRAFT: (Stage.TRAINED, Stage.ARCHIVED),
    Stage.TRAINED: (Stage.STAGING, Stage.ARCHIVED),
    Stage.STAGING: (Stage.PRODUCTION, Stage.TRAINED, Stage.ARCHIVED),
    Stage.PRODUCTION: (Stage.STAGING, Stage.ARCHIVED),
    Stage.ARCHIVED: (Stage.TRAINED,),
}


def parse_stage(value: Stage | str) -> Stage:
    """A Stage from its name, with a message that lists the stages."""
    try:
        return Stage(value.lower() if isinstance(value, str) else value)
    except ValueError:
        raise InvalidInputError(
            f"Unknown stage {value!r}: use one of {', '.join(s.value for s in Stage)}."
        ) from None


def check_transition(current: Stage, target: Stage, ref: str) -> None:
    """Raise InvalidInputError naming the allowed targets unless ``current -> target`` is legal."""
    allowed = ALLOWED[current]
    if target in allowed:
        return
    if target is current:
        raise InvalidInputError(
            f"{ref} is already {current.value}; allowed from {current.value}: "
            f"{', '.join(s.value for s in allowed)}."
        )
    raise InvalidInputError(
        f"Cannot move {ref} from {current.value} to {target.value}; allowed from "
        f"{current.value}: {', '.join(s.value for s in allowed)}."
    )
