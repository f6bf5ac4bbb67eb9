"""Parquet reads cost one listing, not a HEAD per file; a missing named key is NotFoundError."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest
from httpproxy import HttpProxy
from s3server import S3Server

from rayops.config import Settings
from rayops.errors import NotFoundError
from rayops.storage import Storage, open_storage

PARTS = 5


def _write_parts(storage: Storage, prefix: str) -> None:
    for i in range(PARTS):
        table = pa.table({"i": pa.array(range(i * 10, (i + 1) * 10), pa.int64())})
        storage.write_parquet(f"{prefix}part-{i}.parquet", table)
    storage.write_json(f"{prefix}manifest.json", {"parts": PARTS})  # not Parquet: skipped


def test_missing_named_key_is_not_found_before_reading(storage: Storage) -> None:
    _write_parts(storage, "fs/v1/")
    for keys in ("fs/v1/absent.parquet", ["fs/v1/part-0.parquet", "fs/v1/absent.parquet"]):
        with pytest.raises(NotFoundError, match=r"No Parquet object 'fs/v1/absent.parquet' in "):
            storage.read_parquet(keys)
        with pytest.raises(NotFoundError, match="absent.parquet"):
            list(storage.iter_batches(keys))
    with pytest.raises(NotFoundError, match=r"No Parquet files under .*/nothing/\."):
        storage.read_parquet("nothing/")


def test_prefix_and_named_reads_return_every_row(storage: Storage) -> None:
    _write_parts(storage, "fs/v2/")
    assert sorted(storage.read_parquet("fs/v2/").column("i").to_pylist()) == list(range(50))
    named = [f"fs/v2/part-{i}.parquet" for i in (3, 1)]
    assert sorted(storage.read_parquet(named).column("i").to_pylist()) == list(
        range(10, 20)
    ) + list(range(30, 40))
    assert sum(b.num_rows for b in storage.iter_batches("fs/v2/", batch_size=7)) == 50
    assert storage.read_parquet([]).num_rows == 0


@pytest.fixture
def counting(s3_server: S3Server) -> Iterator[HttpProxy]:
    proxy = HttpProxy(s3_server.endpoint)
    yield proxy
    proxy.close()


def test_reading_a_prefix_sends_one_listing_and_no_head(counting: HttpProxy, s3_uri: str) -> None:
    storage = open_storage(
        s3_uri, Settings(s3_endpoint_url=counting.endpoint, s3_region="us-east-1")
    )
    _write_parts(storage, "fs/v3/")
    counting.reset()
    table = storage.read_parquet("fs/v3/", columns=["i"])
    assert table.num_rows == 10 * PARTS
    assert counting.count("HEAD") == 0, counting.requests
    assert counting.count("GET", "list-type=2") == 1
    counting.reset()
    named = [f"fs/v3/part-{i}.parquet" for i in range(PARTS)]
    assert storage.read_parquet(named).num_rows == 10 * PARTS
    # One metadata request per named file (it gives pyarrow the size), never two.
    assert counting.count("HEAD") == PARTS, counting.requests
