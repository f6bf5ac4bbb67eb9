"""Issue 23's multi-node proof on a 2-node Ray cluster on this machine, over a shared S3 root.

One cluster for the module (tests/helpers/twonode.py): a head and a worker node
with one CPU each, both running an interpreter that cannot import rayops. Every
job reaches the cluster the way a user's would: through the Jobs API, with
rayops in its runtime_env (``py_modules``), and the storage root on the moto S3
server. Shown here:

* batch scoring with parts on both nodes (each part records the node it ran on);
* ``ray job submit --working-dir <git archive of HEAD>`` training with two Ray
  Train workers, one per node, rayops importable only through the runtime_env;
* the worker node killed (SIGKILL to all its processes) during batch scoring and
  during that training, a new node joining as an autoscaler's would: the batch
  job finishes with every part exactly once (Ray Data restarts the scoring actor
  and retries its part), training resumes from its last checkpoint.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from harness import BUCKET, wait_until
from twonode import TwoNodeCluster

from rayops.config import Settings
from rayops.datasets import make_regression
from rayops.features import FeatureStore
from rayops.registry import Registry
from rayops.runtime_env import runtime_env
from rayops.storage import Storage, open_storage

pytestmark = pytest.mark.slow

RAY = str(Path(sys.executable).with_name("ray"))


@pytest.fixture(scope="module")
def cluster(s3_server: Any) -> Iterator[TwoNodeCluster]:
    c = TwoNodeCluster(dict(os.environ))
    try:
        yield c.start()
    finally:
        c.stop()


@pytest.fixture(scope="module")
def root(s3_server: Any, cluster: TwoNodeCluster) -> tuple[Storage, Settings]:
    settings = Settings(
        storage=f"s3://{BUCKET}/mn-{uuid.uuid4().hex[:8]}",
        s3_endpoint_url=s3_server.endpoint,
        s3_region="us-east-1",
        features_rows_per_file=5_000,
        batch_rows_per_part=5_000,
        train_checkpoint_every=20,
        train_max_failures=2,
    )
    storage = open_storage(settings.storage, settings)
    FeatureStore(storage, settings=settings).write(
        "rows", make_regression(60_000, seed=1), entity="entity_id", target="target"
    )
    return storage, settings


def _client(cluster: TwoNodeCluster) -> Any:
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(cluster.dashboard)


def _submit(cluster: TwoNodeCluster, settings: Settings, module: str, *args: str) -> str:
    """A job as rayops submits its own: ``python -m`` and rayops in py_modules."""
    from rayops.runtime_env import module_entrypoint

    return str(
        _client(cluster).submit_job(
            entrypoint=module_entrypoint(module, args),
            runtime_env=runtime_env(settings.job_env()),
            entrypoint_num_cpus=0,
        )
    )


def _finish(cluster: TwoNodeCluster, job: str, timeout: float = 240) -> dict[str, Any]:
    """Wait for the job to end; its result (the last stdout line, JSON)."""
    client = _client(cluster)
    assert wait_until(lambda: str(client.get_job_status(job)) in
                      ("JobStatus.SUCCEEDED", "JobStatus.FAILED", "JobStatus.STOPPED",
                       "SUCCEEDED", "FAILED", "STOPPED"),
                      timeout=timeout, interval=1.0), (
        f"job {job} did not finish: {client.get_job_logs(job)[-4000:]}")  # fmt: skip
    logs = client.get_job_logs(job)
    assert "SUCCEEDED" in str(client.get_job_status(job)), logs[-4000:]
    return json.loads([line for line in logs.splitlines() if line.startswith("{")][-1])  # type: ignore[no-any-return]


def _expected(storage: Storage) -> np.ndarray:
    frame = FeatureStore(storage).read("rows")
    return np.asarray(Registry(storage).load("demand").predict(frame))


def _scores(storage: Storage, manifest: dict[str, Any]) -> np.ndarray:
    keys = [f"batch/{manifest['job_id']}/{p['name']}" for p in manifest["parts"]]
    return np.asarray(storage.read_parquet(keys, columns=["prediction"]).column(0).to_numpy())


@pytest.fixture(scope="module")
def model(root: tuple[Storage, Settings]) -> str:
    import xgboost as xgb

    from rayops.training.scoring import prepare_frame

    storage, _ = root
    frame = make_regression(5_000, seed=2)
    features = [f"num_{i}" for i in range(8)] + ["cat_0", "cat_1"]
    dtrain = xgb.DMatrix(prepare_frame(frame, features), frame["target"], enable_categorical=True)
    booster = xgb.train({"max_depth": 6, "nthread": 1, "seed": 0}, dtrain, 100)
    return str(Registry(storage).register("demand", booster, features=features).ref)


def test_batch_scoring_runs_parts_on_both_nodes(
    cluster: TwoNodeCluster, root: tuple[Storage, Settings], model: str
) -> None:
    storage, settings = root
    job = _submit(cluster, settings, "rayops.jobs.batch_predict", model, "--features", "rows",
                  "--id-columns", "entity_id", "--job-id", "spread")  # fmt: skip
    manifest = _finish(cluster, job)
    assert manifest["rows"] == 60_000 and len(manifest["parts"]) == 12
    nodes = {p["node_id"] for p in manifest["parts"]}
    assert len(nodes) == 2 and cluster.worker_node_id() in nodes
    np.testing.assert_allclose(_scores(storage, manifest), _expected(storage), rtol=1e-6)


def test_batch_scoring_survives_the_death_of_a_worker_node(
    cluster: TwoNodeCluster, root: tuple[Storage, Settings], model: str
) -> None:
    storage, settings = root
    victim = cluster.worker_node_id()
    # --explain (SHAP values of 100 trees of depth 6) makes each part take ~3 s here.
    job = _submit(cluster, settings, "rayops.jobs.batch_predict", model, "--features", "rows",
                  "--explain", "--job-id", "chaos")  # fmt: skip

    def on_victim() -> int:
        docs = [storage.read_json(k) for k in storage.list_keys("batch/chaos/_parts/")]
        return sum(d["node_id"] == victim for d in docs)

    assert wait_until(lambda: on_victim() >= 1, timeout=180, interval=0.5)
    done_before = len(storage.list_keys("batch/chaos/_parts/"))
    cluster.kill_worker()
    cluster.start_worker()  # as an autoscaler would replace it
    manifest = _finish(cluster, job)
    assert done_before < 12, "the node died after the job had finished: nothing was shown"
    assert manifest["rows"] == 60_000 and len(manifest["parts"]) == 12
    nodes = {p["node_id"] for p in manifest["parts"]}
    assert victim in nodes and len(nodes) >= 2
    np.testing.assert_allclose(_scores(storage, manifest), _expected(storage), rtol=1e-6)


def test_a_train_job_from_a_clean_copy_spreads_and_survives_a_node_death(
    cluster: TwoNodeCluster, root: tuple[Storage, Settings], tmp_path: Path
) -> None:
    """`ray job submit --working-dir` from `git archive HEAD`: two Ray Train workers, one
    per node; the worker node dies after a checkpoint and training resumes from it."""
    from ray.util.state import list_actors

    storage, settings = root
    repo = Path(__file__).resolve().parent.parent
    clean = tmp_path / "clone"
    clean.mkdir()
    archive = subprocess.run(["git", "-C", str(repo), "archive", "HEAD"], capture_output=True,
                             check=True).stdout  # fmt: skip
    (tmp_path / "head.tar").write_bytes(archive)
    with tarfile.open(tmp_path / "head.tar") as tar:
        tar.extractall(clean, filter="data")
    assert not (clean / "rayops").exists()  # importable only through py_modules
    env = json.dumps({"py_modules": ["platform/rayops"], "env_vars": settings.job_env()})
    job = f"train-{uuid.uuid4().hex[:8]}"
    out = subprocess.run(
        [RAY, "job", "submit", "--address", cluster.dashboard, "--working-dir", ".",
         "--runtime-env-json", env, "--submission-id", job, "--no-wait", "--",
         "python", "-m", "rayops.jobs.train", "--features", "rows", "--workers", "2",
         "--rounds", "100", "--register", "spread"],
        cwd=clean, env=cluster.env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]

    def checkpointed() -> bool:
        return any(k.endswith("model.ubj") for k in storage.list_keys("train/checkpoints/"))

    assert wait_until(checkpointed, timeout=240, interval=0.5)
    workers = [a for a in list_actors(address=cluster.dashboard, detail=True, limit=10_000)
               if a.class_name == "RayTrainWorker" and a.state == "ALIVE"]  # fmt: skip
    assert len(workers) == 2 and len({a.node_id for a in workers}) == 2
    cluster.kill_worker()
    cluster.start_worker()  # as an autoscaler would replace it
    record = _finish(cluster, job, timeout=300)
    training = record["training"]
    assert training["path"] == "ray_train" and training["workers"] == 2
    assert (
        training["rounds"] == 100 and record["rows"]["train"] + record["rows"]["holdout"] == 60_000
    )
    assert training["resumed_from_round"] is not None and training["resumed_from_round"] >= 20
    assert training["resumed_from_round"] % 20 == 0
    assert Registry(storage).get("spread").card.run_id == record["run_id"]
