"""Small helpers shared by tests (importable because conftest puts helpers/ on sys.path)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

BUCKET = "rayops-test"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(
    predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.05
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


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
