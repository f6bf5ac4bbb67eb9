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


def write_class_arm(
    storage: Storage,
    endpoint: str,
    ref: str,
    *,
    start: datetime,
    requests: int,
    classes: list[str],
    confidence: float,
    rows_per_request: int = 1,
    seed: int = 0,
    shadow_of: str | None = None,
    shadow_confidence: float | None = None,
    labeled: int | None = None,
) -> None:
    """``requests`` requests of a classifier ``ref`` with label feedback, ``rows_per_request``
    rows each: the model puts about ``confidence`` on the true class (the rest spread over the
    others), so a higher confidence is a lower log loss. With ``shadow_of`` the requests are
    answered by that live version (at ``confidence``) and mirrored to ``ref`` (at
    ``shadow_confidence``), both logged under the same request ids. ``labeled`` sends
    labels for only the first that many requests (the others' labels have not arrived)."""
    from rayops.telemetry.writers import Scored

    rng = np.random.default_rng(seed)
    k = len(classes)
    log = PredictionLog(storage, flush_s=3600)
    outcomes = RequestLog(storage, flush_s=3600)
    labels: list[tuple[str, list[str], datetime]] = []

    def answer(truth: np.ndarray, conf: float) -> Scored:
        c = np.clip(conf + rng.normal(0, 0.08, len(truth)), 0.02, 0.98)
        p = np.repeat(((1 - c) / (k - 1))[:, None], k, axis=1)
        p[np.arange(len(truth)), truth] = c
        predicted = [classes[int(i)] for i in p.argmax(axis=1)]
        return Scored(probabilities=p, classes=classes, labels=predicted)

    for i in range(requests):
        when = start + i * timedelta(seconds=1)
        rid = uuid.uuid4().hex
        truth = rng.integers(0, k, rows_per_request)
        frame = pd.DataFrame({"x": rng.normal(size=rows_per_request)})
        live = shadow_of or ref
        log.record(request_id=rid, endpoint=endpoint, ref=live, frame=frame,
                   predictions=answer(truth, confidence), latency_ms=5.0, time=when)  # fmt: skip
        if shadow_of is not None:
            assert shadow_confidence is not None
            log.record(request_id=rid, endpoint=endpoint, ref=ref, frame=frame,
                       predictions=answer(truth, shadow_confidence), latency_ms=5.0,
                       shadow=True, time=when)  # fmt: skip
        outcomes.record(request_id=rid, endpoint=endpoint, ref=live, status=200, time=when)
        if labeled is None or i < labeled:
            labels.append((rid, [classes[int(t)] for t in truth], when))
    log.close()
    outcomes.close()
    if not labels:
        return
    last = max(when for _, _, when in labels)

    async def send() -> None:
        fb = FeedbackLog(storage, now=lambda: last)
        await asyncio.gather(
            *(fb.write(endpoint, rid, actual, labels=True) for rid, actual, _ in labels)
        )

    asyncio.run(send())
