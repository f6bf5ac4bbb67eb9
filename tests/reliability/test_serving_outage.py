"""The gateway on S3 storage through a TCP proxy that cuts the network (tests/helpers/tcpproxy.py).

During the outage, predictions keep being answered (models and routing are in memory)
while feedback, which is durable before it is acknowledged, fails with a 503 and a
sentence. After the network returns, every failed feedback post succeeds when retried,
every acknowledged feedback id is in storage, every stored object is complete, and the
prediction-log rows buffered during the outage are written (the log retries).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests
import xgboost as xgb
from gateway import deploy_gateway_app, serve_http
from harness import BUCKET, wait_until
from s3server import S3Server
from tcpproxy import TcpProxy

from rayops.config import Settings
from rayops.registry import Registry
from rayops.serving import Endpoints
from rayops.storage import Storage, open_storage

#: Own clusters, chaos or a browser: the slow tier (`pytest -m slow`).
pytestmark = pytest.mark.slow

ROW = {"a": 0.25, "b": 1.5}
Failed = tuple[str, requests.Response]  # (request id, the failed feedback answer)


@pytest.fixture(scope="module")
def proxy(s3_server: S3Server) -> Iterator[TcpProxy]:
    p = TcpProxy(s3_server.port)
    yield p
    p.close()


@pytest.fixture(scope="module")
def direct(s3_server: S3Server) -> Storage:
    """The storage root as the test sees it: straight to the S3 server, never cut."""
    settings = Settings(s3_endpoint_url=s3_server.endpoint, s3_region="us-east-1")
    return open_storage(f"s3://{BUCKET}/serving-outage-{uuid.uuid4().hex[:8]}", settings)


@pytest.fixture(scope="module")
def url(ray_cluster: Any, direct: Storage, proxy: TcpProxy) -> Iterator[str]:
    rng = np.random.default_rng(1)
    df = pd.DataFrame(rng.normal(size=(200, 2)), columns=["a", "b"])
    booster = xgb.train({"max_depth": 2, "nthread": 1}, xgb.DMatrix(df, label=df["b"]), 5)
    Endpoints(direct).create("out", Registry(direct).register("demand", booster).ref)
    with serve_http() as base:
        # The gateway reaches S3 only through the proxy.
        deploy_gateway_app(base, direct.uri, s3_endpoint_url=proxy.endpoint, s3_region="us-east-1")
        yield base


def _predict(url: str) -> str:
    r = requests.post(f"{url}/endpoints/out/predict", json={"instances": [ROW, ROW]}, timeout=30)
    assert r.status_code == 200, r.text
    return str(r.json()["request_id"])


def _feedback(url: str, request_id: str) -> requests.Response:
    return requests.post(
        f"{url}/endpoints/out/feedback",
        json={"request_id": request_id, "actuals": [1.0, 2.0]},
        timeout=60,
    )


def test_feedback_and_prediction_log_survive_a_storage_outage(
    url: str, direct: Storage, proxy: TcpProxy
) -> None:
    assert wait_until(
        lambda: requests.post(f"{url}/endpoints/out/predict", json={"instances": [ROW]}).ok,
        timeout=30,
    )
    acknowledged: list[str] = []
    pool = ThreadPoolExecutor(8)

    def stream(seconds: float, rate: float = 10.0) -> tuple[list[str], list[Failed]]:
        """Predict, then post the feedback in parallel, at ``rate`` per second; returns the
        predicted request ids and the failed feedback answers (acknowledged ones are kept)."""
        predicted, futures = [], []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            rid = _predict(url)  # answered from memory, outage or not
            predicted.append(rid)
            futures.append((rid, pool.submit(_feedback, url, rid)))
            time.sleep(1.0 / rate)
        failed = []
        for rid, f in futures:
            r = f.result()
            if r.status_code == 201:
                acknowledged.append(rid)
            else:
                failed.append((rid, r))
        return predicted, failed

    before, failed = stream(2.0)
    assert failed == [] and len(acknowledged) >= 10
    proxy.cut()
    cut_at = time.monotonic()
    try:
        during, failed = stream(5.0)
    finally:
        proxy.restore()
    outage_s = time.monotonic() - cut_at
    assert len(failed) >= 10, f"feedback kept succeeding while storage was cut: {len(failed)}"
    for _, r in failed:
        assert r.status_code == 503, (r.status_code, r.text[:300])
        body = r.json()
        assert body["type"] in {"StorageUnavailableError", "StorageError"}, body
        assert "Cannot reach the S3 endpoint" in body["error"] and "Traceback" not in r.text
    # After the outage: the failed posts succeed when retried, and new ones too.
    retried = [_feedback(url, rid) for rid, _ in failed]
    assert [r.status_code for r in retried] == [201] * len(failed)
    acknowledged.extend(rid for rid, _ in failed)
    after, failed_after = stream(1.0)
    assert failed_after == [], [r.text for _, r in failed_after]

    stored = direct.read_parquet("logs/out/feedback/").to_pandas()
    missing = set(acknowledged) - set(stored["request_id"])
    assert not missing, f"{len(missing)} acknowledged feedback ids are not in storage"
    # Every object under the prefix is a complete Parquet file of whole requests.
    keys = direct.list_keys("logs/out/feedback/")
    for key in keys:
        part = direct.read_parquet(key).to_pandas()
        assert part.groupby("request_id")["row"].apply(sorted).map(len).eq(2).all()

    # The prediction log buffered the outage's rows and wrote them once storage returned.
    predicted = set(before + during + after)

    def logged() -> set[str]:
        return set(direct.read_parquet("logs/out/predictions/").to_pandas()["request_id"])

    assert wait_until(lambda: predicted <= logged(), timeout=60, interval=1.0), (
        f"{len(predicted - logged())} answered predictions are missing from the prediction log"
    )
    rows = direct.read_parquet("logs/out/predictions/").to_pandas()
    print(
        f"\nstorage outage of {outage_s:.1f} s: {len(predicted)} predictions, all answered "
        f"({len(during)} during the outage); {len(failed)} feedback posts failed with 503 "
        f"during it and succeeded when retried; {len(acknowledged)} acknowledged feedback ids, "
        f"{len(set(acknowledged) & set(stored['request_id']))} in storage; prediction log: "
        f"{len(rows)} rows for {rows['request_id'].nunique()} requests"
    )
