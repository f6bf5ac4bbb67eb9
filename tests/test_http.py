"""rayops.http and the SDK on it, against a real local HTTP server that fails on purpose:
retries (only idempotent calls, only 5xx and dropped connections), Retry-After, and one
kept-alive connection for many calls (counted on the server's side)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from flaky_http import FlakyServer

from rayops import Client
from rayops.errors import InvalidInputError, NotFoundError
from rayops.http import session
from rayops.serving.errors import NotReadyError

ROWS = [{"a": 1.0}]


def test_the_sdk_retries_503s_after_their_retry_after_and_succeeds(tmp_path: Path) -> None:
    wait = {"Retry-After": "1"}
    with (
        FlakyServer([(503, wait), (503, wait)]) as server,
        Client(str(tmp_path), url=server.url) as client,
    ):
        answer = client.predict("e", ROWS)
        assert answer.predictions == [1.0] and answer.request_id == "r-1"
        assert [p for _, _, p in server.requests] == ["/endpoints/e/predict"] * 3
        # Without Retry-After the waits would be 0.2 and 0.4 s.
        assert all(gap >= 0.95 for gap in server.gaps()), server.gaps()
        assert server.connections == 1  # the retries reused the connection


def test_a_dropped_connection_is_retried_like_a_killed_replica(tmp_path: Path) -> None:
    with FlakyServer(["drop", (500, {})]) as server, Client(str(tmp_path), url=server.url) as c:
        c.feedback("e", "r-1", [1.0])  # feedback is idempotent: retried as well
        assert len(server.requests) == 3 and server.connections == 2
        assert 0.15 <= server.gaps()[0] < 1.0 and 0.35 <= server.gaps()[1] < 1.5  # backoff


@pytest.mark.parametrize(
    ("status", "error"), [(400, InvalidInputError), (404, NotFoundError), (422, InvalidInputError)]
)
def test_a_4xx_is_not_retried(tmp_path: Path, status: int, error: type[Exception]) -> None:
    with FlakyServer([(status, {})]) as server, Client(str(tmp_path), url=server.url) as c:
        with pytest.raises(error, match=f"Scripted {status}"):
            c.predict("e", ROWS)
        assert len(server.requests) == 1


def test_retries_that_run_out_are_a_not_ready_error(tmp_path: Path) -> None:
    with FlakyServer([(503, {})] * 5) as server:
        client = Client(str(tmp_path), url=server.url, retries=2)
        with pytest.raises(NotReadyError, match="did not answer after 3 attempts: .* answered 503"):
            client.endpoint_status("e")
        assert len(server.requests) == 3
        client.close()


def test_non_idempotent_methods_are_not_retried() -> None:
    with FlakyServer([(503, {})] * 3) as server:
        http = session(retries=3)  # urllib3's idempotent methods: no POST
        assert http.post(server.url + "/x", json={}, timeout=5).status_code == 503
        assert len(server.requests) == 1
        assert http.get(server.url + "/x", timeout=5).status_code == 200  # GET is retried
        assert len(server.requests) == 4
        http.close()


def test_retry_after_is_capped() -> None:
    with FlakyServer([(503, {"Retry-After": "3600"})]) as server:
        http = session(retries=1, retry_after_max_s=0.3)
        started = time.monotonic()
        assert http.get(server.url + "/x", timeout=5).status_code == 200
        assert 0.25 <= time.monotonic() - started < 3
        http.close()


def test_one_connection_serves_many_calls_until_the_client_closes(tmp_path: Path) -> None:
    with FlakyServer([]) as server:
        client = Client(str(tmp_path), url=server.url)
        for _ in range(5):
            client.predict("e", ROWS)
        assert len(server.requests) == 5 and server.connections == 1
        client.close()
        client.predict("e", ROWS)  # a closed client opens a new connection when used again
        assert server.connections == 2
        client.close()
