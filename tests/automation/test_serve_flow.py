"""The default `rayops serve` flow on a 2-CPU cluster: a retrain fires, and finishes.

`rayops serve` deploys the gateway (1 CPU per replica) and the control loop (no CPU
reserved) onto a private 2-CPU head node, the way a new user runs it. Traffic with
feedback fires the `new_samples` trigger. While another job holds 0.5 CPU (the control
loop's old reservation), the retrain cannot fit — its training task needs 1 CPU — and
`rayops retrain status` says so within a minute; the policy starts no second job. Once
the CPU is free the same job is submitted and finishes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import requests
import xgboost as xgb
from harness import free_port, wait_until
from headnode import head_env, head_node

from rayops.automation.jobs import JobStage, JobState, JobStore
from rayops.automation.retrainer import Retrainer
from rayops.control.loop import read_status
from rayops.datasets import make_regression
from rayops.features import FeatureStore
from rayops.registry import Registry
from rayops.serving import Endpoints
from rayops.storage import Storage, open_storage

RAYOPS = str(Path(sys.executable).with_name("rayops"))

#: A job whose 2-CPU task cannot be placed next to the gateway's 1 CPU, watched.
WATCHED = "; ".join([
    "import ray",
    "from rayops.automation.resources import ResourceWatch",
    "ray.init()",
    "f = ray.remote(num_cpus=2)(lambda: 1)",
    "report = lambda text: print(\"REPORT\", text, flush=True)",
    "w = ResourceWatch(report, poll_s=1.0).__enter__()",
    "ref = f.remote()",
    "ready, _ = ray.wait([ref], timeout=8)",
    "ray.cancel(ref, force=True)",
    "w.__exit__(None, None, None)",
])  # fmt: skip
WAITING = "waiting for resources (needs 1 CPU for its training task, free 0.5 of 2 CPUs)"


def _world(root: Path) -> tuple[Storage, pd.DataFrame]:
    """Feature set v1, demand@1.0.0 (trained here, no Ray) in production behind 'shop'."""
    storage = open_storage(str(root))
    data = make_regression(900, seed=5)
    FeatureStore(storage).write("demand-fs", data.iloc[:600], entity="entity_id",
                                event_time="event_time", target="target")  # fmt: skip
    features = [c for c in data.columns if c not in ("target", "entity_id", "event_time")]
    base = data.iloc[:600]
    booster = xgb.train({"max_depth": 3, "nthread": 1}, xgb.DMatrix(
        base[features], base["target"], enable_categorical=True), num_boost_round=20)  # fmt: skip
    reg = Registry(storage)
    mv = reg.register("demand", booster, params={"max_depth": 3, "n_estimators": 20},
                      features=features)  # fmt: skip
    reg.set_alias("demand", "production", mv.version)
    Endpoints(storage).create("shop", mv.ref)
    Retrainer(storage).set_policy({
        "model": "demand", "endpoint": "shop", "features": "demand-fs", "auto_deploy": False,
        "triggers": {"age": {"enabled": False}, "drift": {"enabled": False},
                     "health": {"enabled": False}, "new_samples": {"count": 40}},
    })  # fmt: skip
    return storage, data.iloc[600:]


def _traffic(url: str, rows: pd.DataFrame) -> None:
    features = rows.drop(columns=["target", "entity_id", "event_time"])
    features = features.astype({c: "object" for c in features.select_dtypes("category")})
    for i in range(0, len(rows), 10):
        part = features.iloc[i : i + 10].to_dict(orient="records")
        r = requests.post(f"{url}/endpoints/shop/predict", json={"instances": part}, timeout=30)
        assert r.status_code == 200, r.text
        actuals = rows["target"].iloc[i : i + 10].tolist()
        fb = requests.post(
            f"{url}/endpoints/shop/feedback",
            timeout=30,
            json={"request_id": r.json()["request_id"], "actuals": actuals},
        )
        assert fb.status_code == 201, fb.text


@pytest.mark.slow
def test_rayops_serve_defaults_leave_room_for_a_retrain_that_says_when_it_waits(
    tmp_path: Path,
) -> None:
    from ray.job_submission import JobSubmissionClient

    storage, rows = _world(tmp_path / "root")
    gcs: list[str] = []
    with head_node(num_cpus=2, gcs=gcs) as dashboard:
        jobs_api = JobSubmissionClient(dashboard)
        blocker = jobs_api.submit_job(
            entrypoint=f"{sys.executable} -c 'import time; time.sleep(600)'",
            entrypoint_num_cpus=0.5,
        )
        assert wait_until(lambda: str(jobs_api.get_job_status(blocker)) in ("RUNNING",
                          "JobStatus.RUNNING"), timeout=60)  # fmt: skip
        port = free_port()
        served = subprocess.run(
            [RAYOPS, "serve", "--address", gcs[0], "--port", str(port), "--no-blocking",
             "--storage", storage.uri, "--json"],
            env=head_env(), capture_output=True, text=True, timeout=240,
        )  # fmt: skip
        assert served.returncode == 0, served.stderr[-2000:]
        url = f"http://127.0.0.1:{port}"
        assert json.loads(served.stdout[served.stdout.index("{") :])["url"] == url
        assert wait_until(
            lambda: requests.get(f"{url}/v2/health/ready", timeout=2).ok, timeout=120
        ), "the gateway did not become ready"
        _traffic(url, rows.iloc[:100])
        retrainer, store = Retrainer(storage), JobStore(storage)

        def waiting() -> bool:
            found = retrainer.status("demand")
            return bool(found) and found[0].waiting == WAITING

        fired = time.monotonic()
        assert wait_until(waiting, timeout=60, interval=0.5), retrainer.status("demand")
        print(f"waiting reported {time.monotonic() - fired:.1f} s after the traffic")
        (job,) = retrainer.status("demand")
        assert job.state is JobState.QUEUED and job.stage is JobStage.WAITING
        assert job.trigger == "new_samples"
        # Three more passes of the loop (it rewrites its status every pass): no second job.
        passes: set[object] = set()

        def three_more() -> bool:
            passes.add((read_status(storage) or {}).get("time"))
            return len(passes) > 3

        assert wait_until(three_more, timeout=60, interval=0.5), passes
        assert [j.id for j in store.list("demand")] == [job.id]

        jobs_api.stop_job(blocker)  # the 0.5 CPU comes back: 1 CPU free, the job fits
        assert wait_until(lambda: store.get("demand", job.id).state.finished, timeout=180,
                          interval=1.0), store.get("demand", job.id)  # fmt: skip
        done = store.get("demand", job.id)
        assert done.state is JobState.SUCCEEDED, done.error
        assert done.waiting is None and done.candidate is not None
        assert [j.id for j in store.list("demand")] == [job.id]
        assert done.submitted_at is not None and done.submitted_at > done.created_at

        # Inside a running job: work Ray cannot place is reported within a poll or two.
        probe = jobs_api.submit_job(entrypoint=f"{sys.executable} -c '{WATCHED}'")
        assert wait_until(lambda: "JobStatus.SUCCEEDED" in str(jobs_api.get_job_status(probe))
                          or str(jobs_api.get_job_status(probe)) == "SUCCEEDED", timeout=90,
                          interval=1.0), jobs_api.get_job_logs(probe)  # fmt: skip
        logs = jobs_api.get_job_logs(probe)
        assert "REPORT waiting for resources (needs 2 CPUs for a task of this job, free 1 of 2 " \
               "CPUs)" in logs and "REPORT None" in logs, logs  # fmt: skip
