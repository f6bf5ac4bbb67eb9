"""Functions run in child processes by the concurrency tests (must be importable)."""

from __future__ import annotations

import time


def claim(uri: str, endpoint: str | None, key: str, who: int, start_at: float) -> bool:
    """Try put-if-absent on ``key`` once, starting at ``start_at``; True if this one won."""
    from rayops.config import Settings
    from rayops.errors import AlreadyExistsError
    from rayops.storage import open_storage

    storage = open_storage(uri, Settings(s3_endpoint_url=endpoint, s3_region="us-east-1"))
    storage.exists("warm-up")  # open the connection before the race starts
    time.sleep(max(0.0, start_at - time.time()))
    try:
        storage.put_if_absent(key, f"writer-{who}".encode())
        return True
    except AlreadyExistsError:
        return False
