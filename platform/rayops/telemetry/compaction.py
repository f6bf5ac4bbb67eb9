"""Compaction and retention: few, large log files; old days deleted.

Every flush of the prediction log and every feedback group commit writes its own
small Parquet file. Each compaction pass merges, per partition (endpoint, log,
day) and per hour of writing, every live file of that hour (new small files and
what earlier passes merged) into one file, or several of about
``telemetry_target_file_mb`` each. A file already at half the target or more is
left as it is. An hour therefore ends as one file (per target size) however many
passes touched it, and between passes only the files written since the last
pass are small.

How no reader ever sees a row twice or misses one, on a local disk and on S3:

1. Write the merged file (``compacted-<HH>-<id>.parquet``). No manifest lists it
   yet, so readers ignore it.
2. Switch it in: add ``{file, replaces: [inputs]}`` to the partition's
   ``_manifest.json`` with compare-and-swap. From then on readers use the merged
   file and skip the inputs. A compactor that loses the race re-reads the
   manifest; if another already merged any of its inputs it deletes its own file.
3. Delete the inputs. A reader that listed one before the switch and finds it
   gone reads the partition again.

A compactor killed at any point leaves a readable, duplicate-free state: killed
before 2, its merged file is an orphan nobody reads (deleted once older than
``telemetry_orphan_grace_s``); killed after 2, the replaced inputs are skipped by
readers and deleted by the next run. Tools that read the directory directly
(DuckDB, pyarrow without rayops) may see a merged file beside its inputs between
steps 1 and 3, or after a crash until the next run; :func:`rayops.telemetry.readers.window_files`
lists exactly the live files for them.

Retention deletes whole day partitions older than ``telemetry_retention_days``.

Example:
    >>> import tempfile
    >>> from datetime import UTC, datetime
    >>> from rayops.storage import open_storage
    >>> Compactor(open_storage(tempfile.mkdtemp())).run(datetime(2026, 1, 1, tzinfo=UTC))
    {'merged_files': 0, 'input_files': 0, 'rows': 0, 'deleted_files': 0}
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from rayops.clock import as_utc, utc_now
from rayops.config import TelemetrySettings, settings_of
from rayops.errors import ConflictError, NotFoundError, StorageError
from rayops.storage.base import Storage, dumps
from rayops.telemetry.layout import (
    COMPACTED_PREFIX,
    MANIFEST,
    ROOT,
    Log,
    log_prefix,
    manifest_key,
    partition_day,
    partition_prefix,
)
from rayops.telemetry.manifest import Manifest, read_manifest
from rayops.telemetry.readers import dataset, is_missing_file

__all__ = ["CompactionReport", "Compactor", "endpoints_with_logs", "expire"]

logger = logging.getLogger(__name__)


@dataclass
class CompactionReport:
    """What a compaction pass did."""

    merged_files: int = 0
    input_files: int = 0
    rows: int = 0
    deleted_files: int = 0
    partitions: list[str] = field(default_factory=list)

    def add(self, other: CompactionReport) -> None:
        self.merged_files += other.merged_files
        self.input_files += other.input_files
        self.rows += other.rows
        self.deleted_files += other.deleted_files
        self.partitions += other.partitions

    def summary(self) -> dict[str, int]:
        return {
            "merged_files": self.merged_files,
            "input_files": self.input_files,
            "rows": self.rows,
            "deleted_files": self.deleted_files,
        }


def _hour_of(name: str) -> int | None:
    """The hour of writing in a data file's name: ``<YYYYmmddTHH...>-<id>.parquet`` as
    written, ``compacted-<HH>-<id>.parquet`` as merged."""
    if name.startswith(COMPACTED_PREFIX):
        text = name[len(COMPACTED_PREFIX) : len(COMPACTED_PREFIX) + 2]
    else:
        text = name[9:11] if len(name) > 11 and name[8] == "T" else ""
    return int(text) if text.isdigit() and 0 <= int(text) < 24 else None


def endpoints_with_logs(storage: Storage) -> list[str]:
    """Every endpoint that has logs under the root."""
    return storage.list_children(f"{ROOT}/")


class Compactor:
    """Merges small log files (see the module docstring).

    Args:
        storage: the storage root.
        settings: the ``telemetry`` settings section; default: the storage's.
    """

    def __init__(self, storage: Storage, settings: TelemetrySettings | None = None) -> None:
        self.storage = storage
        self.settings = settings or settings_of(storage).telemetry

    # --- passes -----------------------------------------------------------------------
    def run(self, now: datetime, endpoints: list[str] | None = None) -> dict[str, int]:
        """One pass over the recent days of every log of ``endpoints`` (default: all)."""
        report = CompactionReport()
        today = as_utc(now).date()
        days = [today - timedelta(days=i) for i in range(self.settings.lookback_days)]
        for endpoint in endpoints if endpoints is not None else endpoints_with_logs(self.storage):
            for log in Log:
                present = self._days(endpoint, log)
                for day in sorted(set(days) & set(present)):
                    report.add(self.compact_partition(endpoint, log, day, now))
        return report.summary()

    def compact_endpoint(
        self, endpoint: str, now: datetime, *, days: list[date] | None = None
    ) -> CompactionReport:
        """Compact every log of ``endpoint`` on ``days`` (default: every day it has)."""
        report = CompactionReport()
        for log in Log:
            present = self._days(endpoint, log)
            for day in sorted(present if days is None else set(days) & set(present)):
                report.add(self.compact_partition(endpoint, log, day, now))
        return report

    def _days(self, endpoint: str, log: Log) -> list[date]:
        names = self.storage.list_children(log_prefix(endpoint, log))
        return [d for d in (partition_day(n) for n in names) if d is not None]

    # --- one partition -------------------------------------------------------------------
    def compact_partition(
        self, endpoint: str, log: Log, day: date, now: datetime
    ) -> CompactionReport:
        """Merge the closed hours of one partition, after repairing what a dead run left."""
        report = CompactionReport()
        prefix = partition_prefix(endpoint, log, day)
        names = {k[len(prefix) :] for k in self.storage.list_keys(prefix)}
        manifest, _ = read_manifest(self.storage, endpoint, log, day)
        report.deleted_files += self._repair(prefix, names, manifest, now)
        live = manifest.live(names)
        sizes = self._sizes(prefix) if live else {}
        big = self.settings.target_file_mb * 1024 * 1024 / 2
        by_hour: dict[int, list[str]] = defaultdict(list)
        for name in live:
            hour = _hour_of(name)
            if hour is not None and sizes.get(name, 0) < big:
                by_hour[hour].append(name)
        for hour, inputs in sorted(by_hour.items()):
            if len(inputs) < 2:
                continue  # one file is already as compact as it gets
            for chunk in self._chunks(sizes, inputs):
                if len(chunk) < 2:
                    continue
                done = self._merge(endpoint, log, day, hour, chunk)
                if done is not None:
                    report.merged_files += 1
                    report.input_files += len(chunk)
                    report.rows += done
        if report.merged_files:
            report.partitions.append(prefix)
        return report

    def _chunks(self, sizes: dict[str, int], inputs: list[str]) -> list[list[str]]:
        """Inputs split so that each merged file holds about ``target_file_mb`` of input."""
        limit = self.settings.target_file_mb * 1024 * 1024
        chunks: list[list[str]] = [[]]
        total = 0
        for name in inputs:
            size = sizes.get(name, 0)
            if chunks[-1] and total + size > limit:
                chunks.append([])
                total = 0
            chunks[-1].append(name)
            total += size
        return chunks

    def _sizes(self, prefix: str) -> dict[str, int]:
        import pyarrow.fs as pafs

        fs, _ = self.storage.arrow_filesystem()
        base = self.storage.path_of(prefix.rstrip("/"))
        infos = self.storage._translate(
            lambda: fs.get_file_info(pafs.FileSelector(base, recursive=False, allow_not_found=True))
        )
        return {i.base_name: int(i.size or 0) for i in infos if i.type == pafs.FileType.File}

    def _merge(
        self, endpoint: str, log: Log, day: date, hour: int, inputs: list[str]
    ) -> int | None:
        """Merge ``inputs`` into one file and switch it in; its row count, or None if
        another compactor merged some of them first."""

        prefix = partition_prefix(endpoint, log, day)
        try:
            table = dataset(self.storage, [prefix + n for n in inputs]).to_table()
        except (NotFoundError, StorageError, OSError) as e:
            if not is_missing_file(e):
                raise
            return None  # another compactor merged and deleted them meanwhile
        if "time" in table.schema.names:
            table = table.sort_by([("time", "ascending")])
        name = f"{COMPACTED_PREFIX}{hour:02d}-{uuid.uuid4().hex[:12]}.parquet"
        self.storage.write_parquet(prefix + name, table)
        key = manifest_key(endpoint, log, day)
        for _ in range(64):
            manifest, token = read_manifest(self.storage, endpoint, log, day)
            if manifest.replaced & set(inputs):
                self.storage.delete(prefix + name)
                return None
            new = manifest.with_merge(name, inputs, rows=table.num_rows)
            try:
                self.storage.compare_and_swap(key, dumps(new.model_dump(mode="json")), token)
                break
            except ConflictError:
                continue
        else:
            self.storage.delete(prefix + name)
            raise ConflictError(f"Gave up switching in a merged file of {prefix}; retry.")
        for n in inputs:
            self.storage.delete(prefix + n)
        return int(table.num_rows)

    def _repair(self, prefix: str, names: set[str], manifest: Manifest, now: datetime) -> int:
        """Delete replaced inputs still present and merged files no manifest lists that are
        older than the orphan grace; returns how many files went."""
        deleted = 0
        for name in sorted(manifest.replaced & names):
            self.storage.delete(prefix + name)
            deleted += 1
        merged = manifest.merged
        grace = timedelta(seconds=self.settings.orphan_grace_s)
        orphans = [n for n in names if n.startswith(COMPACTED_PREFIX) and n not in merged]
        if orphans:
            sizes_times = self._mtimes(prefix)
            for name in orphans:
                written = sizes_times.get(name)
                # File times are wall-clock times: compare with the wall clock, not ``now``
                # (which tests and backfills may set in the past).
                if written is not None and utc_now() - written >= grace:
                    self.storage.delete(prefix + name)
                    deleted += 1
        return deleted

    def _mtimes(self, prefix: str) -> dict[str, datetime]:
        import pyarrow.fs as pafs

        fs, _ = self.storage.arrow_filesystem()
        base = self.storage.path_of(prefix.rstrip("/"))
        infos = self.storage._translate(
            lambda: fs.get_file_info(pafs.FileSelector(base, recursive=False, allow_not_found=True))
        )
        return {
            i.base_name: as_utc(i.mtime)
            for i in infos
            if i.type == pafs.FileType.File and i.mtime is not None
        }


def expire(
    storage: Storage, now: datetime, retention_days: float, endpoints: list[str] | None = None
) -> dict[str, Any]:
    """Delete log partitions of days entirely older than ``retention_days`` (0: keep all).

    Example:
        >>> import tempfile
        >>> from datetime import UTC, datetime
        >>> from rayops.storage import open_storage
        >>> expire(open_storage(tempfile.mkdtemp()), datetime(2026, 1, 1, tzinfo=UTC), 30)
        {'partitions': 0, 'files': 0}
    """
    if retention_days <= 0:
        return {"partitions": 0, "files": 0}
    cutoff = (as_utc(now) - timedelta(days=retention_days)).date()
    partitions = files = 0
    for endpoint in endpoints if endpoints is not None else endpoints_with_logs(storage):
        for log in Log:
            for name in storage.list_children(log_prefix(endpoint, log)):
                day = partition_day(name)
                if day is None or day >= cutoff:
                    continue
                prefix = partition_prefix(endpoint, log, day)
                keys = storage.list_keys(prefix)
                # Data first, the manifest last: a reader mid-way never resurrects rows.
                for key in sorted(keys, key=lambda k: k.endswith(MANIFEST)):
                    storage.delete(key)
                partitions += 1
                files += len(keys)
    return {"partitions": partitions, "files": files}
