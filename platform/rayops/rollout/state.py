"""The rollout document and its events, as kept in storage.

Keys under the storage root::

    endpoints/<name>/rollout.json                   the current rollout (compare-and-swap)
    endpoints/<name>/rollout/events/<ts>-<id>.json  one event per decision (append-only)
    endpoints/<name>/rollout/analyses/<id>/<ts>.json  one point per analysis (append-only)

Routing changes themselves stay in the endpoint's own history
(``endpoints/<name>/history/``, written by :class:`~rayops.serving.Endpoints`);
rollout events add what the routing history cannot hold: the step, the verdict
and the metrics that decided it.

Example:
    >>> Strategy("canary") is Strategy.CANARY
    True
    >>> RolloutStatus.PROMOTED.finished
    True
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rayops.config.rollout import RolloutLimits
from rayops.errors import ConflictError, NotFoundError
from rayops.names import validate_name
from rayops.rollout.layout import analyses_prefix, events_prefix, rollout_key
from rayops.storage.base import Storage, dumps
from rayops.storage.retry import pause

__all__ = [
    "AnalysisPoint",
    "EventKind",
    "GuardState",
    "GuardStatus",
    "Rollout",
    "RolloutEvent",
    "RolloutStatus",
    "RolloutStore",
    "Strategy",
    "Thresholds",
    "Verdict",
]


class Strategy(StrEnum):
    """How a candidate version gets traffic."""

    FULL = "full"  # 100% at once
    CANARY = "canary"  # ramp through steps, analyzing each
    AB = "ab"  # fixed split until a statistical decision
    SHADOW = "shadow"  # mirrored only; callers never see its answers


class RolloutStatus(StrEnum):
    """Where a rollout is in its life."""

    RUNNING = "running"
    HOLDING = "holding"  # waiting for samples or for an operator's promote
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    ABORTED = "aborted"

    @property
    def finished(self) -> bool:
        return self in (RolloutStatus.PROMOTED, RolloutStatus.ROLLED_BACK, RolloutStatus.ABORTED)


class Verdict(StrEnum):
    """What one analysis concluded."""

    HOLD = "hold"  # too few samples: wait
    HEALTHY = "healthy"  # advance
    BREACH = "breach"  # roll back
    WINNER = "winner"  # A/B: one arm is significantly better
    NO_WINNER = "no_winner"  # A/B: enough samples, no significant difference


class EventKind(StrEnum):
    """Kinds of rollout event."""

    DEPLOYED = "deployed"
    STEP = "step"
    HOLD = "hold"
    ANALYSIS = "analysis"
    WINNER = "winner"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    ABORTED = "aborted"
    GUARD_PASSED = "guard_passed"  # the post-deploy guard let a promoted version go


class GuardStatus(StrEnum):
    """Where the post-deploy guard of a promoted version is."""

    WATCHING = "watching"  # comparing the new version with the one it replaced
    PASSED = "passed"  # the window ended without sustained degradation
    ROLLED_BACK = "rolled_back"  # sustained degradation: the replaced version is back


class GuardState(BaseModel):
    """The post-deploy guard of a promoted rollout (see :mod:`rayops.rollout.guard`).

    The limits are copied from the settings when the guard starts, so a change of
    the settings does not change a guard in flight.
    """

    model_config = ConfigDict(extra="forbid")

    status: GuardStatus = GuardStatus.WATCHING
    started_at: datetime = Field(description="When the new version took all the traffic.")
    baseline_start: datetime = Field(
        description="Start of the replaced version's traffic the new version is compared with."
    )
    baseline_end: datetime | None = Field(
        default=None, description="Its end (default: started_at)."
    )
    reference: str | None = Field(
        default=None,
        description=(
            "The version compared with and rolled back to (default: the rollout's stable). A "
            "deploy over a version still under guard (online hot-swaps in a row) keeps the "
            "reference of that guard, so a bad version cannot escape it through its child."
        ),
    )
    window_rows: int = Field(ge=1)
    window_s: float = Field(gt=0)
    interval_s: float = Field(gt=0)
    failures_needed: int = Field(ge=1)
    shadow_share: float = Field(default=0.0, ge=0, le=1)
    next_analysis_at: datetime
    analyses: int = Field(default=0, ge=0)
    failures: int = Field(default=0, ge=0, description="Consecutive failing analyses.")
    labeled: int = Field(default=0, ge=0, description="The new version's labeled rows so far.")
    verdict: Verdict | None = None
    reason: str | None = None
    ended_at: datetime | None = None

    @property
    def watching(self) -> bool:
        return self.status is GuardStatus.WATCHING

    def reference_of(self, doc: Rollout) -> str:
        """The version this guard compares ``doc``'s candidate with."""
        return self.reference or doc.stable


class AnalysisPoint(BaseModel):
    """One analysis of a rollout (a canary step or a guard check), for charts.

    ``phase`` is ``canary``, ``ab``, ``shadow`` or ``guard``; the metrics are the
    task's primary metric (RMSE, log loss) of each side on the analyzed window.
    """

    model_config = ConfigDict(extra="forbid")

    rollout_id: str
    phase: str
    time: datetime
    step: int = 0
    weight: int = 0
    verdict: Verdict
    metric: str | None = None
    stable_metric: float | None = None
    candidate_metric: float | None = None
    p_value: float | None = None
    gate: str | None = Field(default=None, description="The gate's verdict, if it ran.")
    n_stable: int = 0
    n_candidate: int = 0
    reason: str = ""


class Thresholds(RolloutLimits):
    """The limits one rollout is judged by: the ``rollout`` settings' limits
    (:class:`~rayops.config.rollout.RolloutLimits`, declared once there), with a
    rollout's own overrides, plus the ``tolerance`` of regression accuracy.

    The rollout document keeps its copy, so a later change of the settings does not
    change a rollout in flight. Documents written before the per-task limits read
    as well: a missing limit takes its default, and the A/B test stored as
    ``test`` is read as ``ab_test``.

    Example:
        >>> Thresholds.model_validate({"max_latency_p95_ms": 200, "max_error_rate": 0.05,
        ...     "min_accuracy": 0.75, "max_degradation": 0.1, "min_samples": 30,
        ...     "tolerance": 5.0, "alpha": 0.05, "test": "welch"}).ab_test.value
        'welch'
    """

    tolerance: float = Field(default=5.0, gt=0, description="T of accuracy within ±T.")

    @model_validator(mode="before")
    @classmethod
    def _stored_names(cls, data: Any) -> Any:
        # Rollout documents before the per-task limits stored the A/B test as "test"
        # (and an override given under that name wins over the settings' ab_test).
        if isinstance(data, dict) and "test" in data:
            data = {k: v for k, v in data.items() if k != "test"} | {"ab_test": data["test"]}
        return data

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> Thresholds:
        """Thresholds from ``settings``, with ``overrides`` (None values ignored)."""
        base = settings.rollout.model_dump(include=set(RolloutLimits.model_fields))
        base["tolerance"] = settings.training.accuracy_tolerance
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(base)


class Rollout(BaseModel):
    """One rollout of ``candidate`` over ``stable`` on ``endpoint``."""

    model_config = ConfigDict(extra="forbid")

    id: str
    endpoint: str
    strategy: Strategy
    stable: str = Field(description="The version serving before the rollout, name@version.")
    candidate: str = Field(description="The version being rolled out, name@version.")
    steps: list[int] = Field(min_length=1, description="Candidate traffic per step, percent.")
    step: int = Field(default=0, ge=0, description="Index into steps of the current step.")
    interval_s: float = Field(gt=0)
    thresholds: Thresholds
    auto_promote: bool = False
    status: RolloutStatus = RolloutStatus.RUNNING
    started_at: datetime
    updated_at: datetime
    step_started_at: datetime = Field(description="Start of the window the next analysis reads.")
    next_analysis_at: datetime
    verdict: Verdict | None = None
    reason: str | None = None
    analysis: dict[str, Any] | None = Field(default=None, description="The last analysis.")
    winner: str | None = Field(default=None, description="A/B: the ref that won, if any.")
    analyses: int = Field(default=0, ge=0, description="Analyses run so far (A/B: looks).")
    target: str | None = Field(
        default=None, description="After a rollback to a version other than stable: that version."
    )
    actor: str | None = None
    revision: int = Field(default=1, ge=1)
    guard: GuardState | None = Field(
        default=None, description="The post-deploy guard, once the candidate took all traffic."
    )
    rejected: list[str] = Field(
        default_factory=list,
        description=(
            "Versions the guard rolled back on this endpoint (latest last, carried from "
            "rollout to rollout): automation does not deploy them again."
        ),
    )

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str) -> str:
        return validate_name(v, "endpoint name")

    @property
    def weight(self) -> int:
        """Candidate traffic share of the current step, percent."""
        return self.steps[min(self.step, len(self.steps) - 1)]

    @property
    def finished(self) -> bool:
        return self.status.finished


class RolloutEvent(BaseModel):
    """One decision of a rollout, with the reason and the metrics behind it."""

    model_config = ConfigDict(extra="forbid")

    endpoint: str
    rollout_id: str
    kind: EventKind
    time: datetime
    step: int
    weight: int = Field(description="Candidate traffic share after the event, percent.")
    status: RolloutStatus
    stable: str
    candidate: str
    reason: str | None = None
    metrics: dict[str, Any] | None = None
    actor: str | None = None
    revision: int = Field(default=1, ge=1, description="The rollout document's revision.")


class RolloutStore:
    """Read, compare-and-swap and record rollouts in one storage root."""

    def __init__(self, storage: Storage, *, max_retries: int = 64) -> None:
        self.storage = storage
        self.max_retries = max_retries

    def read(self, endpoint: str) -> tuple[Rollout, str]:
        """The rollout of ``endpoint`` and its storage token; NotFoundError if none."""
        try:
            v = self.storage.read_versioned(rollout_key(endpoint))
        except NotFoundError:
            raise NotFoundError(
                f"Endpoint {endpoint!r} has no rollout; start one with "
                f"`rayops deploy {endpoint} MODEL@VERSION`."
            ) from None
        return Rollout.model_validate(v.json()), v.token

    def get(self, endpoint: str) -> Rollout | None:
        try:
            return self.read(endpoint)[0]
        except NotFoundError:
            return None

    def write(self, rollout: Rollout, token: str | None) -> str:
        """Compare-and-swap ``rollout``; ConflictError if it changed since ``token``."""
        return self.storage.compare_and_swap(
            rollout_key(rollout.endpoint), dumps(rollout.model_dump(mode="json")), token
        )

    def update(self, endpoint: str, change: Callable[[Rollout], Rollout | None]) -> Rollout | None:
        """Read-modify-write with retries; ``change`` returns None to leave it as is."""
        for attempt in range(self.max_retries):
            current, token = self.read(endpoint)
            new = change(current)
            if new is None:
                return None
            new = new.model_copy(update={"revision": current.revision + 1})
            try:
                self.write(new, token)
            except ConflictError:
                pause(attempt, self.storage.settings)
                continue
            return new
        raise ConflictError(
            f"Gave up changing the rollout of {endpoint!r} after {self.max_retries} "
            "conflicting writes; try again."
        )

    def record(self, event: RolloutEvent) -> None:
        # Events written in the same microsecond (a full rollout's deploy and promotion,
        # or a test's fixed clock) keep their order: revision, then this process's clock.
        stamp = event.time.strftime("%Y%m%dT%H%M%S%fZ")
        tie = f"{event.revision:06d}-{time.monotonic_ns():020d}-{uuid.uuid4().hex[:6]}"
        key = f"{events_prefix(event.endpoint)}{stamp}-{tie}.json"
        self.storage.put_if_absent(key, dumps(event.model_dump(mode="json")))

    def record_analysis(self, endpoint: str, point: AnalysisPoint) -> None:
        """Append one analysis point of ``point.rollout_id`` (never overwritten)."""
        stamp = point.time.strftime("%Y%m%dT%H%M%S%fZ")
        key = f"{analyses_prefix(endpoint, point.rollout_id)}{stamp}-{uuid.uuid4().hex[:6]}.json"
        self.storage.put_if_absent(key, dumps(point.model_dump(mode="json")))

    def analyses(self, endpoint: str, rollout_id: str) -> list[AnalysisPoint]:
        """Every analysis point of one rollout, oldest first."""
        keys = self.storage.list_keys(analyses_prefix(endpoint, rollout_id))
        return [AnalysisPoint.model_validate(self.storage.read_json(k)) for k in sorted(keys)]

    def events(self, endpoint: str) -> list[RolloutEvent]:
        """Every rollout event of ``endpoint``, oldest first."""
        keys = self.storage.list_keys(events_prefix(endpoint))
        return [RolloutEvent.model_validate(self.storage.read_json(k)) for k in sorted(keys)]

    def endpoints(self) -> list[str]:
        """Endpoints that have a rollout document, sorted."""
        out = []
        for child in self.storage.list_children("endpoints"):
            try:
                validate_name(child)
            except ValueError:
                continue
            if self.storage.exists(rollout_key(child)):
                out.append(child)
        return out
