"""Rollouts of classifiers on prepared logs: canary, A/B and shadow judged on per-request log
loss through the promotion gate; per-task floors; old rollout documents still read."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from rollout_support import T0, Clock
from scipy import stats
from traffic import write_class_arm

from rayops.config import Settings
from rayops.registry import Registry
from rayops.rollout import EventKind, Rollouts, RolloutStatus, Thresholds, Verdict
from rayops.rollout.analysis import Arm, judge_canary
from rayops.rollout.controller import RolloutTask
from rayops.rollout.state import Rollout
from rayops.serving import Endpoints
from rayops.storage import Storage

MINUTE = timedelta(seconds=60)
BINARY = ["no", "yes"]
THREE = ["bird", "cat", "dog"]


def classifier(classes: list[str], seed: int) -> xgb.Booster:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"x": rng.normal(size=120)})
    y = rng.integers(0, len(classes), len(x))
    params: dict[str, object] = {"max_depth": 2, "nthread": 1, "seed": seed}
    if len(classes) == 2:
        params["objective"] = "binary:logistic"
    else:
        params.update(objective="multi:softprob", num_class=len(classes))
    return xgb.train(params, xgb.DMatrix(x, label=y), num_boost_round=3)


def endpoint(storage: Storage, name: str, classes: list[str]) -> list[str]:
    """Three versions of model ``name`` (stable first), the first one serving ``name``."""
    reg = Registry(storage)
    task = "binary" if len(classes) == 2 else "multiclass"
    refs = [
        str(reg.register(name, classifier(classes, i), task=task, classes=classes).ref)
        for i in range(3)
    ]
    reg.set_alias(name, "production", refs[0].split("@")[1])
    Endpoints(storage).create(name, refs[0])
    return refs


def rollouts(storage: Storage, clock: Clock) -> Rollouts:
    return Rollouts(storage, now=clock, settings=Settings(rollout_min_samples=20))


def worker(storage: Storage) -> RolloutTask:
    return RolloutTask(storage, Settings(rollout_min_samples=20))


def test_a_better_binary_canary_is_promoted(storage: Storage, clock: Clock) -> None:
    stable, candidate, _ = endpoint(storage, "churn", BINARY)
    r = rollouts(storage, clock)
    r.deploy("churn", candidate, steps="10,50,100", interval=60)
    write_class_arm(storage, "churn", stable, start=T0, requests=60, classes=BINARY,
                    confidence=0.65)  # fmt: skip
    write_class_arm(storage, "churn", candidate, start=T0, requests=40, classes=BINARY,
                    confidence=0.9, seed=1)  # fmt: skip
    t1 = T0 + MINUTE + timedelta(seconds=1)
    out = worker(storage).tick(t1)["analyzed"][0]
    assert out["verdict"] == "healthy", out["reason"]
    write_class_arm(storage, "churn", stable, start=t1, requests=40, classes=BINARY,
                    confidence=0.65, seed=2)  # fmt: skip
    write_class_arm(storage, "churn", candidate, start=t1, requests=40, classes=BINARY,
                    confidence=0.9, seed=3)  # fmt: skip
    worker(storage).tick(t1 + MINUTE + timedelta(seconds=1))
    doc = r.get("churn")
    assert doc.status is RolloutStatus.PROMOTED, doc.reason
    assert Registry(storage).get("churn@production").ref == candidate
    analysis = doc.analysis or {}
    test, arm = analysis["test"], analysis["candidate"]
    assert test["metric"] == "logloss" and test["unit"] == "requests"
    assert test["candidate_metric"] < test["stable_metric"]
    assert arm["task"] == "binary" and arm["auc"] is not None and arm["logloss"] is not None
    # The analysis's log loss is scikit-learn's on the same rows.
    assert test["candidate_metric"] == pytest.approx(arm["logloss"])


def test_a_worse_binary_canary_is_rolled_back(storage: Storage, clock: Clock) -> None:
    stable, candidate, _ = endpoint(storage, "churn", BINARY)
    r = rollouts(storage, clock)
    r.deploy("churn", candidate, steps="10,50,100", interval=60)
    write_class_arm(storage, "churn", stable, start=T0, requests=60, classes=BINARY,
                    confidence=0.85)  # fmt: skip
    write_class_arm(storage, "churn", candidate, start=T0, requests=40, classes=BINARY,
                    confidence=0.6, seed=1)  # fmt: skip
    worker(storage).tick(T0 + MINUTE + timedelta(seconds=1))
    doc = r.get("churn")
    assert doc.status is RolloutStatus.ROLLED_BACK
    assert doc.reason is not None and "worse: logloss" in doc.reason
    assert Registry(storage).get("churn@production").ref == stable
    assert {x.ref: x.weight for x in Endpoints(storage, registry=False).get("churn").routes} == {
        stable: 100, candidate: 0,
    }  # fmt: skip


def test_the_gate_counts_requests_not_rows(storage: Storage, clock: Clock) -> None:
    """Ten correlated rows per request are ten rows but one observation: with 6 requests
    per arm the canary holds on rows (>= 20) but the gate tests 6 against 6."""
    stable, candidate, _ = endpoint(storage, "churn", BINARY)
    rollouts(storage, clock).deploy("churn", candidate, steps="10,50,100", interval=60)
    for ref, conf, seed in ((stable, 0.7, 0), (candidate, 0.72, 1)):
        write_class_arm(storage, "churn", ref, start=T0, requests=6, rows_per_request=10,
                        classes=BINARY, confidence=conf, seed=seed)  # fmt: skip
    worker(storage).tick(T0 + MINUTE)
    test = (rollouts(storage, clock).get("churn").analysis or {})["test"]
    assert (test["n_stable"], test["n_candidate"], test["unit"]) == (6, 6, "requests")


def test_a_multiclass_ab_test_declares_the_better_arm(storage: Storage, clock: Clock) -> None:
    stable, candidate, _ = endpoint(storage, "kind", THREE)
    r = rollouts(storage, clock)
    r.deploy("kind", candidate, strategy="ab", steps="50", interval=60, auto_promote=True)
    write_class_arm(storage, "kind", stable, start=T0, requests=50, classes=THREE,
                    confidence=0.5)  # fmt: skip
    write_class_arm(storage, "kind", candidate, start=T0, requests=50, classes=THREE,
                    confidence=0.85, seed=1)  # fmt: skip
    worker(storage).tick(T0 + MINUTE)
    doc = r.get("kind")
    assert doc.status is RolloutStatus.PROMOTED and doc.winner == candidate, doc.reason
    assert (doc.analysis or {})["test"]["metric"] == "logloss"


def test_a_worse_classifier_shadow_is_stopped_on_paired_requests(
    storage: Storage, clock: Clock
) -> None:
    stable, candidate, _ = endpoint(storage, "churn", BINARY)
    r = rollouts(storage, clock)
    r.deploy("churn", candidate, strategy="shadow", interval=60)
    write_class_arm(storage, "churn", candidate, start=T0, requests=40, classes=BINARY,
                    confidence=0.8, shadow_of=stable, shadow_confidence=0.6)  # fmt: skip
    worker(storage).tick(T0 + MINUTE)
    doc = r.get("churn")
    assert doc.status is RolloutStatus.ROLLED_BACK, doc.reason
    test = (doc.analysis or {})["test"]
    assert test["method"] == "paired t-test" and test["n_candidate"] == test["n_stable"] == 40
    assert Endpoints(storage, registry=False).get("churn").shadow is None


def test_a_healthy_classifier_shadow_keeps_mirroring(storage: Storage, clock: Clock) -> None:
    stable, candidate, _ = endpoint(storage, "churn", BINARY)
    r = rollouts(storage, clock)
    r.deploy("churn", candidate, strategy="shadow", interval=60)
    write_class_arm(storage, "churn", candidate, start=T0, requests=40, classes=BINARY,
                    confidence=0.8, shadow_of=stable, shadow_confidence=0.82)  # fmt: skip
    worker(storage).tick(T0 + MINUTE)
    doc = r.get("churn")
    assert doc.status is RolloutStatus.RUNNING and doc.verdict is Verdict.HEALTHY, doc.reason
    assert [e.kind for e in r.history("churn")] == [EventKind.DEPLOYED, EventKind.ANALYSIS]


def test_the_auc_floor_rolls_back_a_worse_than_chance_binary_canary() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    sound = np.where(y == 1, 0.7, 0.3) + rng.normal(0, 0.05, 60)
    flipped = 1 - sound  # the labels the other way round: AUC near 0
    t = Thresholds.from_settings(Settings(rollout_min_samples=10))

    def arm(p1: np.ndarray) -> Arm:
        return Arm.of("churn@x", "binary", y=y, output=np.column_stack([1 - p1, p1]),
                      latency_p95_ms=2.0, error_rate=0.0)  # fmt: skip

    verdict = judge_canary(arm(sound), arm(flipped), t)
    assert verdict.verdict is Verdict.BREACH
    assert verdict.reasons[0].startswith("AUC 0.0% < 50.0% (p=")
    # Below the floor but above a stable version that is lower still: not rolled back.
    weak = np.clip(0.5 - 0.03 * (2 * y - 1) + rng.normal(0, 0.05, 60), 0.01, 0.99)
    assert arm(weak).metrics["auc"] < 0.5
    assert judge_canary(arm(flipped), arm(weak), t).verdict is Verdict.HEALTHY


def test_a_floor_missed_on_a_few_labels_by_chance_is_no_breach() -> None:
    """25 labels with 3 positives: an AUC of 0.38 is well within chance of a sound model
    (the quickstart's binary canary was rolled back on exactly this before the floors were
    tested for significance); the same AUC on 600 labels is a breach."""
    rng = np.random.default_rng(4)
    t = Thresholds.from_settings(Settings(rollout_min_samples=10))

    def arm(n: int, positives: int, auc_target: float) -> Arm:
        y = np.zeros(n, dtype=int)
        y[:positives] = 1
        # Scores whose AUC against y is near auc_target: positives shifted by d.
        d = np.sqrt(2) * stats.norm.ppf(auc_target)
        p1 = 1 / (1 + np.exp(-(rng.normal(0, 1, n) + d * y - 1)))
        return Arm.of("churn@x", "binary", y=y, output=np.column_stack([1 - p1, p1]),
                      latency_p95_ms=2.0, error_rate=0.0)  # fmt: skip

    sound = arm(600, 120, 0.8)
    few = arm(25, 3, 0.38)
    while not 0.3 < few.metrics["auc"] < 0.45:  # a draw that misses the floor
        few = arm(25, 3, 0.38)
    assert judge_canary(sound, few, t).verdict is not Verdict.BREACH
    many = arm(600, 120, 0.38)
    assert many.metrics["auc"] < 0.45
    verdict = judge_canary(sound, many, t)
    assert verdict.verdict is Verdict.BREACH and verdict.reasons[0].startswith("AUC ")


def test_rollout_documents_written_before_the_per_task_limits_still_read() -> None:
    stored = {
        "id": "abc", "endpoint": "shop", "strategy": "canary", "stable": "m@1.0.0",
        "candidate": "m@1.1.0", "steps": [10, 100], "interval_s": 60.0,
        "thresholds": {"max_latency_p95_ms": 200.0, "max_error_rate": 0.05,
                       "min_accuracy": 0.75, "max_degradation": 0.1, "min_samples": 30,
                       "tolerance": 5.0, "alpha": 0.05, "test": "mannwhitney"},
        "started_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
        "step_started_at": "2026-01-01T00:00:00Z", "next_analysis_at": "2026-01-01T00:01:00Z",
    }  # fmt: skip
    doc = Rollout.model_validate(stored)
    assert doc.thresholds.ab_test.value == "mannwhitney" and doc.thresholds.min_auc == 0.5
    assert Rollout.model_validate(doc.model_dump(mode="json")) == doc
    old_name = Thresholds.from_settings(Settings(), test="mannwhitney")  # --threshold test=...
    assert old_name.ab_test.value == "mannwhitney"
    with pytest.raises(ValueError, match="alpha"):
        Thresholds.from_settings(Settings(), alpha=1.5)  # the settings' constraint, once
