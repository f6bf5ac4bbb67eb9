"""Evaluate alert rules with de-duplication and cool-down, deliver, and act.

For each rule and target (the endpoint, or each version with ``per_version``),
the rule's metric over its window is compared with its threshold. An alert
fires when a breach starts, **once per breach**: while it lasts, no new alert
(de-duplication). After an alert, the same rule and target stay silent for the
rule's **cool-down**, even if the breach ends and starts again (flapping); a
breach still on when the cool-down ends fires then. A metric without data
changes nothing. The state (``monitoring/<endpoint>/alert_state.json``) is
updated with compare-and-swap *before* anything is delivered, so after a
restart, or with two loops, an alert is never sent twice.

Then, in order:

1. **actions**: each of the rule's actions runs its handler, which the capability
   that owns it provides (``rollback``: :func:`rayops.rollout.actions.rollback_action`,
   ``retrain``: :func:`rayops.automation.actions.retrain_action`); the control loop
   hands them over (:func:`rayops.control.tasks.alert_actions`), so monitoring never
   imports rollouts or retraining;
2. **sinks** (:mod:`rayops.monitoring.sinks`): the log (``rayops.monitoring.alerting``
   logger), a signed JSON webhook, a Slack-compatible webhook and email, each retried
   with backoff (``monitoring_sink_retries``; a receiver may see an alert twice and can
   tell by its ``id``), each delivery recorded, what could not be delivered
   dead-lettered — never raised; and storage (the alert record with every action's and
   delivery's outcome, read back by :func:`~rayops.monitoring.alerts.read_alerts`).

Example:
    >>> import tempfile
    >>> from datetime import UTC, datetime
    >>> from rayops.monitoring.view import EndpointView
    >>> from rayops.storage import open_storage
    >>> s = open_storage(tempfile.mkdtemp())
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> Alerter(s).evaluate(EndpointView(s, "shop", t), [])
    []
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rayops.config import Settings, settings_of
from rayops.errors import ConflictError, NotFoundError, RayopsError
from rayops.monitoring.alerts import Alert, AlertRule, Severity
from rayops.monitoring.layout import alert_state_key, alerts_prefix
from rayops.monitoring.records import write_record
from rayops.monitoring.sinks import Sink, deliver, sinks_from_settings
from rayops.storage.base import Storage, dumps
from rayops.storage.retry import pause

if TYPE_CHECKING:
    import requests

    from rayops.monitoring.view import EndpointView

__all__ = ["AlertAction", "Alerter", "post_json"]

#: An alert action: acts on an alert, returns ``{"action", "ok", "detail"}`` (recorded).
AlertAction = Callable[[Alert], dict[str, Any]]

logger = logging.getLogger(__name__)

_LEVELS = {Severity.INFO: logging.INFO, Severity.WARNING: logging.WARNING}
#: Metrics that exist only for the endpoint as a whole.
_ENDPOINT_ONLY = ("drift_share", "drift_score", "prediction_drift", "target_drift")


#: Webhook answers worth another attempt: a receiver's rate limit, or its outage.
_WEBHOOK_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_sessions: dict[int, requests.Session] = {}  # one per retry count, shared by every Alerter
_sessions_lock = threading.Lock()


def _webhook_session(retries: int) -> requests.Session:
    from rayops.http import session

    with _sessions_lock:
        if retries not in _sessions:
            # Alerts are POSTed again after a failure: at least once, deduplicated by id.
            _sessions[retries] = session(
                retries=retries, methods={"POST"}, statuses=_WEBHOOK_RETRY_STATUS
            )
        return _sessions[retries]


def post_json(url: str, payload: dict[str, Any], timeout_s: float, retries: int = 3) -> int:
    """POST ``payload`` as JSON, retrying as the module docstring says; returns the last
    HTTP status (raises on a transport error that outlasted the retries)."""
    response = _webhook_session(retries).post(url, json=payload, timeout=timeout_s)
    return int(response.status_code)


class Alerter:
    """Evaluates rules against an :class:`~rayops.monitoring.view.EndpointView` and
    delivers what fires (see the module docstring).

    Args:
        storage: the storage root.
        settings: tunables (cool-down, webhook URL, timeout and retries).
        sinks: where alerts go (default: :func:`rayops.monitoring.sinks.sinks_from_settings`,
            plus a rule's own webhook).
        actions: alert action handlers by name (``rollback``, ``retrain``); the
            capabilities that own them provide them (:func:`rayops.control.tasks.alert_actions`).
    """

    def __init__(
        self,
        storage: Storage,
        settings: Settings | None = None,
        *,
        sinks: Sequence[Sink] | None = None,
        actions: Mapping[str, AlertAction] | None = None,
    ) -> None:
        self.storage = storage
        self.settings = settings_of(storage, settings)
        self._sinks = list(sinks) if sinks is not None else None
        self.actions: dict[str, AlertAction] = dict(actions or {})

    def evaluate(
        self, view: EndpointView, rules: list[AlertRule], now: datetime | None = None
    ) -> list[Alert]:
        """Evaluate ``rules`` on ``view``; deliver and return the alerts that fire."""
        now = now or view.end
        decisions: list[tuple[AlertRule, str, float | None]] = []
        for rule in rules:
            if not rule.matches(view.endpoint):
                continue
            endpoint_only = rule.metric.partition(":")[0] in _ENDPOINT_ONLY
            refs = view.refs(rule.window) if rule.per_version and not endpoint_only else ["*"]
            for ref in refs:
                value = view.value(rule.metric, ref, rule.window)
                if rule.min_count and view.count(rule.metric, ref, rule.window) < rule.min_count:
                    value = None  # too few rows for the metric to mean anything yet
                decisions.append((rule, ref, value))
        if not decisions:
            return []
        firing: list[tuple[AlertRule, str, float]] = []

        def change(doc: dict[str, Any] | None) -> dict[str, Any]:
            state = dict(doc or {})
            firing.clear()
            for rule, ref, value in decisions:
                key = f"{rule.name}|{ref}"
                entry = dict(state.get(key, {"active": False, "last_fired": None, "suppressed": 0}))
                if value is None:
                    continue
                if not rule.breached(value):
                    entry["active"] = False
                elif not entry["active"]:
                    last = entry["last_fired"]
                    cool = rule.cooldown_span(self.settings.monitoring.alert_cooldown_s)
                    if last is not None and now - datetime.fromisoformat(last) < cool:
                        entry["suppressed"] = int(entry["suppressed"]) + 1
                    else:
                        entry.update(active=True, last_fired=now.isoformat())
                        firing.append((rule, ref, value))
                state[key] = entry
            return state

        self._update_state(alert_state_key(view.endpoint), change)
        return [self._deliver(view, rule, ref, value, now) for rule, ref, value in firing]

    def _update_state(self, key: str, change: Callable[[dict[str, Any] | None], Any]) -> None:
        """Compare-and-swap ``change`` into the state; no write when nothing changed."""
        for attempt in range(self.settings.cas_max_retries):
            try:
                current = self.storage.read_versioned(key)
                doc, token = current.json(), current.token
            except NotFoundError:
                doc, token = None, None
            new = change(doc)
            if new == doc:
                return
            try:
                self.storage.compare_and_swap(key, dumps(new), token)
                return
            except ConflictError:
                pause(attempt, self.settings)
        raise ConflictError(f"Gave up updating {key!r}: too many concurrent writers; retry.")

    # --- delivery ------------------------------------------------------------------------
    def _deliver(
        self, view: EndpointView, rule: AlertRule, ref: str, value: float, now: datetime
    ) -> Alert:
        window = rule.window or self.settings.monitoring.window
        target = view.endpoint if ref == "*" else f"{view.endpoint} {ref}"
        alert = Alert(
            id=uuid.uuid4().hex[:12],
            rule=rule.name,
            endpoint=view.endpoint,
            ref=None if ref == "*" else ref,
            metric=rule.metric,
            value=value,
            threshold=rule.threshold,
            comparator=rule.comparator,
            severity=rule.severity,
            window=window,
            time=now,
            message=(
                f"{rule.metric} of {target} is {value:.4g} ({rule.comparator} {rule.threshold:g}) "
                f"over the last {window}: rule {rule.name!r}."
            ),
        )
        alert.actions = [self._act(action, alert) for action in rule.actions]
        logger.log(_LEVELS.get(alert.severity, logging.ERROR), "Alert: %s", alert.message)
        alert.deliveries.append({"sink": "log", "ok": True})
        sinks = (
            self._sinks
            if self._sinks is not None
            else sinks_from_settings(self.settings, rule.webhook)
        )
        m = self.settings.monitoring
        alert.deliveries += deliver(
            sinks, alert.model_dump(mode="json"), storage=self.storage,
            attempts=1 + m.sink_retries, backoff_s=m.sink_backoff_s,
        )  # fmt: skip
        write_record(
            self.storage, alerts_prefix(alert.endpoint), alert.time, alert.id,
            alert.model_dump(mode="json"),
        )  # fmt: skip
        return alert

    # --- actions ---------------------------------------------------------------------------
    def _act(self, action: str, alert: Alert) -> dict[str, Any]:
        handler = self.actions.get(action)
        if handler is None:
            detail = (
                f"no handler for {action!r} here: actions run in the control loop "
                f"(this Alerter knows {sorted(self.actions) or 'none'})"
            )
            return {"action": action, "ok": False, "detail": detail}
        try:
            return handler(alert)
        except RayopsError as e:
            logger.warning("Action %s of alert %s failed: %s", action, alert.id, e)
            return {"action": action, "ok": False, "detail": f"{type(e).__name__}: {e}"}
