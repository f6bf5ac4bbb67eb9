"""Online learning of classifiers on real logs: continue, refresh and both with
binary:logistic and multi:softprob, labels from feedback's actual_label, the shared gate
on per-row log loss, and escalation relative to the card's holdout log loss."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from online_support import T0, Clock

from rayops.automation.requests import pending_requests
from rayops.config import Settings
from rayops.online import OnlineLearner, UpdateStatus
from rayops.registry import Registry
from rayops.serving import Endpoints
from rayops.storage import Storage
from rayops.tasks import Task
from rayops.telemetry.writers import FeedbackLog, PredictionLog, Scored

COLUMNS = ["a", "b", "c"]
BINARY = ["no", "yes"]
THREE = ["bird", "cat", "dog"]


def rows(n: int, classes: list[str], *, drifted: bool, seed: int) -> pd.DataFrame:
    """Features and a label; after the drift the label follows another relation."""
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.normal(size=(n, 3)), columns=COLUMNS)
    score = x["a"] - x["b"] if drifted else x["a"] + x["b"]
    if len(classes) == 2:
        idx = (score + rng.normal(0, 0.3, n) > 0).astype(int)
    else:
        idx = np.digitize(score + rng.normal(0, 0.3, n), [-0.6, 0.6])
    return x.assign(label=[classes[i] for i in idx])


def serve_classifier(storage: Storage, classes: list[str], *, threshold: float = 0.5) -> str:
    """A classifier trained before the drift, registered with its holdout log loss and
    serving endpoint 'crm'."""
    train, hold = (
        rows(2000, classes, drifted=False, seed=1),
        rows(400, classes, drifted=False, seed=2),
    )
    index = {c: i for i, c in enumerate(classes)}
    params: dict[str, object] = {"max_depth": 3, "eta": 0.3, "nthread": 1, "seed": 0}
    if len(classes) == 2:
        params["objective"] = "binary:logistic"
    else:
        params.update(objective="multi:softprob", num_class=len(classes))
    booster = xgb.train(
        params, xgb.DMatrix(train[COLUMNS], train["label"].map(index)), num_boost_round=40
    )
    task = Task.of("binary" if len(classes) == 2 else "multiclass")
    proba = task.probabilities(booster.predict(xgb.DMatrix(hold[COLUMNS])), len(classes))
    holdout = task.metrics(hold["label"].map(index).to_numpy(), proba)
    reg = Registry(storage)
    mv = reg.register("churn", booster, params=params, task=task, classes=classes,
                      metrics={"holdout": holdout}, threshold=threshold if len(classes) == 2
                      else None)  # fmt: skip
    Endpoints(storage).create("crm", mv.ref)
    return str(mv.ref)


def send(storage: Storage, batch: pd.DataFrame, at: datetime, *, run: str,
         labels: list[str] | None = None) -> None:  # fmt: skip
    """Predict ``batch`` with the version 'crm' serves (one row per request, as online
    traffic mostly is: the update gate tests per request) and send the labels (or
    ``labels``) as feedback a second later, as the gateway logs them."""
    table = Endpoints(storage).get("crm")
    ref = max(table.routes, key=lambda r: r.weight).ref
    model = Registry(storage).load(ref)
    proba = model.predict(batch[COLUMNS])
    classes = list(model.labels.classes)  # type: ignore[union-attr]
    truth = list(batch["label"]) if labels is None else labels
    log = PredictionLog(storage, flush_s=3600)
    sent = []
    for n, start in enumerate(range(0, len(batch), 1)):
        rid = f"{run}-{n:05d}"
        part = slice(start, start + 1)
        p = proba[part]
        log.record(
            request_id=rid, endpoint="crm", ref=ref,
            frame=batch[COLUMNS].iloc[part].reset_index(drop=True),
            predictions=Scored(probabilities=p, classes=classes,
                               labels=[classes[i] for i in p.argmax(axis=1)]),
            latency_ms=1.0, time=at,
        )  # fmt: skip
        sent.append((rid, truth[part]))
    log.close()

    async def feedback() -> None:
        fb = FeedbackLog(storage, now=lambda: at + timedelta(seconds=1))
        await asyncio.gather(*(fb.write("crm", rid, y, labels=True) for rid, y in sent))

    asyncio.run(feedback())


@pytest.fixture
def settings() -> Settings:
    return Settings(online_settle_s=0.0)


@pytest.mark.parametrize("mode", ["continue", "refresh", "both"])
def test_a_binary_update_after_drift_is_accepted_on_lower_log_loss(
    storage: Storage, settings: Settings, mode: str
) -> None:
    parent = serve_classifier(storage, BINARY, threshold=0.3)
    clock = Clock()
    learner = OnlineLearner(storage, settings, now=clock)
    # refresh recomputes every leaf: it needs many more rows than the model has leaves.
    learner.enable("crm", mode=mode, buffer_size=100 if mode != "refresh" else 1000)
    clock.t = T0 + timedelta(minutes=1)
    send(storage, rows(100 if mode != "refresh" else 1000, BINARY, drifted=True, seed=5),
         clock.t, run=mode)  # fmt: skip
    clock.t += timedelta(seconds=5)
    record = learner.step("crm")
    assert record is not None and record.status is UpdateStatus.ACCEPTED, record.reason
    assert record.after["logloss"] < record.before["logloss"]  # type: ignore[operator]
    assert "holdout logloss" in record.reason and record.p_value is not None
    assert record.p_value < settings.online.gate_alpha
    patch = Registry(storage).get(record.version or "")
    assert patch.card.parent == parent and patch.card.task.value == "binary"
    assert patch.card.classes == BINARY and patch.card.objective == "binary:logistic"
    assert patch.threshold == 0.3  # the parent's threshold travels with the patch
    assert max(Endpoints(storage).get("crm").routes, key=lambda r: r.weight).ref == patch.ref


def test_a_multiclass_update_with_both_keeps_the_classes(
    local: Storage, settings: Settings
) -> None:
    serve_classifier(local, THREE)
    clock = Clock()
    learner = OnlineLearner(local, settings, now=clock)
    learner.enable("crm", mode="both", buffer_size=1000)
    clock.t = T0 + timedelta(minutes=1)
    send(local, rows(1000, THREE, drifted=True, seed=6), clock.t, run="m")
    clock.t += timedelta(seconds=5)
    record = learner.step("crm")
    assert record is not None and record.status is UpdateStatus.ACCEPTED, record.reason
    assert record.after["logloss"] < record.before["logloss"]  # type: ignore[operator]
    card = Registry(local).get(record.version or "").card
    assert card.task.value == "multiclass" and card.classes == THREE
    predictor = Registry(local).load(card.ref)
    assert predictor.predict(rows(5, THREE, drifted=True, seed=7)[COLUMNS]).shape == (5, 3)


def test_labels_with_nothing_new_to_learn_are_rejected(
    storage: Storage, settings: Settings
) -> None:
    """Labels drawn from the serving model's own probabilities: it is already right in
    expectation, so an update can only fit the noise, and the gate rejects it."""
    parent = serve_classifier(storage, BINARY)
    model = Registry(storage).load(parent)
    clock = Clock()
    learner = OnlineLearner(storage, settings, now=clock)
    learner.enable("crm")
    rng = np.random.default_rng(3)
    for k in range(4):
        batch = rows(100, BINARY, drifted=False, seed=20 + k)
        p_yes = model.predict(batch[COLUMNS])[:, 1]
        noise = [BINARY[int(u < p)] for u, p in zip(rng.random(len(batch)), p_yes, strict=True)]
        clock.t = T0 + timedelta(minutes=k + 1)
        send(storage, batch, clock.t, run=f"n{k}", labels=noise)
        clock.t += timedelta(seconds=5)
        assert learner.step("crm") is not None
    log = learner.log("crm")
    assert [r.status for r in log] == [UpdateStatus.REJECTED] * 4, [r.reason for r in log]
    assert all("holdout logloss" in r.reason and r.version is None for r in log)
    assert [v.ref for v in Registry(storage).versions("churn")] == [parent]
    assert pending_requests(storage, "churn") == []  # as good as its card says: no escalation


def test_a_lasting_high_log_loss_requests_a_retrain(storage: Storage, settings: Settings) -> None:
    """Labels unrelated to the features: the serving model's holdout log loss stays far
    above its card's holdout figure, update after update -> one full-retrain request."""
    parent = serve_classifier(storage, BINARY)
    clock = Clock()
    learner = OnlineLearner(storage, settings, now=clock)
    learner.enable("crm", escalation_updates=2)
    rng = np.random.default_rng(4)
    for k in range(2):
        batch = rows(100, BINARY, drifted=False, seed=30 + k)
        noise = [BINARY[i] for i in rng.integers(0, 2, len(batch))]
        clock.t = T0 + timedelta(minutes=k + 1)
        send(storage, batch, clock.t, run=f"r{k}", labels=noise)
        clock.t += timedelta(seconds=5)
        assert learner.step("crm") is not None
    log = learner.log("crm")
    (request,) = pending_requests(storage, "churn")
    assert request.source == "online" and "holdout logloss" in request.reason
    assert f"x {parent} holdout" in request.reason and log[1].retrain_request == request.id
    assert log[0].retrain_request is None


def test_feedback_labels_that_are_not_classes_of_the_model_are_left_out(
    storage: Storage, settings: Settings
) -> None:
    serve_classifier(storage, BINARY)
    clock = Clock()
    learner = OnlineLearner(storage, settings, now=clock)
    learner.enable("crm", buffer_size=100)
    batch = rows(100, BINARY, drifted=True, seed=8)
    labels = list(batch["label"])
    labels[-10:] = ["maybe"] * 10  # the last request (in the holdout): another model's class
    clock.t = T0 + timedelta(minutes=1)
    send(storage, batch, clock.t, run="u", labels=labels)
    clock.t += timedelta(seconds=5)
    record = learner.step("crm")
    assert record is not None and record.holdout_rows == 10  # 20 held out, 10 unusable
