"""The post-deploy guard with real Serve HTTP traffic and feedback.

The gateway serves an endpoint while a thread sends ~20 requests/s, each followed by
its feedback; a full deploy switches all traffic at once and the guard task, ticked
like the control loop does, compares the new version with the one it replaced.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from gateway import Traffic, deploy_gateway_app, serve_http
from harness import wait_until
from test_rollout_http import Rows, fit, settle

from rayops.config import Settings
from rayops.registry import Registry
from rayops.rollout import EventKind, Rollouts, RolloutStatus
from rayops.rollout.guard import GuardTask
from rayops.rollout.state import GuardStatus
from rayops.serving import Endpoints
from rayops.storage import Storage, open_storage

SETTINGS = Settings(
    rollout_min_samples=10,
    rollout_guard_interval_s=1.0,
    rollout_guard_failures=2,
    rollout_guard_window_rows=120,
    rollout_guard_window_s=6.0,
    rollout_guard_baseline_s=60.0,
    # Quality decides here: a loaded CI machine's p95 must not roll an equal deploy back.
    rollout_max_latency_p95_ms=60_000,
)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Storage:
    return open_storage(str(tmp_path_factory.mktemp("guard-http") / "root"))


@pytest.fixture(scope="module")
def models(root: Storage) -> dict[str, str]:
    reg = Registry(root)
    stable = reg.register("demand", fit(0.0, 3, 15)).ref
    worse = reg.register("demand", fit(15.0, 3, 15, seed=1)).ref
    same = reg.register("demand", fit(0.0, 3, 15, seed=3)).ref
    reg.set_alias("demand", "production", stable.split("@")[1])
    return {"stable": str(stable), "worse": str(worse), "same": str(same)}


@pytest.fixture(scope="module")
def url(ray_cluster: Any, root: Storage, models: dict[str, str]) -> Iterator[str]:
    with serve_http() as base:
        deploy_gateway_app(base, root.uri)
        yield base


def guard_until_done(root: Storage, endpoint: str, timeout: float) -> float:
    """Tick the guard every 0.25 s until it lets go or rolls back; seconds it took."""
    task, rollouts = GuardTask(root, SETTINGS), Rollouts(root, settings=SETTINGS)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        task.tick(datetime.now(UTC))
        guard = rollouts.get(endpoint).guard
        if guard is not None and not guard.watching:
            return time.monotonic() - started
        time.sleep(0.25)
    raise AssertionError(f"the guard did not finish in {timeout} s: {rollouts.get(endpoint)}")


def warm_up(url: str, endpoint: str, traffic: Traffic, requests: int = 60) -> None:
    """Let the serving version answer (and get feedback for) ``requests`` requests: the
    baseline the guard compares the next version with."""
    assert wait_until(lambda: len(traffic.answers) >= requests, timeout=30)
    time.sleep(1.0)  # the last feedback lands and the logs flush


def test_a_worse_full_deploy_is_rolled_back_by_the_guard(
    url: str, root: Storage, models: dict[str, str], tmp_path: Path
) -> None:
    Endpoints(root).create("guard-bad", models["stable"])
    settle(url, "guard-bad", models["stable"])
    rollouts = Rollouts(root, settings=SETTINGS)
    traffic = Traffic(url, "guard-bad", Rows(11)).start()
    try:
        warm_up(url, "guard-bad", traffic)
        deployed = time.monotonic()
        rollouts.deploy("guard-bad", models["worse"], strategy="full", reason="test: bad deploy")
        took = guard_until_done(root, "guard-bad", timeout=40)
        done = time.monotonic()
        # The gateway picks the table up on its next poll: then every answer is stable's.
        assert wait_until(
            lambda: (
                sum(t > done for t, _ in traffic.answers) >= 10
                and {v for _, v in traffic.answers[-5:]} == {models["stable"]}
            ),
            timeout=20,
        ), traffic.answers[-10:]
    finally:
        traffic.stop()
    doc = rollouts.get("guard-bad")
    assert doc.status is RolloutStatus.ROLLED_BACK
    assert doc.guard is not None and doc.guard.status is GuardStatus.ROLLED_BACK
    last = rollouts.history("guard-bad")[-1]
    assert last.kind is EventKind.ROLLED_BACK and "post-deploy guard" in (last.reason or "")
    assert Registry(root).get("demand@production").ref == models["stable"]
    assert traffic.failed == 0, traffic.statuses
    served = sum(deployed < t < done and v == models["worse"] for t, v in traffic.answers)
    figure = (
        f"a clearly worse full deploy (bias +15, rmse ~15 vs ~1) survived {doc.guard.labeled} "
        f"labeled rows ({doc.guard.analyses} guard checks, {served} requests answered) and "
        f"{took:.1f} s before the guard rolled it back (guard_interval_s=1, "
        f"guard_failures=2, min_samples=10, ~20 requests/s)"
    )
    print(figure)
    (tmp_path / "rows_to_rollback.txt").write_text(figure + "\n")
    assert doc.guard.labeled >= SETTINGS.rollout.min_samples  # judged on labels, not luck
    assert doc.guard.failures == SETTINGS.rollout.guard_failures


def test_an_equal_full_deploy_is_left_alone(
    url: str, root: Storage, models: dict[str, str]
) -> None:
    Endpoints(root).create("guard-good", models["stable"])
    settle(url, "guard-good", models["stable"])
    rollouts = Rollouts(root, settings=SETTINGS)
    traffic = Traffic(url, "guard-good", Rows(12)).start()
    try:
        warm_up(url, "guard-good", traffic)
        rollouts.deploy("guard-good", models["same"], strategy="full")
        guard_until_done(root, "guard-good", timeout=60)
    finally:
        traffic.stop()
    doc = rollouts.get("guard-good")
    assert doc.status is RolloutStatus.PROMOTED, doc.reason
    assert doc.guard is not None and doc.guard.status is GuardStatus.PASSED
    assert doc.guard.labeled >= SETTINGS.rollout.guard_window_rows
    assert Registry(root).get("demand@production").ref == models["same"]
    assert rollouts.history("guard-good")[-1].kind is EventKind.GUARD_PASSED
    points = rollouts.analyses("guard-good")
    assert points and all(p.phase == "guard" and p.verdict.value != "breach" for p in points)
