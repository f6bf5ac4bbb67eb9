"""The feature store (:mod:`rayops.features`): Parquet layout, scanning, dedup waits."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from rayops.config._section import Section

__all__ = ["FeatureSettings"]


class FeatureSettings(Section):
    """The feature store (:mod:`rayops.features`): Parquet layout, scanning, dedup waits."""

    env_prefix: ClassVar[str] = "RAYOPS_FEATURES_"

    compression: str = Field(
        default="zstd",
        pattern=r"^(zstd|snappy|lz4|gzip|brotli|none)$",
        description=(
            "Parquet codec for feature-set files (zstd, snappy, lz4, gzip, brotli or none). "
            "Default zstd."
        ),
    )
    rows_per_file: int = Field(
        default=1_000_000,
        ge=1,
        description=(
            "Rows per Parquet part file of a feature-set version; parts are written in "
            "parallel and bound the memory a streamed ingest holds. Default 1000000."
        ),
    )
    batch_rows: int = Field(
        default=262_144,
        ge=1,
        description="Rows per record batch when scanning (hash, stats, checks). Default 262144.",
    )
    threads: int | None = Field(
        default=None,
        ge=1,
        description=(
            "Threads for scanning columns and writing parts during a feature-set write. "
            "Default: the number of CPUs."
        ),
    )
    max_categories: int = Field(
        default=10_000,
        ge=1,
        description=(
            "Distinct values counted exactly per categorical column; beyond this the "
            "distinct count is a lower bound and top values are omitted. Default 10000."
        ),
    )
    top_values: int = Field(
        default=10,
        ge=0,
        description="Most frequent values kept per categorical column. Default 10.",
    )
    wait_timeout_s: float = Field(
        default=300.0,
        gt=0,
        description=(
            "Seconds a writer waits for a concurrent writer of identical content to publish "
            "its version before giving up with a conflict. Default 300."
        ),
    )
    stale_reservation_s: float = Field(
        default=3600.0,
        gt=0,
        description=(
            "Age in seconds after which an unfinished write's dedup reservation is considered "
            "abandoned (its writer crashed) and may be taken over. Default 3600."
        ),
    )
