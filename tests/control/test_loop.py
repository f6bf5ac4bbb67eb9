"""The control loop: one leader at a time (lease), isolated task failures, due times, status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rayops.config import Settings
from rayops.control import ControlLoop, ControlTask, Lease, default_tasks, read_status
from rayops.errors import InvalidInputError, NotFoundError
from rayops.storage import Storage

T0 = datetime(2026, 6, 1, tzinfo=UTC)


class Counter(ControlTask):
    name = "counter"

    def __init__(self, storage: Storage, settings: Settings | None = None) -> None:
        super().__init__(storage, settings)
        self.calls: list[datetime] = []

    def tick(self, now: datetime) -> dict[str, Any]:
        self.calls.append(now)
        return {"calls": len(self.calls)}


class Broken(ControlTask):
    name = "broken"

    def tick(self, now: datetime) -> dict[str, Any]:
        raise ZeroDivisionError("bug in a task")


class Missing(ControlTask):
    name = "missing"

    def tick(self, now: datetime) -> dict[str, Any]:
        raise NotFoundError("no such endpoint")


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> datetime:
        return self.t


def test_only_the_lease_holder_runs_tasks(storage: Storage) -> None:
    clock = Clock()
    settings = Settings(control_lease_s=30)
    a_task, b_task = Counter(storage), Counter(storage)
    a = ControlLoop(storage, [a_task], settings=settings, holder="a", now=clock)
    b = ControlLoop(storage, [b_task], settings=settings, holder="b", now=clock)
    a.run_once()
    b.run_once()
    assert (len(a_task.calls), len(b_task.calls)) == (1, 0)
    assert a.leader and not b.leader
    clock.t += timedelta(seconds=20)
    a.run_once()  # renews
    clock.t += timedelta(seconds=20)
    b.run_once()
    assert len(b_task.calls) == 0  # a renewed 20 s ago: still its lease
    clock.t += timedelta(seconds=31)  # a died without renewing
    b.run_once()
    assert len(b_task.calls) == 1 and b.leader
    assert Lease(storage, "x", 1.0).current()["holder"] == "b"  # type: ignore[index]


def test_a_released_lease_is_taken_at_once(storage: Storage) -> None:
    clock = Clock()
    a = ControlLoop(storage, [Counter(storage)], holder="a", now=clock)
    b_task = Counter(storage)
    b = ControlLoop(storage, [b_task], holder="b", now=clock)
    a.run_once()
    a.stop()  # graceful stop releases the lease
    b.run_once()
    assert len(b_task.calls) == 1


def test_a_failing_task_does_not_stop_the_others(storage: Storage) -> None:
    counter = Counter(storage)
    loop = ControlLoop(storage, [Broken(storage), Missing(storage), counter], holder="a")
    result = loop.run_once(T0)
    assert result["broken"]["ok"] is False and "ZeroDivisionError" in result["broken"]["error"]
    assert "traceback" in result["broken"]
    assert result["missing"] == {**result["missing"], "ok": False}
    assert "no such endpoint" in result["missing"]["error"] and "traceback" not in result["missing"]
    assert result["counter"]["summary"] == {"calls": 1}
    stored = read_status(storage)
    assert stored is not None and stored["holder"] == "a"
    assert set(stored["tasks"]) == {"broken", "missing", "counter"}


def test_tasks_run_when_due(storage: Storage) -> None:
    counter = Counter(storage, Settings(control_tick_s=10))
    loop = ControlLoop(storage, [counter], holder="a")
    loop.run_once(T0, force=False)
    loop.run_once(T0 + timedelta(seconds=5), force=False)
    loop.run_once(T0 + timedelta(seconds=10), force=False)
    assert counter.calls == [T0, T0 + timedelta(seconds=10)]


def test_the_background_thread_runs_and_stops(storage: Storage) -> None:
    from harness import wait_until

    counter = Counter(storage, Settings(control_tick_s=0.05))
    loop = ControlLoop(storage, [counter], holder="t", settings=Settings(control_tick_s=0.05))
    loop.start()
    try:
        assert wait_until(lambda: len(counter.calls) >= 3, timeout=10)
        assert loop.alive()
    finally:
        loop.stop()
    assert not loop.alive()
    assert Lease(storage, "x", 1.0).current()["expires_at"] <= datetime.now(UTC).isoformat()  # type: ignore[index]


def test_task_registry(storage: Storage) -> None:
    assert [t.name for t in default_tasks(storage, names=["rollout"])] == ["rollout"]
    with pytest.raises(InvalidInputError, match="Unknown control tasks"):
        default_tasks(storage, names=["nope"])
    with pytest.raises(ValueError, match="unique"):
        ControlLoop(storage, [Counter(storage), Counter(storage)])
