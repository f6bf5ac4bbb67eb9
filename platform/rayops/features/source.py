"""What a feature set can be written from, turned into a stream of record batches.

A pandas DataFrame or an Arrow table is read from memory; a path is a Parquet
file or a folder of Parquet files, on the local disk or under the storage root,
and is streamed batch by batch (each pass re-opens it), so a multi-gigabyte input
never sits whole in memory. The files of a folder are taken in path order.

Example:
    >>> import pyarrow as pa
    >>> src = open_source(pa.table({"x": [1, 2, 3]}), storage=None)
    >>> [b.num_rows for b in src.batches(2)]
    [2, 1]
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from rayops.errors import InvalidInputError, NotFoundError
from rayops.features.hashing import check_unique_names

if TYPE_CHECKING:
    from rayops.storage import Storage

__all__ = ["Source", "open_source", "split_parts"]


@dataclass
class Source:
    """A re-readable stream of record batches with a fixed schema."""

    schema: pa.Schema
    label: str
    table: pa.Table | None = None
    dataset: Any = None  # pyarrow.dataset.Dataset: file discovery and the unified schema

    def batches(self, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """Yield the rows in order, in batches of at most ``batch_rows`` rows."""
        if self.table is not None:
            yield from self.table.to_batches(max_chunksize=batch_rows)
            return
        import pyarrow.parquet as pq

        # One row group at a time: pyarrow's whole-file readers decode row groups
        # ahead of a slow consumer without bound, so memory would grow with the file.
        fs = self.dataset.filesystem
        try:
            for path in self.dataset.files:
                with fs.open_input_file(path) as handle:
                    reader = pq.ParquetFile(handle)
                    for group in range(reader.num_row_groups):
                        for batch in reader.iter_batches(batch_size=batch_rows, row_groups=[group]):
                            yield self._conform(batch, path)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OSError) as e:
            raise InvalidInputError(f"Cannot read {self.label} as Parquet: {e}") from e

    def _conform(self, batch: pa.RecordBatch, path: str) -> pa.RecordBatch:
        if batch.schema.equals(self.schema):
            return batch
        missing = [n for n in self.schema.names if n not in batch.schema.names]
        if missing or len(batch.schema) != len(self.schema):
            raise InvalidInputError(
                f"{path} in {self.label} has columns {batch.schema.names}, not "
                f"{self.schema.names}; every file of a feature set needs the same columns."
            )
        table = pa.Table.from_batches([batch]).select(self.schema.names).cast(self.schema)
        return table.combine_chunks().to_batches()[0] if table.num_rows else batch


def _from_pandas(df: Any) -> pa.Table:
    try:
        return pa.Table.from_pandas(df, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as e:
        raise InvalidInputError(
            f"Cannot convert the DataFrame to Arrow: {e}. Give each column one type."
        ) from e


def _open_dataset(paths: str | list[str], filesystem: Any, label: str) -> Any:
    import pyarrow.dataset as ds

    try:
        return ds.dataset(paths, format="parquet", filesystem=filesystem)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as e:
        raise InvalidInputError(f"{label} is not a readable Parquet file or folder: {e}") from e


def open_source(data: Any, storage: Storage | None) -> Source:
    """Wrap a DataFrame, Arrow table/batch, or Parquet path as a :class:`Source`.

    A path is looked up on the local disk first, then as a key or folder under
    ``storage`` (an ``s3://`` URI inside the storage root is accepted too).
    """
    if isinstance(data, pa.RecordBatch):
        data = pa.Table.from_batches([data])
    if isinstance(data, pa.Table):
        check_unique_names(data.schema)
        return Source(schema=data.schema, label="the table", table=data)
    if isinstance(data, str | os.PathLike):
        return _open_path(os.fspath(data), storage)
    if type(data).__module__.startswith("pandas") and hasattr(data, "columns"):
        if len(set(map(str, data.columns))) != len(data.columns):
            raise InvalidInputError(
                "The DataFrame has duplicate column names; give every feature column a unique name."
            )
        table = _from_pandas(data)
        return Source(schema=table.schema, label="the DataFrame", table=table)
    raise InvalidInputError(
        f"Cannot write a feature set from {type(data).__name__}: pass a pandas DataFrame, "
        "a pyarrow Table, or the path of a Parquet file or folder."
    )


def _open_path(path: str, storage: Storage | None) -> Source:
    if not path:
        raise InvalidInputError("The Parquet path is empty.")
    if os.path.exists(path):
        dataset = _open_dataset(path, None, repr(path))
    else:
        if storage is None:
            raise NotFoundError(f"No Parquet file or folder at {path!r}.")
        key = path
        root = storage.uri.rstrip("/") + "/"
        if key.startswith(root):
            key = key[len(root) :]
        if "://" in key or key.startswith("/"):
            raise NotFoundError(
                f"No Parquet file or folder at {path!r}, locally or under {storage.uri}."
            )
        if storage.exists(key):
            keys = [key]
        else:
            keys = [k for k in storage.list_keys(key.rstrip("/") + "/") if k.endswith(".parquet")]
        if not keys:
            raise NotFoundError(
                f"No Parquet file or folder at {path!r}, locally or under {storage.uri}."
            )
        fs, _ = storage.arrow_filesystem()
        dataset = _open_dataset([storage.path_of(k) for k in keys], fs, repr(path))
    schema = dataset.schema
    check_unique_names(schema)
    if not dataset.files:
        raise NotFoundError(f"No Parquet files in {path!r}.")
    return Source(schema=schema, label=repr(path), dataset=dataset)


def split_parts(source: Source, rows_per_file: int, batch_rows: int) -> Iterator[pa.Table]:
    """Regroup the stream into tables of ``rows_per_file`` rows (the last may be shorter).

    Always yields at least one table, so an empty input still gets a file with its schema.
    """
    buf: list[pa.RecordBatch] = []
    have = 0
    emitted = False
    for batch in source.batches(min(batch_rows, rows_per_file)):
        while batch.num_rows:
            take = min(rows_per_file - have, batch.num_rows)
            buf.append(batch.slice(0, take))
            have += take
            batch = batch.slice(take)
            if have == rows_per_file:
                yield pa.Table.from_batches(buf, schema=source.schema)
                emitted = True
                buf, have = [], 0
    if buf or not emitted:
        yield pa.Table.from_batches(buf, schema=source.schema)
