"""Every tunable number in rayops, in one settings object made of one section per capability.

:class:`Settings` holds the storage root, the API token and a section per
capability: ``s3``, ``features``, ``registry``, ``training``, ``serving``,
``control``, ``rollout``, ``monitoring``, ``online``, ``automation``,
``analytics``, ``telemetry`` and ``batch``. Code reads the section it needs
(``settings.serving.poll_interval_s``) and a component that needs only one
section takes only that section.

Values come from, highest first: keyword arguments, ``RAYOPS_*`` environment
variables, the documented defaults. Every setting has one flat *setting name*,
which is also its environment variable without ``RAYOPS_``
(``serving_poll_interval_s`` ↔ ``RAYOPS_SERVING_POLL_INTERVAL_S``); keyword
arguments, ``rayops config``, the gateway's YAML ``settings:`` and the README
all use it. Sections may also be given whole (``serving={...}``).

Entry points (the CLI, jobs, Serve deployments) build a Settings once with
:func:`load_settings`; a Ray job receives the submitting controller's whole
settings as JSON (:meth:`Settings.job_env`), so an override given to the
controller reaches the retrain it submits.

Example:
    >>> s = Settings(storage="/tmp/rayops-demo", serving_poll_interval_s=0.2)
    >>> s.storage, s.serving.poll_interval_s, s.s3.max_attempts
    ('/tmp/rayops-demo', 0.2, 2)
    >>> s.override(rollout_steps=[10, 100]).rollout.steps
    [10, 100]
    >>> Settings(serving_colour=1)
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for Settings
    ...
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import Field, SecretStr, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from rayops.config._section import Section
from rayops.config.analytics import AnalyticsSettings
from rayops.config.automation import AutomationSettings
from rayops.config.batch import BatchSettings
from rayops.config.control import ControlSettings
from rayops.config.features import FeatureSettings
from rayops.config.monitoring import MonitoringSettings
from rayops.config.online import OnlineSettings, UpdateMode
from rayops.config.registry import RegistrySettings
from rayops.config.rollout import ABTest, RolloutSettings
from rayops.config.s3 import S3Settings
from rayops.config.serving import ServingSettings
from rayops.config.telemetry import TelemetrySettings
from rayops.config.training import TrainingSettings
from rayops.errors import InvalidInputError

__all__ = [
    "DEFAULT_STORAGE",
    "JOB_SETTINGS_ENV",
    "ABTest",
    "AnalyticsSettings",
    "AutomationSettings",
    "BatchSettings",
    "ControlSettings",
    "FeatureSettings",
    "MonitoringSettings",
    "OnlineSettings",
    "RegistrySettings",
    "RolloutSettings",
    "S3Settings",
    "Section",
    "ServingSettings",
    "Settings",
    "TelemetrySettings",
    "TrainingSettings",
    "UpdateMode",
    "load_settings",
    "settings_of",
]

#: Where artifacts live when ``RAYOPS_STORAGE`` is not set: a directory in the
#: user's home, so every command run by the same user sees the same platform.
DEFAULT_STORAGE = str(Path.home() / ".rayops" / "storage")

#: How the README shows the default storage root (the real one depends on $HOME).
DEFAULT_STORAGE_SHOWN = "~/.rayops/storage"

#: The environment variable a Ray job finds its submitter's settings in (JSON).
JOB_SETTINGS_ENV = "RAYOPS_SETTINGS_JSON"

#: Root fields that are not sections: (field, environment variable).
_ROOT_ENV = {
    "storage": "RAYOPS_STORAGE",
    "cas_max_retries": "RAYOPS_CAS_MAX_RETRIES",
    "cas_backoff_base_s": "RAYOPS_CAS_BACKOFF_BASE_S",
    "cas_backoff_cap_s": "RAYOPS_CAS_BACKOFF_CAP_S",
    "api_token": "RAYOPS_API_TOKEN",
}


class _SectionEnvSource(PydanticBaseSettingsSource):
    """Reads each section's fields from their ``RAYOPS_*`` variables (nested dicts out)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self._environ = environ

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ builds the whole dict

    def __call__(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, env in _ROOT_ENV.items():
            if env in self._environ:
                out[name] = self._environ[env]
        for name, section in _sections().items():
            values: dict[str, Any] = {}
            for fname, finfo in section.model_fields.items():
                for env in section.env_of(fname):
                    if env in self._environ:
                        values[fname] = _decode(self._environ[env], finfo, env)
                        break
            if values:
                out[name] = values
        return out


def _decode(raw: str, field: FieldInfo, env: str) -> Any:
    """Lists and dicts are JSON in the environment; scalars are left to pydantic."""
    annotation = field.annotation
    kinds = {get_origin(a) or a for a in (get_args(annotation) or (annotation,))}
    if (get_origin(annotation) or annotation) in (list, dict) or kinds & {list, dict}:
        try:
            return json.loads(raw)
        except ValueError:
            raise InvalidInputError(
                f"{env} must be JSON (e.g. [5, 25, 100]); got {raw!r}."
            ) from None
    return raw


class Settings(BaseSettings):
    """Every setting rayops reads: the storage root, the API token and one section per
    capability. See the module docstring for where values come from."""

    model_config = SettingsConfigDict(env_prefix="RAYOPS_", extra="forbid", frozen=True)

    storage: str = Field(
        default=DEFAULT_STORAGE,
        description=(
            "Storage root URI: a local path, file:///path, or s3://bucket/prefix. "
            "Default: ~/.rayops/storage."
        ),
    )
    cas_max_retries: int = Field(
        default=64,
        ge=1,
        description="Re-reads allowed when a compare-and-swap or version claim loses a race.",
    )
    cas_backoff_base_s: float = Field(
        default=0.005,
        gt=0,
        description=(
            "Seconds: the first pause after a lost compare-and-swap; it doubles with each "
            "further loss, up to cas_backoff_cap_s, and the actual pause is a random fraction "
            "of it (full jitter) so racing writers spread out. Default 0.005."
        ),
    )
    cas_backoff_cap_s: float = Field(
        default=0.2,
        gt=0,
        description="Seconds: the longest pause between compare-and-swap retries. Default 0.2.",
    )
    api_token: SecretStr | None = Field(
        default=None,
        description=(
            "When set, every HTTP route except health checks requires "
            "'Authorization: Bearer <token>'."
        ),
    )
    s3: S3Settings = Field(default_factory=S3Settings)
    features: FeatureSettings = Field(default_factory=FeatureSettings)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    serving: ServingSettings = Field(default_factory=ServingSettings)
    control: ControlSettings = Field(default_factory=ControlSettings)
    rollout: RolloutSettings = Field(default_factory=RolloutSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    online: OnlineSettings = Field(default_factory=OnlineSettings)
    automation: AutomationSettings = Field(default_factory=AutomationSettings)
    analytics: AnalyticsSettings = Field(default_factory=AnalyticsSettings)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    batch: BatchSettings = Field(default_factory=BatchSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, _SectionEnvSource(settings_cls, os.environ))

    @model_validator(mode="before")
    @classmethod
    def _flat_names(cls, data: Any) -> Any:
        """Accept flat setting names (``serving_poll_interval_s``) beside nested sections."""
        if not isinstance(data, dict):
            return data
        flat = _flat_index()
        out: dict[str, Any] = {}
        moved: list[tuple[str, str, Any]] = []
        for key, value in data.items():
            if key in cls.model_fields:
                out[key] = dict(value) if isinstance(value, Mapping) else value
            elif key in flat:
                moved.append((*flat[key], value))
            else:
                raise InvalidInputError(
                    f"Unknown setting {key!r}; see `rayops config` for every setting."
                )
        for section, field, value in moved:  # flat names win over a section's env values
            current = out.get(section)
            if isinstance(current, Section):
                current = current.model_dump()
            out[section] = {**(current or {}), field: value}
        return out

    # --- derived settings -----------------------------------------------------------
    def override(self, **changes: Any) -> Settings:
        """A copy with ``changes`` (flat setting names or whole sections), validated.

        Example:
            >>> Settings().override(control_tick_s=1).control.tick_s
            1.0
        """
        base = self.model_dump(exclude={"api_token"})
        base["api_token"] = self.api_token
        for key, value in changes.items():
            if key in _flat_index():
                section, field = _flat_index()[key]
                base[section] = {**base[section], field: value}
            else:
                base[key] = value
        return type(self).model_validate(base)

    def job_env(self) -> dict[str, str]:
        """Environment variables that hand these settings, whole, to a Ray job.

        Secrets (the API token, webhook and SMTP secrets) are left out: a job neither
        serves HTTP nor sends alerts, and a secret never travels in a job's environment.
        """
        return {JOB_SETTINGS_ENV: self.model_dump_json(exclude=_secret_fields())}

    # --- introspection --------------------------------------------------------------
    def describe(self) -> list[tuple[str, str, str, str]]:
        """Rows of (setting, environment variables, current value, description).

        Secrets are shown as ``***``; used by ``rayops config``.
        """
        rows = []
        for name, env in _ROOT_ENV.items():
            value = getattr(self, name)
            rows.append((name, env, _shown(value), type(self).model_fields[name].description))
        for section_name, section in _sections().items():
            values = getattr(self, section_name)
            for fname, finfo in section.model_fields.items():
                rows.append(
                    (
                        section.setting_name(fname),
                        " | ".join(section.env_of(fname)),
                        _shown(getattr(values, fname)),
                        finfo.description or "",
                    )
                )
        return [(a, b, c, d or "") for a, b, c, d in rows]

    @classmethod
    def markdown_table(cls) -> str:
        """Every setting as the README's configuration table (one section per capability),
        from the documented defaults; ``rayops config --markdown`` prints it."""
        defaults = cls.model_construct()  # no environment: the documented defaults
        lines: list[str] = []

        def row(name: str, env: str, value: Any, description: str) -> None:
            shown = _shown(value) or "unset"
            text = " ".join(description.split()).replace("|", "\\|")
            lines.append(f"| `{name}` | `{env}` | `{shown}` | {text} |")

        head = "| Setting | Environment variable | Default | Meaning |\n|---|---|---|---|"
        lines.append("**Root**\n\n" + head)
        for name, env in _ROOT_ENV.items():
            field = cls.model_fields[name]
            default = field.get_default(call_default_factory=True)
            row(name, env, DEFAULT_STORAGE_SHOWN if name == "storage" else default,
                field.description or "")  # fmt: skip
        for section_name, section in _sections().items():
            doc = (section.__doc__ or section_name).strip().rstrip(".")
            lines.append(f"\n**`{section_name}`** ({doc})\n")
            lines.append(head)
            values = getattr(defaults, section_name, None) or section()
            for fname, finfo in section.model_fields.items():
                row(section.setting_name(fname), "` or `".join(section.env_of(fname)),
                    getattr(values, fname), finfo.description or "")  # fmt: skip
        return "\n".join(lines) + "\n"

    @classmethod
    def setting_names(cls) -> list[str]:
        """Every flat setting name, root fields first."""
        return list(_ROOT_ENV) + list(_flat_index())

    @classmethod
    def unknown_env(cls, environ: Mapping[str, str] | None = None) -> list[str]:
        """``RAYOPS_*`` variables in ``environ`` that match no setting (likely typos).

        Example:
            >>> Settings.unknown_env({"RAYOPS_SERVNG_MAX_ROWS": "5", "RAYOPS_STORAGE": "/x"})
            ['RAYOPS_SERVNG_MAX_ROWS']
        """
        environ = os.environ if environ is None else environ
        known = set(_ROOT_ENV.values()) | {JOB_SETTINGS_ENV}
        for section in _sections().values():
            for fname in section.model_fields:
                known.update(section.env_of(fname))
        return sorted(k for k in environ if k.startswith("RAYOPS_") and k not in known)


def _secret_fields() -> dict[str, Any]:
    """``model_dump`` exclusions of every SecretStr setting, root and sections."""
    out: dict[str, Any] = {
        n: True for n, f in Settings.model_fields.items() if _is_secret(f.annotation)
    }
    for name, section in _sections().items():
        secret = {
            f: True for f, info in section.model_fields.items() if _is_secret(info.annotation)
        }
        if secret:
            out[name] = secret
    return out


def _is_secret(annotation: Any) -> bool:
    return annotation is SecretStr or SecretStr in get_args(annotation)


def _shown(value: Any) -> str:
    if isinstance(value, SecretStr):
        return "***"
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value, default=str)
    return str(value.value if hasattr(value, "value") else value)


def _sections() -> dict[str, type[Section]]:
    out: dict[str, type[Section]] = {}
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, Section):
            out[name] = annotation
    return out


_FLAT: dict[str, tuple[str, str]] | None = None


def _flat_index() -> dict[str, tuple[str, str]]:
    """Flat setting name -> (section, field), built once."""
    global _FLAT
    if _FLAT is None:
        _FLAT = {
            section.setting_name(f): (name, f)
            for name, section in _sections().items()
            for f in section.model_fields
        }
    return _FLAT


def settings_of(storage: object, settings: Settings | None = None) -> Settings:
    """The settings that apply to work on ``storage`` when the caller gave none: the
    ones the storage was opened with (:func:`rayops.storage.open_storage` keeps them),
    else the environment's. The one fallback every component uses, so overrides given
    when the storage was opened reach everything built on it.

    Example:
        >>> from rayops.storage import open_storage
        >>> settings_of(open_storage("/tmp/x", Settings(monitoring_window="2h"))).monitoring.window
        '2h'
    """
    if settings is not None:
        return settings
    found = getattr(storage, "settings", None)
    return found if isinstance(found, Settings) else Settings()


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """The settings of an entry point: a job's submitter's settings if it is a job
    (:data:`JOB_SETTINGS_ENV`), else the environment; then ``overrides`` on top.

    Example:
        >>> load_settings({}, storage="/tmp/x").storage
        '/tmp/x'
    """
    environ = os.environ if environ is None else environ
    given = {k: v for k, v in overrides.items() if v is not None}
    if JOB_SETTINGS_ENV in environ:
        settings = Settings.model_validate_json(environ[JOB_SETTINGS_ENV])
        return settings.override(**given) if given else settings
    return Settings(**given)
