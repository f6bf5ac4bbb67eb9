"""One settings object for every tunable number in rayops.

Values come from keyword arguments, then ``RAYOPS_*`` environment variables, then
the documented defaults below. Later capabilities add their fields here, so that
``rayops config`` shows everything a user can turn in one place.

Example:
    >>> from rayops.config import Settings
    >>> s = Settings(storage="/tmp/rayops-demo")
    >>> s.storage
    '/tmp/rayops-demo'
    >>> s.storage_max_attempts
    2
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEFAULT_STORAGE", "Settings"]

#: Where artifacts live when ``RAYOPS_STORAGE`` is not set: a directory in the
#: user's home, so every command run by the same user sees the same platform.
DEFAULT_STORAGE = str(Path.home() / ".rayops" / "storage")


class Settings(BaseSettings):
    """Every setting rayops reads, with its environment variable and default.

    Each field ``x`` is read from ``RAYOPS_X`` unless noted otherwise.
    """

    model_config = SettingsConfigDict(
        env_prefix="RAYOPS_", extra="forbid", frozen=True, populate_by_name=True
    )

    # --- storage -------------------------------------------------------------
    storage: str = Field(
        default=DEFAULT_STORAGE,
        description=(
            "Storage root URI: a local path, file:///path, or s3://bucket/prefix. "
            "Default: ~/.rayops/storage."
        ),
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "RAYOPS_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL", "s3_endpoint_url"
        ),
        description=(
            "Endpoint of an S3-compatible server (MinIO, moto, Ceph...). Also read from "
            "AWS_ENDPOINT_URL. Unset means AWS S3 itself."
        ),
    )
    s3_region: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "RAYOPS_S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION", "s3_region"
        ),
        description="S3 region. Also read from AWS_REGION / AWS_DEFAULT_REGION. Default us-east-1.",
    )
    storage_connect_timeout_s: float = Field(
        default=2.0, gt=0, description="Seconds to wait for a TCP connection to the S3 endpoint."
    )
    storage_read_timeout_s: float = Field(
        default=30.0, gt=0, description="Seconds to wait for an S3 response once connected."
    )
    storage_max_attempts: int = Field(
        default=2,
        ge=1,
        le=10,
        description=(
            "Attempts per S3 request (first try included). With the default timeouts an "
            "unreachable endpoint is reported in well under 10 seconds."
        ),
    )
    cas_max_retries: int = Field(
        default=64,
        ge=1,
        description="Re-reads allowed when a compare-and-swap or version claim loses a race.",
    )

    # --- feature store (rayops.features) ---------------------------------------

    # --- model registry (rayops.registry) ---------------------------------------

    # --- tuning and cross-validation (rayops.training.tune) ---------------------

    # --- security ------------------------------------------------------------
    api_token: SecretStr | None = Field(
        default=None,
        description=(
            "When set, every HTTP route except health checks requires "
            "'Authorization: Bearer <token>'."
        ),
    )

    def describe(self) -> list[tuple[str, str, str, str]]:
        """Rows of (setting, environment variable, current value, description).

        Secrets are shown as ``***``; used by ``rayops config``.
        """
        rows = []
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            shown = "***" if isinstance(value, SecretStr) else ("" if value is None else str(value))
            alias = field.validation_alias
            env = (
                " | ".join(c for c in alias.choices if isinstance(c, str) and c.isupper())
                if isinstance(alias, AliasChoices)
                else f"RAYOPS_{name.upper()}"
            )
            rows.append((name, env, shown, field.description or ""))
        return rows
