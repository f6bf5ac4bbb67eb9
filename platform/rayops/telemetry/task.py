"""The control loop's telemetry task: compaction and retention of every endpoint's logs.

Example:
    >>> import tempfile
    >>> from datetime import UTC, datetime
    >>> from rayops.storage import open_storage
    >>> TelemetryTask(open_storage(tempfile.mkdtemp())).tick(datetime(2026, 1, 1, tzinfo=UTC))
    {'compaction': {'merged_files': 0, 'input_files': 0, 'rows': 0, 'deleted_files': 0}, \
'retention': {'partitions': 0, 'files': 0}}
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rayops.controltask import ControlTask
from rayops.telemetry.compaction import Compactor, expire

__all__ = ["TelemetryTask"]


class TelemetryTask(ControlTask):
    """Every ``telemetry_compact_interval_s``: merge closed hours, delete expired days."""

    name = "telemetry"

    @property
    def interval_s(self) -> float:
        return self.settings.telemetry.compact_interval_s

    def tick(self, now: datetime) -> dict[str, Any]:
        section = self.settings.telemetry
        return {
            "compaction": Compactor(self.storage, section).run(now),
            "retention": expire(self.storage, now, section.retention_days),
        }
