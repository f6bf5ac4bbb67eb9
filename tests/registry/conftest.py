"""Fixtures for registry tests: a tiny trained booster, its data and a controllable clock."""

from __future__ import annotations

from typing import Any

import pytest
from registry_workers import Clock, train

from rayops.registry import Registry
from rayops.storage import Storage


@pytest.fixture(scope="session")
def frame() -> Any:
    from rayops.datasets import make_regression

    return make_regression(400, seed=3)


@pytest.fixture(scope="session")
def booster(frame: Any) -> Any:
    return train(frame)


@pytest.fixture(scope="session")
def booster_b(frame: Any) -> Any:
    return train(frame, rounds=10, depth=4, seed=1)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def reg(storage: Storage, clock: Clock) -> Registry:
    return Registry(storage, now=clock)
