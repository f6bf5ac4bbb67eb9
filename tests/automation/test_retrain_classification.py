"""A retrain of a binary classifier end to end in this process (on the shared cluster): the
logged labels extend the data, the task, the classes and production's threshold are kept,
the number of trees travels, and the promotion gate on per-row log loss decides."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from automation_support import DRIFT_AT, ROLES

from rayops.automation.jobs import JobState, RetrainDecision
from rayops.automation.retrainer import Retrainer
from rayops.datasets import ConceptDrift, make_regression
from rayops.features import FeatureStore
from rayops.registry import Registry
from rayops.rollout import Rollouts
from rayops.serving import Endpoints
from rayops.storage import Storage, open_storage
from rayops.telemetry.writers import FeedbackLog, PredictionLog, Scored
from rayops.training.pipeline import run_training

CLASSES = [0, 1]  # integers: a retrain must keep the task, "auto" would refuse them


def classification(drift: bool) -> pd.DataFrame:
    """make_regression's rows with a 0/1 label: the target above its pre-drift median."""
    data = make_regression(2400, seed=11, concept_drift=ConceptDrift(at_row=DRIFT_AT) if drift
                           else None)  # fmt: skip
    cut = float(data["target"].iloc[:DRIFT_AT].median())
    return data.assign(target=(data["target"] > cut).astype("int64"))


def log_labels(storage: Storage, rows: pd.DataFrame, ref: str, start: datetime) -> None:
    """``rows`` as predicted by 'shop' (requests of 20 rows) with their labels as feedback."""
    features = rows.drop(columns=["target", "entity_id", "event_time"])
    log = PredictionLog(storage, flush_s=3600)
    sent = []
    for i in range(0, len(rows), 20):
        rid = uuid.uuid4().hex
        part = features.iloc[i : i + 20].reset_index(drop=True)
        p = np.full((len(part), 2), 0.5)
        log.record(request_id=rid, endpoint="shop", ref=ref, frame=part,
                   predictions=Scored(probabilities=p, classes=CLASSES, labels=[0] * len(part)),
                   latency_ms=2.0, time=start + timedelta(seconds=i))  # fmt: skip
        sent.append((rid, rows["target"].iloc[i : i + 20].tolist()))
    log.close()

    async def send() -> None:
        fb = FeedbackLog(storage, now=lambda: start + timedelta(seconds=len(rows) + 5))
        await asyncio.gather(*(fb.write("shop", rid, ys, labels=True) for rid, ys in sent))

    asyncio.run(send())


def world(tmp_path: Path, *, drift: bool) -> tuple[Storage, pd.DataFrame, str]:
    storage = open_storage(str(tmp_path / "root"))
    data = classification(drift)
    FeatureStore(storage).write("demand-fs", data.iloc[:DRIFT_AT], **ROLES)
    record = run_training(storage, target="target", features="demand-fs", register="demand",
                          params={"max_depth": 4, "learning_rate": 0.2, "n_estimators": 40},
                          task="binary")  # fmt: skip
    reg = Registry(storage)
    ref = record["model"]["ref"]
    reg.set_alias("demand", "production", record["model"]["version"])
    reg.set_threshold(ref, 0.35, reason="recall matters")
    Endpoints(storage).create("shop", ref)
    log_labels(storage, data.iloc[DRIFT_AT:], ref, datetime.now(UTC) - timedelta(hours=1))
    return storage, data, ref


def test_a_binary_retrain_keeps_task_classes_threshold_and_trees(
    ray_cluster: Any, tmp_path: Path
) -> None:
    storage, data, prod = world(tmp_path, drift=True)
    r = Retrainer(storage)
    r.set_policy({"model": "demand", "endpoint": "shop", "features": "demand-fs",
                  "canary": {"steps": [50], "interval": "3s"}})  # fmt: skip
    job = r.run_local("demand")
    assert job.state is JobState.SUCCEEDED and job.decision is RetrainDecision.DEPLOYED, job
    assert job.metrics["logged_rows"] == len(data) - DRIFT_AT
    gate = job.metrics["gate"]
    assert gate["accepted"] and gate["paired"] and "logloss" in gate["reason"]
    # The gate scored both models on the rows training held out for the candidate.
    assert gate["candidate_metric"] == pytest.approx(job.metrics["candidate"]["logloss"])
    assert gate["incumbent_metric"] == pytest.approx(job.metrics["production"]["logloss"])
    reg = Registry(storage)
    cand = reg.get(job.candidate or "")
    assert cand.card.task.value == "binary" and cand.card.classes == CLASSES
    assert cand.card.objective == "binary:logistic" and cand.threshold == 0.35
    assert cand.card.params["n_estimators"] == 40  # production's trees, not 100
    assert reg.load(cand.ref).booster.num_boosted_rounds() == 40  # type: ignore[union-attr]
    assert "kept from production" in (reg.history("demand")[-1].reason or "")
    assert Rollouts(storage).get("shop").candidate == cand.ref
    assert "candidate better than production" in job.reason


def test_a_worse_binary_candidate_is_rejected_by_the_gate(ray_cluster: Any, tmp_path: Path) -> None:
    storage, _, prod = world(tmp_path, drift=False)
    r = Retrainer(storage)
    r.set_policy({"model": "demand", "endpoint": "shop", "features": "demand-fs",
                  "train": {"params": {"max_depth": 1, "n_estimators": 1}}})  # fmt: skip
    job = r.run_local("demand")
    assert job.state is JobState.SUCCEEDED and job.decision is RetrainDecision.REJECTED, job
    assert "is not better than production" in job.reason and "logloss" in job.reason
    assert Registry(storage).get("demand@production").ref == prod


def test_a_card_without_n_estimators_retrains_with_its_boosters_rounds(
    ray_cluster: Any, tmp_path: Path
) -> None:
    """Cards written before n_estimators was recorded: the booster's own rounds travel."""
    storage = open_storage(str(tmp_path / "root"))
    data = classification(drift=False)
    FeatureStore(storage).write("demand-fs", data.iloc[:DRIFT_AT], **ROLES)
    features = [c for c in data.columns if c not in ("target", "entity_id", "event_time")]
    base = data.iloc[:DRIFT_AT]
    frame = base[features].copy()
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3, "nthread": 1},
        xgb.DMatrix(frame, base["target"], enable_categorical=True), num_boost_round=23,
    )  # fmt: skip
    reg = Registry(storage)
    mv = reg.register("demand", booster, params={"max_depth": 3}, task="binary",
                      classes=CLASSES, features=features)  # fmt: skip
    reg.set_alias("demand", "production", mv.version)
    r = Retrainer(storage)
    r.set_policy({"model": "demand", "features": "demand-fs", "auto_deploy": False})
    job = r.run_local("demand")
    assert job.state is JobState.SUCCEEDED, job.error
    cand = reg.get(job.candidate or "")
    assert reg.load(cand.ref).booster.num_boosted_rounds() == 23  # type: ignore[union-attr]
    assert cand.card.objective == "binary:logistic"
