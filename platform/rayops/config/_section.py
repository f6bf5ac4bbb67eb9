"""The base of every settings section: a frozen model that knows its environment names.

A section groups the settings of one capability (``ServingSettings``,
``MonitoringSettings``...). Each field ``f`` of a section is read from the
environment variable ``env_prefix + F`` unless ``env_names`` lists other names
for it (the first listed is the setting's own; the others are accepted aliases,
e.g. ``AWS_ENDPOINT_URL``). The lower-cased first name without ``RAYOPS_`` is the
*setting name*, the one ``rayops config``, YAML files and keyword overrides use
(``serving_poll_interval_s``); it is the same name rayops has always used.

A section built directly (``ServingSettings()``) holds the documented defaults
and reads no environment: only :class:`rayops.config.Settings` reads it.

Example:
    >>> from rayops.config.serving import ServingSettings
    >>> ServingSettings.env_of("poll_interval_s")
    ('RAYOPS_SERVING_POLL_INTERVAL_S',)
    >>> ServingSettings.setting_name("poll_interval_s")
    'serving_poll_interval_s'
    >>> ServingSettings().poll_interval_s
    0.5
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict

__all__ = ["Section"]


class Section(BaseModel):
    """Settings of one capability; frozen, unknown fields refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Environment prefix of the fields that ``env_names`` does not name.
    env_prefix: ClassVar[str] = "RAYOPS_"
    #: Fields whose environment names do not follow ``env_prefix`` (first = own name).
    env_names: ClassVar[dict[str, tuple[str, ...]]] = {}

    @classmethod
    def env_of(cls, field: str) -> tuple[str, ...]:
        """The environment variables ``field`` is read from, in priority order."""
        return cls.env_names.get(field, (cls.env_prefix + field.upper(),))

    @classmethod
    def setting_name(cls, field: str) -> str:
        """The flat setting name of ``field`` (its own environment name, lower case)."""
        return cls.env_of(field)[0].removeprefix("RAYOPS_").lower()
