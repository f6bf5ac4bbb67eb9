"""Which retrain triggers fire for a policy, and why: a read-only check.

:func:`check` evaluates every trigger and schedule of a :class:`RetrainPolicy`
at time ``now`` and returns a :class:`CheckReport`; it reads storage and writes
nothing, so ``rayops retrain --check`` has no side effects. A trigger *fires*
when its condition holds **and** its guards pass (at least ``min_new_samples``
labeled rows logged since the production version was trained, and at least
``min_days_since_training`` days since then).

Triggers (defaults from the earlier system):

* ``age`` — the production version is ``days`` (7) old or older;
* ``new_samples`` — ``count`` (100) labeled rows logged since it was trained (a
  value for regression, a label for a classifier);
* ``health`` — the endpoint's health over ``window`` is critical;
* ``drift`` — at least ``share`` of the features drifted over ``window`` against
  the production version's training baseline (PSI/KS, chi-square/JS);
* ``performance`` (off by default) — the task's primary metric (RMSE, or log loss
  for a classifier) of the production version on the labeled traffic of
  ``window`` is ``degradation`` above the holdout figure on its card;
* ``requests`` — a retrain was requested (monitoring alert, online learning);
* each **schedule** (cron or interval) whose next run after the last one has come.

Example:
    >>> from datetime import UTC
    >>> r = CheckReport(model="m", time=datetime(2026, 1, 1, tzinfo=UTC), results=[
    ...     TriggerResult(name="age", fired=True, reason="production is 8.0 days old")])
    >>> r.fired, r.reason
    (True, 'age: production is 8.0 days old')
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rayops.automation.data import expand_features, has_label
from rayops.automation.jobs import JobStore
from rayops.automation.layout import schedule_key
from rayops.automation.policy import Guards, RetrainPolicy, Schedule, next_run
from rayops.automation.requests import pending_requests
from rayops.config import Settings, settings_of
from rayops.errors import NotFoundError, RayopsError
from rayops.monitoring.drift import feature_drift
from rayops.monitoring.health import HealthState, endpoint_health
from rayops.monitoring.metrics import parse_window
from rayops.registry import Registry
from rayops.storage.base import Storage
from rayops.tasks import Task
from rayops.telemetry.labeled import labeled_rows
from rayops.telemetry.readers import joined, read_predictions

__all__ = ["CheckReport", "TriggerResult", "check", "schedule_state"]


class TriggerResult(BaseModel):
    """One trigger's verdict."""

    model_config = ConfigDict(extra="forbid")

    name: str
    fired: bool
    reason: str
    condition: bool = Field(default=False, description="The condition held (guards aside).")
    details: dict[str, Any] = Field(default_factory=dict)


class CheckReport(BaseModel):
    """Every trigger of one policy at one time."""

    model_config = ConfigDict(extra="forbid")

    model: str
    time: datetime
    results: list[TriggerResult]
    production: str | None = None
    new_samples: int | None = None
    days_since_training: float | None = None
    requests: list[str] = Field(default_factory=list)

    @property
    def fired(self) -> bool:
        return any(r.fired for r in self.results)

    @property
    def first(self) -> TriggerResult | None:
        return next((r for r in self.results if r.fired), None)

    @property
    def reason(self) -> str:
        return "; ".join(f"{r.name}: {r.reason}" for r in self.results if r.fired)


def schedule_state(storage: Storage, model: str) -> dict[str, str]:
    """When each schedule of ``model`` last fired (label -> ISO time)."""
    try:
        doc: dict[str, str] = storage.read_json(schedule_key(model))
    except NotFoundError:
        return {}
    return doc


def _guard(guards: Guards, new: int | None, days: float | None) -> str | None:
    """Why the guards block a trigger (None if they pass)."""
    if guards.min_new_samples and (new or 0) < guards.min_new_samples:
        return f"only {new or 0} new labeled rows (guard: {guards.min_new_samples})"
    if guards.min_days_since_training and days is not None:
        if days < guards.min_days_since_training:
            return f"trained {days:.2f} days ago (guard: {guards.min_days_since_training:g} days)"
    return None


def _result(
    name: str, condition: bool, reason: str, guards: Guards, new: int | None, days: float | None,
    **details: Any,
) -> TriggerResult:  # fmt: skip
    if not condition:
        return TriggerResult(name=name, fired=False, reason=reason, details=details)
    blocked = _guard(guards, new, days)
    if blocked:
        return TriggerResult(
            name=name, fired=False, condition=True, reason=f"{reason}, but {blocked}",
            details=details,
        )  # fmt: skip
    return TriggerResult(name=name, fired=True, condition=True, reason=reason, details=details)


def check(
    storage: Storage,
    policy: RetrainPolicy,
    now: datetime,
    *,
    settings: Settings | None = None,
) -> CheckReport:
    """Evaluate every trigger and schedule of ``policy`` at ``now`` (reads only)."""

    settings = settings_of(storage, settings)
    registry = Registry(storage, settings=settings)
    prod = registry.production(policy.model)
    # "Since the last training" counts from the production version's training or the
    # last retrain attempt, whichever is later: a rejected candidate must not make the
    # same trigger fire again at once.
    history = JobStore(storage).list(policy.model)
    last_job = history[-1] if history else None
    marks = [t for t in (prod.card.created_at if prod else None,
                         last_job.created_at if last_job else None) if t is not None]  # fmt: skip
    trained_at = max(marks) if marks else None
    days = (now - trained_at).total_seconds() / 86400 if trained_at is not None else None
    new = _new_samples(storage, policy, trained_at, now) if policy.endpoint else None
    t = policy.triggers
    results: list[TriggerResult] = []
    cooling = None
    if last_job is not None and last_job.finished_at is not None:
        left = policy.cooldown_s - (now - last_job.finished_at).total_seconds()
        if left > 0:
            cooling = f"cooling down for {left:.0f} s after retrain {last_job.id}"

    if t.age.enabled:
        if days is None:
            results.append(TriggerResult(name="age", fired=False, reason="no production version"))
        else:
            results.append(_result(
                "age", days >= t.age.days,
                f"last trained {days:.1f} days ago (limit {t.age.days:g})",
                policy.guards_for(t.age), new, days, age_days=days,
            ))  # fmt: skip
    if t.new_samples.enabled and new is not None:
        results.append(_result(
            "new_samples", new >= t.new_samples.count,
            f"{new} labeled rows since the last training (limit {t.new_samples.count})",
            policy.guards_for(t.new_samples), new, days, new_samples=new,
        ))  # fmt: skip
    if t.health.enabled and policy.endpoint:
        results.append(_health(storage, policy, now, settings, new, days))
    if t.drift.enabled and policy.endpoint and prod is not None:
        results.append(_drift(storage, policy, prod, now, settings, new, days))
    if t.performance.enabled and policy.endpoint and prod is not None:
        results.append(_performance(storage, policy, prod, now, new, days))
    requests = pending_requests(storage, policy.model) if t.requests.enabled else []
    if t.requests.enabled:
        results.append(_result(
            "requests", bool(requests),
            f"{len(requests)} pending request(s)" + (f": {requests[0].reason}" if requests else ""),
            policy.guards_for(t.requests), new, days, ids=[r.id for r in requests],
        ))  # fmt: skip
    last = schedule_state(storage, policy.model)
    for sched in policy.schedules:
        results.append(_schedule(sched, last, policy, now, new, days))
    if cooling:
        results = [
            r.model_copy(update={"fired": False, "reason": f"{r.reason}, but {cooling}"})
            if r.fired else r
            for r in results
        ]  # fmt: skip
    return CheckReport(
        model=policy.model,
        time=now,
        results=results,
        production=prod.ref if prod is not None else None,
        new_samples=new,
        days_since_training=days,
        requests=[r.id for r in requests],
    )


def _new_samples(
    storage: Storage, policy: RetrainPolicy, since: datetime | None, now: datetime
) -> int:
    assert policy.endpoint is not None
    start = since or now - timedelta(days=365)
    if start >= now:
        return 0
    log = joined(storage, policy.endpoint, start, now, feedback_grace=timedelta(0))
    return int(has_label(log).sum()) if len(log) else 0


def _health(
    storage: Storage, policy: RetrainPolicy, now: datetime, settings: Settings,
    new: int | None, days: float | None,
) -> TriggerResult:  # fmt: skip

    assert policy.endpoint is not None
    spec = policy.triggers.health
    try:
        reports = endpoint_health(
            storage, policy.endpoint, now=now, window=spec.window, settings=settings
        )
    except RayopsError as e:
        return TriggerResult(name="health", fired=False, reason=f"health unknown: {e}")
    overall = reports.get("*")
    state = overall.state if overall is not None else HealthState.UNKNOWN
    return _result(
        "health", state is HealthState.CRITICAL,
        f"endpoint {policy.endpoint} health over {spec.window} is {state.value}",
        policy.guards_for(spec), new, days, state=state.value,
    )  # fmt: skip


def _drift(
    storage: Storage, policy: RetrainPolicy, prod: Any, now: datetime, settings: Settings,
    new: int | None, days: float | None,
) -> TriggerResult:  # fmt: skip

    assert policy.endpoint is not None
    spec = policy.triggers.drift
    baseline = prod.card.baseline or {}
    start, end = parse_window(spec.window, end=now)
    log = read_predictions(storage, policy.endpoint, start, end)
    if not baseline or not len(log):
        why = "no baseline in the model card" if not baseline else f"no traffic in {spec.window}"
        return TriggerResult(name="drift", fired=False, reason=why)
    frame = expand_features(log.drop_duplicates(["request_id", "row"]))
    report = feature_drift(frame, baseline, settings=settings)
    drifted = report.drifted_features
    return _result(
        "drift", report.share >= spec.share,
        f"{len(drifted)} of {len(report.features)} features drifted over {spec.window} "
        f"(share {report.share:.0%}, limit {spec.share:.0%})"
        + (f": {', '.join(drifted)}" if drifted else ""),
        policy.guards_for(spec), new, days, share=report.share, drifted=drifted,
    )  # fmt: skip


def _performance(
    storage: Storage, policy: RetrainPolicy, prod: Any, now: datetime,
    new: int | None, days: float | None,
) -> TriggerResult:  # fmt: skip

    assert policy.endpoint is not None
    spec = policy.triggers.performance
    card = prod.card
    task = Task.of(card.task)
    name = task.primary_metric
    holdout = card.metrics.get("holdout")
    figure = (holdout if isinstance(holdout, dict) else card.metrics).get(name)
    if not isinstance(figure, int | float) or isinstance(figure, bool):
        return TriggerResult(name="performance", fired=False,
                             reason=f"no holdout {name} on {prod.ref}'s card")  # fmt: skip
    start, end = parse_window(spec.window, end=now)
    log = joined(storage, policy.endpoint, start, end, feedback_grace=timedelta(0))
    if len(log):
        log = log[(log["model"] == card.name) & (log["version"] == card.version)]
    rows = labeled_rows(log, task, card.labels)
    if len(rows) < spec.min_rows:
        return TriggerResult(
            name="performance", fired=False,
            reason=f"{len(rows)} labeled rows of {prod.ref} in {spec.window} "
            f"(needs {spec.min_rows})",
        )  # fmt: skip
    value = task.metric_of_loss(float(rows.loss.mean()))
    limit = float(figure) * (1 + spec.degradation)
    return _result(
        "performance", value > limit,
        f"{name} {value:.4g} over {spec.window} of labeled traffic vs holdout {figure:.4g} "
        f"(limit {limit:.4g}, +{spec.degradation:.0%})",
        policy.guards_for(spec), new, days, **{name: value, "holdout": float(figure)},
    )  # fmt: skip


def _schedule(
    sched: Schedule, last: dict[str, str], policy: RetrainPolicy, now: datetime,
    new: int | None, days: float | None,
) -> TriggerResult:  # fmt: skip
    fired_at = last.get(sched.label)
    # A new schedule starts counting from now; it fires at its first run after that.
    anchor = datetime.fromisoformat(fired_at) if fired_at else None
    if anchor is None:
        return TriggerResult(
            name=f"schedule {sched.label}", fired=False,
            reason=f"first run at {next_run(sched, now).isoformat()}",
            details={"next_run": next_run(sched, now).isoformat(), "pending_start": True},
        )  # fmt: skip
    due = next_run(sched, anchor)
    return _result(
        f"schedule {sched.label}", now >= due,
        f"due at {due.isoformat()}" if now >= due else f"next run at {due.isoformat()}",
        policy.guards_for(sched), new, days, next_run=due.isoformat(),
    )  # fmt: skip
