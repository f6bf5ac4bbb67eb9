"""Per-endpoint online-learning settings, kept in storage.

``online/<endpoint>/config.json`` (changed with compare-and-swap) holds whether
online learning is on for the endpoint and the values an operator overrode; every
other value comes from :class:`~rayops.config.Settings` (``online_*``) when the
config is read, so changing a default reaches every endpoint that did not
override it.

Example:
    >>> from rayops.config import Settings
    >>> cfg = OnlineConfig.effective(Settings(), {"buffer_size": 50})
    >>> cfg.buffer_size, cfg.mode.value, cfg.escalation_mae
    (50, 'continue', 5.0)
    >>> OnlineConfig.effective(Settings(), {"colour": 1})
    Traceback (most recent call last):
    ...
    rayops.errors.InvalidInputError: Unknown online setting 'colour'; use one of: buffer_size, \
decay_half_life_s, escalation_mae, escalation_updates, gate_alpha, holdout_fraction, max_age_s, \
min_improvement, min_samples, mode, replay_fraction, replay_size, rounds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rayops.config import Settings
from rayops.errors import InvalidInputError, NotFoundError
from rayops.names import validate_name
from rayops.storage.base import Storage

__all__ = [
    "OnlineConfig",
    "OnlineConfigDoc",
    "UpdateMode",
    "config_key",
    "online_prefix",
    "read_config",
    "write_config",
]

ROOT = "online"


class UpdateMode(StrEnum):
    """How an incremental update adapts the serving booster."""

    CONTINUE = "continue"  # add a few trees on buffer + replay
    REFRESH = "refresh"  # recompute every leaf value, structure unchanged
    BOTH = "both"  # refresh, then add trees


class OnlineConfig(BaseModel):
    """The effective online-learning settings of one endpoint (see ``Settings.online_*``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    buffer_size: int = Field(ge=2, description="Samples that trigger an update (N).")
    max_age_s: float = Field(gt=0, description="Age of the oldest sample that flushes (T).")
    min_samples: int = Field(ge=2, description="Fewest samples an age-triggered update uses.")
    mode: UpdateMode
    rounds: int = Field(ge=1, description="Trees added per update (continue/both).")
    replay_fraction: float = Field(ge=0, lt=1, description="Share of training rows replayed.")
    replay_size: int = Field(ge=0, description="Applied samples kept for replay.")
    decay_half_life_s: float = Field(ge=0, description="Half-life of sample weights; 0 = off.")
    holdout_fraction: float = Field(gt=0, lt=1, description="Latest share held out to judge.")
    min_improvement: float = Field(ge=0, description="Required relative holdout MAE drop.")
    gate_alpha: float = Field(gt=0, le=1, description="Level of the paired test; 1 = off.")
    escalation_mae: float = Field(gt=0, description="MAE above which the error is 'high'.")
    escalation_updates: int = Field(ge=1, description="High-error updates before a retrain.")

    @classmethod
    def defaults(cls, settings: Settings) -> dict[str, Any]:
        """Every field's value from ``settings`` (``online_<field>``)."""
        return {name: getattr(settings, f"online_{name}") for name in cls.model_fields}

    @classmethod
    def effective(cls, settings: Settings, overrides: Mapping[str, Any] | None) -> OnlineConfig:
        """The defaults of ``settings`` with ``overrides`` on top, validated.

        Raises:
            InvalidInputError: an unknown name or a value out of range, named.
        """
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(cls.model_fields))
        if unknown:
            raise InvalidInputError(
                f"Unknown online setting {unknown[0]!r}; use one of: "
                f"{', '.join(sorted(cls.model_fields))}."
            )
        try:
            return cls.model_validate({**cls.defaults(settings), **overrides})
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InvalidInputError(
                f"Invalid online setting {where}={overrides.get(where)!r}: {first['msg']}."
            ) from None


class OnlineConfigDoc(BaseModel):
    """What ``online/<endpoint>/config.json`` holds."""

    model_config = ConfigDict(extra="forbid")

    endpoint: str
    enabled: bool = False
    overrides: dict[str, Any] = Field(default_factory=dict)
    updated_at: datetime
    actor: str | None = None
    reason: str | None = None


def online_prefix(endpoint: str) -> str:
    """``online/<endpoint>/``: everything online learning keeps for ``endpoint``."""
    return f"{ROOT}/{validate_name(endpoint, 'endpoint name')}/"


def config_key(endpoint: str) -> str:
    return f"{online_prefix(endpoint)}config.json"


def read_config(storage: Storage, endpoint: str) -> OnlineConfigDoc | None:
    """The stored config document of ``endpoint``, or None if online learning was never set."""
    try:
        return OnlineConfigDoc.model_validate(storage.read_json(config_key(endpoint)))
    except NotFoundError:
        return None


def write_config(
    storage: Storage,
    endpoint: str,
    change: Callable[[OnlineConfigDoc], OnlineConfigDoc],
    *,
    now: datetime,
    settings: Settings,
) -> OnlineConfigDoc:
    """Apply ``change`` to the endpoint's config document with compare-and-swap.

    The overrides are validated (against ``settings``' defaults) before anything is written.
    """

    def apply(raw: Any) -> Any:
        current = (
            OnlineConfigDoc.model_validate(raw)
            if raw is not None
            else OnlineConfigDoc(endpoint=endpoint, updated_at=now)
        )
        new = change(current).model_copy(update={"updated_at": now})
        OnlineConfig.effective(settings, new.overrides)
        return new.model_dump(mode="json")

    doc = storage.update_json(config_key(endpoint), apply, max_retries=settings.cas_max_retries)
    return OnlineConfigDoc.model_validate(doc)
