"""Shared by bench/explain.py and bench/intervals.py: a gateway with request options
against the same gateway without them.

The gateway runs in Ray Serve (its own replica process); the load generator is a
separate Python process (this file run as a script with ``--load``) that sends
the cases round-robin — one request of each case per round, so drift in the
machine's load hits every case alike — and prints its end-to-end latencies and
request ids as JSON. "Inside the gateway" is the ``latency_ms`` the gateway logs
for each of those requests (routing, validation, prediction, the extras).
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["Case", "inside_ms", "run_load", "start_gateway"]

#: (name, endpoint, body) of one kind of request.
Case = tuple[str, str, dict[str, Any]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_gateway(root_uri: str) -> str:
    """Ray (2 CPUs), Serve on a free port and the rayops gateway on ``root_uri``."""
    import ray
    from ray import serve

    from rayops.apps.gateway import APP_NAME, build_app

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    settings = {"serving_log_flush_s": 1.0}
    serve.run(build_app({"storage": root_uri, "settings": settings}), name=APP_NAME,
              route_prefix="/")  # fmt: skip
    return f"http://127.0.0.1:{port}"


def run_load(url: str, cases: list[Case], rounds: int, warmup: int) -> dict[str, Any]:
    """Run the load generator in its own process; its JSON result."""
    spec = json.dumps({"url": url, "cases": cases, "rounds": rounds, "warmup": warmup})
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--load"],
        input=spec, capture_output=True, text=True, check=True,
    )  # fmt: skip
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


def inside_ms(
    root: Any, endpoints: list[str], request_ids: dict[str, list[str]]
) -> dict[str, float]:
    """Per case, the median ``latency_ms`` the gateway logged for its requests."""
    import pandas as pd

    time.sleep(3)  # a prediction-log flush or two
    frames = [
        root.read_parquet(
            f"logs/{e}/predictions/", columns=["request_id", "latency_ms"]
        ).to_pandas()
        for e in sorted(set(endpoints))
    ]
    per = pd.concat(frames).groupby("request_id")["latency_ms"].first()
    return {
        case: float(statistics.median(per[per.index.isin(ids)].tolist()))
        for case, ids in request_ids.items()
    }


def _load() -> None:
    import requests

    spec = json.loads(sys.stdin.read())
    url, cases = spec["url"], spec["cases"]
    session = requests.Session()
    latency: dict[str, list[float]] = {name: [] for name, _, _ in cases}
    ids: dict[str, list[str]] = {name: [] for name, _, _ in cases}
    for i in range(spec["warmup"] + spec["rounds"]):
        for name, endpoint, body in cases:
            started = time.perf_counter()
            r = session.post(f"{url}/endpoints/{endpoint}/predict", json=body, timeout=120)
            took = (time.perf_counter() - started) * 1000
            r.raise_for_status()
            if i >= spec["warmup"]:
                latency[name].append(took)
                ids[name].append(r.json()["request_id"])
    print(json.dumps({"p50": {k: statistics.median(v) for k, v in latency.items()},
                      "request_ids": ids}))  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--load", action="store_true", help="Be the load generator (stdin spec).")
    if parser.parse_args().load:
        _load()
