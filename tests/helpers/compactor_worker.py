"""A compactor in its own process that dies hard (os._exit) after N storage mutations.

    python compactor_worker.py URI ENDPOINT_URL NOW_ISO CRASH_AFTER [ORPHAN_GRACE_S]

CRASH_AFTER counts write_parquet, compare_and_swap and delete calls; the process
exits with code 9 right *after* the N-th one completes (0: never crash), so a
sweep over N kills the compactor at every step of its protocol.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime


def main() -> None:
    uri, endpoint_url, now_iso, crash_after = sys.argv[1:5]
    grace = float(sys.argv[5]) if len(sys.argv) > 5 else 3600.0
    from rayops.config import Settings
    from rayops.storage import open_storage
    from rayops.telemetry.compaction import Compactor

    settings = Settings(storage=uri, s3_endpoint_url=endpoint_url or None, s3_region="us-east-1")
    storage = open_storage(uri, settings)
    limit = int(crash_after)
    count = 0

    def counted(name: str) -> None:
        original = getattr(storage, name)

        def call(*args: object, **kwargs: object) -> object:
            nonlocal count
            out = original(*args, **kwargs)
            count += 1
            if limit and count >= limit:
                os._exit(9)
            return out

        setattr(storage, name, call)

    for name in ("write_parquet", "compare_and_swap", "delete"):
        counted(name)
    telemetry = settings.telemetry.model_copy(update={"orphan_grace_s": grace})
    Compactor(storage, telemetry).run(datetime.fromisoformat(now_iso))
    print(count)


if __name__ == "__main__":
    main()
