"""Fixtures for online learning: a drifting stream, a registered model on an endpoint,
a settable clock."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))

import xgboost as xgb  # noqa: E402
from online_support import DRIFT_AT, Clock, serve_model, train  # noqa: E402

from rayops.config import Settings  # noqa: E402
from rayops.datasets import ConceptDrift, make_regression  # noqa: E402
from rayops.storage import Storage, open_storage  # noqa: E402


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings() -> Settings:
    # Fixed clocks: feedback is final as soon as it is written.
    return Settings(online_settle_s=0.0)


@pytest.fixture(scope="session")
def drifted() -> pd.DataFrame:
    """Rows before DRIFT_AT follow one relation, rows after it another."""
    return make_regression(6_000, seed=3, concept_drift=ConceptDrift(at_row=DRIFT_AT))


@pytest.fixture
def local(tmp_path: Path) -> Storage:
    """A local storage root (for the longer streams, where S3 adds only time)."""
    return open_storage(str(tmp_path / "root"))


@pytest.fixture(scope="session")
def pre_drift(drifted: pd.DataFrame) -> xgb.Booster:
    """A booster trained on the rows before the drift (trained once per session)."""
    return train(drifted.iloc[:DRIFT_AT])


@pytest.fixture
def shop(storage: Storage, pre_drift: xgb.Booster) -> str:
    """The pre-drift model serving endpoint 'shop' on the parametrized storage."""
    return serve_model(storage, pre_drift)
