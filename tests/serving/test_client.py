"""The SDK against the real gateway: predictions, feedback and errors as rayops errors."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from harness import free_port
from serving_support import FEATURES, make_frame

from rayops import Client
from rayops.errors import InvalidInputError, NotFoundError
from rayops.registry import Registry
from rayops.serving.errors import NotReadyError
from rayops.storage import Storage
from rayops.telemetry.readers import read_feedback


def test_client_predict_and_feedback(gateway: str, root: Storage, models: dict[str, str]) -> None:
    client = Client(root, url=gateway)
    client.endpoints.create("sdk-demand", models["v2"])
    rows = make_frame(rows=5, seed=11)[FEATURES]
    deadline = time.monotonic() + 10
    while True:  # the gateway picks the new endpoint up within its poll interval
        try:
            answer = client.predict("sdk-demand", rows, key="user-1")
            break
        except NotFoundError:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    expected = Registry(root).load(models["v2"]).predict(rows)
    np.testing.assert_allclose(answer.predictions, expected, rtol=1e-5)
    assert answer.version == models["v2"].split("@")[1] and answer.request_id
    assert list(answer.frame().columns) == ["prediction"]

    client.feedback("sdk-demand", answer.request_id, [1.0] * 5)
    now = datetime.now(UTC)
    stored = read_feedback(root, "sdk-demand", now - timedelta(hours=1), now + timedelta(hours=1))
    assert (stored["request_id"] == answer.request_id).sum() == 5


def test_client_errors_are_rayops_errors(gateway: str, root: Storage) -> None:
    client = Client(root, url=gateway)
    with pytest.raises(NotFoundError):
        client.predict("no-such-endpoint", [{"x0": 1.0}])
    client.endpoints.list()  # storage-side calls work on the same root
    with pytest.raises(InvalidInputError, match="x1"):
        client.predict("sdk-demand", [{"x0": 1.0}])  # a feature is missing


def test_client_unreachable_gateway_fails_clearly(root: Storage) -> None:
    client = Client(root, url=f"http://127.0.0.1:{free_port()}", retries=1, timeout=1)
    started = time.monotonic()
    with pytest.raises(NotReadyError, match="did not answer after 2 attempts"):
        client.predict("x", [{"a": 1}])
    assert time.monotonic() - started < 5
    with pytest.raises(InvalidInputError, match="no gateway URL"):
        Client(root).predict("x", [{"a": 1}])
