"""Steps 2-7 of an online update cycle (see :mod:`rayops.online.learner`).

Kept apart from the SDK so the order of effects is readable in one place:
rollout check, incremental update and gate, register and hot-swap, escalation,
then the update record, the replay window and (returned to the caller, who
writes it with compare-and-swap while releasing its claim) the new cursor.
Nothing is written for a candidate the gate rejects except its record.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rayops.errors import ConflictError, InvalidInputError, NotFoundError
from rayops.online.buffer import Buffer
from rayops.online.config import OnlineConfig
from rayops.online.records import UpdateRecord, UpdateStatus, record_update
from rayops.online.state import OnlineState
from rayops.tasks import Labels, Task

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from rayops.config import Settings
    from rayops.online.learner import OnlineLearner

__all__ = [
    "CycleResult",
    "decay_weights",
    "online_params",
    "reference_metric",
    "run_cycle",
    "sample_targets",
    "still_high",
]

# Parameters that describe how a booster was trained, not what it is; an online
# update sets its own.
_TRAINING_ONLY = {
    "n_estimators", "nthread", "n_jobs", "process_type", "updater", "refresh_leaf",
    "validate_parameters",
}  # fmt: skip


@dataclass
class CycleResult:
    """The record of one cycle (None if nothing new to say) and the state to write."""

    record: UpdateRecord | None
    state_changes: dict[str, Any] = field(default_factory=dict)


def online_params(card_params: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """XGBoost parameters for updating a booster registered with ``card_params``.

    Example:
        >>> from rayops.config import Settings
        >>> p = online_params({"eta": 0.2, "nthread": 8, "n_estimators": 300}, Settings())
        >>> p["eta"], p["nthread"], "n_estimators" in p
        (0.2, 1, False)
    """
    from rayops.training.scoring import native_params

    p = {k: v for k, v in card_params.items() if k not in _TRAINING_ONLY}
    objective = str(p.pop("objective", "reg:squarederror"))
    seed = int(p.pop("seed", settings.training.cv_seed))
    return native_params(p, objective=objective, seed=seed, nthread=settings.online.nthread)


def decay_weights(times: pd.Series, now: Any, half_life_s: float) -> np.ndarray | None:
    """``0.5 ** (age / half_life)`` per sample; None when decay is off (half-life 0).

    Example:
        >>> import pandas as pd
        >>> t = pd.Series(pd.to_datetime(["2026-01-01T00:00", "2026-01-01T01:00"], utc=True))
        >>> decay_weights(t, pd.Timestamp("2026-01-01T02:00", tz="UTC"), 3600).tolist()
        [0.25, 0.5]
    """
    import numpy as np
    import pandas as pd

    if half_life_s <= 0:
        return None
    ages = (pd.Timestamp(now) - pd.to_datetime(times, utc=True)).dt.total_seconds().to_numpy()
    weights: np.ndarray = np.power(0.5, np.clip(ages, 0, None) / half_life_s)
    return weights


def sample_targets(
    samples: pd.DataFrame, task: Task, labels: Labels | None
) -> tuple[np.ndarray, np.ndarray]:
    """XGBoost labels of buffered samples and which samples have one.

    Regression: the ``actual`` values. Classification: the class index of each
    sample's ``actual_label`` in the card's class order (labels are matched by
    their text, as the log keeps them); a label that is not a class of the model
    (or a numeric actual sent to a classifier) leaves the sample out.

    Example:
        >>> import pandas as pd
        >>> rows = pd.DataFrame({"actual": [None, None, None],
        ...                      "actual_label": ["yes", "maybe", "no"]})
        >>> y, known = sample_targets(rows, Task.of("binary"), Labels(["no", "yes"]))
        >>> y.tolist(), known.tolist()
        ([1.0, 0.0], [True, False, True])
    """
    import numpy as np

    if not task.is_classification or labels is None:
        values = samples["actual"].to_numpy(dtype=np.float64)
        known = ~np.isnan(values)
        return values[known], known
    lookup = {str(c): float(i) for i, c in enumerate(labels.classes)}
    text = samples["actual_label"] if "actual_label" in samples.columns else None
    codes = np.array(
        [lookup.get(str(v), np.nan) if isinstance(v, str) else np.nan for v in text]
        if text is not None
        else [np.nan] * len(samples),
        dtype=np.float64,
    )
    known = ~np.isnan(codes)
    return codes[known], known


def reference_metric(registry: Any, version: Any, *, depth: int = 64) -> tuple[str, float] | None:
    """The holdout primary metric on the card of ``version`` or, for a derived version
    (an online or fine-tuning patch), of the nearest ancestor that has one:
    ``(ref, value)``; None when the lineage carries no holdout figure."""
    task = Task.of(version.card.task)
    card = version.card
    for _ in range(depth):
        found = card.metrics.get("holdout")
        figures = found if isinstance(found, dict) else card.metrics
        value = figures.get(task.primary_metric)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return card.ref, float(value)
        if card.parent is None:
            return None
        try:
            card = registry.get(card.parent).card
        except NotFoundError:
            return None
    return None


def still_high(
    metrics: dict[str, Any],
    task: Task,
    config: OnlineConfig,
    reference: tuple[str, float] | None,
) -> str | None:
    """Why the serving model's holdout error is still high (None if it is not).

    The first rule that applies decides: ``escalation_mae`` (regression, when set) on
    the MAE; ``escalation_limit`` (when set) on the primary metric (RMSE or log
    loss); else the primary metric against ``(1 + escalation_degradation)`` times the
    reference figure (see :func:`reference_metric`); without one, never high.

    Example:
        >>> from rayops.config import OnlineSettings
        >>> still_high({"logloss": 0.9}, Task.of("binary"), OnlineSettings(), ("m@1.0.0", 0.4))
        'holdout logloss 0.9 > 0.6 (1.5 x m@1.0.0 holdout 0.4)'
        >>> still_high({"logloss": 0.5}, Task.of("binary"), OnlineSettings(), ("m@1.0.0", 0.4))
    """
    name = task.primary_metric
    value = metrics.get(name)
    if config.escalation_mae is not None and not task.is_classification:
        mae = metrics.get("mae")
        if mae is not None and mae > config.escalation_mae:
            return f"holdout MAE {mae:.4g} > {config.escalation_mae:g}"
        return None
    if value is None:
        return None
    if config.escalation_limit is not None:
        if value > config.escalation_limit:
            return f"holdout {name} {value:.4g} > {config.escalation_limit:g}"
        return None
    if reference is None:
        return None
    ref, figure = reference
    limit = figure * (1 + config.escalation_degradation)
    if value > limit:
        return (
            f"holdout {name} {value:.4g} > {limit:.4g} "
            f"({1 + config.escalation_degradation:g} x {ref} holdout {figure:.4g})"
        )
    return None


def _rollout_in_progress(learner: OnlineLearner, endpoint: str) -> Any:
    try:
        current = learner.rollouts().get(endpoint)
    except NotFoundError:
        return None
    return None if current.finished else current


def run_cycle(
    learner: OnlineLearner,
    endpoint: str,
    config: OnlineConfig,
    state: OnlineState,
    buf: Buffer,
    trigger: str,
    started: float,
) -> CycleResult:
    """Update ``endpoint`` from ``buf`` (the caller holds the update claim and runs this
    inside ``xgboost.config_context(nthread=online_nthread)``)."""
    import pandas as pd

    from rayops.online.learner import ACTOR
    from rayops.online.replay import append_replay, read_replay, replay_rows
    from rayops.online.update import Batch, ModelSchema, incremental_update
    from rayops.training.finetune import register_patch

    storage, settings = learner.storage, learner.settings
    now = learner.now()
    base: dict[str, Any] = {
        "id": uuid.uuid4().hex[:12],
        "endpoint": endpoint,
        "trigger": trigger,
        "started_at": now,
        "mode": config.mode.value,
        "samples": len(buf.samples),
        "dropped": buf.dropped,
        "cursor_from": state.cursor,
        "min_improvement": config.min_improvement,
    }

    def elapsed() -> float:
        return round((time.perf_counter() - started) * 1000, 3)

    busy = _rollout_in_progress(learner, endpoint)
    if busy is not None:
        if state.skipped_rollout == busy.id:
            return CycleResult(None)  # already recorded for this rollout
        rec = record_update(
            storage,
            UpdateRecord(
                **base,
                status=UpdateStatus.SKIPPED,
                reason=(
                    f"skipped: rollout in progress ({busy.strategy.value} of {busy.candidate}, "
                    f"{busy.status.value}); the samples wait"
                ),
                duration_ms=elapsed(),
                parent=busy.stable,
            ),
        )
        return CycleResult(rec, {"skipped_rollout": busy.id, "last_update": rec.id})

    serving = learner.serving(endpoint)
    if serving is None:
        raise NotFoundError(f"Endpoint {endpoint!r} does not exist any more; disable it.")
    parent = learner.registry.get(serving)
    predictor = learner.registry.load(parent.ref)
    booster = getattr(predictor, "booster", None)
    if booster is None:
        raise InvalidInputError(
            f"{parent.ref} serving {endpoint!r} is an ensemble; online learning updates "
            "single boosters (update its members and register a new ensemble)."
        )
    card = parent.card
    schema = ModelSchema.of(booster, card.features, card.feature_types)
    task, labels = Task.of(card.task), card.labels

    n = len(buf.samples)
    n_hold = min(n - 1, max(1, int(round(n * config.holdout_fraction))))
    n_train = n - n_hold
    train, hold = buf.samples.iloc[:n_train], buf.samples.iloc[n_train:]
    replay = replay_rows(
        read_replay(storage, endpoint), n_train, config.replay_fraction, seed=state.attempts
    )
    fit_rows = pd.concat([train, replay], ignore_index=True)
    y_fit, fit_known = sample_targets(fit_rows, task, labels)
    y_hold, hold_known = sample_targets(hold, task, labels)
    if not hold_known.any() or not fit_known.any():
        raise InvalidInputError(
            f"No buffered sample of {endpoint!r} has a label among {parent.ref}'s classes "
            f"{card.classes}; check the feedback sent to it."
        )
    fit_rows = fit_rows[fit_known]
    times = fit_rows["time"].reset_index(drop=True)
    params = online_params(dict(card.params), settings)
    outcome = incremental_update(
        booster,
        schema,
        Batch(
            list(fit_rows["features"]), y_fit, decay_weights(times, now, config.decay_half_life_s)
        ),
        Batch(
            list(hold["features"][hold_known]),
            y_hold,
            groups=hold["request_id"][hold_known].astype(str).to_numpy(),
        ),  # fmt: skip
        mode=config.mode,
        rounds=config.rounds,
        params=params,
        min_improvement=config.min_improvement,
        alpha=config.gate_alpha,
        tolerance=settings.training.accuracy_tolerance,
        nthread=settings.online.nthread,
        task=task,
        n_classes=len(labels) if labels is not None else 0,
        threshold=parent.threshold if parent.threshold is not None else 0.5,
    )
    gate, timings = outcome.gate, dict(outcome.timings_ms)
    status, reason, version = UpdateStatus.REJECTED, f"rejected: {gate.reason}", None
    serving_metrics = outcome.before
    advance = True
    if gate.accepted:
        t = time.perf_counter()
        mv = register_patch(
            learner.registry,
            parent,
            outcome.booster,
            params=params,
            metrics={"online_holdout": outcome.after, "parent_online_holdout": outcome.before},
            run_id=f"online-{base['id']}",
            author=ACTOR,
            description=(
                f"online update ({config.mode.value}) of {parent.ref} on {n_train} samples "
                f"and {len(replay)} replayed: {gate.reason}"
            ),
        )
        version = mv.ref
        timings["register_ms"] = round((time.perf_counter() - t) * 1000, 3)
        t = time.perf_counter()
        try:
            learner.rollouts().deploy(
                endpoint,
                mv.ref,
                strategy="full",
                actor=ACTOR,
                reason=f"online update: {gate.reason}",
                automatic=True,
            )
        except ConflictError as e:  # a canary started meanwhile: leave it alone
            status, advance = UpdateStatus.SKIPPED, False
            reason = f"skipped: rollout in progress ({e}); {mv.ref} is registered, not serving"
        else:
            status, reason = UpdateStatus.ACCEPTED, f"accepted: {gate.reason}"
            serving_metrics = outcome.after
        timings["swap_ms"] = round((time.perf_counter() - t) * 1000, 3)

    streak = state.high_error_streak
    retrain = None
    if advance:
        high = still_high(serving_metrics, task, config, reference_metric(learner.registry, parent))
        streak = streak + 1 if high is not None else 0
        if high is not None and streak >= config.escalation_updates:
            from rayops.automation.requests import request_retrain

            request = request_retrain(
                storage,
                parent.name,
                reason=(
                    f"online learning: {high} after {streak} consecutive updates of {endpoint!r}"
                ),
                source="online",
                endpoint=endpoint,
                details={
                    task.primary_metric: serving_metrics.get(task.primary_metric),
                    "mae": serving_metrics.get("mae"),
                    "updates": streak,
                    "serving": version or parent.ref,
                },
                now=learner.now,
            )
            retrain, streak = request.id, 0
    cursor_to = buf.key(n_train - 1) if advance else None
    record = record_update(
        storage,
        UpdateRecord(
            **base,
            status=status,
            reason=reason,
            duration_ms=elapsed(),
            timings_ms=timings,
            model=parent.name,
            parent=parent.ref,
            version=version,
            train_rows=n_train,
            replay_rows=len(replay),
            holdout_rows=int(hold_known.sum()),
            before=outcome.before,
            after=outcome.after,
            improvement=gate.improvement,
            p_value=gate.p_better,
            cursor_to=cursor_to,
            retrain_request=retrain,
        ),
    )
    changes: dict[str, Any] = {"last_update": record.id, "last_update_at": now}
    if advance:
        append_replay(storage, endpoint, train, config.replay_size)
        changes.update(
            cursor=cursor_to,
            attempts=state.attempts + 1,
            accepted=state.accepted + (status is UpdateStatus.ACCEPTED),
            high_error_streak=streak,
            skipped_rollout=None,
        )
    return CycleResult(record, changes)
