"""Where alerts go: Slack, a signed JSON webhook, email — retried, recorded, dead-lettered.

Sinks (configured in the ``monitoring`` settings; a rule's ``webhook`` adds one):

* :class:`SlackSink` — a Slack-compatible incoming webhook (``monitoring_slack_webhook_url``):
  ``{"text": <message>, "blocks": [...]}``, the fields Slack (and Mattermost,
  Rocket.Chat, Teams' Slack-compatible connectors) read;
* :class:`WebhookSink` — a generic JSON webhook (``monitoring_webhook_url``): the alert
  document as JSON. With ``monitoring_webhook_secret`` set it is signed:
  ``X-Rayops-Timestamp: <unix seconds>`` and
  ``X-Rayops-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the secret>``;
  a receiver recomputes it and refuses stale timestamps (replays);
* :class:`EmailSink` — email over SMTP (``monitoring_smtp_*``, ``smtplib``, STARTTLS
  when ``monitoring_smtp_starttls``), one message to ``monitoring_alert_email_to``.

:func:`deliver` sends an alert to every sink, each with up to
``1 + monitoring_sink_retries`` attempts ``monitoring_sink_backoff_s``, 2x, 4x... apart (or
as long as a receiver's ``Retry-After`` asks, at most 10 s);
it returns one delivery record per sink (attempts, outcome, error) and writes what
could not be delivered to ``monitoring/dead-letters/`` (the alert and why), so
nothing is lost silently. A send never raises into the monitoring pass.

Example:
    >>> import hashlib, hmac
    >>> sig = signature("s3cret", "1700000000", b'{"a":1}')
    >>> sig == "sha256=" + hmac.new(b"s3cret", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    True
    >>> SlackSink("http://hooks.example/x").payload({"message": "p95 is 300 ms",
    ...     "severity": "critical", "endpoint": "shop", "rule": "slow"})["text"]
    ':rotating_light: [critical] shop: p95 is 300 ms'
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from rayops.clock import utc_now
from rayops.http import session
from rayops.monitoring.layout import DEAD_LETTERS
from rayops.storage.base import Storage, dumps

__all__ = [
    "DeliveryError",
    "EmailSink",
    "Sink",
    "SlackSink",
    "WebhookSink",
    "deliver",
    "read_dead_letters",
    "signature",
    "sinks_from_settings",
]

logger = logging.getLogger(__name__)

_ICONS = {"info": ":information_source:", "warning": ":warning:", "critical": ":rotating_light:"}


class Sink(Protocol):
    """Something an alert is sent to; ``send`` raises on failure (retried by :func:`deliver`)."""

    name: str

    @property
    def target(self) -> str: ...

    def send(self, alert: dict[str, Any]) -> None: ...


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``<timestamp>.<body>`` with ``secret``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class DeliveryError(RuntimeError):
    """A send that failed; ``retry_after`` is the receiver's ``Retry-After``, if any."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


#: The longest Retry-After a receiver can make a delivery wait.
RETRY_AFTER_MAX_S = 10.0


def _post(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> None:
    """One POST on a kept-alive connection (retries are :func:`deliver`'s)."""

    http = _SESSIONS.get(url)
    if http is None:
        http = _SESSIONS.setdefault(url, session(retries=0))
    response = http.post(url, data=body, headers=headers, timeout=timeout_s)
    if response.status_code >= 300:
        wait = response.headers.get("Retry-After")
        seconds = float(wait) if wait and wait.replace(".", "", 1).isdigit() else None
        raise DeliveryError(f"HTTP {response.status_code} from {url}", seconds)


_SESSIONS: dict[str, Any] = {}


@dataclass
class SlackSink:
    """A Slack-compatible incoming webhook."""

    url: str
    timeout_s: float = 5.0
    name: str = "slack"

    @property
    def target(self) -> str:
        return self.url

    def payload(self, alert: dict[str, Any]) -> dict[str, Any]:
        icon = _ICONS.get(str(alert.get("severity")), ":bell:")
        text = f"{icon} [{alert.get('severity')}] {alert.get('endpoint')}: {alert.get('message')}"
        shown = ("rule", "metric", "value", "threshold", "ref", "window")
        facts = [f"*{k}*: {alert[k]}" for k in shown if alert.get(k) is not None]
        blocks: list[dict[str, Any]] = [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}}
        ]
        if facts:
            context = {"type": "mrkdwn", "text": " · ".join(facts)}
            blocks.append({"type": "context", "elements": [context]})
        return {"text": text, "blocks": blocks}

    def send(self, alert: dict[str, Any]) -> None:
        body = json.dumps(self.payload(alert)).encode()
        _post(self.url, body, {"Content-Type": "application/json"}, self.timeout_s)


@dataclass
class WebhookSink:
    """A generic JSON webhook, HMAC-signed when a secret is set."""

    url: str
    secret: str | None = None
    timeout_s: float = 5.0
    name: str = "webhook"
    clock: Callable[[], float] = field(default=time.time, repr=False)

    @property
    def target(self) -> str:
        return self.url

    def send(self, alert: dict[str, Any]) -> None:
        body = json.dumps(alert, sort_keys=True, default=str).encode()
        headers = {"Content-Type": "application/json"}
        if self.secret:
            stamp = str(int(self.clock()))
            headers["X-Rayops-Timestamp"] = stamp
            headers["X-Rayops-Signature"] = signature(self.secret, stamp, body)
        _post(self.url, body, headers, self.timeout_s)


@dataclass
class EmailSink:
    """Email over SMTP (``smtplib``), STARTTLS optional."""

    host: str
    port: int
    sender: str
    to: Sequence[str]
    user: str | None = None
    password: str | None = None
    starttls: bool = True
    timeout_s: float = 10.0
    name: str = "email"

    @property
    def target(self) -> str:
        return f"smtp://{self.host}:{self.port} -> {', '.join(self.to)}"

    def send(self, alert: dict[str, Any]) -> None:
        import smtplib
        from email.message import EmailMessage

        msg = EmailMessage()
        msg["Subject"] = (
            f"[rayops {alert.get('severity')}] {alert.get('endpoint')}: {alert.get('rule')}"
        )
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.to)
        lines = [str(alert.get("message", ""))] + [
            f"{k}: {alert[k]}"
            for k in ("metric", "value", "threshold", "ref", "window", "time", "id")
            if alert.get(k) is not None  # fmt: skip
        ]
        msg.set_content("\n".join(lines) + "\n")
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.user:
                smtp.login(self.user, self.password or "")
            smtp.send_message(msg)


def sinks_from_settings(settings: Any, rule_webhook: str | None = None) -> list[Sink]:
    """The sinks the ``monitoring`` settings configure (and a rule's own webhook)."""
    m = settings.monitoring
    secret = m.webhook_secret.get_secret_value() if m.webhook_secret else None
    out: list[Sink] = []
    for url in dict.fromkeys(u for u in (rule_webhook or m.webhook_url,) if u):
        out.append(WebhookSink(url, secret, m.webhook_timeout_s))
    if m.slack_webhook_url:
        out.append(SlackSink(m.slack_webhook_url, m.webhook_timeout_s))
    if m.smtp_host and m.alert_email_to:
        password = m.smtp_password.get_secret_value() if m.smtp_password else None
        out.append(
            EmailSink(m.smtp_host, m.smtp_port, m.alert_email_from, list(m.alert_email_to),
                      m.smtp_user, password, m.smtp_starttls, m.webhook_timeout_s)
        )  # fmt: skip
    return out


def deliver(
    sinks: Sequence[Sink],
    alert: dict[str, Any],
    *,
    storage: Storage | None = None,
    attempts: int = 4,
    backoff_s: float = 0.5,
    now: Callable[[], datetime] = utc_now,
    sleep: Callable[[float], None] = time.sleep,
) -> list[dict[str, Any]]:
    """Send ``alert`` to every sink with retries; one delivery record per sink.

    A sink that still fails after ``attempts`` tries is dead-lettered in ``storage``.
    """
    records = []
    for sink in sinks:
        record: dict[str, Any] = {"sink": sink.name, "target": sink.target, "ok": False}
        errors: list[str] = []
        for attempt in range(1, attempts + 1):
            try:
                sink.send(alert)
            except Exception as e:  # transport, HTTP status, SMTP: all recorded, never raised
                errors.append(f"{type(e).__name__}: {e}")
                if attempt < attempts:
                    wait = backoff_s * 2 ** (attempt - 1)
                    if isinstance(e, DeliveryError) and e.retry_after is not None:
                        wait = min(e.retry_after, RETRY_AFTER_MAX_S)
                    sleep(wait)
                continue
            record.update(ok=True, attempts=attempt)
            break
        else:
            record.update(attempts=attempts, error=errors[-1] if errors else "failed")
            logger.warning("Alert %s could not be sent to %s: %s", alert.get("id"), sink.name,
                           record["error"])  # fmt: skip
            if storage is not None:
                _dead_letter(storage, sink, alert, errors, now())
                record["dead_letter"] = True
        if errors and record["ok"]:
            record["retried"] = errors
        records.append(record)
    return records


def _dead_letter(
    storage: Storage, sink: Sink, alert: dict[str, Any], errors: list[str], when: datetime
) -> None:
    key = f"{DEAD_LETTERS}{when:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}.json"
    doc = {"sink": sink.name, "target": sink.target, "errors": errors, "alert": alert,
           "time": when.isoformat()}  # fmt: skip
    try:
        storage.put_if_absent(key, dumps(doc))
    except Exception:  # storage down too: the log line above is all that is left
        logger.exception("Dead-lettering alert %s failed.", alert.get("id"))


def read_dead_letters(storage: Storage) -> list[dict[str, Any]]:
    """Every dead-lettered alert, oldest first."""
    out = []
    for key in storage.list_keys(DEAD_LETTERS):
        if key.endswith(".json"):
            out.append(storage.read_json(key))
    return out
