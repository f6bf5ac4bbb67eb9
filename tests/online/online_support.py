"""Helpers shared by the online-learning tests and bench/online.py.

A stand-in for the gateway that writes real serving logs at chosen times.

:class:`Stream` predicts each batch with the version the endpoint's routing
table sends traffic to (read from storage, like the gateway does), records it
with :class:`~rayops.telemetry.writers.PredictionLog` and its actual values with
:class:`~rayops.telemetry.writers.FeedbackLog` — the same writers, files and schemas
the gateway uses — so online learning reads exactly what it would in production.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import xgboost as xgb

from rayops.registry import Registry
from rayops.serving import Endpoints
from rayops.storage import Storage
from rayops.telemetry.writers import FeedbackLog, PredictionLog

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
DRIFT_AT = 3_000
FEATURES = [f"num_{i}" for i in range(8)] + ["cat_0", "cat_1"]
PARAMS = {"max_depth": 4, "eta": 0.2, "nthread": 1, "seed": 0, "objective": "reg:squarederror"}


def train(frame: pd.DataFrame, rounds: int = 150) -> xgb.Booster:
    dm = xgb.DMatrix(frame[FEATURES], frame["target"], enable_categorical=True)
    return xgb.train(PARAMS, dm, num_boost_round=rounds)


def register(storage: Storage, model: pd.DataFrame | xgb.Booster, name: str = "demand") -> str:
    """Register ``model`` (or one trained on a frame) and return ``name@version``."""
    booster = model if isinstance(model, xgb.Booster) else train(model)
    types = ["c" if c.startswith("cat") else "float" for c in FEATURES]
    mv = Registry(storage).register(
        name, booster, params=PARAMS, features=FEATURES, feature_types=types
    )
    return mv.ref


class Clock:
    """A settable clock injected into the code under test."""

    def __init__(self, t: datetime = T0) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return self.t


def serve_model(storage: Storage, model: xgb.Booster, endpoint: str = "shop") -> str:
    """Register ``model`` as demand@1.x.0 and create ``endpoint`` serving it."""
    ref = register(storage, model)
    Endpoints(storage).create(endpoint, ref)
    return ref


class Stream:
    """Serve ``frame`` to ``endpoint`` batch by batch and send its feedback."""

    def __init__(self, storage: Storage, endpoint: str, *, run: str = "r0") -> None:
        self.storage = storage
        self.endpoint = endpoint
        # Deterministic request ids: samples with the same feedback time are ordered by
        # them, so the holdout (and every result) is the same on every run.
        self._ids = (f"{run}-{n:08d}" for n in range(10**8))
        self.registry = Registry(storage)
        self.endpoints = Endpoints(storage)
        self._models: dict[str, object] = {}
        self.served: list[tuple[str, float, float]] = []  # (ref, prediction, actual)

    def serving(self) -> str:
        table = self.endpoints.get(self.endpoint)
        return max(table.routes, key=lambda r: r.weight).ref

    def send(
        self,
        batch: pd.DataFrame,
        at: datetime,
        *,
        rows_per_request: int = 1,
        feedback_delay: timedelta = timedelta(seconds=1),
        actuals: np.ndarray | None = None,
    ) -> None:
        """Predict ``batch`` at ``at`` with the serving version; its actual values (or
        ``actuals``) arrive ``feedback_delay`` later."""
        ref = self.serving()
        if ref not in self._models:
            self._models[ref] = self.registry.load(ref)
        model = self._models[ref]
        preds = model.predict(batch[FEATURES])  # type: ignore[attr-defined]
        truth = batch["target"].to_numpy() if actuals is None else actuals
        log = PredictionLog(self.storage, flush_s=3600)
        requests = []
        for start in range(0, len(batch), rows_per_request):
            rid = next(self._ids)
            part = slice(start, start + rows_per_request)
            log.record(
                request_id=rid, endpoint=self.endpoint, ref=ref,
                frame=batch[FEATURES].iloc[part].reset_index(drop=True),
                predictions=preds[part], latency_ms=1.0, time=at,
            )  # fmt: skip
            requests.append((rid, [float(a) for a in truth[part]]))
        log.close()
        self.served += [(ref, float(p), float(a)) for p, a in zip(preds, truth, strict=True)]

        async def feedback() -> None:
            fb = FeedbackLog(self.storage, now=lambda: at + feedback_delay)
            await asyncio.gather(*(fb.write(self.endpoint, rid, acts) for rid, acts in requests))

        asyncio.run(feedback())

    def mae(self, last: int | None = None) -> float:
        rows = self.served[-last:] if last else self.served
        return float(np.mean([abs(p - a) for _, p, a in rows]))
