"""How big the logs are: files, rows, bytes and partitions per log (``rayops logs stats``).

Example:
    >>> import tempfile
    >>> from rayops.storage import open_storage
    >>> log_stats(open_storage(tempfile.mkdtemp()), "shop")["predictions"]
    {'files': 0, 'live_files': 0, 'rows': 0, 'bytes': 0, 'partitions': 0}
"""

from __future__ import annotations

from functools import partial
from typing import Any

from rayops.storage.base import Storage
from rayops.telemetry.layout import Log, log_prefix, partition_day
from rayops.telemetry.manifest import live_files
from rayops.telemetry.readers import dataset

__all__ = ["log_stats"]


def log_stats(storage: Storage, endpoint: str) -> dict[str, dict[str, Any]]:
    """Per log of ``endpoint``: every data file, the live ones (what readers read), the
    rows in the live files (from Parquet footers), their bytes and the day partitions."""
    import pyarrow.fs as pafs

    fs, _ = storage.arrow_filesystem()
    out: dict[str, dict[str, Any]] = {}
    for log in Log:
        days = [
            d
            for d in (partition_day(n) for n in storage.list_children(log_prefix(endpoint, log)))
            if d
        ]
        base = storage.path_of(log_prefix(endpoint, log).rstrip("/"))
        selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
        infos: list[Any] = storage._translate(partial(fs.get_file_info, selector))
        sizes = {
            i.path.rsplit("/", 2)[-2] + "/" + i.base_name: int(i.size or 0)
            for i in infos
            if i.type == pafs.FileType.File and i.base_name.endswith(".parquet")
        }
        live = [k for d in sorted(days) for k in live_files(storage, endpoint, log, d)]
        rows = int(dataset(storage, live).count_rows()) if live else 0
        live_bytes = sum(sizes.get("/".join(k.rsplit("/", 2)[-2:]), 0) for k in live)
        out[log.value] = {
            "files": len(sizes),
            "live_files": len(live),
            "rows": rows,
            "bytes": live_bytes,
            "partitions": len(days),
        }
    return out
