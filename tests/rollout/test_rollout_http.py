"""Rollouts on the shared Ray cluster with real Serve HTTP traffic and feedback.

The gateway serves an endpoint while a thread sends ~20 requests/s with feedback;
the rollout controller (the control loop's task, or the Serve-hosted controller)
analyzes the logs the gateway wrote.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from gateway import Traffic, deploy_gateway_app, serve_http
from harness import wait_until

from rayops.config import Settings
from rayops.registry import Registry
from rayops.rollout import EventKind, Rollouts, RolloutStatus
from rayops.rollout.controller import RolloutTask
from rayops.serving import Endpoints
from rayops.storage import Storage, open_storage

FEATURES = ["x0", "x1", "x2"]
INTERVAL = 4.0
LIMITS = {"min_samples": 10}


def truth(x: np.ndarray) -> np.ndarray:
    return 3 * x[:, 0] - 2 * x[:, 1] + 0.5 * x[:, 2]


def fit(bias: float, depth: int, rounds: int, seed: int = 0) -> xgb.Booster:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2000, 3))
    y = truth(x) + bias + rng.normal(scale=0.1, size=len(x))
    dm = xgb.DMatrix(pd.DataFrame(x, columns=FEATURES), label=y)
    return xgb.train({"max_depth": depth, "eta": 0.3, "nthread": 1}, dm, num_boost_round=rounds)


class Rows:
    """One random row per request and its true value (thread-safe enough for one thread)."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def __call__(self) -> tuple[list[dict[str, Any]], list[float]]:
        x = self.rng.normal(size=(1, 3))
        return [dict(zip(FEATURES, map(float, x[0]), strict=True))], [float(truth(x)[0])]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Storage:
    return open_storage(str(tmp_path_factory.mktemp("rollout-http") / "root"))


@pytest.fixture(scope="module")
def models(root: Storage) -> dict[str, str]:
    reg = Registry(root)
    stable = reg.register("demand", fit(0.0, 3, 15)).ref
    worse = reg.register("demand", fit(15.0, 3, 15, seed=1)).ref
    better = reg.register("demand", fit(0.0, 5, 80, seed=2)).ref
    reg.set_alias("demand", "production", stable.split("@")[1])
    return {"stable": str(stable), "worse": str(worse), "better": str(better)}


def fit_classifier(depth: int, rounds: int, *, flip: bool = False, seed: int = 0) -> xgb.Booster:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2000, 3))
    y = (truth(x) + rng.normal(scale=0.5, size=len(x)) > 0).astype(int)
    dm = xgb.DMatrix(pd.DataFrame(x, columns=FEATURES), label=1 - y if flip else y)
    params = {"objective": "binary:logistic", "max_depth": depth, "eta": 0.3, "nthread": 1}
    return xgb.train(params, dm, num_boost_round=rounds)


class Labels:
    """One random row per request and its true label ('no' / 'yes')."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def __call__(self) -> tuple[list[dict[str, Any]], list[str]]:
        x = self.rng.normal(size=(1, 3))
        label = "yes" if truth(x)[0] + self.rng.normal(scale=0.5) > 0 else "no"
        return [dict(zip(FEATURES, map(float, x[0]), strict=True))], [label]


@pytest.fixture(scope="module")
def classifiers(root: Storage) -> dict[str, str]:
    reg = Registry(root)
    out = {
        name: str(reg.register("churn", booster, task="binary", classes=["no", "yes"]).ref)
        for name, booster in (
            ("stable", fit_classifier(1, 3)),
            ("worse", fit_classifier(3, 20, flip=True, seed=1)),
            ("better", fit_classifier(4, 60, seed=2)),
        )
    }
    reg.set_alias("churn", "production", out["stable"].split("@")[1])
    return out


@pytest.fixture(scope="module")
def url(ray_cluster: Any, root: Storage, models: dict[str, str]) -> Iterator[str]:
    with serve_http() as base:
        deploy_gateway_app(base, root.uri)
        yield base


def drive(task: RolloutTask, rollouts: Rollouts, endpoint: str, timeout: float) -> float:
    """Tick the controller every 0.25 s until the rollout finishes; seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        task.tick(datetime.now(UTC))
        if rollouts.get(endpoint).finished:
            return time.monotonic() - started
        time.sleep(0.25)
    raise AssertionError(f"the rollout did not finish in {timeout} s: {rollouts.get(endpoint)}")


def settle(url: str, endpoint: str, ref: str) -> None:
    """Wait until the gateway answers from ``ref`` (the endpoint's table went live)."""
    import requests

    def check() -> bool:
        body = {"instances": [dict.fromkeys(FEATURES, 0.0)]}
        try:  # the first answer loads the model: on a loaded machine it can take seconds
            r = requests.post(f"{url}/endpoints/{endpoint}/predict", json=body, timeout=10)
        except requests.RequestException:
            return False
        return r.status_code == 200 and f"{r.json()['model']}@{r.json()['version']}" == ref

    assert wait_until(check, timeout=30)


def test_a_biased_canary_is_rolled_back_automatically(
    url: str, root: Storage, models: dict[str, str]
) -> None:
    Endpoints(root).create("canary-bad", models["stable"])
    settle(url, "canary-bad", models["stable"])
    rollouts = Rollouts(root)
    traffic = Traffic(url, "canary-bad", Rows(1)).start()
    try:
        rollouts.deploy("canary-bad", models["worse"], steps="30,60,100", interval=INTERVAL,
                        thresholds=LIMITS)  # fmt: skip
        drive(RolloutTask(root), rollouts, "canary-bad", timeout=6 * INTERVAL)
        done = time.monotonic()

        # Traffic after the rollback: the gateway picks the table up (the routing watcher's
        # next scan; on a loaded machine that can take a few answers) and the answers then
        # come from the stable version.
        def stable_again() -> bool:
            after = [ref for t, ref in traffic.answers if t > done]
            return len(after) >= 3 and after[-3:] == [models["stable"]] * 3

        assert wait_until(stable_again, timeout=20), traffic.answers[-10:]
    finally:
        traffic.stop()
    doc = rollouts.get("canary-bad")
    assert doc.status is RolloutStatus.ROLLED_BACK
    history = rollouts.history("canary-bad")
    # Rolled back from its first step: the worse version never got more than 30% of the
    # traffic (an analysis with too few labels may hold it there; none advances it).
    assert [e.kind for e in history if e.kind is EventKind.STEP] == [], history
    last = history[-1]
    assert last.kind is EventKind.ROLLED_BACK and "worse: rmse" in (last.reason or "")
    assert last.step == 0, last
    assert traffic.failed == 0, traffic.statuses
    assert traffic.answers[-1][1] == models["stable"]
    assert Registry(root).get("demand@production").ref == models["stable"]


def test_a_better_canary_is_promoted_and_rollback_is_instant_under_load(
    url: str, root: Storage, models: dict[str, str], tmp_path: Path
) -> None:
    Endpoints(root).create("canary-good", models["stable"])
    settle(url, "canary-good", models["stable"])
    rollouts = Rollouts(root)
    traffic = Traffic(url, "canary-good", Rows(2)).start()
    try:
        rollouts.deploy("canary-good", models["better"], steps="30,60,100", interval=INTERVAL,
                        thresholds=LIMITS)  # fmt: skip
        drive(RolloutTask(root), rollouts, "canary-good", timeout=6 * INTERVAL)
        assert rollouts.get("canary-good").status is RolloutStatus.PROMOTED
        assert Registry(root).get("demand@production").ref == models["better"]
        promoted = time.monotonic()
        # The gateway picks the table up on its next poll: wait until ten answers in a row
        # come from the promoted version (on a loaded machine the pickup can take a second).
        assert wait_until(
            lambda: (
                sum(t > promoted for t, _ in traffic.answers) >= 10
                and {v for _, v in traffic.answers[-10:]} == {models["better"]}
            ),
            timeout=20,
        ), traffic.answers[-10:]
        # Instant rollback: 100% back on the stable version, measured at the client.
        asked = time.monotonic()
        rollouts.rollback("canary-good", reason="test: instant rollback")
        applied = time.monotonic() - asked
        assert wait_until(
            lambda: any(t > asked and v == models["stable"] for t, v in traffic.answers),
            timeout=5,
        )
        # Enough traffic after the rollback to see that no answer comes from the candidate.
        assert wait_until(lambda: sum(t > asked for t, _ in traffic.answers) >= 20, timeout=20)
    finally:
        traffic.stop()
    after = [(t, v) for t, v in traffic.answers if t > asked]
    last_new = max((t for t, v in after if v != models["stable"]), default=asked)
    first_old = min(t for t, v in after if v == models["stable"])
    switch = last_new - asked
    (tmp_path / "rollback.txt").write_text(
        f"rollback call {applied * 1000:.0f} ms; first answer from the stable version "
        f"{(first_old - asked) * 1000:.0f} ms after the call, last from the promoted one "
        f"{switch * 1000:.0f} ms after it ({sum(v != models['stable'] for _, v in after)} "
        f"answers); requests {sum(traffic.statuses.values())}, failed {traffic.failed}\n"
    )
    print((tmp_path / "rollback.txt").read_text())
    # The figure is printed above; the bound is one a loaded 2-core machine always meets.
    assert switch < 3.0, f"old version took {switch:.2f} s to get all traffic back"
    assert traffic.failed == 0, traffic.statuses
    history = rollouts.history("canary-good")
    # A loaded machine can leave a step short of labeled rows at its interval: the rollout
    # then holds (it waits; it neither promotes nor breaches on too few samples).
    holds = [e for e in history if e.kind is EventKind.HOLD]
    assert all("too few labeled rows" in (e.reason or "") for e in holds), holds
    kinds = [e.kind for e in history if e.kind is not EventKind.HOLD]
    assert kinds == [EventKind.DEPLOYED, EventKind.STEP, EventKind.PROMOTED, EventKind.ROLLED_BACK]
    assert Registry(root).get("demand@production").ref == models["stable"]


@pytest.mark.slow
def test_the_controller_resumes_a_rollout_after_being_killed(
    url: str, root: Storage, models: dict[str, str]
) -> None:
    import ray
    from ray import serve

    from rayops.apps.controller import CONTROLLER_APP, deploy_controller
    from rayops.control.loop import Lease

    Endpoints(root).create("canary-kill", models["stable"])
    settle(url, "canary-kill", models["stable"])
    rollouts = Rollouts(root)
    traffic = Traffic(url, "canary-kill", Rows(3)).start()
    settings = {"control_tick_s": 0.5, "control_lease_s": 2.0}
    try:
        deploy_controller(root.uri, settings=settings, tasks=["rollout"], num_cpus=0)
        rollouts.deploy("canary-kill", models["better"], steps="20,40,60,100",
                        interval=INTERVAL, thresholds=LIMITS)  # fmt: skip
        assert wait_until(lambda: rollouts.get("canary-kill").step >= 1, timeout=6 * INTERVAL)
        first = Lease(root, "-", 1.0).current()
        assert first is not None
        step_at_kill = rollouts.get("canary-kill").step
        replicas = [
            a for a in ray.util.list_named_actors(all_namespaces=True)
            if "Controller" in a["name"] and CONTROLLER_APP in a["name"]
        ]  # fmt: skip
        assert len(replicas) == 1, replicas
        ray.kill(ray.get_actor(replicas[0]["name"], namespace=replicas[0]["namespace"]))
        assert wait_until(
            lambda: rollouts.get("canary-kill").finished, timeout=10 * INTERVAL, interval=0.25
        ), rollouts.get("canary-kill")
    finally:
        traffic.stop()
        serve.delete(CONTROLLER_APP)
    doc = rollouts.get("canary-kill")
    assert doc.status is RolloutStatus.PROMOTED
    after = Lease(root, "-", 1.0).current()
    assert after is not None and after["holder"] != first["holder"]  # a new replica finished it
    kinds = [e.kind for e in rollouts.history("canary-kill")]
    # One deploy, then steps continuing from the recorded one, never a restart at step 0.
    assert kinds.count(EventKind.DEPLOYED) == 1 and kinds[-1] is EventKind.PROMOTED
    steps = [e.step for e in rollouts.history("canary-kill") if e.kind is EventKind.STEP]
    assert steps == sorted(steps) and len(steps) == len(set(steps)) and step_at_kill in steps
    assert traffic.failed == 0, traffic.statuses


def test_settings_for_rollouts_are_validated() -> None:
    with pytest.raises(ValueError):
        Settings(rollout_max_error_rate=2)


@pytest.mark.parametrize("candidate", ["worse", "better"])
def test_a_classifier_canary_over_http_is_judged_on_log_loss(
    url: str, root: Storage, classifiers: dict[str, str], candidate: str
) -> None:
    """Label feedback over HTTP; the worse classifier is rolled back, the better promoted."""
    endpoint = f"crm-{candidate}"
    Endpoints(root).create(endpoint, classifiers["stable"])
    settle(url, endpoint, classifiers["stable"])
    rollouts = Rollouts(root)
    traffic = Traffic(url, endpoint, Labels(10 + len(candidate))).start()  # type: ignore[arg-type]
    try:
        rollouts.deploy(endpoint, classifiers[candidate], steps="50,100", interval=INTERVAL,
                        thresholds={"min_samples": 15})  # fmt: skip
        drive(RolloutTask(root), rollouts, endpoint, timeout=8 * INTERVAL)
    finally:
        traffic.stop()
    doc = rollouts.get(endpoint)
    expected = RolloutStatus.ROLLED_BACK if candidate == "worse" else RolloutStatus.PROMOTED
    assert doc.status is expected, (doc.reason, doc.analysis)
    test = (doc.analysis or {})["test"]
    assert test["metric"] == "logloss" and test["unit"] == "requests"
    if candidate == "worse":
        assert "worse: logloss" in (doc.reason or "")
    assert traffic.failed == 0, traffic.statuses
    winner = classifiers["stable"] if candidate == "worse" else classifiers["better"]
    assert Registry(root).get("churn@production").ref == winner
