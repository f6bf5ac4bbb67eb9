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

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from rayops.config import Settings
    from rayops.online.learner import OnlineLearner

__all__ = ["CycleResult", "decay_weights", "online_params", "run_cycle"]

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


def _rollout_in_progress(learner: OnlineLearner, endpoint: str) -> Any:
    try:
        current = learner._rollouts().get(endpoint)
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
    now = learner._now()
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

    serving = learner._serving(endpoint)
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

    n = len(buf.samples)
    n_hold = min(n - 1, max(1, int(round(n * config.holdout_fraction))))
    n_train = n - n_hold
    train, hold = buf.samples.iloc[:n_train], buf.samples.iloc[n_train:]
    replay = replay_rows(
        read_replay(storage, endpoint), n_train, config.replay_fraction, seed=state.attempts
    )
    rows = [*train["features"], *replay["features"]]
    label = pd.concat([train["actual"], replay["actual"]]).to_numpy(dtype="float64")
    times = pd.concat([train["time"], replay["time"]], ignore_index=True)
    params = online_params(dict(card.params), settings)
    outcome = incremental_update(
        booster,
        schema,
        Batch(rows, label, decay_weights(times, now, config.decay_half_life_s)),
        Batch(list(hold["features"]), hold["actual"].to_numpy(dtype="float64")),
        mode=config.mode,
        rounds=config.rounds,
        params=params,
        min_improvement=config.min_improvement,
        alpha=config.gate_alpha,
        tolerance=settings.training.accuracy_tolerance,
        nthread=settings.online.nthread,
    )
    gate, timings = outcome.gate, dict(outcome.timings_ms)
    status, reason, version = UpdateStatus.REJECTED, f"rejected: {gate.reason}", None
    serving_mae = outcome.before["mae"]
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
            learner._rollouts().deploy(
                endpoint,
                mv.ref,
                strategy="full",
                actor=ACTOR,
                reason=f"online update: {gate.reason}",
            )
        except ConflictError as e:  # a canary started meanwhile: leave it alone
            status, advance = UpdateStatus.SKIPPED, False
            reason = f"skipped: rollout in progress ({e}); {mv.ref} is registered, not serving"
        else:
            status, reason, serving_mae = (
                UpdateStatus.ACCEPTED,
                f"accepted: {gate.reason}",
                (outcome.after["mae"]),
            )
        timings["swap_ms"] = round((time.perf_counter() - t) * 1000, 3)

    streak = state.high_error_streak
    retrain = None
    if advance:
        streak = streak + 1 if serving_mae > config.escalation_mae else 0
        if streak >= config.escalation_updates:
            from rayops.automation.requests import request_retrain

            request = request_retrain(
                storage,
                parent.name,
                reason=(
                    f"online learning: holdout MAE {serving_mae:.4g} > {config.escalation_mae:g} "
                    f"after {streak} consecutive updates of {endpoint!r}"
                ),
                source="online",
                endpoint=endpoint,
                details={"mae": serving_mae, "updates": streak, "serving": version or parent.ref},
                now=learner._now,
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
            holdout_rows=n_hold,
            before=outcome.before,
            after=outcome.after,
            improvement=gate.improvement,
            p_value=gate.p_value,
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
