"""The retraining capability's alert action: ``retrain`` files a retrain request.

Monitoring evaluates alert rules but does not know retraining; a rule with
``actions=["retrain"]`` runs the handler this module builds, which the retrain task registers
(:meth:`rayops.automation.task.RetrainTask.alert_actions`) and the control loop
hands to monitoring (:func:`rayops.control.tasks.alert_actions`). The
request is picked up by the retrain controller like any other trigger.

Example:
    >>> import tempfile
    >>> from rayops.storage import open_storage
    >>> act = retrain_action(open_storage(tempfile.mkdtemp()))
    >>> callable(act)
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rayops.automation.requests import request_retrain
from rayops.serving.endpoints import Endpoints
from rayops.storage.base import Storage

__all__ = ["retrain_action"]


def retrain_action(storage: Storage, settings: Any = None) -> Callable[[Any], dict[str, Any]]:
    """The ``retrain`` alert action: a retrain request for the alert's model (the
    endpoint's main version's model for an endpoint-wide alert)."""

    def retrain(alert: Any) -> dict[str, Any]:
        ref = alert.ref or Endpoints(storage, registry=False).get(alert.endpoint).main.ref
        model = ref.partition("@")[0]
        req = request_retrain(
            storage,
            model,
            reason=alert.message,
            source="alert",
            endpoint=alert.endpoint,
            details={"alert": alert.id, "rule": alert.rule, "ref": ref, "value": alert.value},
            now=lambda: alert.time,
        )
        return {"action": "retrain", "ok": True, "detail": f"retrain request {req.id} for {model}"}

    return retrain
