"""Batch scoring on Ray Data (:mod:`rayops.batch`): parts, actors, threads."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from rayops.config._section import Section

__all__ = ["BatchSettings"]


class BatchSettings(Section):
    """Batch scoring on Ray Data (:mod:`rayops.batch`): parts, actors, threads."""

    env_prefix: ClassVar[str] = "RAYOPS_BATCH_"

    rows_per_part: int = Field(
        default=250_000,
        ge=1,
        description=(
            "Input row groups are grouped into parts of at most about this many rows (at least "
            "one row group each); each part is read, scored and written as one output file by "
            "one Ray Data task, and a rerun skips the parts already written. Default 250000."
        ),
    )
    actors: int = Field(
        default=0,
        ge=0,
        description=(
            "Scoring actors (each loads the model once); 0: as many as the cluster's CPUs "
            "allow at batch_cpus_per_actor each, at most one per part. Default 0."
        ),
    )
    cpus_per_actor: float = Field(
        default=1.0,
        gt=0,
        description="CPUs each scoring actor reserves. Default 1.",
    )
    actors_ready_timeout_s: float = Field(
        default=600.0,
        ge=0,
        description=(
            "Scoring starts once every scoring actor has loaded the model, so the parts spread "
            "over all of them (and all nodes) instead of going to whichever started first; a "
            "pool not ready within this many seconds fails the job with an error that says so. "
            "0: start on the first ready actor. Default 600."
        ),
    )
    nthread: int = Field(
        default=0,
        ge=0,
        description=(
            "XGBoost threads per scoring actor; 0: its reserved CPUs (at least 1). Default 0."
        ),
    )
