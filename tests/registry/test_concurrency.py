"""Acceptance 1: 16 concurrent registrations (threads, processes) get 16 distinct versions."""

from __future__ import annotations

import multiprocessing as mp
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from harness import child_processes
from registry_workers import register_model_file

from rayops.registry import Registry
from rayops.storage import Storage

WRITERS = 16


def _assert_sixteen_distinct(reg: Registry, got: list[str], frame: Any) -> None:
    assert len(set(got)) == WRITERS, sorted(got)
    # minor bumps from 1.0.0: exactly 1.0.0, 1.1.0 ... 1.15.0, no holes, no duplicates
    assert sorted(got, key=lambda s: tuple(map(int, s.split(".")))) == [
        "1.0.0",
        *[f"1.{i}.0" for i in range(1, WRITERS)],
    ]
    listed = reg.versions("churn")
    assert sorted(m.version for m in listed) == sorted(got)
    assert len({m.card.run_id for m in listed}) == WRITERS  # every card is its writer's own
    assert sum(e.kind == "registered" for e in reg.history("churn")) == WRITERS
    assert len(reg.load("churn@1.15.0").predict(frame.head(5))) == 5  # a whole, loadable model


def test_16_concurrent_thread_registrations_get_16_distinct_versions(
    storage: Storage, booster: Any, frame: Any
) -> None:
    reg = Registry(storage)
    barrier = threading.Barrier(WRITERS)

    def register(i: int) -> str:
        barrier.wait()
        return reg.register("churn", booster, run_id=f"thread-{i}").version

    with ThreadPoolExecutor(WRITERS) as pool:
        got = list(pool.map(register, range(WRITERS)))
    _assert_sixteen_distinct(reg, got, frame)


def test_16_concurrent_process_registrations_get_16_distinct_versions(
    storage: Storage, booster: Any, frame: Any
) -> None:
    from rayops.registry.artifacts import booster_bytes

    endpoint = getattr(storage, "endpoint_url", None)
    model = booster_bytes(booster)
    with mp.get_context("forkserver").Manager() as manager, child_processes(WRITERS) as pool:
        barrier = manager.Barrier(WRITERS)  # released once every child is ready to register
        futures = [
            pool.submit(register_model_file, storage.uri, endpoint, "churn", model, i, barrier)
            for i in range(WRITERS)
        ]
        got = [f.result(timeout=180) for f in futures]
    _assert_sixteen_distinct(Registry(storage), got, frame)
