"""Alert sinks against real local receivers: Slack-shaped and signed webhooks over HTTP, email
over a real SMTP server (aiosmtpd); retries through a receiver that fails twice, dead letters
when the receiver is down, and the alerter recording every delivery."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from flaky_http import FlakyServer
from harness import free_port

from rayops.config import Settings
from rayops.monitoring.sinks import (
    EmailSink,
    SlackSink,
    WebhookSink,
    deliver,
    read_dead_letters,
    signature,
    sinks_from_settings,
)
from rayops.storage import open_storage

ALERT: dict[str, Any] = {
    "id": "a1", "rule": "slow", "endpoint": "shop", "severity": "critical", "metric": "latency",
    "value": 312.0, "threshold": 200.0, "message": "latency_p95_ms of shop is 312 (> 200)",
}  # fmt: skip


class Smtp:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message; it answers
    ``451`` to the first ``fail`` messages."""

    def __init__(self, fail: int = 0) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Any] = []
        self.fail = fail
        outer = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                if outer.fail > 0:
                    outer.fail -= 1
                    return "451 Try again later"
                outer.messages.append(message_from_bytes(envelope.content))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> Smtp:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


@pytest.fixture
def no_sleep() -> Iterator[list[float]]:
    waits: list[float] = []
    yield waits


def test_slack_gets_text_and_blocks() -> None:
    with FlakyServer([], ok={}) as hook:
        [record] = deliver([SlackSink(hook.url)], ALERT, attempts=1)
        assert record["ok"] and record["attempts"] == 1
        body = json.loads(hook.bodies[0][1])
        assert body["text"].startswith(":rotating_light: [critical] shop:")
        assert body["blocks"][0]["text"]["text"] == body["text"]
        assert "*rule*: slow" in body["blocks"][1]["elements"][0]["text"]


def test_the_webhook_is_signed_with_hmac() -> None:
    with FlakyServer([], ok={}) as hook:
        sink = WebhookSink(hook.url, secret="s3cret", clock=lambda: 1_700_000_000.0)
        assert deliver([sink], ALERT, attempts=1)[0]["ok"]
        headers, body = hook.bodies[0]
        assert headers["X-Rayops-Timestamp"] == "1700000000"
        assert headers["X-Rayops-Signature"] == signature("s3cret", "1700000000", body)
        assert json.loads(body)["id"] == "a1"


def test_email_reaches_a_real_smtp_server_and_is_retried() -> None:
    with Smtp(fail=2) as smtp:
        sink = EmailSink("127.0.0.1", smtp.port, "rayops@test", ["oncall@test"], starttls=False)
        waits: list[float] = []
        [record] = deliver([sink], ALERT, attempts=4, backoff_s=0.1, sleep=waits.append)
        assert record["ok"] and record["attempts"] == 3 and len(record["retried"]) == 2
        assert waits == [0.1, 0.2]
        (msg,) = smtp.messages
        assert msg["To"] == "oncall@test" and "[rayops critical] shop: slow" in msg["Subject"]
        assert "latency_p95_ms of shop is 312" in msg.get_payload()


def test_a_receiver_that_fails_twice_gets_the_alert_on_the_third_try(tmp_path: Path) -> None:
    storage = open_storage(str(tmp_path))
    with FlakyServer([(500, {}), (429, {"Retry-After": "1"})], ok={}) as hook:
        waits: list[float] = []
        [record] = deliver([WebhookSink(hook.url)], ALERT, storage=storage, attempts=4,
                           backoff_s=0.05, sleep=waits.append)  # fmt: skip
        assert record["ok"] and record["attempts"] == 3
        assert waits == [0.05, 1.0]  # backoff, then the receiver's Retry-After
        assert hook.connections == 1  # one kept-alive connection for every attempt
    assert read_dead_letters(storage) == []


def test_an_alert_nobody_takes_is_dead_lettered(tmp_path: Path) -> None:
    storage = open_storage(str(tmp_path))
    down = f"http://127.0.0.1:{free_port()}/hook"
    sinks = [WebhookSink(down, timeout_s=1), EmailSink("127.0.0.1", free_port(), "a@b", ["c@d"],
                                                       starttls=False, timeout_s=1)]  # fmt: skip
    records = deliver(sinks, ALERT, storage=storage, attempts=2, sleep=lambda s: None)
    assert [r["ok"] for r in records] == [False, False]
    assert all(r["attempts"] == 2 and r["dead_letter"] for r in records)
    letters = read_dead_letters(storage)
    assert {d["sink"] for d in letters} == {"webhook", "email"}
    assert all(d["alert"]["id"] == "a1" and len(d["errors"]) == 2 for d in letters)


def test_the_alerter_sends_to_every_configured_sink(tmp_path: Path) -> None:
    from rayops.monitoring.alerting import Alerter
    from rayops.monitoring.alerts import AlertRule

    storage = open_storage(str(tmp_path))
    with FlakyServer([], ok={}) as hook, FlakyServer([(503, {})], ok={}) as slack, Smtp() as smtp:
        settings = Settings(
            monitoring_webhook_url=hook.url, monitoring_webhook_secret="k",
            monitoring_slack_webhook_url=slack.url, monitoring_smtp_host="127.0.0.1",
            monitoring_smtp_port=smtp.port, monitoring_smtp_starttls=False,
            monitoring_alert_email_to=["oncall@test"], monitoring_sink_backoff_s=0.01,
        )  # fmt: skip
        sinks = sinks_from_settings(settings)
        assert [s.name for s in sinks] == ["webhook", "slack", "email"]

        class View:  # the smallest EndpointView the alerter needs
            endpoint = "shop"
            end = datetime(2026, 1, 1, tzinfo=UTC)

            def refs(self, window: str | None) -> list[str]:
                return ["shop@1.0.0"]

            def value(self, metric: str, ref: str, window: str | None) -> float:
                return 300.0

        rule = AlertRule(name="slow", metric="latency_p95_ms", comparator=">", threshold=200)
        (alert,) = Alerter(storage, settings).evaluate(View(), [rule])  # type: ignore[arg-type]
        by_sink = {d["sink"]: d for d in alert.deliveries}
        assert by_sink["webhook"]["ok"] and by_sink["email"]["ok"]
        assert by_sink["slack"]["ok"] and by_sink["slack"]["attempts"] == 2
        assert "X-Rayops-Signature" in hook.bodies[0][0] and len(smtp.messages) == 1
