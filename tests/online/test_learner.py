"""Online learning end to end on real logs: drift adaptation, the gate, hot-swap through
rollouts, escalation, and the settings and log an operator sees."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from online_support import DRIFT_AT, FEATURES, T0, Clock, Stream, serve_model

from rayops.automation.requests import pending_requests
from rayops.config import Settings
from rayops.control.tasks import default_tasks
from rayops.errors import InvalidInputError, NotFoundError
from rayops.online import OnlineLearner, UpdateStatus
from rayops.online.state import read_state
from rayops.online.task import OnlineTask
from rayops.registry import Registry
from rayops.rollout import Rollouts
from rayops.serving import Endpoints
from rayops.storage import Storage


@pytest.mark.parametrize("mode", ["continue", "both"])
def test_online_learning_beats_a_frozen_model_after_concept_drift(
    local: Storage, pre_drift: xgb.Booster, drifted: pd.DataFrame, settings: Settings, mode: str
) -> None:
    """Acceptance 1: MAE over the post-drift window at least 20% below the frozen model's."""
    ref = serve_model(local, pre_drift)
    OnlineLearner(local, settings, now=lambda: T0).enable("shop", mode=mode)  # N = 100
    task = OnlineTask(local, settings)
    stream = Stream(local, "shop")
    post = drifted.iloc[DRIFT_AT : DRIFT_AT + 2_000].reset_index(drop=True)
    for i in range(0, len(post), 50):
        at = T0 + timedelta(minutes=1 + i // 50)
        stream.send(post.iloc[i : i + 50], at)
        task.tick(at + timedelta(seconds=5))
    frozen = Registry(local).load(ref).predict(post[FEATURES])
    frozen_mae = float(np.mean(np.abs(frozen - post["target"])))
    online_mae = stream.mae()
    log = OnlineLearner(local, settings).log("shop")
    accepted = [r for r in log if r.status is UpdateStatus.ACCEPTED]
    print(
        f"{mode}: post-drift MAE over {len(post)} rows: online {online_mae:.3f}, frozen "
        f"{frozen_mae:.3f} "
        f"({online_mae / frozen_mae - 1:+.1%}); {len(accepted)}/{len(log)} updates accepted"
    )
    assert online_mae <= 0.8 * frozen_mae
    assert len(log) >= 20 and len(accepted) >= 2
    served = {r for r, _, _ in stream.served}
    assert len(served) == len(accepted) + 1  # every accepted update took the traffic


def test_noise_labels_are_rejected_and_a_lasting_high_error_requests_a_retrain(
    storage: Storage, shop: str, drifted: pd.DataFrame, settings: Settings, clock: Clock
) -> None:
    """Acceptance 2: updates fitted to noise fail the gate; serving keeps its version."""
    learner = OnlineLearner(storage, settings, now=clock)
    # The model's card has no holdout figure: the earlier absolute rule (MAE above 5).
    learner.enable("shop", escalation_updates=2, escalation_mae=5.0)
    table = Endpoints(storage).get("shop")
    stream = Stream(storage, "shop")
    rng = np.random.default_rng(7)
    rows = drifted.iloc[:300]  # the model's own concept, but the labels are noise
    for k in range(3):
        batch = rows.iloc[100 * k : 100 * (k + 1)]
        noise = rng.normal(batch["target"].mean(), 3 * batch["target"].std(), len(batch))
        clock.t = T0 + timedelta(minutes=k + 1)
        stream.send(batch, clock.t, actuals=noise)
        clock.t += timedelta(seconds=5)
        assert learner.step("shop") is not None
    log = learner.log("shop")
    assert [r.status for r in log] == [UpdateStatus.REJECTED] * 3, [r.reason for r in log]
    assert all(r.reason.startswith("rejected: ") and r.version is None for r in log)
    assert all("holdout rmse" in r.reason and "paired t-test" in r.reason for r in log)
    assert all(r.parent == shop and r.before["mae"] > 5.0 for r in log)
    # Serving untouched: same routing revision, no new version, no alias moved.
    assert Endpoints(storage).get("shop").revision == table.revision
    assert [v.version for v in Registry(storage).versions("demand")] == ["1.0.0"]
    # Escalation: the error stayed above 5.0 for 2 updates -> one full-retrain request.
    (request,) = pending_requests(storage, "demand")
    assert request.source == "online" and request.endpoint == "shop"
    assert "> 5" in request.reason and log[1].retrain_request == request.id
    assert log[2].retrain_request is None  # the streak starts over after a request
    state = read_state(storage, "shop")
    assert state is not None and state.high_error_streak == 1 and state.accepted == 0


def test_an_accepted_update_is_a_patch_deploy_that_rolls_back_like_any_other(
    local: Storage, pre_drift: xgb.Booster, drifted: pd.DataFrame, settings: Settings
) -> None:
    ref = serve_model(local, pre_drift)
    clock = Clock()
    learner = OnlineLearner(local, settings, now=clock)
    learner.enable("shop")
    clock.t = T0 + timedelta(minutes=1)
    Stream(local, "shop").send(drifted.iloc[DRIFT_AT : DRIFT_AT + 100], clock.t)
    clock.t += timedelta(seconds=5)
    record = learner.step("shop")
    assert record is not None and record.status is UpdateStatus.ACCEPTED, record
    assert record.version == "demand@1.0.1" and record.parent == ref
    assert record.samples == 100 and (record.train_rows, record.holdout_rows) == (80, 20)
    assert record.after["mae"] < record.before["mae"] and record.duration_ms > 0
    assert {"matrix_ms", "adapt_ms", "register_ms", "swap_ms"} <= set(record.timings_ms)
    reg = Registry(local)
    card = reg.get("demand@1.0.1").card
    assert card.parent == ref and card.bump == "patch" and card.author == "online"
    assert card.metrics["online_holdout"]["mae"] == pytest.approx(record.after["mae"])
    weights = {r.ref: r.weight for r in Endpoints(local).get("shop").routes}
    assert weights == {ref: 0, "demand@1.0.1": 100}
    assert reg.aliases("demand")["production"].version == "1.0.1"
    rollouts = Rollouts(local, now=clock, settings=settings)
    assert [e.actor for e in rollouts.history("shop")] == ["online", "online"]
    rollouts.rollback("shop", reason="operator: not convinced")
    weights = {r.ref: r.weight for r in Endpoints(local).get("shop").routes}
    assert weights[ref] == 100 and reg.aliases("demand")["production"].version == "1.0.0"
    assert learner.status("shop")["serving"] == ref


def test_a_rollout_in_progress_is_left_alone_and_the_samples_wait(
    local: Storage, pre_drift: xgb.Booster, drifted: pd.DataFrame, settings: Settings
) -> None:
    ref = serve_model(local, pre_drift)
    other = Registry(local).register("demand", pre_drift, bump="minor").ref
    clock = Clock()
    learner = OnlineLearner(local, settings, now=clock)
    learner.enable("shop")
    rollouts = Rollouts(local, now=clock, settings=settings)
    rollouts.deploy("shop", other, strategy="canary", steps="10,50", actor="ann")
    stream = Stream(local, "shop")
    clock.t = T0 + timedelta(minutes=1)
    stream.send(drifted.iloc[DRIFT_AT : DRIFT_AT + 100], clock.t)
    clock.t += timedelta(seconds=5)
    first = learner.step("shop")
    assert first is not None and first.status is UpdateStatus.SKIPPED
    assert first.reason.startswith("skipped: rollout in progress")
    assert learner.step("shop") is None  # recorded once per rollout, not every tick
    assert learner.status("shop")["buffer"]["size"] == 100  # nothing consumed
    assert {r.ref: r.weight for r in Endpoints(local).get("shop").routes} == {ref: 90, other: 10}
    rollouts.abort("shop", reason="enough")
    record = learner.step("shop")
    assert record is not None and record.status is UpdateStatus.ACCEPTED
    assert record.parent == ref and record.samples == 100


def test_settings_status_log_and_manual_update(
    storage: Storage, shop: str, drifted: pd.DataFrame, settings: Settings, clock: Clock
) -> None:
    learner = OnlineLearner(storage, settings, now=clock)
    with pytest.raises(NotFoundError, match="never enabled"):
        learner.status("shop")
    with pytest.raises(NotFoundError):
        learner.enable("no-such-endpoint")
    with pytest.raises(InvalidInputError, match="Unknown online setting 'colour'"):
        learner.enable("shop", colour="red")
    with pytest.raises(InvalidInputError, match="holdout_fraction"):
        learner.enable("shop", holdout_fraction=1.5)
    status = learner.enable("shop", buffer_size=500, mode="refresh")
    assert status["enabled"] and status["serving"] == shop
    assert status["config"]["buffer_size"] == 500 and status["config"]["mode"] == "refresh"
    assert status["config"]["max_age_s"] == 86_400 and status["overrides"]["mode"] == "refresh"
    assert learner.configure("shop", mode=None).mode.value == "continue"  # back to default
    assert learner.endpoints(enabled_only=True) == ["shop"]
    with pytest.raises(InvalidInputError, match="0 buffered samples"):
        learner.update_now("shop")
    clock.t = T0 + timedelta(minutes=1)
    Stream(storage, "shop").send(drifted.iloc[DRIFT_AT : DRIFT_AT + 40], clock.t)
    clock.t += timedelta(seconds=5)
    learner.disable("shop")
    assert learner.step("shop") is None  # disabled: no update, buffer kept
    assert learner.status("shop")["buffer"]["size"] == 40
    assert learner.endpoints(enabled_only=True) == []
    record = learner.update_now("shop")  # an operator's update works while disabled
    assert record.trigger == "manual" and record.samples == 40 and record.holdout_rows == 8
    assert [r.id for r in learner.log("shop")] == [record.id]
    assert learner.log("shop", limit=0) == []
    state = learner.status("shop")["state"]
    assert state["attempts"] == 1 and state["last_update"] == record.id and state["claim"] is None


def test_the_control_loop_runs_the_online_task() -> None:
    import tempfile

    from rayops.storage import open_storage

    (task,) = default_tasks(open_storage(tempfile.mkdtemp()), Settings(), names=["online"])
    assert isinstance(task, OnlineTask) and task.interval_s == Settings().online.interval_s


def test_one_failing_endpoint_does_not_stop_the_others(
    local: Storage, pre_drift: xgb.Booster, drifted: pd.DataFrame, settings: Settings
) -> None:
    from rayops.registry import EnsembleSpec

    ref = serve_model(local, pre_drift)
    blend = Registry(local).register("blend", EnsembleSpec(kind="weighted", members=[ref])).ref
    Endpoints(local).create("mixed", blend)
    clock = Clock()
    learner = OnlineLearner(local, settings, now=clock)
    for endpoint in ("mixed", "shop"):
        learner.enable(endpoint)
    clock.t = T0 + timedelta(minutes=1)
    rows = drifted.iloc[DRIFT_AT : DRIFT_AT + 100]
    Stream(local, "shop").send(rows, clock.t)
    Stream(local, "mixed").send(rows, clock.t)
    summary = OnlineTask(local, settings).tick(clock.t + timedelta(seconds=5))
    assert summary is not None and summary["endpoints"] == 2
    assert [u["endpoint"] for u in summary["updates"]] == ["shop"]
    assert "ensemble" in summary["errors"]["mixed"]
    state = read_state(local, "mixed")
    assert state is not None and state.claim is None and state.attempts == 0  # nothing consumed
