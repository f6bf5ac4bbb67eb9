"""The post-deploy guard on prepared logs: rollback, pass, hysteresis, no flapping."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from rollout_support import T0, Clock, booster
from traffic import shared_requests, write_arm

from rayops.config import Settings
from rayops.errors import ConflictError
from rayops.registry import Registry
from rayops.rollout import EventKind, Rollouts, RolloutStatus
from rayops.rollout.guard import GuardTask
from rayops.rollout.state import GuardStatus
from rayops.serving import Endpoints
from rayops.storage import Storage, open_storage

GUARD = {
    "rollout_min_samples": 20,
    "rollout_guard_interval_s": 10,
    "rollout_guard_window_rows": 60,
    "rollout_guard_window_s": 60,
    "rollout_guard_baseline_s": 600,
    "rollout_guard_failures": 2,
}


def guarded(storage: Storage, clock: Clock, **overrides: object) -> tuple[Rollouts, GuardTask]:
    settings = Settings(**{**GUARD, **overrides})
    return Rollouts(storage, now=clock, settings=settings), GuardTask(storage, settings)


def baseline(storage: Storage, ref: str, *, n: int = 80, seed: int = 0) -> None:
    """The replaced version's traffic over the minutes before the switch (error ~ N(0, 1))."""
    write_arm(storage, "shop", ref, start=T0 - timedelta(seconds=n + 5), n=n, seed=seed,
              error=lambda r: float(r.normal(0, 1)))  # fmt: skip


def production(storage: Storage) -> str:
    return str(Registry(storage).get("demand@production").ref)


def test_a_worse_full_deploy_is_rolled_back_after_consecutive_failing_checks(
    storage: Storage, clock: Clock, refs: dict[str, str]
) -> None:
    rollouts, task = guarded(storage, clock)
    baseline(storage, refs["a"])
    doc = rollouts.deploy("shop", refs["b"], strategy="full")
    assert doc.guard is not None and doc.guard.watching
    write_arm(storage, "shop", refs["b"], start=T0 + timedelta(seconds=1), n=40, seed=1,
              error=lambda r: float(r.normal(4, 1)))  # fmt: skip

    first = task.step("shop", T0 + timedelta(seconds=45))
    assert first is not None and first["verdict"] == "breach" and first["failures"] == 1
    assert rollouts.get("shop").status is RolloutStatus.PROMOTED  # one failing check is not enough
    assert task.step("shop", T0 + timedelta(seconds=50)) is None  # not due yet
    second = task.step("shop", T0 + timedelta(seconds=56))
    assert second is not None and second["status"] == "rolled_back"

    doc = rollouts.get("shop")
    assert doc.status is RolloutStatus.ROLLED_BACK and doc.guard is not None
    assert doc.guard.status is GuardStatus.ROLLED_BACK and doc.rejected == [refs["b"]]
    assert {r.ref: r.weight for r in Endpoints(storage).get("shop").routes}[refs["a"]] == 100
    assert production(storage) == refs["a"]
    last = rollouts.history("shop")[-1]
    assert last.kind is EventKind.ROLLED_BACK and last.actor == "guard"
    assert "post-deploy guard" in (last.reason or "") and "worse: rmse" in (last.reason or "")
    points = rollouts.analyses("shop")
    assert [p.phase for p in points] == ["guard", "guard"]
    assert all(p.gate == "worse" and p.p_value is not None and p.p_value < 0.05 for p in points)
    assert points[0].candidate_metric is not None and points[0].stable_metric is not None
    assert points[0].candidate_metric > 3 * points[0].stable_metric

    # Rolled back is final: the guard does not look again, automation cannot bring it back.
    assert task.step("shop", T0 + timedelta(seconds=300)) is None
    with pytest.raises(ConflictError, match="rolled back by the post-deploy guard"):
        rollouts.deploy("shop", refs["b"], strategy="full", automatic=True)
    assert rollouts.deploy("shop", refs["b"], strategy="canary").candidate == refs["b"]  # operator


def test_a_good_full_deploy_passes_the_guard_window(
    storage: Storage, clock: Clock, refs: dict[str, str]
) -> None:
    rollouts, task = guarded(storage, clock)
    baseline(storage, refs["a"])
    rollouts.deploy("shop", refs["b"], strategy="full")
    write_arm(storage, "shop", refs["b"], start=T0 + timedelta(seconds=1), n=40, seed=2,
              error=lambda r: float(r.normal(0, 0.9)))  # fmt: skip
    early = task.step("shop", T0 + timedelta(seconds=45))
    assert early is not None and early["verdict"] == "healthy" and early["guard"] == "watching"
    # 40 labeled rows < guard_window_rows: still watching though the time is up.
    late = task.step("shop", T0 + timedelta(seconds=70))
    assert late is not None and late["guard"] == "watching"
    write_arm(storage, "shop", refs["b"], start=T0 + timedelta(seconds=71), n=30, seed=3,
              error=lambda r: float(r.normal(0, 0.9)))  # fmt: skip
    done = task.step("shop", T0 + timedelta(seconds=110))
    assert done is not None and done["guard"] == "passed" and done["status"] == "promoted"
    doc = rollouts.get("shop")
    assert doc.guard is not None and doc.guard.labeled == 70 and doc.rejected == []
    assert production(storage) == refs["b"]
    assert rollouts.history("shop")[-1].kind is EventKind.GUARD_PASSED
    assert task.step("shop", T0 + timedelta(seconds=500)) is None


def test_promoting_a_canary_starts_the_guard_and_an_operator_rollback_stops_it(
    storage: Storage, clock: Clock, refs: dict[str, str]
) -> None:
    rollouts, task = guarded(storage, clock)
    rollouts.deploy("shop", refs["b"], strategy="canary")
    assert rollouts.get("shop").guard is None
    clock.t = T0 + timedelta(seconds=30)
    doc = rollouts.promote("shop")
    assert doc.guard is not None and doc.guard.started_at == clock.t
    rollouts.rollback("shop", reason="by hand")
    assert task.step("shop", T0 + timedelta(hours=1)) is None


def test_guarding_can_be_turned_off(storage: Storage, clock: Clock, refs: dict[str, str]) -> None:
    rollouts, _ = guarded(storage, clock, rollout_guard=False)
    assert rollouts.deploy("shop", refs["b"], strategy="full").guard is None


def test_shadow_mode_guarding_mirrors_to_the_replaced_version_and_pairs(
    storage: Storage, clock: Clock, refs: dict[str, str]
) -> None:
    rollouts, task = guarded(storage, clock, rollout_guard_shadow_share=0.5)
    rollouts.deploy("shop", refs["b"], strategy="full")
    table = Endpoints(storage).get("shop")
    assert table.shadow is not None and table.shadow.ref == refs["a"]
    assert table.shadow.share == 0.5
    # The new version is worse by a small, steady margin on the same requests.
    shared_requests(storage, "shop", refs["b"], refs["a"], start=T0 + timedelta(seconds=1),
                    n=40, live_error=lambda r: float(r.normal(0, 1)) + 1.5,
                    shadow_error=lambda r: float(r.normal(0, 1)))  # fmt: skip
    first = task.step("shop", T0 + timedelta(seconds=45))
    assert first is not None and first["verdict"] == "breach", first
    assert "paired t-test" in first["reason"]
    task.step("shop", T0 + timedelta(seconds=56))
    assert rollouts.get("shop").status is RolloutStatus.ROLLED_BACK
    assert Endpoints(storage).get("shop").shadow is None  # the mirror ends with the guard


def test_no_flapping_between_equal_versions(tmp_path: Path, clock: Clock) -> None:
    """Twelve endpoints whose new version is as good as the old: 14 checks each over a
    growing window, and not one rollback (alpha spending and consecutive failures)."""
    storage = open_storage(str(tmp_path / "root"))
    reg = Registry(storage)
    refs = {label: str(reg.register("demand", booster(i)).ref) for i, label in enumerate("ab")}
    checks = rollbacks = failing = 0
    for k in range(12):
        endpoint = f"noise{k}"
        Endpoints(storage).create(endpoint, refs["a"])
        settings = Settings(**{**GUARD, "rollout_guard_window_rows": 10_000,
                               "rollout_guard_interval_s": 5})  # fmt: skip
        rollouts = Rollouts(storage, registry=reg, now=clock, settings=settings)
        task = GuardTask(storage, settings)
        write_arm(storage, endpoint, refs["a"], start=T0 - timedelta(seconds=100), n=60,
                  seed=100 + k, error=lambda r: float(r.normal(0, 1)))  # fmt: skip
        rollouts.deploy(endpoint, refs["b"], strategy="full")
        for look in range(14):
            start = T0 + timedelta(seconds=1 + 10 * look)
            write_arm(storage, endpoint, refs["b"], start=start, n=10, seed=1000 * k + look,
                      error=lambda r: float(r.normal(0, 1)))  # fmt: skip
            out = task.step(endpoint, start + timedelta(seconds=11))
            if out is not None:
                checks += 1
                failing += out["verdict"] == "breach"
        rollbacks += rollouts.get(endpoint).status is RolloutStatus.ROLLED_BACK
    print(f"{checks} guard checks between equal versions: {failing} failing, {rollbacks} rollbacks")
    assert checks >= 12 * 12
    assert rollbacks == 0


def test_a_deploy_over_a_watched_version_keeps_the_guards_reference(
    storage: Storage, clock: Clock, refs: dict[str, str]
) -> None:
    """Hot-swaps in a row: c replaces b while b's guard still watches, so c is compared
    with (and rolled back to) a, the version before the guarded chain."""
    rollouts, task = guarded(storage, clock)
    baseline(storage, refs["a"])
    rollouts.deploy("shop", refs["b"], strategy="full", actor="online", automatic=True)
    clock.t = T0 + timedelta(seconds=5)
    doc = rollouts.deploy("shop", refs["c"], strategy="full", actor="online", automatic=True)
    assert doc.stable == refs["b"] and doc.guard is not None
    assert doc.guard.reference == refs["a"] and doc.guard.baseline_end == T0
    write_arm(storage, "shop", refs["c"], start=T0 + timedelta(seconds=6), n=40, seed=4,
              error=lambda r: float(r.normal(4, 1)))  # fmt: skip
    task.step("shop", T0 + timedelta(seconds=50))
    out = task.step("shop", T0 + timedelta(seconds=61))
    assert out is not None and out["status"] == "rolled_back"
    back = rollouts.get("shop")
    assert back.target == refs["a"] and back.rejected == [refs["c"]]
    assert {r.ref: r.weight for r in Endpoints(storage).get("shop").routes}[refs["a"]] == 100
    assert production(storage) == refs["a"]
    assert f"worse than {refs['a']}" in (back.reason or "")


def test_the_tasks_own_the_alert_actions_and_rollback_covers_a_guarded_version(
    storage: Storage, clock: Clock, refs: dict[str, str]
) -> None:
    from rayops.automation.task import RetrainTask
    from rayops.control.tasks import alert_actions
    from rayops.monitoring.alerts import Alert
    from rayops.monitoring.task import MonitorTask
    from rayops.rollout.controller import RolloutTask

    assert sorted(RolloutTask.alert_actions(storage)) == ["rollback"]
    assert sorted(RetrainTask.alert_actions(storage)) == ["retrain"]
    assert MonitorTask.alert_actions(storage) == {}
    rollouts, _ = guarded(storage, clock)
    rollouts.deploy("shop", refs["b"], strategy="full")
    alert = Alert(id="a1", rule="slow", endpoint="shop", ref=refs["b"], metric="latency_p95_ms",
                  value=400.0, threshold=200.0, comparator=">", severity="critical",
                  window="1h", time=T0, message="p95 latency 400 ms > 200 ms")  # fmt: skip
    done = alert_actions(storage)["rollback"](alert)
    assert done == {"action": "rollback", "ok": True, "detail": f"rolled back {refs['b']}"}
    doc = rollouts.get("shop")
    assert doc.status is RolloutStatus.ROLLED_BACK and doc.reason == alert.message
    assert production(storage) == refs["a"]


def test_rayops_status_draws_the_guard_checks(tmp_path: Path, clock: Clock) -> None:
    """`rayops status` shows the guard and a chart of its checks: both losses as bars on
    one scale, the gate's verdict and its p-value."""
    from typer.testing import CliRunner

    from rayops.cli import app

    storage = open_storage(str(tmp_path / "root"))
    reg = Registry(storage)
    a, b = (str(reg.register("demand", booster(i)).ref) for i in range(2))
    Endpoints(storage).create("shop", a)
    rollouts, task = guarded(storage, clock)
    baseline(storage, a)
    rollouts.deploy("shop", b, strategy="full")
    write_arm(storage, "shop", b, start=T0 + timedelta(seconds=1), n=40, seed=1,
              error=lambda r: float(r.normal(4, 1)))  # fmt: skip
    task.step("shop", T0 + timedelta(seconds=45))
    task.step("shop", T0 + timedelta(seconds=56))
    shown = CliRunner().invoke(app, ["status", "shop", "--storage", storage.uri])
    assert shown.exit_code == 0, shown.stdout
    assert "post-deploy guard: rolled_back" in shown.stdout
    assert "analysis over time" in shown.stdout and shown.stdout.count("worse") >= 2
    assert "█" in shown.stdout
