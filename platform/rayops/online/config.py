"""Per-endpoint online-learning settings, kept in storage.

``online/<endpoint>/config.json`` (changed with compare-and-swap) holds whether
online learning is on for the endpoint and the values an operator overrode; every
other value comes from the ``online`` settings section when the config is read,
so changing a default reaches every endpoint that did not override it.

Example:
    >>> from rayops.config import OnlineSettings
    >>> cfg = effective_config(OnlineSettings(), {"buffer_size": 50})
    >>> cfg.buffer_size, cfg.mode.value, cfg.escalation_degradation
    (50, 'continue', 0.5)
    >>> effective_config(OnlineSettings(), {"colour": 1})
    Traceback (most recent call last):
    ...
    rayops.errors.InvalidInputError: Unknown online setting 'colour'; use one of: buffer_size, \
decay_half_life_s, escalation_degradation, escalation_limit, escalation_mae, escalation_updates, \
gate_alpha, holdout_fraction, max_age_s, min_improvement, min_samples, mode, replay_fraction, \
replay_size, rounds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rayops.config import OnlineSettings, Settings, UpdateMode
from rayops.errors import InvalidInputError, NotFoundError
from rayops.names import validate_name
from rayops.storage.base import Storage

__all__ = [
    "ENDPOINT_SETTINGS",
    "OnlineConfig",
    "OnlineConfigDoc",
    "UpdateMode",
    "config_key",
    "effective_config",
    "online_prefix",
    "read_config",
    "write_config",
]

ROOT = "online"


#: Online-learning settings one endpoint may override (``rayops online configure``); the
#: others (pass interval, buffer reading, threads) are the control loop's own.
ENDPOINT_SETTINGS = (
    "buffer_size",
    "decay_half_life_s",
    "escalation_degradation",
    "escalation_limit",
    "escalation_mae",
    "escalation_updates",
    "gate_alpha",
    "holdout_fraction",
    "max_age_s",
    "min_improvement",
    "min_samples",
    "mode",
    "replay_fraction",
    "replay_size",
    "rounds",
)

#: The effective online settings of one endpoint: the ``online`` section with the
#: endpoint's overrides on top (same fields, same constraints).
OnlineConfig = OnlineSettings


def effective_config(defaults: OnlineSettings, overrides: Mapping[str, Any] | None) -> OnlineConfig:
    """``defaults`` (the ``online`` settings section) with an endpoint's ``overrides``.

    Raises:
        InvalidInputError: an unknown name or a value out of range, named.
    """
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(ENDPOINT_SETTINGS))
    if unknown:
        raise InvalidInputError(
            f"Unknown online setting {unknown[0]!r}; use one of: {', '.join(ENDPOINT_SETTINGS)}."
        )
    try:
        return OnlineSettings.model_validate({**defaults.model_dump(), **overrides})
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
        effective_config(settings.online, new.overrides)
        return new.model_dump(mode="json")

    doc = storage.update_json(config_key(endpoint), apply, max_retries=settings.cas_max_retries)
    return OnlineConfigDoc.model_validate(doc)
