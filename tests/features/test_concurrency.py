"""Concurrent writers, threads and processes, on a local directory and on S3."""

from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from rayops.config import Settings
from rayops.errors import ConflictError
from rayops.features import FeatureStore
from rayops.features.hashing import content_hash
from rayops.storage import Storage

sys.path.insert(0, str(Path(__file__).parent))
from feature_workers import write_feature_set  # noqa: E402
from harness import child_processes  # noqa: E402

WRITERS = 6


def table(seed: int) -> pa.Table:
    return pa.table({"k": list(range(50)), "v": [seed * 1000 + i for i in range(50)]})


def race(storage: Storage, seeds: list[int]) -> list[tuple[int, str, bool]]:
    barrier = threading.Barrier(len(seeds))

    def one(seed: int) -> tuple[int, str, bool]:
        fs = FeatureStore(storage, settings=Settings(features_threads=1))
        barrier.wait()
        v = fs.write("race", table(seed), entity="k")
        return v.version, v.sha256, v.reused

    with ThreadPoolExecutor(len(seeds)) as pool:
        return list(pool.map(one, seeds))


def test_concurrent_writers_of_different_content_get_distinct_versions(storage: Storage) -> None:
    results = race(storage, list(range(WRITERS)))
    versions = sorted(v for v, _, _ in results)
    assert versions == list(range(1, WRITERS + 1))
    assert len({sha for _, sha, _ in results}) == WRITERS
    fs = FeatureStore(storage)
    published = fs.versions("race")
    assert [v.version for v in published] == versions
    by_sha = {content_hash(table(seed)): seed for seed in range(WRITERS)}
    for version, sha, _ in results:  # each version holds exactly its writer's rows
        seed = by_sha[sha]
        assert fs.get(f"race@{version}").sha256 == sha
        assert fs.read(f"race@{version}")["v"].tolist() == table(seed).column("v").to_pylist()


def test_concurrent_writers_of_identical_content_get_one_version(storage: Storage) -> None:
    results = race(storage, [7] * WRITERS)
    assert {v for v, _, _ in results} == {1}
    assert sum(not reused for _, _, reused in results) == 1
    fs = FeatureStore(storage)
    assert [v.version for v in fs.versions("race")] == [1]
    # Losers wrote no data: one version folder, one set of parts.
    assert [k for k in storage.list_keys("features/race/") if k.endswith(".parquet")] == [
        "features/race/1/part-00000.parquet"
    ]
    assert storage.list_keys("features/race/claims/") == ["features/race/claims/1.json"]


@pytest.mark.parametrize("identical", [False, True], ids=["different", "identical"])
def test_concurrent_writer_processes(
    storage: Storage, request: pytest.FixtureRequest, identical: bool
) -> None:
    endpoint = None
    if storage.uri.startswith("s3://"):
        endpoint = request.getfixturevalue("s3_settings").s3.endpoint_url
    seeds = [3] * 4 if identical else [10, 11, 12, 13]
    start_at = time.time() + 3.0  # after every child has started and warmed up
    with child_processes(len(seeds)) as pool:
        futures = [
            pool.submit(write_feature_set, storage.uri, endpoint, "procs", s, start_at)
            for s in seeds
        ]
        results = [f.result(timeout=120) for f in futures]
    published = [v.version for v in FeatureStore(storage).versions("procs")]
    if identical:
        assert {v for v, _, _ in results} == {1} and published == [1]
        assert sum(not reused for _, _, reused in results) == 1
    else:
        assert sorted(v for v, _, _ in results) == published == [1, 2, 3, 4]
        assert len({sha for _, sha, _ in results}) == 4


def test_reservation_of_a_live_writer_is_waited_for_then_reported(storage: Storage) -> None:
    fs = FeatureStore(storage, settings=Settings(features_wait_timeout_s=0.3))
    sha = content_hash(table(1))
    storage.put_json_if_absent(
        f"features/race/by-hash/{sha}.json",
        {"sha256": sha, "writer": "other", "reserved_at": datetime.now(UTC).isoformat()},
    )
    with pytest.raises(ConflictError, match="still storing identical content"):
        fs.write("race", table(1))
    assert storage.list_keys("features/race/claims/") == []


def test_reservation_of_a_crashed_writer_is_taken_over(storage: Storage) -> None:
    fs = FeatureStore(storage, settings=Settings(features_stale_reservation_s=60))
    sha = content_hash(table(1))
    storage.put_json_if_absent(
        f"features/race/by-hash/{sha}.json",
        {"sha256": sha, "writer": "dead", "reserved_at": "2020-01-01T00:00:00+00:00"},
    )
    v = fs.write("race", table(1))
    assert (v.version, v.reused) == (1, False)
    assert storage.read_json(f"features/race/by-hash/{sha}.json")["version"] == 1
    assert fs.write("race", table(1)).reused


def test_a_forked_child_gets_a_writer_identity_of_its_own() -> None:
    """A process forked after the import (a forkserver's child, a preloading server's
    worker) must not share its parent's writer prefix: siblings with one prefix took
    each other's live reservations for their own dead ones."""
    import json
    import os

    from rayops.features.publish import _dead_writer_of_this_process, new_writer, writer_done

    parent = new_writer()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: answer through the pipe and leave at once
        try:
            answer = [new_writer().split("-")[0], _dead_writer_of_this_process(parent)]
            os.write(w, json.dumps(answer).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as pipe:
        prefix, parent_dead_in_child = json.loads(pipe.read())
    os.waitpid(pid, 0)
    writer_done(parent)
    assert prefix != parent.split("-")[0]
    assert parent_dead_in_child is False  # another process's writer: never "ours and dead"
