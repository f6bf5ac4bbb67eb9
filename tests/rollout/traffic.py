"""Prepared serving logs for rollout tests: two arms with chosen errors, at chosen times."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from rayops.storage import Storage
from rayops.telemetry.writers import FeedbackLog, PredictionLog, RequestLog


def write_arm(
    storage: Storage,
    endpoint: str,
    ref: str,
    *,
    start: datetime,
    n: int,
    error: Callable[[np.random.Generator], float],
    seed: int = 0,
    latency_ms: float = 5.0,
    spacing: timedelta = timedelta(seconds=1),
    failed: int = 0,
    shadow: bool = False,
) -> None:
    """``n`` one-row requests of ``ref`` from ``start``, each with feedback whose
    ``prediction - actual`` is drawn by ``error``; plus ``failed`` failed requests."""
    rng = np.random.default_rng(seed)
    log = PredictionLog(storage, flush_s=3600)
    outcomes = RequestLog(storage, flush_s=3600)
    feedback: list[tuple[str, float, datetime]] = []
    for i in range(n):
        when = start + i * spacing
        rid = uuid.uuid4().hex
        actual = float(rng.normal(50, 10))
        prediction = actual + error(rng)
        log.record(
            request_id=rid, endpoint=endpoint, ref=ref, frame=pd.DataFrame({"x": [actual]}),
            predictions=[prediction], latency_ms=latency_ms, shadow=shadow, time=when,
        )  # fmt: skip
        if not shadow:
            outcomes.record(request_id=rid, endpoint=endpoint, ref=ref, status=200, time=when)
        feedback.append((rid, actual, when + timedelta(milliseconds=100)))
    for i in range(failed):
        outcomes.record(
            request_id=uuid.uuid4().hex, endpoint=endpoint, ref=ref, status=500,
            time=start + i * spacing,
        )  # fmt: skip
    log.close()
    outcomes.close()

    _send_feedback(storage, endpoint, feedback)


def shared_requests(
    storage: Storage,
    endpoint: str,
    live: str,
    shadow: str,
    *,
    start: datetime,
    n: int,
    live_error: Callable[[np.random.Generator], float],
    shadow_error: Callable[[np.random.Generator], float],
    seed: int = 0,
) -> None:
    """Requests answered by ``live`` and mirrored to ``shadow`` (same request ids)."""
    rng = np.random.default_rng(seed)
    log = PredictionLog(storage, flush_s=3600)
    outcomes = RequestLog(storage, flush_s=3600)
    feedback = []
    for i in range(n):
        when = start + timedelta(seconds=i)
        rid = uuid.uuid4().hex
        actual = float(rng.normal(50, 10))
        frame = pd.DataFrame({"x": [actual]})
        log.record(request_id=rid, endpoint=endpoint, ref=live, frame=frame,
                   predictions=[actual + live_error(rng)], latency_ms=5.0, time=when)  # fmt: skip
        log.record(request_id=rid, endpoint=endpoint, ref=shadow, frame=frame,
                   predictions=[actual + shadow_error(rng)], latency_ms=5.0, shadow=True,
                   time=when)  # fmt: skip
        outcomes.record(request_id=rid, endpoint=endpoint, ref=live, status=200, time=when)
        feedback.append((rid, actual, when))
    log.close()
    outcomes.close()

    _send_feedback(storage, endpoint, feedback)


def _send_feedback(
    storage: Storage, endpoint: str, feedback: list[tuple[str, float, datetime]]
) -> None:
    """All feedback at once, as concurrent requests: group-committed into one object."""
    if not feedback:
        return
    last = max(when for _, _, when in feedback)

    async def send() -> None:
        fb = FeedbackLog(storage, now=lambda: last)
        await asyncio.gather(*(fb.write(endpoint, rid, [actual]) for rid, actual, _ in feedback))

    asyncio.run(send())
