"""The pre-label guard: a canary whose estimated quality is clearly worse is held before
its labels arrive; an equal one advances; labels decide once they cover the window."""

from __future__ import annotations

import importlib.util
from datetime import timedelta
from pathlib import Path

from rollout_support import T0, Clock
from traffic import write_class_arm

from rayops.config import Settings
from rayops.rollout import EventKind, Rollouts, RolloutStatus, Verdict
from rayops.rollout.controller import RolloutTask
from rayops.storage import Storage

# tests/monitoring has a test_classification module too: load this directory's by path.
_spec = importlib.util.spec_from_file_location(
    "rollout_classification", Path(__file__).with_name("test_classification.py")
)
assert _spec is not None and _spec.loader is not None
_classification = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_classification)
BINARY, endpoint = _classification.BINARY, _classification.endpoint

MINUTE = timedelta(seconds=60)
SETTINGS = Settings(rollout_min_samples=20)


def canary(storage: Storage, clock: Clock, name: str) -> tuple[list[str], Rollouts]:
    refs = endpoint(storage, name, BINARY)
    rollouts = Rollouts(storage, now=clock, settings=SETTINGS)
    rollouts.deploy(name, refs[1], strategy="canary", steps="50,100", interval="60s")
    return refs, rollouts


def prepared(storage: Storage, name: str, refs: list[str]) -> None:
    """Stable answers with confidence ~0.95 all along; the candidate too for its first 22
    requests (labeled: they say "as good"), then ~0.6 for 36 more whose labels have not
    arrived: a much higher expected log loss on the same window."""
    write_class_arm(storage, name, refs[0], start=T0, requests=60, classes=BINARY,
                    confidence=0.95, seed=1, labeled=30)  # fmt: skip
    write_class_arm(storage, name, refs[1], start=T0, requests=22, classes=BINARY,
                    confidence=0.95, seed=2)  # fmt: skip
    write_class_arm(storage, name, refs[1], start=T0 + timedelta(seconds=22), requests=36,
                    classes=BINARY, confidence=0.6, seed=3, labeled=0)  # fmt: skip


def test_a_canary_clearly_worse_before_labels_is_held(storage: Storage, clock: Clock) -> None:
    refs, rollouts = canary(storage, clock, "pre")
    prepared(storage, "pre", refs)
    out = RolloutTask(storage, SETTINGS).step("pre", T0 + MINUTE + timedelta(seconds=1))
    assert out is not None and out["verdict"] == "hold" and out["weight"] == 50
    doc = rollouts.get("pre")
    assert doc.status is RolloutStatus.HOLDING and doc.verdict is Verdict.HOLD
    assert (doc.reason or "").startswith("pre-label guard: worse: estimated logloss")
    assert doc.analysis is not None
    pre = doc.analysis["prelabel"]
    assert pre["verdict"] == "worse" and pre["candidate"] > pre["stable"]
    assert pre["label_share"] == 22 / 58 and pre["p_value"] < 0.05
    # The labels alone would have advanced it: the hold is the pre-label guard's.
    assert doc.analysis["test"]["verdict"] != "worse"
    assert rollouts.history("pre")[-1].kind is EventKind.HOLD
    # The analysis is kept as a chart point (what `rayops status` and the dashboard draw).
    [point] = rollouts.analyses("pre")
    assert (point.phase, point.weight, point.verdict) == ("canary", 50, Verdict.HOLD)
    assert point.reason.startswith("pre-label guard")


def test_the_pre_label_guard_can_be_turned_off(storage: Storage, clock: Clock) -> None:
    refs = endpoint(storage, "off", BINARY)
    rollouts = Rollouts(storage, now=clock, settings=SETTINGS)
    rollouts.deploy("off", refs[1], strategy="canary", steps="50,100", interval="60s",
                    thresholds={"prelabel_guard": False})  # fmt: skip
    prepared(storage, "off", refs)
    out = RolloutTask(storage, SETTINGS).step("off", T0 + MINUTE + timedelta(seconds=1))
    assert out is not None and out["verdict"] == "healthy" and out["weight"] == 100
    assert rollouts.get("off").analysis["prelabel"] is None  # type: ignore[index]


def test_an_equal_canary_advances_and_labels_decide_once_they_arrive(
    storage: Storage, clock: Clock
) -> None:
    refs, rollouts = canary(storage, clock, "eq")
    write_class_arm(storage, "eq", refs[0], start=T0, requests=60, classes=BINARY,
                    confidence=0.8, seed=3, labeled=25)  # fmt: skip
    write_class_arm(storage, "eq", refs[1], start=T0, requests=60, classes=BINARY,
                    confidence=0.8, seed=4, labeled=25)  # fmt: skip
    out = RolloutTask(storage, SETTINGS).step("eq", T0 + MINUTE + timedelta(seconds=1))
    assert out is not None and out["verdict"] == "healthy" and out["weight"] == 100
    assert rollouts.get("eq").analysis["prelabel"]["verdict"] != "worse"  # type: ignore[index]


def test_labels_decide_when_they_cover_the_window(storage: Storage, clock: Clock) -> None:
    """The estimate says worse (the candidate is unsure), but it is right as often as stable
    and every row is labeled: the labeled gate decides, the canary is not held."""
    refs, rollouts = canary(storage, clock, "lab")
    write_class_arm(storage, "lab", refs[0], start=T0, requests=60, classes=BINARY,
                    confidence=0.7, seed=5)  # fmt: skip
    write_class_arm(storage, "lab", refs[1], start=T0, requests=60, classes=BINARY,
                    confidence=0.7, seed=6)  # fmt: skip
    out = RolloutTask(storage, SETTINGS).step("lab", T0 + MINUTE + timedelta(seconds=1))
    assert out is not None and out["verdict"] == "healthy"
    pre = rollouts.get("lab").analysis["prelabel"]  # type: ignore[index]
    assert pre["label_share"] == 1.0


def test_regression_estimates_come_from_the_conformal_residuals(storage: Storage) -> None:
    """Estimated MAE per row: the mean absolute calibration residual (per Mondrian segment);
    a version without a conformal model has no estimate."""
    import numpy as np
    import pandas as pd
    from rollout_support import booster

    from rayops.registry import Registry
    from rayops.rollout.prelabel import estimate, prelabel_check
    from rayops.rollout.state import Thresholds
    from rayops.uncertainty.intervals import IntervalModel

    rng = np.random.default_rng(0)
    reg = Registry(storage)

    def version(scale: float, seed: int) -> str:
        model = IntervalModel.fit(rng.normal(0, scale, 400))
        doc = {"intervals": model.to_json(), "rows": 400, "source": "holdout"}
        return str(reg.register("est", booster(seed), uncertainty=doc).ref)

    tight, loose = version(1.0, 1), version(4.0, 2)
    bare = str(reg.register("est", booster(3)).ref)
    rows = pd.DataFrame({"request_id": [f"r{i}" for i in range(50)], "actual": np.nan})
    a, b = estimate(reg, tight, rows), estimate(reg, loose, rows)
    assert a is not None and b is not None and a.metric == b.metric == "mae"
    assert a.labeled == 0 and abs(float(a.losses.mean()) - 0.8) < 0.15  # E|N(0,1)| ~ 0.80
    assert estimate(reg, bare, rows) is None
    worse = prelabel_check(a, b, Thresholds(min_samples=30))
    assert worse is not None and worse.verdict == "worse" and worse.metric == "mae"
    assert prelabel_check(a, a, Thresholds(min_samples=30)).verdict == "undecided"  # type: ignore[union-attr]
