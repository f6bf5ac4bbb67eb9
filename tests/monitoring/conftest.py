"""Fixtures of the monitoring tests (helpers live in monitoring_support.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


import pytest  # noqa: E402

from rayops.storage import Storage, open_storage  # noqa: E402


@pytest.fixture
def local(tmp_path: Path) -> Storage:
    """A local storage root, for tests whose storage behaviour the S3 runs already cover."""
    return open_storage(str(tmp_path / "root"))
