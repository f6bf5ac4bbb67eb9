"""The control loop's online-learning step: one cycle per enabled endpoint.

Every ``online_interval_s`` the task runs :meth:`OnlineLearner.step` for each
endpoint whose online learning is enabled. Everything it needs is in storage
(configs, cursors, the logs), so a restarted loop resumes where the last one
stopped. A failure of one endpoint (its model deleted, storage hiccup) is
reported in the task's summary and does not stop the others.

Example:
    >>> import tempfile
    >>> from datetime import UTC, datetime
    >>> from rayops.storage import open_storage
    >>> OnlineTask(open_storage(tempfile.mkdtemp())).tick(datetime(2026, 1, 1, tzinfo=UTC))
    {'endpoints': 0, 'updates': [], 'errors': {}}
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from rayops.config import Settings
from rayops.controltask import ControlTask
from rayops.errors import RayopsError
from rayops.online.learner import OnlineLearner
from rayops.storage.base import Storage

__all__ = ["OnlineTask"]

logger = logging.getLogger(__name__)


class OnlineTask(ControlTask):
    """Buffered incremental updates of every enabled endpoint (see :mod:`rayops.online`)."""

    name = "online"

    def __init__(self, storage: Storage, settings: Settings | None = None) -> None:
        super().__init__(storage, settings)
        self._now: datetime | None = None
        self.learner = OnlineLearner(storage, self.settings, now=self._clock)

    def _clock(self) -> datetime:
        if self._now is None:
            raise RuntimeError("OnlineTask's clock is read only inside tick().")
        return self._now

    @property
    def interval_s(self) -> float:
        return self.settings.online.interval_s

    def tick(self, now: datetime) -> dict[str, Any] | None:
        """Run one cycle for every enabled endpoint at time ``now``."""
        self._now = now
        try:
            names = self.learner.endpoints(enabled_only=True)
            updates: list[dict[str, Any]] = []
            errors: dict[str, str] = {}
            for endpoint in names:
                try:
                    record = self.learner.step(endpoint)
                except RayopsError as e:
                    logger.warning("Online update of %s failed: %s", endpoint, e)
                    errors[endpoint] = f"{type(e).__name__}: {e}"
                    continue
                except Exception as e:  # a bug or bad data at one endpoint must not stop the rest
                    logger.exception("Online update of %s crashed.", endpoint)
                    errors[endpoint] = f"{type(e).__name__}: {e}"
                    continue
                if record is not None:
                    updates.append(
                        {
                            "endpoint": endpoint,
                            "id": record.id,
                            "status": record.status.value,
                            "version": record.version,
                            "reason": record.reason,
                        }
                    )
            return {"endpoints": len(names), "updates": updates, "errors": errors}
        finally:
            self._now = None
