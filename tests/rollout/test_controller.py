"""The rollout controller on prepared traffic: rollback, promotion, A/B winners, holds."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from rollout_support import T0, Clock
from traffic import shared_requests, write_arm

from rayops.config import Settings
from rayops.registry import Registry
from rayops.rollout import EventKind, Rollouts, RolloutStatus, Verdict
from rayops.rollout.analysis import ab_test
from rayops.rollout.controller import RolloutTask, spent_alpha
from rayops.serving import Endpoints
from rayops.storage import Storage

MINUTE = timedelta(seconds=60)


def noise(scale: float, bias: float = 0.0):  # type: ignore[no-untyped-def]
    return lambda rng: bias + float(rng.normal(0, scale))


def task(storage: Storage) -> RolloutTask:
    return RolloutTask(storage, Settings(rollout_min_samples=20))


def weights(storage: Storage) -> dict[str, int]:
    return {r.ref: r.weight for r in Endpoints(storage, registry=False).get("shop").routes}


def test_a_biased_canary_is_rolled_back_at_the_first_analysis(
    storage: Storage, rollouts: Rollouts, refs: dict[str, str], clock: Clock
) -> None:
    rollouts.deploy("shop", refs["b"], steps="10,50,100", interval=60)
    write_arm(
        storage, "shop", refs["a"], start=T0, n=50, error=noise(1.0), spacing=timedelta(seconds=1)
    )
    write_arm(storage, "shop", refs["b"], start=T0, n=25, error=noise(1.0, bias=8.0), seed=1,
              spacing=timedelta(seconds=2))  # fmt: skip
    worker = task(storage)
    assert worker.tick(T0 + timedelta(seconds=30)) == {"analyzed": []}  # not due yet
    out = worker.tick(T0 + MINUTE + timedelta(seconds=1))
    assert out["analyzed"][0]["verdict"] == "breach"
    doc = rollouts.get("shop")
    assert doc.status is RolloutStatus.ROLLED_BACK
    assert weights(storage) == {refs["a"]: 100, refs["b"]: 0}
    last = rollouts.history("shop")[-1]
    assert last.kind is EventKind.ROLLED_BACK and last.reason is not None
    assert "automatic" in last.reason and "worse: rmse" in last.reason
    assert last.metrics is not None and last.metrics["candidate"]["mae"] > 6
    assert Registry(storage).get("demand@production").ref == refs["a"]


def test_a_better_canary_walks_every_step_and_is_promoted(
    storage: Storage, rollouts: Rollouts, refs: dict[str, str]
) -> None:
    rollouts.deploy("shop", refs["b"], steps="10,50,100", interval=60)
    worker = task(storage)
    write_arm(storage, "shop", refs["a"], start=T0, n=50, error=noise(2.0))
    write_arm(storage, "shop", refs["b"], start=T0, n=25, error=noise(0.5), seed=1)
    t1 = T0 + MINUTE + timedelta(seconds=1)
    assert worker.tick(t1)["analyzed"][0]["verdict"] == "healthy"
    assert weights(storage) == {refs["a"]: 50, refs["b"]: 50}
    assert rollouts.get("shop").step_started_at == t1  # a fresh window for the new step
    write_arm(storage, "shop", refs["a"], start=t1, n=30, error=noise(2.0), seed=2)
    write_arm(storage, "shop", refs["b"], start=t1, n=30, error=noise(0.5), seed=3)
    worker.tick(t1 + MINUTE + timedelta(seconds=1))
    doc = rollouts.get("shop")
    assert doc.status is RolloutStatus.PROMOTED and doc.weight == 100
    assert weights(storage) == {refs["a"]: 0, refs["b"]: 100}
    assert Registry(storage).get("demand@production").ref == refs["b"]
    kinds = [e.kind for e in rollouts.history("shop")]
    assert kinds == [EventKind.DEPLOYED, EventKind.STEP, EventKind.PROMOTED]


def test_too_few_labels_hold_the_step_and_history_keeps_the_first_hold(
    storage: Storage, rollouts: Rollouts, refs: dict[str, str]
) -> None:
    rollouts.deploy("shop", refs["b"], steps="10,50,100", interval=60)
    worker = task(storage)
    write_arm(storage, "shop", refs["a"], start=T0, n=50, error=noise(1.0))
    write_arm(storage, "shop", refs["b"], start=T0, n=5, error=noise(1.0), seed=1)
    worker.tick(T0 + MINUTE)
    worker.tick(T0 + 2 * MINUTE)
    doc = rollouts.get("shop")
    assert doc.status is RolloutStatus.HOLDING and doc.verdict is Verdict.HOLD
    assert doc.step == 0 and doc.step_started_at == T0  # the window keeps growing
    assert [e.kind for e in rollouts.history("shop")] == [EventKind.DEPLOYED, EventKind.HOLD]
    write_arm(storage, "shop", refs["b"], start=T0 + 2 * MINUTE, n=30, error=noise(1.0), seed=4)
    worker.tick(T0 + 3 * MINUTE + timedelta(seconds=1))
    assert rollouts.get("shop").step == 1  # enough labels now: healthy, next step


def test_failed_requests_breach_without_any_label(
    storage: Storage, rollouts: Rollouts, refs: dict[str, str]
) -> None:
    rollouts.deploy("shop", refs["b"], interval=60)
    write_arm(storage, "shop", refs["a"], start=T0, n=40, error=noise(1.0))
    write_arm(storage, "shop", refs["b"], start=T0, n=25, error=noise(1.0), seed=1, failed=5)
    task(storage).tick(T0 + MINUTE)
    doc = rollouts.get("shop")
    assert doc.status is RolloutStatus.ROLLED_BACK
    assert doc.reason is not None and "error rate" in doc.reason


def test_ab_declares_the_clearly_better_arm_and_auto_promotes(
    storage: Storage, rollouts: Rollouts, refs: dict[str, str]
) -> None:
    rollouts.deploy("shop", refs["b"], strategy="ab", steps="50", interval=60, auto_promote=True)
    write_arm(storage, "shop", refs["a"], start=T0, n=40, error=noise(1.0, bias=3.0))
    write_arm(storage, "shop", refs["b"], start=T0, n=40, error=noise(1.0), seed=1)
    task(storage).tick(T0 + MINUTE)
    doc = rollouts.get("shop")
    assert doc.status is RolloutStatus.PROMOTED and doc.winner == refs["b"]
    test = doc.analysis["test"] if doc.analysis else None
    assert test is not None and test["winner"] == "candidate"
    # Two-sided at the first look's spent level: each one-sided test at half of it.
    assert test["p_value"] < test["alpha"] == pytest.approx(spent_alpha(0.05, 1) / 2)
    assert test["effect_size"] < 0  # the candidate's errors are smaller
    assert test["unit"] == "requests" and test["metric"] == "rmse"
    assert Registry(storage).get("demand@production").ref == refs["b"]


def test_ab_winner_waits_for_the_operator_without_auto_promote(
    storage: Storage, rollouts: Rollouts, refs: dict[str, str]
) -> None:
    rollouts.deploy("shop", refs["b"], strategy="ab", steps="50", interval=60)
    write_arm(storage, "shop", refs["a"], start=T0, n=40, error=noise(1.0, bias=3.0))
    write_arm(storage, "shop", refs["b"], start=T0, n=40, error=noise(1.0), seed=1)
    task(storage).tick(T0 + MINUTE)
    doc = rollouts.get("shop")
    assert doc.status is RolloutStatus.HOLDING and doc.verdict is Verdict.WINNER
    assert weights(storage) == {refs["a"]: 50, refs["b"]: 50}  # unchanged until promoted
    rollouts.promote("shop", reason="A/B winner")
    assert weights(storage) == {refs["a"]: 0, refs["b"]: 100}


def test_ab_with_identical_arms_never_declares_a_winner(
    storage: Storage, rollouts: Rollouts, refs: dict[str, str]
) -> None:
    rollouts.deploy("shop", refs["b"], strategy="ab", steps="50", interval=60, auto_promote=True)
    worker = task(storage)
    for look in range(6):  # six looks at a growing window
        start = T0 + look * MINUTE
        write_arm(storage, "shop", refs["a"], start=start, n=40, error=noise(1.0), seed=10 + look,
                  spacing=timedelta(seconds=1.5))  # fmt: skip
        write_arm(storage, "shop", refs["b"], start=start, n=40, error=noise(1.0), seed=20 + look,
                  spacing=timedelta(seconds=1.5))  # fmt: skip
        worker.tick(start + MINUTE)
        doc = rollouts.get("shop")
        assert doc.status is RolloutStatus.RUNNING, doc.reason
        assert doc.verdict is Verdict.NO_WINNER
    assert doc.analyses == 6 and doc.analysis is not None
    assert doc.analysis["test"]["n_candidate"] == 240


def test_alpha_spending_bounds_false_winners_over_many_looks() -> None:
    # 400 simulated A/B tests between identical arms, 10 looks each: the share that
    # ever declares a winner stays below alpha (it would be ~3x alpha at a fixed level).
    from scipy import stats

    rng = np.random.default_rng(0)
    a, b = np.abs(rng.normal(size=(2000, 500))), np.abs(rng.normal(size=(2000, 500)))
    p = np.stack(
        [stats.ttest_ind(b[:, : 50 * k], a[:, : 50 * k], axis=1, equal_var=False).pvalue
         for k in range(1, 11)],
        axis=1,
    )  # fmt: skip
    fixed = (p < 0.05).any(axis=1).mean()
    spent = (p < np.array([spent_alpha(0.05, k) for k in range(1, 11)])).any(axis=1).mean()
    assert spent <= 0.05 < 0.1 < fixed
    # ab_test applies the same test as the simulation (Welch, two-sided: the gate's
    # one-sided p-value of the observed direction is half the two-sided one).
    one = ab_test(a[0, :100], b[0, :100], alpha=0.05)
    direct = stats.ttest_ind(b[0, :100], a[0, :100], equal_var=False).pvalue
    assert one.p_value == pytest.approx(direct / 2) and one.alpha == 0.025


def test_a_worse_shadow_is_stopped(
    storage: Storage, rollouts: Rollouts, refs: dict[str, str]
) -> None:
    rollouts.deploy("shop", refs["b"], strategy="shadow", interval=60)
    shared_requests(storage, "shop", refs["a"], refs["b"], start=T0, n=40,
                    live_error=noise(1.0), shadow_error=noise(1.0, bias=9.0))  # fmt: skip
    task(storage).tick(T0 + MINUTE)
    doc = rollouts.get("shop")
    assert doc.status is RolloutStatus.ROLLED_BACK
    assert Endpoints(storage, registry=False).get("shop").shadow is None


def test_a_healthy_shadow_keeps_mirroring(
    storage: Storage, rollouts: Rollouts, refs: dict[str, str]
) -> None:
    rollouts.deploy("shop", refs["b"], strategy="shadow", interval=60)
    shared_requests(storage, "shop", refs["a"], refs["b"], start=T0, n=40,
                    live_error=noise(1.0), shadow_error=noise(1.0))  # fmt: skip
    task(storage).tick(T0 + MINUTE)
    doc = rollouts.get("shop")
    assert doc.status is RolloutStatus.RUNNING and doc.verdict is Verdict.HEALTHY
    table = Endpoints(storage, registry=False).get("shop")
    assert table.shadow is not None and table.shadow.ref == refs["b"]


def test_an_operator_rollback_between_ticks_wins(
    storage: Storage, rollouts: Rollouts, refs: dict[str, str]
) -> None:
    rollouts.deploy("shop", refs["b"], steps="10,50,100", interval=60)
    write_arm(storage, "shop", refs["a"], start=T0, n=50, error=noise(2.0))
    write_arm(storage, "shop", refs["b"], start=T0, n=25, error=noise(0.5), seed=1)
    rollouts.rollback("shop", reason="operator")
    assert task(storage).tick(T0 + MINUTE) == {"analyzed": []}
    assert rollouts.get("shop").status is RolloutStatus.ROLLED_BACK
    assert weights(storage) == {refs["a"]: 100, refs["b"]: 0}


def test_the_accuracy_floor_never_rolls_back_to_a_worse_version() -> None:
    from rayops.rollout import Thresholds
    from rayops.rollout.analysis import Arm, judge_canary

    t = Thresholds.from_settings(Settings(rollout_min_samples=5))
    rng = np.random.default_rng(0)

    def arm(center: float, accuracy: float) -> Arm:
        # |error| above the tolerance (5) on a share 1 - accuracy of the rows.
        y = rng.normal(50, 10, 40)
        near = rng.random(40) < accuracy
        err = np.where(near, rng.uniform(-4, 4, 40), center + np.abs(rng.normal(0, 0.5, 40)))
        return Arm.of("demand@x", "regression", y=y, output=y + err, latency_p95_ms=3.0,
                      error_rate=0.0)  # fmt: skip

    drifted_stable, better = arm(8.0, 0.30), arm(6.0, 0.45)
    assert better.metrics["accuracy"] < 0.75
    assert (
        judge_canary(drifted_stable, better, t).verdict is Verdict.HEALTHY
    )  # below 75%, yet better
    worse = arm(8.0, 0.10)
    verdict = judge_canary(arm(8.0, 0.30), worse, t)
    assert verdict.verdict is Verdict.BREACH and "accuracy within ±5" in verdict.reasons[0]


def test_a_stale_loop_cannot_undo_the_new_holders_step(
    storage: Storage, rollouts: Rollouts, refs: dict[str, str], clock: Clock
) -> None:
    """The rollout task in two fenced loops: stamped documents still read as models, and the
    loop that lost its lease while paused has every write of its late decision refused."""
    from rayops.control import ControlLoop
    from rayops.storage.fenced import fence_of

    rollouts.deploy("shop", refs["b"], steps="10,50,100", interval=60)
    write_arm(storage, "shop", refs["a"], start=T0, n=50, error=noise(2.0))
    write_arm(storage, "shop", refs["b"], start=T0, n=25, error=noise(0.5), seed=1)
    settings = Settings(control_lease_s=30)
    a, b = (
        ControlLoop(storage, lambda fenced: [task(fenced)], settings=settings, holder=h, now=clock)
        for h in ("a", "b")
    )
    assert a.run_once(T0)["rollout"]["summary"] == {"analyzed": []}  # a leads, nothing due
    clock.t = T0 + MINUTE + timedelta(seconds=1)  # a paused past its lease: b takes over
    assert b.run_once(clock())["rollout"]["summary"]["analyzed"][0]["verdict"] == "healthy"
    assert b.lease.epoch == 2 and weights(storage) == {refs["a"]: 50, refs["b"]: 50}
    doc = rollouts.get("shop")  # the Rollout model (extra="forbid") reads the stamped document
    assert doc.step == 1 and fence_of(storage.read_bytes("endpoints/shop/rollout.json")) == 2
    # a wakes up inside its task with the next analysis due; no new traffic means a hold.
    late = a.tasks[0].tick(clock() + 2 * MINUTE)
    assert "lost its lease" in late["analyzed"][0]["error"]
    assert rollouts.get("shop") == doc and weights(storage) == {refs["a"]: 50, refs["b"]: 50}
    assert [e.kind for e in rollouts.history("shop")] == [EventKind.DEPLOYED, EventKind.STEP]
