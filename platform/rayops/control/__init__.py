"""The control loop: rollouts, monitoring, online learning and retraining in one
restartable place inside the cluster.

* :mod:`~rayops.control.loop` — :class:`ControlTask` and :class:`ControlLoop`.
* :mod:`~rayops.control.lease` — :class:`Lease`, with the epoch that fences stale writers.
* :mod:`~rayops.control.tasks` — the registered tasks (:func:`default_tasks`).
* :mod:`~rayops.apps.controller` — the loop as a one-replica Serve deployment (imports Ray).
"""

from __future__ import annotations

from rayops.control.loop import ControlLoop, ControlTask, Lease, read_status
from rayops.control.tasks import TASKS, default_tasks

__all__ = ["TASKS", "ControlLoop", "ControlTask", "Lease", "default_tasks", "read_status"]
