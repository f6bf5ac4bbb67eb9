"""Storage outages: clear errors, nothing half-written visible, success on retry.

The S3 server (moto, over HTTP) sits behind a TCP proxy that cuts the network:
before an operation, or in the middle of an upload after a given number of
bytes. The server keeps its state, as S3 does through a partition.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import xgboost as xgb
from harness import BUCKET
from s3server import S3Server
from tcpproxy import TcpProxy

from rayops.config import Settings
from rayops.datasets import make_regression
from rayops.errors import StorageError, StorageUnavailableError
from rayops.features import FeatureStore
from rayops.registry import Registry
from rayops.storage import Storage, open_storage


@pytest.fixture
def proxied(s3_server: S3Server) -> Iterator[tuple[Storage, TcpProxy]]:
    proxy = TcpProxy(s3_server.port)
    settings = Settings(s3_endpoint_url=proxy.endpoint, s3_region="us-east-1")
    yield open_storage(f"s3://{BUCKET}/outage-{uuid.uuid4().hex[:8]}", settings), proxy
    proxy.close()


def _booster() -> xgb.Booster:
    df = make_regression(300, seed=1)
    cols = [f"num_{i}" for i in range(8)]
    return xgb.train({"nthread": 1}, xgb.DMatrix(df[cols], df["target"]), 5)


def test_feature_ingest_during_outage_fails_clearly_then_succeeds(proxied) -> None:  # type: ignore[no-untyped-def]
    storage, proxy = proxied
    frame = make_regression(2_000, seed=3)
    proxy.cut()
    started = time.monotonic()
    with pytest.raises(StorageUnavailableError, match="Cannot reach the S3 endpoint"):
        FeatureStore(storage).write("sales", frame)
    assert time.monotonic() - started < 10
    proxy.restore()
    assert FeatureStore(storage).list() == []  # nothing half-written is visible
    v = FeatureStore(storage).write("sales", frame)
    assert v.version >= 1 and FeatureStore(storage).read(v.ref).shape[0] == 2_000


def test_feature_ingest_cut_mid_upload_leaves_no_visible_version(proxied) -> None:  # type: ignore[no-untyped-def]
    storage, proxy = proxied
    settings = Settings(
        s3_endpoint_url=proxy.endpoint, s3_region="us-east-1", features_rows_per_file=50_000
    )
    store = FeatureStore(storage, settings=settings)
    frame = make_regression(300_000, seed=4)
    proxy.cut_after(3_000_000)  # a few MB into the parts' uploads
    with pytest.raises(StorageError):
        store.write("big", frame)
    proxy.restore()
    assert store.list() == [] and not any(
        k.endswith("manifest.json") for k in storage.list_keys("")
    )
    v = store.write("big", frame)  # the retry publishes a complete version
    assert store.read(v.ref).shape[0] == 300_000
    assert v.version == 2  # version 1 was claimed by the failed write and stays skipped
    store.verify(v.ref)  # re-hashes the stored data; raises on a mismatch


def test_registration_during_outage_then_retry(proxied) -> None:  # type: ignore[no-untyped-def]
    storage, proxy = proxied
    booster = _booster()
    proxy.cut()
    with pytest.raises(StorageUnavailableError):
        Registry(storage).register("demand", booster)
    proxy.restore()
    reg = Registry(storage)
    assert reg.list() == []
    mv = reg.register("demand", booster)
    assert mv.version == "1.0.0"  # the failed attempt claimed nothing
    assert reg.load(mv.ref).booster is not None  # type: ignore[union-attr]


def test_registration_cut_mid_write_is_invisible(proxied) -> None:  # type: ignore[no-untyped-def]
    storage, proxy = proxied
    booster = _booster()
    reg = Registry(storage)
    proxy.cut_after(1_500)  # the claim goes through, the artifact or card does not
    with pytest.raises(StorageError):
        reg.register("demand", booster)
    proxy.restore()
    assert "demand" not in reg.list() or reg.versions("demand") == []
    mv = reg.register("demand", booster)
    assert [v.version for v in reg.versions("demand")] == [mv.version]  # no half version
    assert reg.load(mv.ref).booster is not None  # type: ignore[union-attr]
