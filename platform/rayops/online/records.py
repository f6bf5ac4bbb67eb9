"""The update log: one immutable JSON record per online-update attempt.

``online/<endpoint>/updates/<time>-<id>.json`` (put-if-absent), listed oldest
first by ``rayops online log ENDPOINT``. Accepted, rejected and skipped attempts
are all recorded, with their timings, sample counts, the holdout metrics of
parent and candidate and the gate's reason.

Example:
    >>> UpdateStatus("rejected") is UpdateStatus.REJECTED
    True
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from rayops.online.config import online_prefix
from rayops.online.state import SampleKey
from rayops.storage.base import Storage, dumps

__all__ = ["UpdateRecord", "UpdateStatus", "read_updates", "record_update", "updates_prefix"]


class UpdateStatus(StrEnum):
    """What became of one update attempt."""

    ACCEPTED = "accepted"  # passed the gate, registered and serving
    REJECTED = "rejected"  # failed the gate; serving untouched
    SKIPPED = "skipped"  # not attempted or not swapped in (e.g. a rollout is in progress)


class UpdateRecord(BaseModel):
    """One attempt, as stored in the update log."""

    model_config = ConfigDict(extra="forbid")

    id: str
    endpoint: str
    status: UpdateStatus
    reason: str
    trigger: str = Field(description="full, age or manual.")
    started_at: datetime
    duration_ms: float
    timings_ms: dict[str, float] = Field(default_factory=dict)
    model: str | None = None
    parent: str | None = Field(default=None, description="The version that was serving.")
    version: str | None = Field(default=None, description="The registered candidate, if any.")
    mode: str | None = None
    samples: int = Field(default=0, description="Buffered samples the attempt used.")
    train_rows: int = 0
    replay_rows: int = 0
    holdout_rows: int = 0
    dropped: int = 0
    before: dict[str, float | None] = Field(
        default_factory=dict, description="Holdout metrics of the serving model (the task's)."
    )
    after: dict[str, float | None] = Field(
        default_factory=dict, description="Holdout metrics of the candidate."
    )
    improvement: float | None = None
    p_value: float | None = Field(
        default=None, description="The gate's one-sided p-value that the candidate is better."
    )
    min_improvement: float | None = None
    cursor_from: SampleKey | None = None
    cursor_to: SampleKey | None = None
    retrain_request: str | None = Field(default=None, description="Id of a filed retrain.")

    @property
    def key(self) -> str:
        return f"{updates_prefix(self.endpoint)}{self.started_at:%Y%m%dT%H%M%S%fZ}-{self.id}.json"


def updates_prefix(endpoint: str) -> str:
    return f"{online_prefix(endpoint)}updates/"


def record_update(storage: Storage, record: UpdateRecord) -> UpdateRecord:
    """Store ``record`` (written once; the id makes the key unique)."""
    storage.put_if_absent(record.key, dumps(record.model_dump(mode="json")))
    return record


def read_updates(
    storage: Storage, endpoint: str, *, limit: int | None = None
) -> list[UpdateRecord]:
    """The update log of ``endpoint``, oldest first (the last ``limit`` records if given)."""
    keys = [k for k in storage.list_keys(updates_prefix(endpoint)) if k.endswith(".json")]
    if limit is not None:
        keys = keys[-limit:] if limit > 0 else []
    return [UpdateRecord.model_validate(storage.read_json(k)) for k in keys]
