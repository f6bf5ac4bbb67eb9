"""The rollout capability's alert action: ``rollback`` rolls back a running rollout.

Monitoring evaluates alert rules but does not know rollouts; a rule with
``actions=["rollback"]`` runs the handler this module builds, which the rollout task registers
(:meth:`rayops.rollout.controller.RolloutTask.alert_actions`) and the control loop
hands to monitoring (:func:`rayops.control.tasks.alert_actions`).

Example:
    >>> import tempfile
    >>> from rayops.storage import open_storage
    >>> act = rollback_action(open_storage(tempfile.mkdtemp()))
    >>> callable(act)
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rayops.config import Settings
from rayops.errors import NotFoundError
from rayops.rollout.rollouts import Rollouts
from rayops.rollout.state import RolloutStatus
from rayops.storage.base import Storage

__all__ = ["rollback_action"]


def rollback_action(
    storage: Storage, settings: Settings | None = None
) -> Callable[[Any], dict[str, Any]]:
    """The ``rollback`` alert action: roll back the endpoint's running rollout, or a
    promoted version its post-deploy guard still watches (to the guard's reference
    version), only if the alert is about the endpoint as a whole or about the candidate."""

    def rollback(alert: Any) -> dict[str, Any]:
        rollouts = Rollouts(storage, settings=settings)
        try:
            doc = rollouts.get(alert.endpoint)
        except NotFoundError:
            return {"action": "rollback", "ok": False, "detail": "no rollout on this endpoint"}
        guarded = (
            doc.status is RolloutStatus.PROMOTED and doc.guard is not None and (doc.guard.watching)
        )
        if doc.finished and not guarded:
            detail = f"the rollout of {doc.candidate} is already {doc.status.value}"
            return {"action": "rollback", "ok": False, "detail": detail}
        if alert.ref is not None and alert.ref != doc.candidate:
            detail = f"the alert is about {alert.ref}, not the candidate {doc.candidate}"
            return {"action": "rollback", "ok": False, "detail": detail}
        to = None
        if guarded and doc.guard is not None and doc.guard.reference_of(doc) != doc.stable:
            to = doc.guard.reference_of(doc)
        rollouts.rollback(alert.endpoint, to=to, reason=alert.message, actor="monitor")
        return {"action": "rollback", "ok": True, "detail": f"rolled back {doc.candidate}"}

    return rollback
