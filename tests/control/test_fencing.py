"""Fencing the control loop: lease epochs, per-task renewal, and writes refused after a lost lease.

Real storage (a directory and the S3 server); time is an injected clock, and the
check-then-write window is opened by a fence that runs the newer holder's writes right
after the stale writer's lease check passed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rayops.config import Settings
from rayops.control import ControlLoop, ControlTask, Lease, read_status
from rayops.errors import LeaseLostError, NotFoundError
from rayops.storage import Storage
from rayops.storage.base import FENCE_FIELD, dumps
from rayops.storage.fenced import FencedStorage, fence_of

T0 = datetime(2026, 6, 1, tzinfo=UTC)
LEASE_S = 30.0
SETTINGS = Settings(control_lease_s=LEASE_S)
DECISION = "endpoints/shop/decision.json"


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> datetime:
        return self.t


class Step(ControlTask):
    """A task that runs ``action(self)`` and records that it ran."""

    def __init__(
        self, storage: Storage, name: str, action: Callable[[Step], Any] | None = None
    ) -> None:
        super().__init__(storage, SETTINGS)
        self.name = name  # type: ignore[misc]
        self.action = action
        self.calls = 0

    def tick(self, now: datetime) -> dict[str, Any]:
        self.calls += 1
        return {"result": self.action(self) if self.action else None}


class FixedEpoch:
    """A fence that always passes at ``epoch`` (a writer whose lease check said yes)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def verify(self) -> int:
        return self.epoch


def decide(by: str) -> Callable[[Step], Any]:
    """An action that writes a decision document the way tasks do (read-modify-write)."""
    return lambda task: task.storage.update_json(DECISION, lambda doc: {"by": by})


def loop_of(
    storage: Storage, holder: str, clock: Clock, *actions: tuple[str, Callable[[Step], Any] | None]
) -> tuple[ControlLoop, list[Step]]:
    built: list[Step] = []

    def build(fenced: Storage) -> list[Step]:
        built.extend(Step(fenced, name, action) for name, action in actions)
        return built

    loop = ControlLoop(storage, build, settings=SETTINGS, holder=holder, now=clock)
    return loop, built


def test_the_epoch_grows_with_each_holder_and_stays_across_renewals(storage: Storage) -> None:
    clock = Clock()
    a, b = Lease(storage, "a", LEASE_S, now=clock), Lease(storage, "b", LEASE_S, now=clock)
    assert a.acquire() and a.epoch == 1
    for _ in range(3):
        clock.t += timedelta(seconds=20)
        assert a.acquire() and a.epoch == 1  # renewals keep the epoch
    assert not b.acquire() and b.epoch is None
    clock.t += timedelta(seconds=LEASE_S + 1)  # a stopped renewing
    assert b.acquire() and b.epoch == 2
    assert not a.acquire() and a.epoch is None
    with pytest.raises(LeaseLostError, match="does not hold the lease"):
        a.verify()
    b.release()
    assert a.acquire() and a.epoch == 3  # a new term, not a's old one
    # A restarted process with the same holder name starts a new term and fences the old one.
    again = Lease(storage, "a", LEASE_S, now=clock)
    assert again.acquire() and again.epoch == 4
    with pytest.raises(LeaseLostError, match=r"held by 'a' \(epoch 4\)"):
        a.verify()
    stored = Lease(storage, "x", 1.0).current()
    assert stored is not None and (stored["holder"], stored["epoch"]) == ("a", 4)


def test_the_lease_is_renewed_before_each_task(storage: Storage) -> None:
    """A pass twice as long as the lease keeps it, since no single task outlasts it."""
    clock = Clock()
    rival = Lease(storage, "rival", LEASE_S, now=clock)
    rival_won: list[bool] = []

    def slow(task: Step) -> None:
        clock.t += timedelta(seconds=20)  # two thirds of the lease
        task.storage.update_json(DECISION, lambda doc: {"n": (doc or {"n": 0})["n"] + 1})
        rival_won.append(rival.acquire())

    loop, tasks = loop_of(storage, "a", clock, ("one", slow), ("two", slow), ("three", slow))
    result = loop.run_once(T0)
    assert [t.calls for t in tasks] == [1, 1, 1] and all(r["ok"] for r in result.values())
    assert storage.read_json(DECISION) == {"n": 3} and rival_won == [False, False, False]
    assert loop.leader and loop.lease.epoch == 1
    lease = loop.lease.current()
    assert lease is not None and lease["expires_at"] == (T0 + timedelta(seconds=70)).isoformat()
    assert read_status(storage)["epoch"] == 1  # type: ignore[index]


def test_a_loop_whose_lease_expired_in_a_task_cannot_write(storage: Storage) -> None:
    clock = Clock()
    storage.write_json(DECISION, {"by": "operator"})

    def stall_then_write(task: Step) -> None:
        if task.calls > 1:
            return
        clock.t += timedelta(seconds=LEASE_S + 5)  # a GC pause longer than the lease
        task.storage.update_json(DECISION, lambda doc: {"by": "stale"})

    def write_marker(task: Step) -> None:
        task.storage.write_json("marker.json", {"by": "a"})

    loop, (first, second) = loop_of(
        storage, "a", clock, ("stall", stall_then_write), ("next", write_marker)
    )
    result = loop.run_once(T0)
    assert result["stall"]["ok"] is False and "LeaseLostError" in result["stall"]["error"]
    assert "expired" in result["stall"]["error"]
    assert storage.read_json(DECISION) == {"by": "operator"}  # unchanged
    assert second.calls == 0 and not storage.exists("marker.json")  # the rest of the pass skipped
    assert not loop.leader and loop.lease.epoch is None
    with pytest.raises(LeaseLostError):
        loop.fenced.write_bytes("blind.bin", b"x")  # blind writes are refused too
    with pytest.raises(NotFoundError):
        storage.read_bytes("blind.bin")
    assert read_status(storage) is None  # a lost loop does not publish its status
    # Nobody else took over: the next pass starts a new term and acts again.
    loop.run_once(clock())
    assert loop.leader and loop.lease.epoch == 2 and second.calls == 1
    assert storage.read_json("marker.json") == {"by": "a"}


def test_after_a_lost_lease_the_loop_stops_acting_and_the_new_holder_resumes(
    storage: Storage,
) -> None:
    clock = Clock()
    b, (b_task,) = loop_of(storage, "b", clock, ("decide", decide("b")))

    def paused_while_b_takes_over(task: Step) -> None:
        clock.t += timedelta(seconds=LEASE_S + 1)
        b.run_once(clock())  # b takes the expired lease and decides
        task.storage.update_json(DECISION, lambda doc: {"by": "a", "after": doc})

    a, (a_first, a_second) = loop_of(
        storage, "a", clock, ("decide", paused_while_b_takes_over), ("later", decide("a"))
    )
    a.run_once(T0)
    assert b_task.calls == 1 and b.leader and b.lease.epoch == 2
    assert storage.read_json(DECISION) == {"by": "b"}  # a's stale decision was refused
    assert fence_of(storage.read_bytes(DECISION)) == 2
    assert a_second.calls == 0 and not a.leader
    assert "held by 'b' (epoch 2)" in a.status()["tasks"]["decide"]["error"]
    # a's next passes do nothing while b renews; b keeps deciding.
    for _ in range(3):
        clock.t += timedelta(seconds=10)
        assert a.run_once(clock()) == {} and not a.leader
        b.run_once(clock())
    assert (a_first.calls, a_second.calls, b_task.calls) == (1, 0, 4)
    status = read_status(storage)
    assert status is not None and status["holder"] == "b" and status["epoch"] == 2


class StallAfterCheck:
    """A real lease whose writer stalls right after its check passed, while ``during`` runs.

    This is the window a lease check alone cannot close: the check said "still mine",
    then a newer holder took over and wrote before the stale write landed.
    """

    def __init__(self, lease: Lease, during: Callable[[], None]) -> None:
        self.lease = lease
        self.during: Callable[[], None] | None = during

    def verify(self) -> int:
        epoch = self.lease.verify()
        during, self.during = self.during, None
        if during is not None:
            during()
        return epoch


@pytest.mark.parametrize("write", ["write_json", "update_json"])
def test_a_newer_holders_document_survives_the_check_then_write_window(
    storage: Storage, write: str
) -> None:
    clock = Clock()
    a = Lease(storage, "a", LEASE_S, now=clock)
    assert a.acquire()
    FencedStorage(storage, a).write_json(DECISION, {"by": "a"})

    def b_takes_over() -> None:
        clock.t += timedelta(seconds=LEASE_S + 1)
        b = Lease(storage, "b", LEASE_S, now=clock)
        assert b.acquire() and b.epoch == 2
        FencedStorage(storage, b).update_json(DECISION, lambda doc: {"by": "b"})

    stale = FencedStorage(storage, StallAfterCheck(a, b_takes_over))
    with pytest.raises(LeaseLostError):
        if write == "write_json":  # blind replace: the stamp refuses it
            stale.write_json(DECISION, {"by": "a, late"})
        else:  # read-modify-write: compare-and-swap, then the lease check on retry
            stale.update_json(DECISION, lambda doc: {"by": "a, late"})
    assert storage.read_json(DECISION) == {"by": "b"}
    assert fence_of(storage.read_bytes(DECISION)) == 2


def test_a_document_stamped_by_a_newer_epoch_is_never_overwritten(storage: Storage) -> None:
    """Even a writer whose lease check passes (epoch 1) cannot replace epoch 2's document."""

    storage.write_bytes(DECISION, dumps({"by": "b", FENCE_FIELD: 2}))
    old = FencedStorage(storage, FixedEpoch(1))
    token = old.read_versioned(DECISION).token
    for attempt in (
        lambda: old.write_json(DECISION, {"by": "a"}),
        lambda: old.update_json(DECISION, lambda doc: {"by": "a"}),
        lambda: old.compare_and_swap(DECISION, dumps({"by": "a"}), token),
    ):
        with pytest.raises(LeaseLostError, match="newer control loop"):
            attempt()
    assert storage.read_json(DECISION) == {"by": "b"}  # readers never see the stamp
    assert storage.read_versioned(DECISION).json() == {"by": "b"}
    assert fence_of(storage.read_bytes(DECISION)) == 2
    # An equal or higher epoch may write; an unfenced writer (an operator) clears the stamp.
    FencedStorage(storage, FixedEpoch(3)).update_json(DECISION, lambda doc: {**doc, "n": 1})
    assert fence_of(storage.read_bytes(DECISION)) == 3
    storage.update_json(DECISION, lambda doc: {**doc, "operator": True})
    assert fence_of(storage.read_bytes(DECISION)) == 0
    assert storage.read_json(DECISION) == {"by": "b", "n": 1, "operator": True}


def test_blind_bytes_stay_byte_exact(storage: Storage) -> None:
    """Artifacts and records written through the fence are not stamped (checksums hold)."""
    fenced = FencedStorage(storage, FixedEpoch(5))
    raw = b'{"model": "json artifact"}'
    fenced.write_bytes("models/m/1.0.0/model.json", raw)
    fenced.put_if_absent("records/r.json", raw)
    assert storage.read_bytes("models/m/1.0.0/model.json") == raw
    assert storage.read_bytes("records/r.json") == raw
