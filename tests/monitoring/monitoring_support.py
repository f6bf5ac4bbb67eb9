"""Helpers for the monitoring tests: registered models, endpoints and prepared logs.

Logs are written with the gateway's own writers (PredictionLog, RequestLog,
FeedbackLog) at chosen times, so every test runs the real readers on real files.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from rayops.registry import Registry, baseline_from_frame
from rayops.serving import Endpoints
from rayops.storage import Storage
from rayops.telemetry.writers import FeedbackLog, PredictionLog, RequestLog

T0 = datetime(2026, 3, 1, tzinfo=UTC)
NUMERIC = [f"num_{i}" for i in range(8)]
CATEGORICAL = ["cat_0", "cat_1"]
FEATURES = NUMERIC + CATEGORICAL


def train(frame: pd.DataFrame, features: Sequence[str], rounds: int = 60) -> xgb.Booster:
    dm = xgb.DMatrix(frame[list(features)], label=frame["target"], enable_categorical=True)
    params = {"max_depth": 4, "eta": 0.2, "seed": 0, "nthread": 1}
    return xgb.train(params, dm, num_boost_round=rounds)


def predict(booster: xgb.Booster, frame: pd.DataFrame, features: Sequence[str]) -> np.ndarray:
    dm = xgb.DMatrix(frame[list(features)], enable_categorical=True)
    return np.asarray(booster.predict(dm), dtype=np.float64)


def register(
    storage: Storage,
    name: str,
    booster: xgb.Booster,
    train_frame: pd.DataFrame,
    features: Sequence[str] = FEATURES,
    metrics: dict[str, Any] | None = None,
) -> str:
    mv = Registry(storage).register(
        name,
        booster,
        features=list(features),
        metrics=metrics or {},
        baseline=baseline_from_frame(train_frame, list(features)),
    )
    return str(mv.ref)


def endpoint(storage: Storage, name: str, routes: Any) -> None:
    Endpoints(storage).create(name, routes)


def write_traffic(
    storage: Storage,
    endpoint: str,
    ref: str,
    frame: pd.DataFrame,
    predictions: Sequence[float],
    *,
    start: datetime = T0,
    every_s: float = 60.0,
    rows_per_request: int = 1,
    latency_ms: float | Sequence[float] = 5.0,
    actuals: Sequence[float] | None = None,
    feedback_delay_s: float = 30.0,
    failed: int = 0,
    prefix: str = "",
) -> list[str]:
    """One request of ``rows_per_request`` rows every ``every_s`` seconds; its outcome
    (200) in the request log, plus ``failed`` 500s at the end; feedback
    ``feedback_delay_s`` after each request when ``actuals`` are given.
    Returns the request ids."""
    features = frame.reset_index(drop=True)
    preds = np.asarray(predictions, dtype=np.float64)
    log = PredictionLog(storage, flush_s=3600)
    outcomes = RequestLog(storage, flush_s=3600)
    ids: list[str] = []
    n_requests = -(-len(features) // rows_per_request)
    lat = np.broadcast_to(np.asarray(latency_ms, dtype=np.float64), (n_requests,))
    times = []
    for i in range(n_requests):
        rows = slice(i * rows_per_request, (i + 1) * rows_per_request)
        when = start + timedelta(seconds=every_s * i)
        rid = f"{prefix}r{i:06d}"
        log.record(
            request_id=rid, endpoint=endpoint, ref=ref, frame=features.iloc[rows],
            predictions=preds[rows], latency_ms=float(lat[i]), time=when,
        )  # fmt: skip
        outcomes.record(request_id=rid, endpoint=endpoint, ref=ref, status=200, time=when)
        ids.append(rid)
        times.append(when)
    end = start + timedelta(seconds=every_s * n_requests)
    for j in range(failed):
        outcomes.record(
            request_id=f"{prefix}f{j}", endpoint=endpoint, ref=ref, status=500,
            time=start + timedelta(seconds=every_s * n_requests * j / max(failed, 1)),
        )  # fmt: skip
    log.close()
    outcomes.close()
    if actuals is not None:
        values = np.asarray(actuals, dtype=np.float64)
        delay = timedelta(seconds=feedback_delay_s)
        clock = iter([t + delay for t in times])

        async def send() -> None:
            fb = FeedbackLog(storage, now=lambda: next(clock))
            await asyncio.gather(
                *(
                    fb.write(endpoint, rid, [float(v) for v in values[
                        i * rows_per_request : (i + 1) * rows_per_request
                    ]])
                    for i, rid in enumerate(ids)
                )
            )  # fmt: skip

        asyncio.run(send())
    del end
    return ids


class WebhookReceiver:
    """A tiny HTTP server on 127.0.0.1 that keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        received = self.received = []  # type: list[dict[str, Any]]

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
