"""Fixtures for batch scoring: training rows and boosters (see tests/helpers/batch_models.py)."""

from __future__ import annotations

import pandas as pd
import pytest
import xgboost as xgb
from batch_models import fit, rows


@pytest.fixture(scope="session")
def train_rows() -> pd.DataFrame:
    return rows(600, seed=5)


@pytest.fixture(scope="session")
def boosters(train_rows: pd.DataFrame) -> dict[str, xgb.Booster]:
    return {
        "reg_a": fit(train_rows, "target", "reg:squarederror", seed=0),
        "reg_b": fit(train_rows, "target", "reg:squarederror", rounds=8, seed=1),
        "bin": fit(train_rows, "churned", "binary:logistic", classes=["no", "yes"]),
        "bin_b": fit(train_rows, "churned", "binary:logistic", rounds=6, classes=["no", "yes"]),
        "multi": fit(train_rows, "tier", "multi:softprob", classes=["lo", "mid", "hi"]),
    }
