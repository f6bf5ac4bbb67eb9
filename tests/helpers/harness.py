"""Small helpers shared by tests (importable because conftest puts helpers/ on sys.path)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

BUCKET = "rayops-test"


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
