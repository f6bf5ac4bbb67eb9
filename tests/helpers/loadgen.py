"""Open-loop load for fault tests: call a function ``rate`` times per second from a thread pool.

Open loop means the schedule does not wait for answers: a slow or retrying call
never lowers the offered rate, as with real independent clients. Every call's
outcome is kept (``"ok"`` or a short description of the failure) with its start
time, so a test can count failures and see when they happened.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Load:
    """``call()`` at ``rate`` per second until ``stop()``; it returns None for success or raises
    (an exception is a failure) or returns a string naming the failure."""

    call: Callable[[], str | None]
    rate: float = 20.0
    workers: int = 16
    outcomes: list[tuple[float, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _pool: ThreadPoolExecutor | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Load:
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="load")
        self._thread = threading.Thread(target=self._schedule, daemon=True)
        self._thread.start()
        return self

    def _schedule(self) -> None:
        assert self._pool is not None
        period, next_at = 1.0 / self.rate, time.monotonic()
        while not self._stop.is_set():
            self._pool.submit(self._one, time.monotonic())
            next_at += period
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def _one(self, started: float) -> None:
        try:
            failure = self.call()
        except Exception as e:  # the failure, as the caller would see it
            failure = f"{type(e).__name__}: {str(e)[:200]}"
        with self._lock:
            self.outcomes.append((started, failure or "ok"))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    @property
    def sent(self) -> int:
        return len(self.outcomes)

    @property
    def failures(self) -> list[tuple[float, str]]:
        return [(t, o) for t, o in self.outcomes if o != "ok"]

    def summary(self) -> dict[str, Any]:
        kinds = Counter(o for _, o in self.failures)
        return {"sent": self.sent, "failed": len(self.failures), "failures": dict(kinds)}
