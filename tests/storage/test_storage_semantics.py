"""Storage semantics, each test run against a local directory and a real S3 server."""

from __future__ import annotations

import hashlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pytest
from harness import child_processes
from workers import claim

from rayops.errors import (
    AlreadyExistsError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
)
from rayops.storage import Storage

CLAIMERS = 16


def test_bytes_and_json_round_trip(storage: Storage) -> None:
    storage.write_bytes("a/b/c.bin", b"\x00\x01payload")
    assert storage.read_bytes("a/b/c.bin") == b"\x00\x01payload"
    storage.write_json("a/doc.json", {"x": [1, 2], "y": "z"})
    assert storage.read_json("a/doc.json") == {"x": [1, 2], "y": "z"}
    storage.write_bytes("a/b/c.bin", b"replaced")
    assert storage.read_bytes("a/b/c.bin") == b"replaced"


def test_missing_key_is_not_found(storage: Storage) -> None:
    with pytest.raises(NotFoundError, match="nope/x.json"):
        storage.read_bytes("nope/x.json")
    assert not storage.exists("nope/x.json")
    storage.delete("nope/x.json")  # deleting a missing key is fine


@pytest.mark.parametrize("bad", ["", "/abs", "a/../b", "..", "a//b", "a\\b", "a\nb", "./a"])
def test_unsafe_keys_are_refused(storage: Storage, bad: str) -> None:
    with pytest.raises(InvalidInputError):
        storage.write_bytes(bad, b"x")


def test_listing_prefix_and_children(storage: Storage) -> None:
    for key in ["m/x/1.json", "m/x/2.json", "m/y/1.json", "m/top.json", "other/z.json"]:
        storage.write_bytes(key, b"{}")
    assert storage.list_keys("m/") == ["m/top.json", "m/x/1.json", "m/x/2.json", "m/y/1.json"]
    assert storage.list_keys("m/x/") == ["m/x/1.json", "m/x/2.json"]
    assert storage.list_children("m") == ["top.json", "x", "y"]
    assert storage.list_children("m/x/") == ["1.json", "2.json"]
    assert storage.list_children("absent") == []
    assert storage.list_keys("absent/") == []
    assert sorted(storage.list_children("")) == ["m", "other"]
    assert storage.delete_prefix("m/x/") == 2
    assert storage.list_keys("m/") == ["m/top.json", "m/y/1.json"]


def test_parquet_round_trip_with_projection_and_filter(storage: Storage) -> None:
    import pyarrow.compute as pc

    table = pa.table(
        {
            "id": pa.array(range(1000), pa.int64()),
            "x": pa.array([i * 0.5 for i in range(1000)]),
            "cat": pa.array([f"c{i % 3}" for i in range(1000)]).dictionary_encode(),
        }
    )
    storage.write_parquet("fs/v1/part-0.parquet", table)
    assert storage.read_parquet("fs/v1/part-0.parquet").equals(table)
    got = storage.read_parquet("fs/v1/part-0.parquet", columns=["id"], filter=pc.field("id") >= 990)
    assert got.column_names == ["id"]
    assert got.column("id").to_pylist() == list(range(990, 1000))


def test_parquet_streams_batches_and_reads_a_prefix(storage: Storage) -> None:
    schema = pa.schema([("i", pa.int64())])

    def batches(start: int):  # type: ignore[no-untyped-def]
        for b in range(5):
            yield pa.record_batch(
                [pa.array(range(start + b * 100, start + (b + 1) * 100))], schema=schema
            )

    storage.write_parquet("fs/v2/part-0.parquet", batches(0), schema=schema)
    storage.write_parquet("fs/v2/part-1.parquet", batches(500), schema=schema)
    table = storage.read_parquet("fs/v2/")
    assert sorted(table.column("i").to_pylist()) == list(range(1000))
    streamed = sum(b.num_rows for b in storage.iter_batches("fs/v2/", batch_size=128))
    assert streamed == 1000


def test_failed_parquet_write_leaves_previous_object_intact(storage: Storage) -> None:
    schema = pa.schema([("i", pa.int64())])
    storage.write_parquet("fs/v3/data.parquet", pa.table({"i": [1, 2, 3]}))

    def broken():  # type: ignore[no-untyped-def]
        yield pa.record_batch([pa.array([7, 8])], schema=schema)
        raise RuntimeError("source failed mid-stream")

    with pytest.raises(RuntimeError, match="mid-stream"):
        storage.write_parquet("fs/v3/data.parquet", broken(), schema=schema)
    with pytest.raises(RuntimeError, match="mid-stream"):
        storage.write_parquet("fs/v3/new.parquet", broken(), schema=schema)
    assert storage.read_parquet("fs/v3/data.parquet").column("i").to_pylist() == [1, 2, 3]
    assert not storage.exists("fs/v3/new.parquet")
    assert storage.list_keys("fs/v3/") == ["fs/v3/data.parquet"]


def test_put_if_absent_single_writer(storage: Storage) -> None:
    storage.put_if_absent("claims/1.json", b"first")
    with pytest.raises(AlreadyExistsError):
        storage.put_if_absent("claims/1.json", b"second")
    assert storage.read_bytes("claims/1.json") == b"first"


def test_put_if_absent_16_concurrent_threads_exactly_one_wins(storage: Storage) -> None:
    barrier = threading.Barrier(CLAIMERS)
    for round_ in range(3):
        key = f"claims/race-{round_}.json"

        def attempt(i: int, key: str = key) -> bool:
            barrier.wait()
            try:
                storage.put_if_absent(key, f"writer-{i}".encode())
                return True
            except AlreadyExistsError:
                return False

        with ThreadPoolExecutor(CLAIMERS) as pool:
            wins = list(pool.map(attempt, range(CLAIMERS)))
        assert sum(wins) == 1, f"round {round_}: {sum(wins)} writers won"
        winner = wins.index(True)
        assert storage.read_bytes(key) == f"writer-{winner}".encode()


def test_put_if_absent_16_concurrent_processes_exactly_one_wins(storage: Storage) -> None:
    endpoint = getattr(storage, "endpoint_url", None)
    start_at = time.time() + 3.0
    with child_processes(CLAIMERS) as pool:
        futures = [
            pool.submit(claim, storage.uri, endpoint, "claims/proc.json", i, start_at)
            for i in range(CLAIMERS)
        ]
        wins = [f.result(timeout=60) for f in futures]
    assert sum(wins) == 1
    assert storage.read_bytes("claims/proc.json") == f"writer-{wins.index(True)}".encode()


def test_compare_and_swap_rejects_stale_version(storage: Storage) -> None:
    token0 = storage.compare_and_swap("alias/production.json", b'{"v":"1.0.0"}', expected=None)
    with pytest.raises(ConflictError):  # "create only if absent" when it exists
        storage.compare_and_swap("alias/production.json", b'{"v":"x"}', expected=None)
    seen = storage.read_versioned("alias/production.json")
    assert seen.token == token0
    token1 = storage.compare_and_swap(
        "alias/production.json", b'{"v":"1.1.0"}', expected=seen.token
    )
    assert token1 != token0
    with pytest.raises(ConflictError, match="re-read"):
        storage.compare_and_swap("alias/production.json", b'{"v":"0.9.0"}', expected=seen.token)
    assert storage.read_json("alias/production.json") == {"v": "1.1.0"}
    storage.delete("alias/production.json")
    with pytest.raises(ConflictError):  # deleted since it was read
        storage.compare_and_swap("alias/production.json", b'{"v":"2"}', expected=token1)


def test_update_json_under_concurrency_loses_no_increment(storage: Storage) -> None:
    def bump(_: int) -> None:
        storage.update_json("counters/n.json", lambda doc: {"n": (doc or {"n": 0})["n"] + 1})

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(bump, range(40)))
    assert storage.read_json("counters/n.json") == {"n": 40}


def test_reader_never_sees_a_half_written_object(storage: Storage) -> None:
    """Readers racing an overwriting writer only ever see whole, self-consistent payloads."""
    size = 1 << 20

    def payload(i: int) -> bytes:
        body = bytes([i % 251]) * size
        return hashlib.sha256(body).hexdigest().encode() + b"\n" + body

    storage.write_bytes("big/blob.bin", payload(0))
    stop = threading.Event()
    bad: list[str] = []
    reads = 0

    def reader() -> None:
        nonlocal reads
        while not stop.is_set():
            data = storage.read_bytes("big/blob.bin")
            digest, _, body = data.partition(b"\n")
            if len(body) != size or hashlib.sha256(body).hexdigest().encode() != digest:
                bad.append(f"torn read of {len(data)} bytes")
            reads += 1

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for i in range(1, 25):
        storage.write_bytes("big/blob.bin", payload(i))
    stop.set()
    for t in threads:
        t.join()
    assert reads > 0
    assert bad == []
