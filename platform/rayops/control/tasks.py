"""The tasks the control loop runs, by name.

Each capability that acts on its own (rollout analysis, the post-deploy guard,
monitoring, online learning, retrain triggers) registers its
:class:`~rayops.control.loop.ControlTask` here as ``"name": "module:Class"``; the
alert actions a task owns come from its class (:meth:`ControlTask.alert_actions`).
Classes are imported only when a loop is built (or its alert actions are collected),
so importing this module stays cheap.

Example:
    >>> import tempfile
    >>> from rayops.storage import open_storage
    >>> [t.name for t in default_tasks(open_storage(tempfile.mkdtemp()), names=["rollout"])]
    ['rollout']
"""

from __future__ import annotations

import importlib
from typing import Any

from rayops.config import Settings, settings_of
from rayops.controltask import ControlTask
from rayops.errors import InvalidInputError
from rayops.storage.base import Storage

__all__ = ["TASKS", "alert_actions", "default_tasks"]

#: Task name -> "module:Class". The order is the order of a pass: rollouts first
#: (they move traffic), then monitoring, online learning and retraining.
TASKS: dict[str, str] = {
    "rollout": "rayops.rollout.controller:RolloutTask",
    "guard": "rayops.rollout.guard:GuardTask",
    "monitor": "rayops.monitoring.task:MonitorTask",
    "aci": "rayops.monitoring.adaptive:AdaptiveLevelTask",
    "attribution": "rayops.monitoring.attribution:AttributionTask",
    "ensembles": "rayops.serving.ensemble_stats:EnsembleStatsTask",
    "online": "rayops.online.task:OnlineTask",
    "retrain": "rayops.automation.task:RetrainTask",
    "telemetry": "rayops.telemetry.task:TelemetryTask",
}


def _task_class(name: str) -> type[ControlTask]:
    module, _, cls = TASKS[name].partition(":")
    found: type[ControlTask] = getattr(importlib.import_module(module), cls)
    return found


def alert_actions(storage: Storage, settings: Settings | None = None) -> dict[str, Any]:
    """Every alert action's handler, for monitoring's alerter: the union of what each task
    registers (:meth:`ControlTask.alert_actions`; ``rollback`` from the rollout task,
    ``retrain`` from the retrain task), whichever tasks a loop runs.

    Example:
        >>> import tempfile
        >>> from rayops.storage import open_storage
        >>> sorted(alert_actions(open_storage(tempfile.mkdtemp())))
        ['retrain', 'rollback']
    """
    out: dict[str, Any] = {}
    for name in TASKS:
        for action, handler in _task_class(name).alert_actions(storage, settings).items():
            if action in out:
                raise InvalidInputError(f"Two control tasks register the alert action {action!r}.")
            out[action] = handler
    return out


def default_tasks(
    storage: Storage, settings: Settings | None = None, *, names: list[str] | None = None
) -> list[ControlTask]:
    """Instances of the tasks in ``names`` (default: every task in :data:`TASKS`)."""
    settings = settings_of(storage, settings)
    chosen = list(TASKS) if names is None else names
    unknown = sorted(set(chosen) - set(TASKS))
    if unknown:
        raise InvalidInputError(f"Unknown control tasks {unknown}; known: {sorted(TASKS)}.")
    out = []
    for name in chosen:
        task_cls = _task_class(name)
        extra = {"actions": alert_actions(storage, settings)} if name == "monitor" else {}
        out.append(task_cls(storage, settings, **extra))
    return out
