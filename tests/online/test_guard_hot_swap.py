"""An online hot-swap that turns bad is rolled back by the post-deploy guard (real Serve HTTP).

The online learner adapts the served model to a drifted stream and hot-swaps it in;
then the world goes back to the old relation, where the adapted version is worse
than the one it replaced. The guard runs in shadow mode (the replaced version keeps
scoring every request), so the comparison is paired on the same requests, and rolls
the swap back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest
import xgboost as xgb
from gateway import deploy_gateway_app, serve_http
from harness import wait_until
from online_support import DRIFT_AT, serve_model
from test_hot_swap import Traffic, _ok

from rayops.config import Settings
from rayops.online import OnlineLearner, UpdateStatus
from rayops.registry import Registry
from rayops.rollout import EventKind, Rollouts, RolloutStatus
from rayops.rollout.guard import GuardTask
from rayops.storage import Storage, open_storage

SETTINGS = Settings(
    online_settle_s=0.2,
    online_prediction_wait_s=10.0,
    rollout_min_samples=20,
    rollout_guard_interval_s=1.0,
    rollout_guard_window_rows=2000,
    rollout_guard_window_s=120.0,
    rollout_guard_shadow_share=1.0,
    # The quality verdict is under test: a loaded CI machine's p95 must not decide first.
    rollout_max_latency_p95_ms=60_000,
)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Storage:
    return open_storage(str(tmp_path_factory.mktemp("guard-swap") / "root"))


@pytest.fixture(scope="module")
def gateway(ray_cluster: Any, root: Storage) -> Iterator[str]:
    with serve_http() as url:
        deploy_gateway_app(url, root.uri, serving_log_flush_s=0.2)
        yield url


@pytest.mark.slow
def test_an_online_hot_swap_that_turns_bad_is_rolled_back(
    gateway: str, root: Storage, pre_drift: xgb.Booster, drifted: pd.DataFrame
) -> None:
    parent = serve_model(root, pre_drift, "turns")
    learner = OnlineLearner(root, SETTINGS)
    learner.enable("turns", buffer_size=200, gate_alpha=1.0, min_improvement=0.0)
    assert wait_until(lambda: _ok(f"{gateway}/v2/models/turns/ready"), timeout=30)
    swapped = None
    with Traffic(gateway, "turns", drifted.iloc[DRIFT_AT:]):
        deadline = time.monotonic() + 60
        while swapped is None and time.monotonic() < deadline:
            record = learner.step("turns")
            if record is not None and record.status is UpdateStatus.ACCEPTED:
                swapped = record.version
            time.sleep(0.5)
    assert swapped is not None, [r.reason for r in learner.log("turns")]
    rollouts = Rollouts(root, settings=SETTINGS)
    doc = rollouts.get("turns")
    assert doc.actor == "online" and doc.guard is not None and doc.guard.watching

    # The world goes back to the relation the parent learned; the guard watches the swap.
    task = GuardTask(root, SETTINGS)
    with Traffic(gateway, "turns", drifted.iloc[:DRIFT_AT]):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            task.tick(datetime.now(UTC))
            if rollouts.get("turns").status is not RolloutStatus.PROMOTED:
                break
            time.sleep(0.25)
    doc = rollouts.get("turns")
    assert doc.status is RolloutStatus.ROLLED_BACK, (doc.guard, rollouts.analyses("turns")[-3:])
    assert doc.rejected == [swapped]
    assert Registry(root).get("demand@production").ref == parent
    last = rollouts.history("turns")[-1]
    assert last.kind is EventKind.ROLLED_BACK and "post-deploy guard" in (last.reason or "")
    # Paired: both versions answered the same requests, and the swap lost on them.
    point = rollouts.analyses("turns")[-1]
    assert point.n_candidate == point.n_stable >= SETTINGS.rollout.min_samples
    assert point.candidate_metric is not None and point.stable_metric is not None
    assert point.candidate_metric > point.stable_metric
    print(f"hot-swap {swapped} rolled back to {parent} after {doc.guard.labeled} labeled rows "
          f"({doc.guard.analyses} checks): {last.reason}")  # fmt: skip
