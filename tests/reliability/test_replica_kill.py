"""Gateway replicas killed under load: SDK clients see no failure, Serve restores the replicas.

Two gateway replicas serve one endpoint. For 60 s, the SDK (``rayops.Client.predict``,
which retries idempotent predictions) sends 20 requests/s and, in parallel, a raw
``requests`` client without retries sends 10 requests/s; every 10 s one replica
actor is killed (``ray.kill``: no graceful shutdown, its in-flight requests die).
The SDK must see 0 failures; the raw client's failures are the cost of a kill
without retries. Recovery time is from the kill until Serve runs 2 replicas again.

A kill waits for the previous one to be repaired: where starting a replica takes
longer than 10 s (a loaded 2-core machine), killing on the clock would kill the only
running replica, and no retry policy answers when nobody runs. The load then lasts
until the fifth kill is repaired. Figures are printed (``pytest -s``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from gateway import SHUTDOWN_LOOP_S, ready, serve_http, tiny_endpoint
from harness import wait_until
from loadgen import Load

import rayops
from rayops.storage import Storage, open_storage

#: Own clusters, chaos or a browser: the slow tier (`pytest -m slow`).
pytestmark = pytest.mark.slow

DURATION_S = 60.0
KILL_EVERY_S = 10.0
KILLS = 5
RECOVERY_TIMEOUT_S = 120.0
ROW = {"a": 0.5, "b": -1.0}


def _names() -> list[tuple[str, str]]:
    import ray

    return sorted(
        (a["name"], a["namespace"])
        for a in ray.util.list_named_actors(all_namespaces=True)
        if "SERVE_REPLICA" in a["name"] and "Gateway" in a["name"] and "rayops#" in a["name"]
    )


def _running() -> int:
    from ray import serve

    app = serve.status().applications.get("rayops")
    if app is None or "Gateway" not in app.deployments:
        return 0
    return int(app.deployments["Gateway"].replica_states.get("RUNNING", 0))


def _states() -> Any:
    from ray import serve

    app = serve.status().applications.get("rayops")
    return (
        None
        if app is None
        else {k: (d.status, d.replica_states, d.message) for k, d in app.deployments.items()}
    )


def _kill_and_time_recovery(rng: random.Random) -> dict[str, float]:
    """Kill one replica actor (no graceful shutdown); wait until Serve runs 2 again."""
    import ray

    name, namespace = rng.choice(_names())
    ray.kill(ray.get_actor(name, namespace=namespace), no_restart=True)
    killed_at = time.monotonic()
    replaced: list[float] = []

    def recovered() -> bool:
        names = [n for n, _ in _names()]
        if not replaced and name not in names and len(names) == 2:
            replaced.append(time.monotonic() - killed_at)  # a replacement was started
        return bool(replaced) and len(names) == 2 and _running() == 2

    assert wait_until(recovered, timeout=RECOVERY_TIMEOUT_S, interval=0.25), (
        f"Serve did not restore 2 replicas after killing {name}: {_states()}"
    )
    return {
        "replacement_started_s": round(replaced[0], 2),
        "recovery_s": round(time.monotonic() - killed_at, 2),
    }


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Storage:
    storage = open_storage(str(tmp_path_factory.mktemp("kill") / "root"))
    tiny_endpoint(storage, "kill", seed=0)
    return storage


@pytest.fixture(scope="module")
def url(ray_cluster: Any, root: Storage) -> Iterator[str]:
    from ray import serve

    from rayops.apps.gateway import APP_NAME, build_app

    with serve_http() as base:
        app = build_app(
            {
                "storage": root.uri,
                "num_replicas": 2,
                "num_cpus": 0,
                "settings": {"serving_log_flush_s": 0.5},
                "graceful_shutdown_wait_loop_s": SHUTDOWN_LOOP_S,
            }
        )
        serve.run(app, name=APP_NAME, route_prefix="/")
        assert wait_until(ready(base), timeout=60)
        assert wait_until(lambda: _running() == 2 and len(_names()) == 2, timeout=60)
        yield base


def test_sdk_clients_see_no_failure_while_replicas_are_killed(url: str, root: Storage) -> None:
    client = rayops.Client(root, url=url)
    assert client.predict("kill", [ROW]).version == "1.0.0"

    def sdk() -> None:
        answer = client.predict("kill", [ROW])
        assert len(answer.predictions) == 1

    def raw() -> str | None:
        r = requests.post(f"{url}/endpoints/kill/predict", json={"instances": [ROW]}, timeout=10)
        return None if r.status_code == 200 else f"HTTP {r.status_code}"

    with_retries, without = Load(sdk, rate=20.0), Load(raw, rate=10.0)
    kills: list[dict[str, float]] = []
    rng = random.Random(14)
    started = time.monotonic()
    with_retries.start()
    without.start()
    try:
        for k in range(1, KILLS + 1):
            # Every 10 s, or as soon as the last kill is repaired if that took longer: killing
            # the only running replica would leave nobody to answer, whatever the retry policy.
            time.sleep(max(0.0, started + k * KILL_EVERY_S - time.monotonic()))
            kills.append(_kill_and_time_recovery(rng))
        time.sleep(max(0.0, started + DURATION_S - time.monotonic()))
    finally:
        with_retries.stop()
        without.stop()
    figures = {
        "seconds": round(time.monotonic() - started, 1),
        "kills": len(kills),
        "sdk (retries)": with_retries.summary(),
        "raw (no retries)": without.summary(),
        "replacement_started_s": [k["replacement_started_s"] for k in kills],
        "recovery_s": [k["recovery_s"] for k in kills],
    }
    print(f"\nreplica kills under load: {figures}")
    assert with_retries.sent >= 0.8 * 20 * DURATION_S, figures
    assert with_retries.failures == [], figures
    assert wait_until(lambda: _running() == 2, timeout=30)
    assert requests.get(f"{url}/v2/health/ready", timeout=5).status_code == 200
