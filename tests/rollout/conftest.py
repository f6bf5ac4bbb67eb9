"""Fixtures for rollouts: a storage root with three registered versions and an endpoint."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from rollout_support import Clock, booster  # noqa: E402

from rayops.config import Settings  # noqa: E402
from rayops.registry import Registry  # noqa: E402
from rayops.rollout import Rollouts  # noqa: E402
from rayops.serving import Endpoints  # noqa: E402
from rayops.storage import Storage  # noqa: E402


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def refs(storage: Storage) -> dict[str, str]:
    reg = Registry(storage)
    out = {label: str(reg.register("demand", booster(i)).ref) for i, label in enumerate("abc")}
    reg.set_alias("demand", "production", out["a"].split("@")[1])
    Endpoints(storage).create("shop", out["a"])
    return out


@pytest.fixture
def rollouts(storage: Storage, clock: Clock, refs: dict[str, str]) -> Rollouts:
    settings = Settings(rollout_min_samples=20, rollout_interval_s=60)
    return Rollouts(storage, now=clock, settings=settings)
