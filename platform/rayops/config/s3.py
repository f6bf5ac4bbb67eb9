"""S3 and S3-compatible servers (MinIO, Ceph, moto): endpoint, region, timeouts, retries."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from rayops.config._section import Section

__all__ = ["S3Settings"]


class S3Settings(Section):
    """S3 and S3-compatible servers (MinIO, Ceph, moto): endpoint, region, timeouts, retries."""

    env_prefix: ClassVar[str] = "RAYOPS_S3_"
    env_names: ClassVar[dict[str, tuple[str, ...]]] = {
        "endpoint_url": ("RAYOPS_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL"),
        "region": ("RAYOPS_S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
        "connect_timeout_s": ("RAYOPS_STORAGE_CONNECT_TIMEOUT_S",),
        "read_timeout_s": ("RAYOPS_STORAGE_READ_TIMEOUT_S",),
        "max_attempts": ("RAYOPS_STORAGE_MAX_ATTEMPTS",),
    }

    endpoint_url: str | None = Field(
        default=None,
        description=(
            "Endpoint of an S3-compatible server (MinIO, moto, Ceph...). Also read from "
            "AWS_ENDPOINT_URL. Unset means AWS S3 itself."
        ),
    )
    region: str | None = Field(
        default=None,
        description="S3 region. Also read from AWS_REGION / AWS_DEFAULT_REGION. Default us-east-1.",
    )
    connect_timeout_s: float = Field(
        default=2.0, gt=0, description="Seconds to wait for a TCP connection to the S3 endpoint."
    )
    read_timeout_s: float = Field(
        default=30.0, gt=0, description="Seconds to wait for an S3 response once connected."
    )
    max_attempts: int = Field(
        default=2,
        ge=1,
        le=10,
        description=(
            "Attempts per S3 request (first try included). With the default timeouts an "
            "unreachable endpoint is reported in well under 10 seconds."
        ),
    )
