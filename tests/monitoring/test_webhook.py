"""Alert webhooks on the shared retrying session (rayops.http): a receiver's 5xx or 429
is retried with backoff and Retry-After, on one kept-alive connection."""

from __future__ import annotations

from pathlib import Path

from flaky_http import FlakyServer

from rayops.config import Settings
from rayops.monitoring.alerting import Alerter, post_json
from rayops.storage import open_storage


def test_a_webhook_post_is_retried_after_a_503_and_a_429() -> None:
    with FlakyServer([(503, {}), (429, {"Retry-After": "1"})], ok={}) as hook:
        assert post_json(hook.url + "/hook", {"id": "a1"}, 5.0) == 200
        assert [m for _, m, _ in hook.requests] == ["POST"] * 3
        assert hook.gaps()[1] >= 0.95 and hook.connections == 1
        assert post_json(hook.url + "/hook", {"id": "a2"}, 5.0) == 200
        assert hook.connections == 1  # the next alert reuses the connection


def test_the_alerter_takes_its_webhook_retries_from_the_settings(tmp_path: Path) -> None:
    storage = open_storage(str(tmp_path))
    with FlakyServer([(503, {})] * 2, ok={}) as hook:
        alerter = Alerter(storage, Settings(monitoring_webhook_retries=0))
        assert alerter._post(hook.url, {"id": "a1"}, 5.0) == 503  # no retry: recorded as failed
        assert len(hook.requests) == 1
        assert Alerter(storage)._post(hook.url, {"id": "a1"}, 5.0) == 200  # default: 3 retries
        assert len(hook.requests) == 3
