"""Parquet encoding of what rayops writes: dictionaries for text, none for floats."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from rayops.storage._parquet import write_stream


def _table() -> pa.Table:
    values = np.random.default_rng(0).normal(size=(2_000, 4))
    cols = {f"f_x{i}": values[:, i] for i in range(4)}
    return pa.table({**cols, "version": ["1.0.0", "1.1.0"] * 1_000, "row": np.arange(2_000)})


def _encodings(data: bytes) -> dict[str, set[str]]:
    meta = pq.ParquetFile(io.BytesIO(data)).metadata
    out: dict[str, set[str]] = {}
    for g in range(meta.num_row_groups):
        for c in range(meta.num_columns):
            col = meta.row_group(g).column(c)
            out.setdefault(col.path_in_schema, set()).update(col.encodings)
    return out


def test_floats_are_not_dictionary_encoded_and_text_is() -> None:
    for stream in (False, True):
        sink = io.BytesIO()
        table = _table()
        write_stream(sink, table.to_batches(max_chunksize=500) if stream else table)
        enc = _encodings(sink.getvalue())
        assert not any("DICTIONARY" in e for e in enc["f_x0"]), enc["f_x0"]
        assert any("DICTIONARY" in e for e in enc["version"]), enc["version"]
        back = pq.read_table(io.BytesIO(sink.getvalue()))
        assert back.equals(table)


def _codecs(data: bytes) -> dict[str, set[str]]:
    meta = pq.ParquetFile(io.BytesIO(data)).metadata
    out: dict[str, set[str]] = {}
    for g in range(meta.num_row_groups):
        for c in range(meta.num_columns):
            col = meta.row_group(g).column(c)
            out.setdefault(col.path_in_schema, set()).add(col.compression)
    return out


def test_fast_compression_is_lz4_for_floats_and_zstd_for_the_rest() -> None:
    for stream in (False, True):
        for compression, floats, text in (("fast", "LZ4", "ZSTD"), ("zstd", "ZSTD", "ZSTD")):
            sink = io.BytesIO()
            table = _table()
            data = table.to_batches(max_chunksize=500) if stream else table
            write_stream(sink, data, compression=compression)
            codecs = _codecs(sink.getvalue())
            assert codecs["f_x0"] == {floats} and codecs["version"] == {text}, codecs
            assert pq.read_table(io.BytesIO(sink.getvalue())).equals(table)
