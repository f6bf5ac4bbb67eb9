"""Registry test helpers: process workers (must be importable), a clock, a tiny trainer."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

FEATURES = [f"num_{i}" for i in range(8)] + ["cat_0", "cat_1"]


class Clock:
    """A clock tests move by hand; each reading advances it by one millisecond."""

    def __init__(self, start: datetime = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            self._now += timedelta(milliseconds=1)
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when


def train(frame: Any, rounds: int = 6, depth: int = 3, seed: int = 0) -> Any:
    """A tiny XGBoost regressor on ``frame`` (one thread, a few rounds)."""
    import xgboost as xgb

    d = xgb.DMatrix(frame[FEATURES], label=frame["target"], enable_categorical=True, nthread=1)
    params = {"nthread": 1, "max_depth": depth, "eta": 0.3, "seed": seed}
    return xgb.train(params, d, num_boost_round=rounds)


def register_model_file(
    uri: str, endpoint: str | None, name: str, model: bytes, who: int, barrier: Any
) -> str:
    """Register the saved UBJSON model ``model`` once all writers are at ``barrier``.

    Registers the file's bytes, as a Ray Train checkpoint would be. Returns the version
    this writer got.
    """
    from rayops.config import Settings
    from rayops.registry import Registry
    from rayops.storage import open_storage

    storage = open_storage(uri, Settings(s3_endpoint_url=endpoint, s3_region="us-east-1"))
    storage.exists("warm-up")  # open the connection before the race starts
    registry = Registry(storage)
    barrier.wait(timeout=120)  # a multiprocessing Manager barrier: all start together
    return registry.register(
        name, model, features=FEATURES, run_id=f"proc-{who}", author=f"writer-{who}"
    ).version
