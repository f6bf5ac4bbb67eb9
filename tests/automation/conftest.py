"""Fixtures for automation: a production model, an endpoint and its logged traffic."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

sys.path.insert(0, str(Path(__file__).parent))

from automation_support import Clock  # noqa: E402

from rayops.registry import Registry, baseline_from_frame  # noqa: E402
from rayops.serving import Endpoints  # noqa: E402
from rayops.storage import Storage  # noqa: E402


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def production(storage: Storage, clock: Clock) -> str:
    """demand@1.0.0, trained at T0 and in production, served by endpoint 'shop'."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=300)})
    booster = xgb.train({"max_depth": 2, "nthread": 1}, xgb.DMatrix(df, label=2 * df["x"]), 5)
    reg = Registry(storage, now=clock)
    mv = reg.register("demand", booster, baseline=baseline_from_frame(df, ["x"]))
    reg.set_alias("demand", "production", mv.version)
    Endpoints(storage).create("shop", mv.ref)
    return str(mv.ref)
