"""Helpers shared by the automation tests: a fixed start time, a settable clock, and a
world with a production model trained before a concept drift and traffic logged after it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from rayops.datasets import ConceptDrift, make_regression
from rayops.features import FeatureStore
from rayops.registry import Registry
from rayops.serving import Endpoints
from rayops.storage import Storage, open_storage
from rayops.telemetry.writers import FeedbackLog, PredictionLog
from rayops.training.pipeline import run_training

T0 = datetime(2026, 11, 1, tzinfo=UTC)


class Clock:
    def __init__(self, t: datetime = T0) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return self.t


DRIFT_AT = 1500
ROLES: dict[str, Any] = {"entity": "entity_id", "event_time": "event_time", "target": "target"}


def log_traffic(storage: Storage, rows: pd.DataFrame, start: datetime, batch: int = 20) -> None:
    """Log ``rows`` as predicted by endpoint 'shop' in requests of ``batch`` rows, with feedback."""
    features = rows.drop(columns=["target", "entity_id", "event_time"])
    log = PredictionLog(storage, flush_s=3600)
    fb: list[tuple[str, list[float]]] = []
    for i in range(0, len(rows), batch):
        rid = uuid.uuid4().hex
        part = features.iloc[i : i + batch].reset_index(drop=True)
        log.record(request_id=rid, endpoint="shop", ref="demand@1.0.0", frame=part,
                   predictions=[0.0] * len(part), latency_ms=2.0,
                   time=start + timedelta(seconds=i))  # fmt: skip
        fb.append((rid, rows["target"].iloc[i : i + batch].tolist()))
    log.close()

    async def send() -> None:
        writer = FeedbackLog(storage, now=lambda: start + timedelta(seconds=len(rows) + 5))
        await asyncio.gather(*(writer.write("shop", rid, ys) for rid, ys in fb))

    asyncio.run(send())


def build(tmp_path: Path, *, drift: bool, log: bool = True) -> tuple[Storage, pd.DataFrame]:
    """Rows before DRIFT_AT as feature set v1, production trained on them, the later rows
    (after a concept drift, or not) logged as traffic with feedback."""
    storage = open_storage(str(tmp_path / "root"))
    concept = ConceptDrift(at_row=DRIFT_AT) if drift else None
    data = make_regression(2400, seed=11, concept_drift=concept)
    FeatureStore(storage).write("demand-fs", data.iloc[:DRIFT_AT], **ROLES)
    params = {"max_depth": 4, "learning_rate": 0.2}
    record = run_training(storage, target="target", features="demand-fs", register="demand",
                          params=params, num_boost_round=60)  # fmt: skip
    reg = Registry(storage)
    reg.set_alias("demand", "production", record["model"]["version"])
    Endpoints(storage).create("shop", record["model"]["ref"])
    if log:
        log_traffic(storage, data.iloc[DRIFT_AT:], datetime.now(UTC) - timedelta(hours=1))
    return storage, data
