"""Small helpers shared by tests (importable because conftest puts helpers/ on sys.path)."""

from __future__ import annotations

import multiprocessing as mp
import socket
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

BUCKET = "rayops-test"

# What the concurrency tests' child processes import. A forkserver (a fresh interpreter,
# not a fork of pytest with its threads) imports them once; each child is then a fork of
# it: a separate process with its own connections that pays no import (16 spawned
# children each spent ~2.5 CPU-seconds importing pyarrow, boto3 and XGBoost).
CHILD_PRELOAD = ["xgboost", "pandas", "rayops.config", "rayops.errors", "rayops.storage",
                 "rayops.registry", "rayops.features"]  # fmt: skip


def child_processes(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` separate processes forked from a preloaded forkserver.

    The worker function must be importable (a module on sys.path). The forkserver is
    one per test process: the first call starts it with :data:`CHILD_PRELOAD`.
    """
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(CHILD_PRELOAD)
    return ProcessPoolExecutor(workers, mp_context=ctx)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(
    predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.05
) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` s pass.

    The pause starts at ``interval`` and grows by half each time up to 0.25 s (or
    ``interval`` if larger): a short wait still answers within 50 ms, and a long one
    does not spend the CPU (storage reads, HTTP) that the work it waits for needs on
    a 2-core machine.
    """
    deadline = time.monotonic() + timeout
    pause, cap = interval, max(interval, 0.25)
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(cap, pause * 1.5)
    return bool(predicate())


def logged(storage: object, endpoint: str, ids: set[str], timeout: float = 30.0) -> bool:
    """Wait until every request id in ``ids`` is in ``endpoint``'s prediction log (the
    gateway flushes it every serving_log_flush_s): the condition a test really waits for,
    instead of sleeping one flush interval."""
    from datetime import UTC, datetime, timedelta

    from rayops.telemetry.readers import read_predictions

    def present() -> bool:
        now = datetime.now(UTC)
        found = read_predictions(storage, endpoint, now - timedelta(days=1),  # type: ignore[arg-type]
                                 now + timedelta(minutes=1), columns=["request_id"])  # fmt: skip
        return ids <= set(found["request_id"])

    return not ids or wait_until(present, timeout=timeout, interval=0.1)


def processes_naming(text: str) -> list[int]:
    """Pids whose command line contains ``text``."""
    out = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text.encode() in cmdline.read_bytes():
                out.append(int(cmdline.parent.name))
        except (OSError, ValueError):
            continue
    return out
