"""Helpers shared by the rollout tests: a fixed start time, a settable clock, tiny boosters."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import xgboost as xgb

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def booster(seed: int) -> xgb.Booster:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"x": rng.normal(size=50)})
    dm = xgb.DMatrix(df, label=df["x"] * 2)
    return xgb.train({"max_depth": 2, "nthread": 1, "seed": seed}, dm, num_boost_round=3)


class Clock:
    """A settable clock injected into the code under test."""

    def __init__(self, t: datetime = T0) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return self.t
