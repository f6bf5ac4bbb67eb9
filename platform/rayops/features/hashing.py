"""The content hash of a feature set: SHA-256 over a canonical form of its data.

What "the same content" means
-----------------------------
Two inputs have the same hash when they have

* the same set of column names (their order does not matter: columns are taken
  sorted by name),
* the same *logical* type per column, where dictionary encoding, the width of
  string/binary/list offsets and the name of a list's item field are storage
  details and ignored (``dictionary<string>``, ``large_string`` and ``string``
  are all ``string``); any other type difference
  (``int32`` vs ``int64``, ``timestamp[ms]`` vs ``timestamp[us]``) counts,
* the same values, bit for bit, in the same row order, and nulls in the same rows.

It does not depend on Parquet compression, row groups, how the rows are split
into files or record batches, schema metadata, or the pandas index.

How it is computed
------------------
Streaming, one record batch at a time, each column independently (so columns
hash in parallel threads). Every column feeds three SHA-256 streams whose input
is the plain concatenation of per-row pieces, which is why batch boundaries
cannot change the result:

* ``values``: fixed-width types: the little-endian value bytes, with null slots
  zeroed; booleans: one byte per row; strings/binary: the UTF-8/raw bytes;
  nested and other types: canonical JSON of each value;
* ``lengths``: for strings/binary/nested: each value's byte length as int64;
* ``nulls``: the absolute row number (int64) of every null.

Column digest = SHA-256(values ‖ lengths ‖ nulls digests). The content hash is
SHA-256 of a JSON header (format tag, row count, sorted ``[name, type]`` pairs)
followed by the column digests in name order.

Example:
    >>> import pyarrow as pa
    >>> a = pa.table({"x": [1, 2, 3], "s": ["a", None, "c"]})
    >>> b = pa.table({"s": ["a", None, "c"], "x": [1, 2, 3]})
    >>> content_hash(a) == content_hash(b.combine_chunks())
    True
    >>> content_hash(a) == content_hash(pa.table({"x": [1, 2, 4], "s": ["a", None, "c"]}))
    False
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rayops.errors import InvalidInputError

__all__ = [
    "HASH_FORMAT",
    "ColumnHasher",
    "canonical_type",
    "combine",
    "content_hash",
    "normalize",
    "type_text",
]

HASH_FORMAT = "rayops-features-sha256-v1"


def canonical_type(t: pa.DataType) -> pa.DataType:
    """The logical type hashed for ``t`` (see the module docstring)."""
    if pa.types.is_dictionary(t):
        return canonical_type(t.value_type)
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return pa.binary()
    return t


def type_text(t: pa.DataType) -> str:
    """The hashed spelling of a type: :func:`canonical_type`, applied inside nested
    types too, with list item names dropped (Parquet renames them to ``element``)."""
    t = canonical_type(t)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_list_view(t):
        return f"list<{type_text(t.value_type)}>"
    if pa.types.is_fixed_size_list(t):
        return f"fixed_size_list<{type_text(t.value_type)}>[{t.list_size}]"
    if pa.types.is_map(t):
        return f"map<{type_text(t.key_type)}, {type_text(t.item_type)}>"
    if pa.types.is_struct(t):
        inner = ", ".join(f"{f.name}: {type_text(f.type)}" for f in t)
        return f"struct<{inner}>"
    return str(t)


def normalize(arr: pa.Array) -> pa.Array:
    """Decode dictionaries and views so equal logical values have one layout."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if pa.types.is_string_view(arr.type):
        arr = arr.cast(pa.large_string())
    elif pa.types.is_binary_view(arr.type):
        arr = arr.cast(pa.large_binary())
    return arr


def _kind(t: pa.DataType) -> str:
    if pa.types.is_null(t):
        return "null"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_string(t) or pa.types.is_binary(t):
        return "binary32"
    if pa.types.is_large_string(t) or pa.types.is_large_binary(t):
        return "binary64"
    try:
        width = t.bit_width
    except ValueError:
        return "other"
    return "fixed" if width % 8 == 0 and not pa.types.is_nested(t) else "other"


class ColumnHasher:
    """Streams one column's canonical form into SHA-256 (see module docstring)."""

    def __init__(self) -> None:
        self._values = hashlib.sha256()
        self._lengths = hashlib.sha256()
        self._nulls = hashlib.sha256()

    def update(self, arr: pa.Array, row_offset: int, null_mask: np.ndarray | None = None) -> None:
        """Add ``arr`` (already :func:`normalize`-d), whose first row is ``row_offset``.

        ``null_mask`` (bool per row, True for null) may be passed if already known.
        """
        n = len(arr)
        if n == 0:
            return
        kind = _kind(arr.type)
        if arr.null_count:
            if null_mask is None:
                null_mask = arr.is_null().to_numpy(zero_copy_only=False)
            rows = np.flatnonzero(null_mask).astype("<i8") + row_offset
            self._nulls.update(rows.tobytes())
        else:
            null_mask = None
        if kind == "null":
            return
        if kind == "fixed":
            width = arr.type.bit_width // 8
            buf = arr.buffers()[1]
            raw = np.frombuffer(buf, dtype=np.uint8, count=(arr.offset + n) * width)
            raw = raw[arr.offset * width :]
            if null_mask is not None:
                raw = raw.reshape(n, width).copy()
                raw[null_mask] = 0
            self._values.update(np.ascontiguousarray(raw).data)
        elif kind == "bool":
            filled = pc.fill_null(arr, False) if null_mask is not None else arr
            self._values.update(filled.to_numpy(zero_copy_only=False).view(np.uint8).data)
        elif kind in ("binary32", "binary64"):
            if null_mask is not None:
                text = pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)
                arr = pc.fill_null(arr, pa.scalar("" if text else b"", arr.type))
            dtype = np.int32 if kind == "binary32" else np.int64
            offsets = np.frombuffer(arr.buffers()[1], dtype=dtype, count=arr.offset + n + 1)
            offsets = offsets[arr.offset :]
            self._lengths.update(np.diff(offsets).astype("<i8").data)
            data = arr.buffers()[2]
            if data is not None and offsets[-1] > offsets[0]:
                self._values.update(memoryview(data)[int(offsets[0]) : int(offsets[-1])])
        else:
            for value in arr.to_pylist():
                blob = json.dumps(value, sort_keys=True, default=str).encode()
                self._lengths.update(len(blob).to_bytes(8, "little"))
                self._values.update(blob)

    def digest(self) -> bytes:
        parts = (self._values.digest(), self._lengths.digest(), self._nulls.digest())
        return hashlib.sha256(b"".join(parts)).digest()


def combine(row_count: int, schema: pa.Schema, digests: dict[str, bytes]) -> str:
    """The content hash from each column's :meth:`ColumnHasher.digest`."""
    names = sorted(schema.names)
    header = {
        "format": HASH_FORMAT,
        "rows": row_count,
        "columns": [[n, type_text(schema.field(n).type)] for n in names],
    }
    h = hashlib.sha256(json.dumps(header, separators=(",", ":")).encode())
    for n in names:
        h.update(digests[n])
    return h.hexdigest()


def check_unique_names(schema: pa.Schema) -> None:
    seen: set[str] = set()
    for name in schema.names:
        if name in seen:
            raise InvalidInputError(
                f"Column {name!r} appears twice; give every feature column a unique name."
            )
        seen.add(name)


def content_hash(data: pa.Table | Iterable[pa.RecordBatch], schema: pa.Schema | None = None) -> str:
    """The content hash of a table or stream of batches (single-threaded helper)."""
    if isinstance(data, pa.Table):
        schema = data.schema
        data = data.to_batches()
    if schema is None:
        raise InvalidInputError("content_hash needs the schema of a stream of batches.")
    check_unique_names(schema)
    hashers = {n: ColumnHasher() for n in schema.names}
    rows = 0
    for batch in data:
        for name, col in zip(batch.schema.names, batch.columns, strict=True):
            hashers[name].update(normalize(col), rows)
        rows += batch.num_rows
    return combine(rows, schema, {n: h.digest() for n, h in hashers.items()})
