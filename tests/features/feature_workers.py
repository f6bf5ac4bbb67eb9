"""Functions run in child processes by the feature-store concurrency tests (importable)."""

from __future__ import annotations

import time


def write_feature_set(
    uri: str, endpoint: str | None, name: str, seed: int, start_at: float
) -> tuple[int, str, bool]:
    """Write a small feature set whose content depends only on ``seed``, starting at
    ``start_at``; returns (version, sha256, reused)."""
    import pyarrow as pa

    from rayops.config import Settings
    from rayops.features import FeatureStore
    from rayops.storage import open_storage

    settings = Settings(storage=uri, s3_endpoint_url=endpoint, s3_region="us-east-1")
    store = FeatureStore(open_storage(uri, settings), settings=settings)
    table = pa.table({"k": list(range(50)), "v": [seed * 1000 + i for i in range(50)]})
    store.storage.exists("warm-up")  # open connections before the race starts
    time.sleep(max(0.0, start_at - time.time()))
    v = store.write(name, table, entity="k")
    return v.version, v.sha256, v.reused
