"""Serving helpers for tests outside tests/serving: Serve on a free port, the gateway,
and steady synthetic traffic with feedback (importable: conftest puts helpers/ on sys.path)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import requests
from harness import free_port, wait_until

_SERVE_URL: str | None = None


@contextmanager
def serve_http() -> Iterator[str]:
    """Serve's HTTP proxy on 127.0.0.1 for one test module (needs the ray_cluster fixture).

    Serve (its controller and proxy) starts once per test session, on a free port, and
    stays up: starting and stopping it per module cost ~15 s each. When the block ends
    every application the module deployed is deleted, so the next module starts clean.
    """
    global _SERVE_URL
    from ray import serve

    if _SERVE_URL is None:
        port = free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        _SERVE_URL = f"http://127.0.0.1:{port}"
    try:
        yield _SERVE_URL
    finally:
        for name in list(serve.status().applications):
            serve.delete(name)


# A stopping replica checks every 0.2 s, not Serve's 2 s, that its requests are done:
# each module's teardown deletes its apps, and every delete waited 3 s (no module
# deletes a replica that is still taking traffic).
SHUTDOWN_LOOP_S = 0.2


def deploy_gateway_app(url: str, storage_uri: str, *, replicas: int = 1, **settings: Any) -> None:
    """Deploy (or redeploy) the gateway on ``storage_uri`` and wait until it is ready."""
    from ray import serve

    from rayops.apps.gateway import APP_NAME, build_app

    overrides = {"serving_log_flush_s": 0.5, "serving_poll_interval_s": 0.25, **settings}
    app = build_app(
        {"storage": storage_uri, "num_cpus": 0, "num_replicas": replicas, "settings": overrides,
         "graceful_shutdown_wait_loop_s": SHUTDOWN_LOOP_S}
    )  # fmt: skip
    serve.run(app, name=APP_NAME, route_prefix="/")
    assert wait_until(ready(url), timeout=120), "the gateway did not become ready"


def tiny_endpoint(storage: Any, endpoint: str, *, seed: int) -> str:
    """Register a 5-tree booster on features ``a`` and ``b`` (model ``demand``) and create
    ``endpoint`` routing all traffic to it; returns the version's ref."""
    import numpy as np
    import pandas as pd
    import xgboost as xgb

    from rayops.registry import Registry
    from rayops.serving import Endpoints

    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(200, 2)), columns=["a", "b"])
    booster = xgb.train({"max_depth": 2, "nthread": 1}, xgb.DMatrix(df, label=df["a"]), 5)
    ref = str(Registry(storage).register("demand", booster).ref)
    Endpoints(storage).create(endpoint, ref)
    return ref


def ready(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return requests.get(f"{url}/v2/health/ready", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    return check


@dataclass
class Traffic:
    """Requests at ``rate`` per second in a thread, each followed by its feedback.

    ``rows()`` returns ``(instances, actuals)`` for one request. Every answer is kept:
    ``statuses`` counts HTTP statuses (``"error"`` for a failed connection) and
    ``answers`` holds ``(monotonic time, version)`` of every 200.
    """

    url: str
    endpoint: str
    rows: Callable[[], tuple[list[dict[str, Any]], list[float]]]
    rate: float = 20.0
    feedback: bool = True
    statuses: Counter[Any] = field(default_factory=Counter)
    answers: list[tuple[float, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Traffic:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        session = requests.Session()
        period = 1.0 / self.rate
        next_at = time.monotonic()
        while not self._stop.is_set():
            instances, actuals = self.rows()
            try:
                r = session.post(
                    f"{self.url}/endpoints/{self.endpoint}/predict",
                    json={"instances": instances},
                    timeout=10,
                )
                self.statuses[r.status_code] += 1
                if r.status_code == 200:
                    body = r.json()
                    self.answers.append((time.monotonic(), f"{body['model']}@{body['version']}"))
                    if self.feedback:
                        session.post(
                            f"{self.url}/endpoints/{self.endpoint}/feedback",
                            json={"request_id": body["request_id"], "actuals": actuals},
                            timeout=10,
                        )
            except requests.RequestException:
                self.statuses["error"] += 1
            next_at += period
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    @property
    def failed(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != 200)
