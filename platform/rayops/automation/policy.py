"""Retrain policies: what to retrain, when, and what to do with the result.

One JSON document per model, ``automation/policies/<model>.json``, validated by
:class:`RetrainPolicy` (unknown keys are errors). A policy names the data to
retrain on (a feature set, whose rows are extended with the endpoint's logged
features and feedback), the triggers and schedules, the guards every trigger must
pass, and whether a better candidate is canaried automatically.

Example:
    >>> p = RetrainPolicy(model="demand", endpoint="shop", features="demand-fs",
    ...                   schedules=[Schedule(cron="0 2 * * 0")])
    >>> p.triggers.age.days, p.triggers.new_samples.count, p.guards.min_new_samples
    (7.0, 100, 10)
    >>> Schedule(cron="every sunday")
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for Schedule
    ...
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rayops.automation.layout import POLICIES, policy_key
from rayops.durations import parse_duration
from rayops.errors import InvalidInputError, NotFoundError
from rayops.names import validate_name
from rayops.storage.base import Storage, dumps

__all__ = [
    "CanarySpec",
    "parse_policy",
    "Guards",
    "PolicyStore",
    "RetrainPolicy",
    "Schedule",
    "TrainSpec",
    "Triggers",
    "next_run",
]

_STRICT = ConfigDict(extra="forbid")


class Guards(BaseModel):
    """Conditions every trigger must also meet (a forced retrain skips them)."""

    model_config = _STRICT

    min_new_samples: int = Field(
        default=10, ge=0, description="Labeled rows logged since the last training."
    )
    min_days_since_training: float = Field(
        default=0.0, ge=0, description="Days since the production version was trained."
    )


class AgeTrigger(BaseModel):
    model_config = _STRICT
    enabled: bool = True
    days: float = Field(default=7.0, gt=0, description="Retrain when production is this old.")
    guards: Guards | None = None


class SamplesTrigger(BaseModel):
    model_config = _STRICT
    enabled: bool = True
    count: int = Field(default=100, ge=1, description="Retrain after this many new labels.")
    guards: Guards | None = None


class HealthTrigger(BaseModel):
    model_config = _STRICT
    enabled: bool = True
    window: str = Field(default="1h", description="Window the endpoint's health is judged on.")
    guards: Guards | None = None


class DriftTrigger(BaseModel):
    model_config = _STRICT
    enabled: bool = True
    share: float = Field(
        default=0.3, gt=0, le=1, description="Retrain when this share of features drifted."
    )
    window: str = Field(default="24h", description="Logged traffic compared with the baseline.")
    guards: Guards | None = None


class PerformanceTrigger(BaseModel):
    model_config = _STRICT
    enabled: bool = Field(
        default=False,
        description="Retrain when production's primary metric on labeled traffic degrades.",
    )
    window: str = Field(default="24h", description="Labeled traffic the metric is measured on.")
    degradation: float = Field(
        default=0.2,
        gt=0,
        description=(
            "Retrain when the primary metric (RMSE or log loss) on the window is this fraction "
            "above the holdout figure on production's card (0.2 = 20% worse)."
        ),
    )
    min_rows: int = Field(default=30, ge=1, description="Labeled rows the window needs.")
    guards: Guards | None = None


class RequestTrigger(BaseModel):
    model_config = _STRICT
    enabled: bool = Field(
        default=True, description="Act on retrain requests from alerts and online learning."
    )
    guards: Guards | None = None


class Triggers(BaseModel):
    """The conditions that start a retrain (defaults from the earlier system)."""

    model_config = _STRICT

    age: AgeTrigger = Field(default_factory=AgeTrigger)
    new_samples: SamplesTrigger = Field(default_factory=SamplesTrigger)
    health: HealthTrigger = Field(default_factory=HealthTrigger)
    drift: DriftTrigger = Field(default_factory=DriftTrigger)
    performance: PerformanceTrigger = Field(default_factory=PerformanceTrigger)
    requests: RequestTrigger = Field(default_factory=RequestTrigger)


class Schedule(BaseModel):
    """A cron expression (UTC) or a fixed interval; exactly one of the two."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cron: str | None = Field(default=None, description="Five-field cron, e.g. '0 2 * * 0'.")
    every: str | None = Field(default=None, description="An interval, e.g. '24h', '30m', '7d'.")
    guards: Guards | None = None

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from croniter import croniter

        if len(v.split()) != 5 or not croniter.is_valid(v):
            raise ValueError(
                f"{v!r} is not a five-field cron expression (minute hour day month weekday), "
                "e.g. '0 2 * * 0' for 02:00 every Sunday"
            )
        return v

    @field_validator("every")
    @classmethod
    def _every(cls, v: str | None) -> str | None:
        if v is not None:
            _interval(v)
        return v

    @model_validator(mode="after")
    def _one(self) -> Schedule:
        if (self.cron is None) == (self.every is None):
            raise ValueError("a schedule has exactly one of 'cron' or 'every'")
        return self

    @property
    def label(self) -> str:
        return f"cron {self.cron}" if self.cron else f"every {self.every}"


def _interval(text: str) -> timedelta:
    return parse_duration(text, what="schedule interval")


def next_run(schedule: Schedule, after: datetime) -> datetime:
    """The first time strictly after ``after`` at which ``schedule`` fires (UTC).

    For ``every`` the runs are ``after + interval`` (the interval counts from the last run).

    Example:
        >>> from datetime import UTC, datetime
        >>> next_run(Schedule(cron="0 2 * * 0"), datetime(2026, 12, 1, 9, tzinfo=UTC))
        datetime.datetime(2026, 12, 6, 2, 0, tzinfo=datetime.timezone.utc)
    """
    from datetime import UTC

    after = after.replace(tzinfo=UTC) if after.tzinfo is None else after.astimezone(UTC)
    if schedule.every is not None:
        return after + _interval(schedule.every)
    from croniter import croniter

    found: datetime = croniter(schedule.cron, after).get_next(datetime)
    return found.astimezone(UTC)


class TrainSpec(BaseModel):
    """How the candidate is trained."""

    model_config = _STRICT

    params: dict[str, Any] = Field(
        default_factory=dict,
        description="XGBoost parameters; default: the production version's parameters.",
    )
    rounds: int = Field(default=100, ge=1, description="Boosting rounds.")
    workers: int | None = Field(default=None, ge=1, description="Ray Train workers (or auto).")
    retune: bool = Field(
        default=False,
        description="Re-tune first: a small grid around the previous best parameters.",
    )
    folds: int = Field(default=3, ge=2, description="CV folds of the re-tune.")


class CanarySpec(BaseModel):
    """How a better candidate is rolled out."""

    model_config = _STRICT

    strategy: str = Field(default="canary", pattern=r"^(canary|ab|shadow|full)$")
    steps: list[int] | None = None
    interval: str | None = Field(default=None, description="e.g. 60s; default rollout setting.")
    thresholds: dict[str, Any] = Field(
        default_factory=dict, description="Overrides of the rollout analysis limits."
    )


class RetrainPolicy(BaseModel):
    """Everything automation needs to retrain one model."""

    model_config = _STRICT

    model: str = Field(description="Registered model name.")
    endpoint: str | None = Field(
        default=None, description="Endpoint serving it: its logs extend the data, gets the canary."
    )
    features: str = Field(description="Base feature set, NAME or NAME@VERSION.")
    target: str | None = Field(default=None, description="Default: the feature set's target.")
    triggers: Triggers = Field(default_factory=Triggers)
    schedules: list[Schedule] = Field(default_factory=list)
    guards: Guards = Field(default_factory=Guards)
    train: TrainSpec = Field(default_factory=TrainSpec)
    auto_deploy: bool = Field(default=True, description="Canary a better candidate at once.")
    canary: CanarySpec = Field(default_factory=CanarySpec)
    min_improvement: float = Field(
        default=0.0,
        ge=0,
        description=(
            "For 'better', the promotion gate needs the holdout primary metric (RMSE or log "
            "loss) lower by at least this fraction, significantly (retrain_gate_alpha)."
        ),
    )
    cooldown: str = Field(
        default="1h",
        description="Least time between the end of one retrain and a triggered next one.",
    )
    window: str | None = Field(
        default=None,
        description=(
            "Train on the rows of the last WINDOW by event time (e.g. '30d'), logged rows "
            "included: a sliding window that forgets an old concept. Default: every row."
        ),
    )
    min_rows: int = Field(
        default=200, ge=1, description="With a window: fewer rows than this keeps every row."
    )
    enabled: bool = True

    @field_validator("cooldown", "window")
    @classmethod
    def _duration(cls, v: str | None) -> str | None:
        if v is not None:
            _interval(v)
        return v

    @property
    def cooldown_s(self) -> float:
        return _interval(self.cooldown).total_seconds()

    @field_validator("model")
    @classmethod
    def _model(cls, v: str) -> str:
        return validate_name(v, "model name")

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str | None) -> str | None:
        return validate_name(v, "endpoint name") if v is not None else v

    def guards_for(self, trigger: Any) -> Guards:
        """The guards of ``trigger`` (a trigger spec or schedule): its own, else the policy's."""
        own = getattr(trigger, "guards", None)
        return own if own is not None else self.guards


def parse_policy(doc: Any) -> RetrainPolicy:
    """Validate a policy document; InvalidInputError naming the first bad field."""
    try:
        return RetrainPolicy.model_validate(doc)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "policy"
        raise InvalidInputError(f"Invalid retrain policy at {where}: {first['msg']}.") from None


class PolicyStore:
    """Retrain policies in one storage root."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    @staticmethod
    def key(model: str) -> str:
        return policy_key(model)

    def put(self, policy: RetrainPolicy) -> RetrainPolicy:
        """Create or replace the policy of ``policy.model``."""
        self.storage.write_bytes(self.key(policy.model), dumps(policy.model_dump(mode="json")))
        return policy

    def get(self, model: str) -> RetrainPolicy:
        try:
            doc = self.storage.read_json(self.key(model))
        except NotFoundError:
            raise NotFoundError(
                f"Model {model!r} has no retrain policy; add one with `rayops retrain policy set`."
            ) from None
        return RetrainPolicy.model_validate(doc)

    def list(self) -> list[RetrainPolicy]:
        out = []
        for key in self.storage.list_keys(POLICIES):
            if key.endswith(".json"):
                out.append(RetrainPolicy.model_validate(self.storage.read_json(key)))
        return sorted(out, key=lambda p: p.model)

    def remove(self, model: str) -> None:
        self.get(model)  # NotFoundError if there is none
        self.storage.delete(self.key(model))
