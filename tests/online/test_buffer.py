"""The buffer: derived from the serving logs and a stored cursor, flushed at N samples or
age T, and still there after every process that touched it is replaced."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pandas as pd
import pytest
import xgboost as xgb
from online_support import DRIFT_AT, FEATURES, T0, Clock, Stream, serve_model

from rayops.config import Settings
from rayops.online import OnlineLearner
from rayops.online.buffer import read_buffer
from rayops.online.learner import due
from rayops.online.state import SampleKey, read_state
from rayops.online.task import OnlineTask
from rayops.storage import Storage
from rayops.telemetry.writers import FeedbackLog


def test_buffer_joins_feedback_with_logged_features_after_the_cursor(
    storage: Storage, shop: str, drifted: pd.DataFrame, settings: Settings
) -> None:
    rows = drifted.iloc[DRIFT_AT : DRIFT_AT + 30]
    Stream(storage, "shop").send(rows, T0, rows_per_request=7)
    buf = read_buffer(storage, "shop", SampleKey(time=T0), T0 + timedelta(minutes=1), settings)
    assert buf.size == 30 and buf.feedback == 30 and buf.waiting == buf.dropped == 0
    # Same feedback time: ordered by (request_id, row), not by arrival.
    assert sorted(buf.samples["actual"]) == pytest.approx(sorted(rows["target"]))
    first = json.loads(buf.samples["features"].iloc[0])
    source = rows[rows["target"] == buf.samples["actual"].iloc[0]].iloc[0]
    assert set(first) == set(FEATURES) and first["cat_0"] == str(source["cat_0"])
    assert first["num_0"] == pytest.approx(source["num_0"])
    assert (buf.samples["model"] == "demand").all()
    # A cursor inside one feedback request (7 rows share a time) splits it exactly.
    cursor = buf.key(9)
    rest = read_buffer(storage, "shop", cursor, T0 + timedelta(minutes=1), settings)
    assert rest.size == 20
    assert rest.samples["actual"].tolist() == buf.samples["actual"].iloc[10:].tolist()
    # Cheap read (feedback only) gives the same count and age.
    light = read_buffer(storage, "shop", cursor, T0 + timedelta(minutes=1), settings, join=False)
    assert (light.size, light.oldest) == (20, rest.oldest)


def test_feedback_without_its_prediction_waits_then_is_dropped(
    local: Storage, pre_drift: xgb.Booster, drifted: pd.DataFrame
) -> None:
    storage = local
    serve_model(storage, pre_drift)
    settings = Settings(online_settle_s=1.0, online_prediction_wait_s=30.0)
    stream = Stream(storage, "shop")
    stream.send(drifted.iloc[:5], T0)  # feedback at T0 + 1 s

    async def orphan() -> None:  # feedback for a request whose prediction row was lost
        await FeedbackLog(storage, now=lambda: T0 + timedelta(seconds=3)).write(
            "shop", "lost-request", [1.0, 2.0]
        )

    asyncio.run(orphan())
    stream.send(drifted.iloc[5:10], T0 + timedelta(seconds=4))
    cursor = SampleKey(time=T0)
    # Young orphan: the buffer stops before it, so the cursor can never pass it.
    soon = read_buffer(storage, "shop", cursor, T0 + timedelta(seconds=10), settings)
    assert (soon.size, soon.waiting, soon.dropped) == (5, 2, 0)
    # Feedback younger than settle_s is not buffered at all yet.
    early = read_buffer(storage, "shop", cursor, T0 + timedelta(seconds=4.5), settings)
    assert early.feedback == 7 and early.size == 5
    # After online_prediction_wait_s the orphan is dropped and the rest is usable.
    later = read_buffer(storage, "shop", cursor, T0 + timedelta(seconds=60), settings)
    assert (later.size, later.waiting, later.dropped) == (10, 0, 2)
    assert later.skip_to is None  # a real sample comes before the orphans


def test_flush_at_n_samples_or_at_age_t(
    local: Storage, pre_drift: xgb.Booster, drifted: pd.DataFrame, settings: Settings, clock: Clock
) -> None:
    storage = local
    serve_model(storage, pre_drift)
    learner = OnlineLearner(storage, settings, now=clock)
    status = learner.enable("shop", buffer_size=40, max_age_s=600, min_samples=10)
    assert status["enabled"] and status["buffer"]["size"] == 0
    cfg = learner.config("shop")
    stream = Stream(storage, "shop")
    stream.send(drifted.iloc[DRIFT_AT : DRIFT_AT + 30], T0 + timedelta(seconds=10))
    clock.t = T0 + timedelta(seconds=20)
    state = read_state(storage, "shop")
    assert state is not None
    buf = read_buffer(storage, "shop", state.cursor, clock.t, settings, join=False)
    assert buf.size == 30 and due(buf, cfg, clock.t) is None
    assert learner.step("shop") is None  # 30 < N and younger than T
    # Age: the oldest sample's feedback (T0 + 11 s) turns 600 s old.
    clock.t = T0 + timedelta(seconds=611)
    assert learner.status("shop")["buffer"]["due"] == "age"
    record = learner.step("shop")
    assert record is not None and record.trigger == "age" and record.samples == 30
    assert record.holdout_rows == 6 and record.train_rows == 24
    # The holdout stays buffered; 34 more fill it to N = 40.
    stream.send(drifted.iloc[DRIFT_AT + 30 : DRIFT_AT + 64], clock.t)
    clock.t += timedelta(seconds=5)
    assert learner.status("shop")["buffer"]["size"] == 40
    record = learner.step("shop")
    assert record is not None and record.trigger == "full" and record.samples == 40


def test_buffered_samples_survive_a_restart_of_everything_that_read_them(
    storage: Storage, shop: str, drifted: pd.DataFrame, settings: Settings
) -> None:
    """Acceptance 4 at the storage level: new learner and task objects (a restarted control
    loop) see exactly the buffered-but-unapplied samples; none is lost or applied twice."""
    before = OnlineLearner(storage, settings, now=lambda: T0)
    before.enable("shop", buffer_size=100)
    stream = Stream(storage, "shop")
    stream.send(drifted.iloc[DRIFT_AT : DRIFT_AT + 70], T0 + timedelta(seconds=1))
    task = OnlineTask(storage, settings)
    assert task.tick(T0 + timedelta(seconds=5)) == {"endpoints": 1, "updates": [], "errors": {}}
    del before, task  # the controller replica goes away

    clock = Clock(T0 + timedelta(seconds=6))
    after = OnlineLearner(storage, settings, now=clock)
    buffer = after.status("shop")["buffer"]
    assert buffer["size"] == 70 and buffer["due"] is None
    stream.send(drifted.iloc[DRIFT_AT + 70 : DRIFT_AT + 100], T0 + timedelta(seconds=7))
    summary = OnlineTask(storage, settings).tick(T0 + timedelta(seconds=10))
    assert summary is not None and len(summary["updates"]) == 1
    (record,) = after.log("shop")
    assert record.samples == 100 and record.train_rows + record.holdout_rows == 100
    clock.t = T0 + timedelta(seconds=10)
    assert after.status("shop")["buffer"]["size"] == record.holdout_rows
