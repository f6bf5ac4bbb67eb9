"""The rows a batch job scores: a feature-set version or Parquet files, checked up front.

Every input file's footer is read before anything is written (in threads: on
S3 each is one ranged GET), so an unreadable file or one that lacks a column the
model needs is an error that names it, and the job is cut into parts from the
row groups the footers list (:func:`plan_parts`).

* a feature set (``NAME`` or ``NAME@V``): the part files its manifest lists, and
  its name, version and SHA-256 as lineage;
* a path or glob: ``s3://bucket/prefix/*.parquet`` (through the storage's
  pyarrow S3 filesystem, with the configured endpoint and credentials),
  ``/data/day=*/*.parquet``, a folder (every ``.parquet`` file under it, names
  starting with ``.`` or ``_`` left out) or one file; the files with their sizes
  are the lineage.

Example:
    >>> from rayops.batch.spec import BatchInput, InputFile
    >>> f = InputFile(path="/d/a.parquet", uri="/d/a.parquet", size=10, row_groups=[4, 4, 4])
    >>> [p.name for p in plan_parts(BatchInput(kind="files", uri="/d", files=[f]), 8)]
    ['part-00000-00000.parquet', 'part-00000-00002.parquet']
    >>> split_glob("s3://b/logs/day=*/x.parquet")
    ('s3://b/logs', 'day=*/x.parquet')
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from rayops.batch.spec import BatchInput, InputFile, Part, part_name
from rayops.config import Settings
from rayops.errors import InvalidInputError, NotFoundError
from rayops.features import FeatureStore, layout

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.fs as pafs

    from rayops.storage import Storage

__all__ = ["check_columns", "feature_set_input", "files_input", "input_filesystem", "plan_parts"]

_GLOB = set("*?[")
#: Footers read at once (each is a round trip on S3).
FOOTER_THREADS = 16


def split_glob(uri: str) -> tuple[str, str | None]:
    """``(base, pattern)``: the path before the first component with a wildcard, and the rest."""
    scheme, sep, rest = uri.partition("://")
    head = f"{scheme}{sep}" if sep else ""
    parts = (rest if sep else uri).split("/")
    for i, part in enumerate(parts):
        if _GLOB & set(part):
            return head + "/".join(parts[:i]), "/".join(parts[i:])
    return uri, None


def input_filesystem(uri: str, settings: Settings) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem of ``uri`` and the path of ``uri`` inside it."""
    import pyarrow.fs as pafs

    if uri.startswith("s3://"):
        from rayops.storage.s3 import S3Storage

        bucket = uri[len("s3://") :].split("/", 1)[0]
        fs, _ = S3Storage(f"s3://{bucket}", settings).arrow_filesystem()
        return fs, uri[len("s3://") :].rstrip("/")
    if "://" in uri and not uri.startswith("file://"):
        raise InvalidInputError(
            f"Unsupported input {uri!r}: use a local path, file:///path or s3://bucket/key."
        )
    path = os.path.abspath(os.path.expanduser(uri.removeprefix("file://")))
    return pafs.LocalFileSystem(), path


def _uri_of(uri: str, path: str) -> str:
    return f"s3://{path}" if uri.startswith("s3://") else path


def files_input(uri: str, settings: Settings) -> tuple[BatchInput, list[pa.Schema]]:
    """The Parquet files ``uri`` names (a file, a folder or a glob), with their footers."""
    import pyarrow.fs as pafs

    base, pattern = split_glob(uri)
    fs, root = input_filesystem(base, settings)
    info = _translate(lambda: fs.get_file_info(root), base)
    if pattern is None and info.type == pafs.FileType.File:
        paths = [(root, info.size)]
    elif info.type == pafs.FileType.Directory:
        listed = _translate(lambda: fs.get_file_info(pafs.FileSelector(root, recursive=True)), base)
        paths = []
        for entry in listed:
            rel = entry.path[len(root) :].lstrip("/")
            if entry.type != pafs.FileType.File or _hidden(rel):
                continue
            if pattern is None and not rel.endswith(".parquet"):
                continue
            if pattern is not None and not fnmatch.fnmatchcase(rel, pattern):
                continue
            paths.append((entry.path, entry.size))
        paths.sort()
    else:
        raise NotFoundError(f"No input at {uri!r}: no such file or folder.")
    if not paths:
        raise NotFoundError(f"No Parquet files match {uri!r}.")
    files, schemas = _footers(fs, [(p, _uri_of(uri, p), size) for p, size in paths])
    return BatchInput(kind="files", uri=uri, files=files), schemas


def feature_set_input(
    storage: Storage, ref: str, settings: Settings
) -> tuple[BatchInput, list[pa.Schema], Any]:
    """A feature-set version's part files with their footers, and its manifest."""

    version = FeatureStore(storage, settings=settings).get(ref)
    fs, _ = storage.arrow_filesystem()
    keys = [layout.version_dir(version.name, version.version) + f for f in version.files]
    paths = [storage.path_of(k) for k in keys]
    sizes = [i.size for i in _translate(lambda: fs.get_file_info(paths), storage.uri)]
    listed = [(p, f"{storage.uri}/{k}", s) for p, k, s in zip(paths, keys, sizes, strict=True)]
    files, schemas = _footers(fs, listed)
    batch_input = BatchInput(
        kind="feature_set", uri=storage.uri, feature_set=version.name,
        version=int(version.version), sha256=version.sha256, files=files,
    )  # fmt: skip
    return batch_input, schemas, version


def _hidden(rel: str) -> bool:
    return any(part.startswith((".", "_")) for part in rel.split("/"))


def _translate(fn: Any, where: str) -> Any:
    try:
        return fn()
    except OSError as e:
        raise InvalidInputError(f"Cannot read the input at {where!r}: {e}") from None


def _footers(
    fs: pafs.FileSystem, listed: Sequence[tuple[str, str, int | None]]
) -> tuple[list[InputFile], list[pa.Schema]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    def one(item: tuple[str, str, int | None]) -> tuple[InputFile, pa.Schema]:
        path, uri, size = item
        try:
            meta = pq.ParquetFile(path, filesystem=fs).metadata
        except (OSError, pa.ArrowException) as e:
            raise InvalidInputError(f"Cannot read {uri} as Parquet: {e}") from None
        groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        file = InputFile(path=path, uri=uri, size=int(size or 0), row_groups=groups)
        return file, meta.schema.to_arrow_schema()

    with ThreadPoolExecutor(min(FOOTER_THREADS, len(listed))) as pool:
        done = list(pool.map(one, listed))
    return [f for f, _ in done], [s for _, s in done]


def check_columns(
    batch_input: BatchInput, schemas: Sequence[pa.Schema], needed: dict[str, str]
) -> None:
    """Every file must have every needed column (``{column: why it is needed}``)."""
    for file, schema in zip(batch_input.files, schemas, strict=True):
        missing = [c for c in needed if c not in schema.names]
        if missing:
            reasons = ", ".join(f"{c!r} ({needed[c]})" for c in missing)
            raise InvalidInputError(f"{file.uri} has no column {reasons}; it has {schema.names}.")


def plan_parts(batch_input: BatchInput, rows_per_part: int) -> list[Part]:
    """Cut every file into parts of consecutive row groups, each of at most about
    ``rows_per_part`` rows (at least one row group); empty files give no part."""
    parts: list[Part] = []
    for index, file in enumerate(batch_input.files):
        group: list[int] = []
        rows = 0
        for rg, n in enumerate(file.row_groups):
            if group and rows + n > rows_per_part:
                parts.append(Part(name=part_name(index, group[0]), file=index,
                                  row_groups=group, rows=rows))  # fmt: skip
                group, rows = [], 0
            group.append(rg)
            rows += n
        if group and rows:
            parts.append(Part(name=part_name(index, group[0]), file=index,
                              row_groups=group, rows=rows))  # fmt: skip
    return parts
