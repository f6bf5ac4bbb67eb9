"""Telemetry (:mod:`rayops.telemetry`): compaction, retention and aggregates of the logs."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from rayops.config._section import Section

__all__ = ["TelemetrySettings"]


class TelemetrySettings(Section):
    """Telemetry (:mod:`rayops.telemetry`): compaction, retention and aggregates of the logs."""

    env_prefix: ClassVar[str] = "RAYOPS_TELEMETRY_"

    target_file_mb: float = Field(
        default=64.0,
        gt=0,
        description=(
            "Compaction merges the files written in one hour of a partition into one file, or "
            "files of about this many MB (of input) each. Default 64."
        ),
    )
    retention_days: float = Field(
        default=90.0,
        ge=0,
        description=(
            "Log partitions (days) older than this many days are deleted by the control loop "
            "and `rayops logs expire`; 0 keeps every day. Default 90."
        ),
    )
    compact_interval_s: float = Field(
        default=60.0,
        gt=0,
        description=(
            "Seconds between the control loop's compaction passes; between passes only the "
            "files written since the last one are small. Default 60."
        ),
    )
    lookback_days: int = Field(
        default=2,
        ge=1,
        description=(
            "Days back (today included) each compaction pass looks at; `rayops logs compact "
            "--day` reaches older ones. Default 2."
        ),
    )
    orphan_grace_s: float = Field(
        default=3600.0,
        gt=0,
        description=(
            "A merged file no manifest lists (its compactor died before switching it in) is "
            "deleted once it is this old. Default 3600."
        ),
    )
