"""The interface a capability implements to run in the control loop.

Rollouts, monitoring, ensemble stats, online learning and retraining each provide
a :class:`ControlTask`; the loop (:mod:`rayops.control.loop`) runs them in turn
while it holds its lease. The interface sits low in the layers so that those
capabilities implement it without importing the loop that runs them.

Example:
    >>> from datetime import UTC, datetime
    >>> class Count(ControlTask):
    ...     name = "count"
    ...     def tick(self, now):
    ...         return {"ticked": now.isoformat()}
    >>> import tempfile
    >>> from rayops.storage import open_storage
    >>> Count(open_storage(tempfile.mkdtemp())).tick(datetime(2026, 1, 1, tzinfo=UTC))
    {'ticked': '2026-01-01T00:00:00+00:00'}
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar

from rayops.config import Settings, settings_of
from rayops.storage.base import Storage

__all__ = ["AlertAction", "ControlTask"]

#: An alert action's handler: takes the alert, returns ``{"action", "ok", "detail"}``.
AlertAction = Callable[[Any], dict[str, Any]]


class ControlTask(ABC):
    """One capability's share of the control loop.

    Subclasses set ``name`` and implement :meth:`tick`; they read and write all
    their state through ``storage`` so that a restarted loop resumes. ``tick``
    must be safe to call again after a crash half way (use put-if-absent and
    compare-and-swap for anything that must happen once).

    Args:
        storage: the storage root; in a loop, its fenced view (``ControlLoop.fenced``, a
            :class:`~rayops.storage.fenced.FencedStorage`), whose writes raise
            :class:`~rayops.errors.LeaseLostError` once the loop lost its lease. Let that
            error propagate (or go on: every later write fails too); the loop stops the pass.
        settings: tunables (default: from the environment).
    """

    #: Short, unique name (shown by ``rayops controller status``).
    name: ClassVar[str] = "task"

    def __init__(self, storage: Storage, settings: Settings | None = None) -> None:
        self.storage = storage
        self.settings = settings_of(storage, settings)

    @property
    def interval_s(self) -> float:
        """Seconds between two ticks of this task (default ``control_tick_s``)."""
        return self.settings.control.tick_s

    @classmethod
    def alert_actions(
        cls, storage: Storage, settings: Settings | None = None
    ) -> dict[str, AlertAction]:
        """The alert actions this capability owns, by name (default: none).

        Monitoring evaluates alert rules but knows no other capability: a rule's
        ``actions`` run the handlers the tasks register here (the rollout task owns
        ``rollback``, the retrain task ``retrain``), which the control loop collects
        (:func:`rayops.control.tasks.alert_actions`) and hands to monitoring.
        """
        return {}

    @abstractmethod
    def tick(self, now: datetime) -> dict[str, Any] | None:
        """Do one pass of work at time ``now``; return a JSON-ready summary (or None)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources when the loop stops (optional)."""
