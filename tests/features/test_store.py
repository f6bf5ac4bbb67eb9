"""FeatureStore on both backends: versions, dedup, reads, as_of, search, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from rayops.config import Settings
from rayops.errors import InvalidInputError, InvalidNameError, NotFoundError, UnsafeArtifactError
from rayops.features import FeatureSetVersion, FeatureStore
from rayops.storage import Storage

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def frame(rows: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "user": np.arange(rows, dtype=np.int64),
            "spend": rng.random(rows).round(3),
            "country": rng.choice(["FR", "DE", "US"], rows),
            "ts": pd.date_range("2026-01-01", periods=rows, freq="h"),
        }
    )


def store_for(storage: Storage, clock: Clock | None = None, **settings: object) -> FeatureStore:
    # Small parts so that multi-file versions are exercised on tiny data.
    s = Settings(features_rows_per_file=64, features_batch_rows=50, **settings)  # type: ignore[arg-type]
    return FeatureStore(storage, settings=s, now=clock)


def test_write_read_round_trip_with_manifest(storage: Storage) -> None:
    fs = store_for(storage)
    df = frame()
    v = fs.write(
        "spend",
        df,
        description="daily spend",
        metadata={"team": "growth", "owner": "ana"},
        entity="user",
        event_time="ts",
        target="spend",
    )
    assert isinstance(v, FeatureSetVersion)
    assert (v.ref, v.version, v.row_count, v.parent_version, v.reused) == (
        "spend@1",
        1,
        200,
        None,
        False,
    )
    assert [c.name for c in v.schema] == ["user", "spend", "country", "ts"]
    assert v.roles.entity == ["user"] and v.roles.event_time == "ts" and v.roles.target == ["spend"]
    assert len(v.files) == 4  # 200 rows / 64 per file
    assert v.stats["spend"].min == df.spend.min() and v.stats["spend"].max == df.spend.max()
    assert v.stats["spend"].mean == pytest.approx(df.spend.mean())
    assert v.stats["spend"].std == pytest.approx(df.spend.std(ddof=0))
    assert v.stats["country"].distinct_count == 3
    assert sum(t.count for t in v.stats["country"].top_values or []) == 200
    assert storage.exists("features/spend/1/manifest.json")
    pd.testing.assert_frame_equal(fs.read("spend"), df)
    assert fs.get("spend@1") == v and fs.get("spend") == v


def test_dedup_same_content_twice_one_version_no_new_data(storage: Storage) -> None:
    fs = store_for(storage)
    first = fs.write("dup", frame())
    keys_before = storage.list_keys("features/")
    again = fs.write("dup", frame(), description="ignored: content exists")
    assert again.reused and again.version == first.version and again.sha256 == first.sha256
    assert storage.list_keys("features/") == keys_before
    assert [v.version for v in fs.versions("dup")] == [1]


def test_dedup_same_content_different_compression_same_hash(
    storage: Storage, tmp_path: Path
) -> None:
    fs = store_for(storage)
    table = pa.Table.from_pandas(frame(), preserve_index=False)
    first = fs.write("comp", table)
    pq.write_table(table, tmp_path / "snappy.parquet", compression="snappy")
    pq.write_table(
        table.select(["ts", "country", "user", "spend"]),
        tmp_path / "gzip.parquet",
        compression="gzip",
        row_group_size=7,
    )
    split = tmp_path / "split"
    split.mkdir()
    pq.write_table(table.slice(0, 150), split / "a.parquet", compression="zstd")
    pq.write_table(table.slice(150), split / "b.parquet", compression="lz4")
    for path in ("snappy.parquet", "gzip.parquet", "split"):
        v = fs.write("comp", str(tmp_path / path))
        assert v.reused and v.sha256 == first.sha256 and v.version == 1, path
    # The same file staged on the storage root itself, addressed by its key.
    storage.write_parquet("incoming/comp.parquet", table, compression="gzip", row_group_size=33)
    assert fs.write("comp", "incoming/comp.parquet").sha256 == first.sha256
    assert [v.version for v in fs.versions("comp")] == [1]


def test_new_content_new_version_with_parent_and_schema_changes(storage: Storage) -> None:
    fs = store_for(storage)
    v1 = fs.write("evolve", frame())
    df2 = frame(seed=1).drop(columns=["country"]).assign(extra=1.5)
    df2["user"] = df2["user"].astype("int32")
    v2 = fs.write("evolve", df2)
    assert (v2.version, v2.parent_version) == (2, 1) and v2.sha256 != v1.sha256
    changes = v2.quality.schema_changes
    assert [c.name for c in changes.added] == ["extra"]
    assert [c.name for c in changes.removed] == ["country"]
    assert [(r.name, r.old, r.new) for r in changes.retyped] == [("user", "int64", "int32")]
    assert fs.get("evolve").version == 2
    assert fs.read("evolve@1").equals(frame())
    assert [v.version for v in fs.versions("evolve")] == [1, 2]


def test_read_projection_and_filter_pushdown(storage: Storage) -> None:
    fs = store_for(storage)
    fs.write("proj", frame())
    got = fs.read_arrow("proj", columns=["user", "spend"], filter=pc.field("user") >= 190)
    assert got.column_names == ["user", "spend"]
    assert got.column("user").to_pylist() == list(range(190, 200))
    with pytest.raises(InvalidInputError, match="no column"):
        fs.read("proj", columns=["nope"])


def test_as_of_picks_the_version_current_at_that_time(storage: Storage) -> None:
    clock = Clock()
    fs = store_for(storage, clock)
    clock.now = T0 + timedelta(days=1)
    fs.write("timed", frame(seed=1))
    clock.now = T0 + timedelta(days=10)
    fs.write("timed", frame(seed=2))
    clock.now = T0 + timedelta(days=20)
    fs.write("timed", frame(seed=3))
    expected = {
        T0 + timedelta(days=1): 1,
        T0 + timedelta(days=9, hours=23): 1,
        T0 + timedelta(days=10): 2,
        T0 + timedelta(days=15): 2,
        T0 + timedelta(days=400): 3,
    }
    assert {t: fs.get("timed", as_of=t).version for t in expected} == expected
    assert fs.get("timed", as_of="2026-01-12").version == 2  # ISO string, naive = UTC
    with pytest.raises(NotFoundError, match="had no version"):
        fs.get("timed", as_of=T0)
    assert fs.read("timed", as_of=T0 + timedelta(days=12)).equals(frame(seed=2))
    with pytest.raises(InvalidInputError, match="not both"):
        fs.get("timed@1", as_of=T0)


def test_list_versions_and_search(storage: Storage) -> None:
    clock = Clock()
    fs = store_for(storage, clock)
    clock.now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    fs.write("churn-a", frame(seed=1), metadata={"team": "growth", "rev": 2})
    clock.now = datetime(2026, 3, 5, 12, tzinfo=UTC)
    fs.write("churn-b", frame(seed=2), metadata={"team": "risk"})
    fs.write("churn-a", frame(seed=3), metadata={"team": "growth"})
    fs.write("other", frame(seed=4))
    assert fs.list() == ["churn-a", "churn-b", "other"]
    refs = lambda vs: [v.ref for v in vs]  # noqa: E731
    assert refs(fs.search()) == ["churn-a@1", "churn-a@2", "churn-b@1", "other@1"]
    assert refs(fs.search("churn-*")) == ["churn-a@1", "churn-a@2", "churn-b@1"]
    assert refs(fs.search(metadata={"team": "growth"})) == ["churn-a@1", "churn-a@2"]
    assert refs(fs.search(metadata={"rev": "2"})) == ["churn-a@1"]  # text matches numbers
    assert refs(fs.search(since="2026-03-02")) == ["churn-a@2", "churn-b@1", "other@1"]
    assert refs(fs.search(until="2026-03-01")) == ["churn-a@1"]  # a date includes its day
    assert refs(fs.search("churn-b", since=datetime(2026, 3, 6, tzinfo=UTC))) == []


@pytest.mark.parametrize("bad", ["", "a/b", "..", "../x", "x..y", "/abs", "a b", ".hidden"])
def test_bad_names_are_refused_and_write_nothing(storage: Storage, bad: str) -> None:
    fs = store_for(storage)
    with pytest.raises(InvalidNameError):
        fs.write(bad, frame())
    with pytest.raises(InvalidNameError):
        fs.get(bad)
    assert storage.list_keys("features/") == []


def test_unknown_names_and_versions(storage: Storage) -> None:
    fs = store_for(storage)
    with pytest.raises(NotFoundError, match="No feature set 'ghost'"):
        fs.get("ghost")
    fs.write("known", frame())
    with pytest.raises(NotFoundError, match=r"no version 7 \(versions: 1\)"):
        fs.get("known@7")
    for bad_ref in ("known@0", "known@x", "known@-1"):
        with pytest.raises(InvalidInputError, match="not a valid feature-set reference"):
            fs.get(bad_ref)
    assert fs.get("known@latest").version == 1


def test_malformed_inputs_get_clear_errors_and_leave_nothing(
    storage: Storage, tmp_path: Path
) -> None:
    fs = store_for(storage)
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"this is not parquet at all")
    with pytest.raises(InvalidInputError, match="not a readable Parquet"):
        fs.write("broken", str(bad))
    with pytest.raises(NotFoundError, match="No Parquet file or folder"):
        fs.write("broken", str(tmp_path / "missing.parquet"))
    with pytest.raises(InvalidInputError, match="Cannot write a feature set from int"):
        fs.write("broken", 42)
    with pytest.raises(InvalidInputError, match="not in the data"):
        fs.write("broken", frame(), entity="nope")
    with pytest.raises(InvalidInputError, match="must hold timestamps"):
        fs.write("broken", frame(), event_time="country")
    with pytest.raises(InvalidInputError, match="JSON-serializable"):
        fs.write("broken", frame(), metadata={"x": object()})
    assert storage.list_keys("features/") == []


def test_malformed_manifest_is_reported_as_unsafe(storage: Storage) -> None:
    fs = store_for(storage)
    fs.write("tamper", frame())
    storage.write_bytes("features/tamper/1/manifest.json", b'{"name": "tamper"}')
    with pytest.raises(UnsafeArtifactError, match="malformed"):
        fs.get("tamper@1")


def test_verify_detects_changed_data(storage: Storage) -> None:
    fs = store_for(storage)
    v = fs.write("verified", frame())
    assert fs.verify("verified").sha256 == v.sha256
    other = pa.Table.from_pandas(frame(seed=9).head(64), preserve_index=False)
    storage.write_parquet("features/verified/1/part-00000.parquet", other)
    with pytest.raises(UnsafeArtifactError, match="corrupt"):
        fs.verify("verified")


def test_half_written_version_is_invisible(storage: Storage) -> None:
    fs = store_for(storage)
    fs.write("half", frame())
    # A writer that claimed version 2 and wrote parts but died before its manifest.
    storage.put_json_if_absent("features/half/claims/2.json", {"writer": "dead"})
    storage.write_parquet("features/half/2/part-00000.parquet", pa.table({"x": [1]}))
    assert fs.get("half").version == 1
    assert [v.version for v in fs.versions("half")] == [1]
    assert fs.write("half", frame(seed=5)).version == 3  # numbers never reuse a claim


def test_failed_write_leaves_no_version_and_no_reservation(
    storage: Storage, tmp_path: Path
) -> None:
    fs = store_for(storage)
    folder = tmp_path / "mixed"
    folder.mkdir()
    pq.write_table(pa.table({"a": list(range(100))}), folder / "0.parquet")
    (folder / "1.parquet").write_bytes(b"PAR1 truncated garbage")
    with pytest.raises(InvalidInputError):
        fs.write("failing", str(folder))
    assert [k for k in storage.list_keys("features/") if "manifest" in k or "by-hash" in k] == []


def test_empty_and_null_heavy_frames(storage: Storage) -> None:
    fs = store_for(storage)
    empty = frame().head(0)
    v = fs.write("empty", empty)
    assert v.row_count == 0 and len(v.files) == 1
    assert list(fs.read("empty").columns) == list(empty.columns)
    nulls = pd.DataFrame({"a": [None, None, 1.0], "s": [None, "x", None]})
    vn = fs.write("nulls", nulls)
    assert vn.stats["a"].null_count == 2 and vn.stats["s"].null_ratio == pytest.approx(2 / 3)
    pd.testing.assert_frame_equal(fs.read("nulls"), nulls)


def test_write_failing_midway_cleans_up_and_can_be_retried(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    fs = store_for(storage)
    real_write = storage.write_parquet
    calls = {"n": 0}

    def flaky(key: str, data: pa.Table, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full (injected)")
        real_write(key, data, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(storage, "write_parquet", flaky)
    with pytest.raises(OSError, match="injected"):
        fs.write("flaky", frame())
    assert storage.list_keys("features/flaky/1/") == []
    assert storage.list_keys("features/flaky/by-hash/") == []
    assert storage.read_json("features/flaky/claims/1.json")["abandoned"] is True
    with pytest.raises(NotFoundError):
        fs.get("flaky")
    v = fs.write("flaky", frame())  # the same content again: no stale reservation blocks it
    assert (v.version, v.reused) == (2, False)
    pd.testing.assert_frame_equal(fs.read("flaky"), frame())
