"""The content hash: what counts as "the same data" and what does not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rayops.errors import InvalidInputError
from rayops.features.hashing import content_hash


def sample(rows: int = 3000, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    nulls = rng.random(rows) < 0.1
    return pa.table(
        {
            "id": pa.array(np.arange(rows, dtype=np.int64)),
            "x": pa.array(rng.standard_normal(rows), mask=nulls),
            "n": pa.array(rng.integers(0, 9, rows).astype(np.int32)),
            "s": pa.array([None if i % 7 == 0 else f"v{i % 13}" for i in range(rows)]),
            "b": pa.array([None if i % 5 == 0 else i % 2 == 0 for i in range(rows)]),
            "t": pa.array(np.arange(rows).astype("datetime64[s]").astype("datetime64[us]")),
            "l": pa.array([[i, i + 1] if i % 3 else None for i in range(rows)]),
        }
    )


def dataset_hash(path: Path) -> str:
    d = ds.dataset(str(path), format="parquet")
    return content_hash(d.to_batches(batch_size=777), d.schema)


def test_hash_independent_of_compression_row_groups_and_file_split(tmp_path: Path) -> None:
    table = sample()
    expected = content_hash(table)
    variants = {
        "snappy.parquet": {"compression": "snappy"},
        "zstd-small-groups.parquet": {"compression": "zstd", "row_group_size": 100},
        "gzip.parquet": {"compression": "gzip", "row_group_size": 1234},
        "none.parquet": {"compression": "none", "use_dictionary": False},
    }
    for name, kwargs in variants.items():
        pq.write_table(table, tmp_path / name, **kwargs)
        assert dataset_hash(tmp_path / name) == expected, name
    split = tmp_path / "split"
    split.mkdir()
    for i, (start, stop) in enumerate([(0, 1000), (1000, 1001), (1001, 3000)]):
        pq.write_table(table.slice(start, stop - start), split / f"part-{i}.parquet")
    assert dataset_hash(split) == expected


def test_hash_independent_of_column_order_batching_and_encoding() -> None:
    table = sample()
    expected = content_hash(table)
    assert content_hash(table.select(sorted(table.column_names, reverse=True))) == expected
    rechunked = pa.concat_tables([table.slice(0, 1), table.slice(1, 999), table.slice(1000)])
    assert rechunked.column(0).num_chunks == 3
    assert content_hash(rechunked) == expected
    encoded = table.set_column(3, "s", pc.dictionary_encode(table.column("s")))
    assert content_hash(encoded) == expected
    wide = table.set_column(3, "s", table.column("s").cast(pa.large_string()))
    assert content_hash(wide) == expected
    with_meta = table.replace_schema_metadata({"pandas": "{}", "x": "y"})
    assert content_hash(with_meta) == expected


def test_hash_ignores_garbage_under_nulls() -> None:
    # Same logical values; the slot under the null holds 99 in one and 0 in the other.
    values = pa.py_buffer(np.array([1, 99, 3], dtype=np.int64).tobytes())
    validity = pa.py_buffer(np.packbits([1, 0, 1], bitorder="little").tobytes())
    garbage = pa.Array.from_buffers(pa.int64(), 3, [validity, values], null_count=1)
    clean = pa.array([1, None, 3], pa.int64())
    assert content_hash(pa.table({"a": garbage})) == content_hash(pa.table({"a": clean}))


@pytest.mark.parametrize(
    "change",
    ["value", "null_position", "row_order", "column_name", "type", "extra_row", "empty_vs_null"],
)
def test_hash_changes_when_content_changes(change: str) -> None:
    base = pa.table({"a": pa.array([1, 2, None, 4]), "s": ["x", "", "z", "w"]})
    other = {
        "value": pa.table({"a": pa.array([1, 2, None, 5]), "s": ["x", "", "z", "w"]}),
        "null_position": pa.table({"a": pa.array([1, None, 2, 4]), "s": ["x", "", "z", "w"]}),
        "row_order": base.take([1, 0, 2, 3]),
        "column_name": base.rename_columns(["A", "s"]),
        "type": base.set_column(0, "a", base.column("a").cast(pa.int32())),
        "extra_row": pa.concat_tables([base, base.slice(0, 1)]),
        "empty_vs_null": pa.table({"a": pa.array([1, 2, None, 4]), "s": ["x", None, "z", "w"]}),
    }[change]
    assert content_hash(other) != content_hash(base)


def test_string_boundaries_are_part_of_the_hash() -> None:
    assert content_hash(pa.table({"s": ["ab", "c"]})) != content_hash(pa.table({"s": ["a", "bc"]}))


def test_duplicate_column_names_are_refused() -> None:
    table = pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["a", "a"])
    with pytest.raises(InvalidInputError, match="appears twice"):
        content_hash(table)


@settings(max_examples=40, deadline=None)
@given(
    cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=6),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_hash_is_independent_of_where_batches_are_cut(cuts: list[int], seed: int) -> None:
    table = sample(rows=300, seed=seed)
    bounds = sorted({0, 300, *cuts})
    pieces = [table.slice(a, b - a) for a, b in zip(bounds, bounds[1:], strict=False)]
    batches = [b for piece in pieces for b in piece.to_batches()]
    assert content_hash(iter(batches), table.schema) == content_hash(table)
