"""Fixtures for analytics: a prepared week of logs (written once per session) and a
recent day of logs ending now (for the dashboards, whose range ends now)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from analytics_support import ABSOLUTE, END, Truth, write_week  # noqa: E402

from rayops.analytics import AnalyticsReport, analyze  # noqa: E402
from rayops.storage import Storage, open_storage  # noqa: E402


@pytest.fixture(scope="session")
def week(tmp_path_factory: pytest.TempPathFactory) -> tuple[Storage, Truth]:
    """Local storage with the prepared week (and the week before it) ending at END."""
    storage = open_storage(str(tmp_path_factory.mktemp("analytics-week") / "root"))
    return storage, write_week(storage)


@pytest.fixture(scope="session")
def recent(tmp_path_factory: pytest.TempPathFactory) -> tuple[Storage, Truth]:
    """Local storage with the same scenario squeezed into the last day (ending now)."""
    storage = open_storage(str(tmp_path_factory.mktemp("analytics-recent") / "root"))
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    return storage, write_week(storage, end=end, days=1)


@pytest.fixture(scope="session")
def report7d(week: tuple[Storage, Truth]) -> AnalyticsReport:
    """The report of the prepared week, computed once."""
    return analyze(week[0], "shop", range="7d", end=END, settings=ABSOLUTE)
