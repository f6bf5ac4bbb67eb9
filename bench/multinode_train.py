"""Reproducible check: a 2-worker Ray Train run on a 2-node local Ray cluster.

Starts a head node and a second node on this machine (`ray start --head` and
`ray start --address=...`, one CPU each, their own temp dir and ports), trains
with two workers and STRICT_SPREAD placement, reads the workers' nodes from
Ray's state API, and tears down only the nodes it started (never `ray stop`,
which would kill every Ray cluster on the machine).

    python bench/multinode_train.py
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


DRIVER = textwrap.dedent(
    """
    import json, sys, tempfile
    import ray
    from ray.util.state import list_actors
    from rayops.config import Settings
    from rayops.datasets import make_regression
    from rayops.storage import open_storage
    from rayops.training.fit import TrainPath, train_model

    ray.init(address=sys.argv[1], log_to_driver=False)
    dashboard = sys.argv[2]
    nodes = sorted(n["NodeID"] for n in ray.nodes() if n["Alive"])
    result = train_model(
        make_regression(20_000, seed=0), "target", num_boost_round=20, workers=2,
        path=TrainPath.RAY_TRAIN, placement_strategy="STRICT_SPREAD",
        storage=open_storage(tempfile.mkdtemp()), settings=Settings(train_checkpoint_every=20),
    )
    workers = [a for a in list_actors(address=dashboard, detail=True, limit=1000)
               if a.class_name == "RayTrainWorker"]
    print(json.dumps({
        "cluster_nodes": nodes,
        "worker_nodes": sorted({a.node_id for a in workers}),
        "rounds": result.rounds,
        "workers": result.workers,
        "seconds": round(result.seconds, 1),
    }))
    """
)


def main() -> int:
    tmp = tempfile.mkdtemp(prefix="rmn", dir="/tmp")
    port, dash = free_port(), free_port()
    common = ["--num-cpus=1", "--block", "--disable-usage-stats"]
    env = {**os.environ, "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled")}
    head = subprocess.Popen(
        ["ray", "start", "--head", f"--port={port}", f"--temp-dir={tmp}",
         "--include-dashboard=true", f"--dashboard-port={dash}", "--dashboard-host=127.0.0.1",
         f"--ray-client-server-port={free_port()}", *common],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    procs = [head]
    try:
        time.sleep(12)
        worker = subprocess.Popen(
            ["ray", "start", f"--address=127.0.0.1:{port}", *common],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
        )  # fmt: skip
        procs.append(worker)
        time.sleep(8)
        out = subprocess.run(
            [sys.executable, "-c", DRIVER, f"127.0.0.1:{port}", f"http://127.0.0.1:{dash}"],
            capture_output=True, text=True, timeout=600, env=env,
        )  # fmt: skip
        if out.returncode != 0:
            print(out.stderr[-4000:])
            return 1
        report = json.loads(out.stdout.strip().splitlines()[-1])
        print(json.dumps(report, indent=2))
        ok = len(report["cluster_nodes"]) == 2 and len(report["worker_nodes"]) == 2
        print("workers placed on both nodes:", ok)
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from _report import result

        used = len(report["worker_nodes"])
        result("multinode_train", "nodes used by 2 STRICT_SPREAD workers", used, "2", ok,
               peer="2-node local cluster", unit="")  # fmt: skip
        return 0 if ok else 1
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    sys.exit(main())
