"""Batch inputs: files, folders and globs on disk and on S3, footers, parts, bad files."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from batch_models import rows

from rayops.batch.inputs import check_columns, files_input, plan_parts
from rayops.batch.spec import BatchInput, InputFile
from rayops.config import Settings
from rayops.errors import InvalidInputError, NotFoundError
from rayops.storage import Storage


def _write_days(storage: Storage, days: int = 3, rows_each: int = 100) -> None:
    for d in range(days):
        table = pa.Table.from_pandas(rows(rows_each, seed=d), preserve_index=False)
        storage.write_parquet(f"in/day={d}/part-0.parquet", table, row_group_size=40)
    storage.write_bytes("in/_SUCCESS", b"")
    storage.write_bytes("in/day=0/notes.txt", b"not parquet")


def _uri(storage: Storage, key: str) -> str:
    return f"{storage.uri}/{key}"


def test_a_folder_a_glob_and_a_file_on_disk_and_s3(storage: Storage) -> None:
    settings = getattr(storage, "settings", Settings())
    _write_days(storage)
    folder, schemas = files_input(_uri(storage, "in"), settings)
    assert [f.uri for f in folder.files] == [
        _uri(storage, f"in/day={d}/part-0.parquet") for d in range(3)
    ]
    assert all(f.row_groups == [40, 40, 20] and f.size > 0 for f in folder.files)
    assert folder.rows == 300 and "num_0" in schemas[0].names
    globbed, _ = files_input(_uri(storage, "in/day=[12]/*.parquet"), settings)
    assert [f.uri.split("/")[-2] for f in globbed.files] == ["day=1", "day=2"]
    one, _ = files_input(_uri(storage, "in/day=0/part-0.parquet"), settings)
    assert len(one.files) == 1 and one.lineage()["files"][0]["rows"] == 100
    with pytest.raises(NotFoundError, match="No Parquet files match"):
        files_input(_uri(storage, "in/day=9*/*.parquet"), settings)
    with pytest.raises(NotFoundError, match="No input at"):
        files_input(_uri(storage, "nowhere"), settings)


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "good.parquet").write_bytes(b"")
    pq.write_table(pa.table({"x": [1.0]}), tmp_path / "good.parquet")
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(InvalidInputError, match=r"Cannot read .*bad\.parquet as Parquet"):
        files_input(str(tmp_path), Settings())


def test_a_missing_column_is_named_with_its_file(tmp_path: Path) -> None:
    pq.write_table(pa.table({"x": [1.0], "y": [2.0]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"x": [1.0]}), tmp_path / "b.parquet")
    found, schemas = files_input(str(tmp_path), Settings())
    check_columns(found, schemas[:1] * 2, {"x": "a feature", "y": "a feature"})
    with pytest.raises(InvalidInputError, match=r"b\.parquet has no column 'y' \(a feature"):
        check_columns(found, schemas, {"x": "a feature", "y": "a feature"})


def test_parts_follow_row_groups_deterministically() -> None:
    files = [
        InputFile(path="a", uri="a", size=1, row_groups=[100, 100, 100, 50]),
        InputFile(path="b", uri="b", size=1, row_groups=[500]),
        InputFile(path="c", uri="c", size=1, row_groups=[]),
    ]
    parts = plan_parts(BatchInput(kind="files", uri="x", files=files), 250)
    assert [(p.name, p.row_groups, p.rows) for p in parts] == [
        ("part-00000-00000.parquet", [0, 1], 200),
        ("part-00000-00002.parquet", [2, 3], 150),
        ("part-00001-00000.parquet", [0], 500),  # one row group can exceed the target
    ]
    assert parts == plan_parts(BatchInput(kind="files", uri="x", files=files), 250)
