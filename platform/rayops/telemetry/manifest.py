"""Which files of a log partition are live: the per-partition compaction manifest.

Writers only ever add files. Compaction merges some of them into one file and
records, in the partition's ``_manifest.json`` (changed with compare-and-swap),
that the merged file *replaces* its inputs. The live files of a partition are
therefore:

* every merged file the manifest lists that no later merge replaced, and
* every other data file, except those the manifest says were replaced.

(A merge may take earlier merged files as inputs: a pass merges whatever an hour
holds, so an hour ends as one file however many passes touched it.)

A merged file that is not (yet) in the manifest is invisible: either its
compactor has not switched the manifest yet, or it died before it did (the next
compaction deletes such orphans). Inputs are deleted only after the switch, so a
reader that lists the partition and then reads the manifest sees either the
inputs or the merged file, never both and never neither — on a local disk and
on S3 alike. A reader that lists an input that is deleted before it reads it
reads the partition again (:func:`live_files` callers retry on NotFoundError).

Example:
    >>> m = Manifest()
    >>> m = m.with_merge("compacted-00-a.parquet", ["1.parquet", "2.parquet"])
    >>> sorted(m.live(["1.parquet", "2.parquet", "3.parquet", "compacted-00-a.parquet",
    ...                "compacted-01-orphan.parquet"]))
    ['3.parquet', 'compacted-00-a.parquet']
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from rayops.errors import NotFoundError
from rayops.storage.base import Storage
from rayops.telemetry.layout import COMPACTED_PREFIX, MANIFEST, Log, manifest_key, partition_prefix

__all__ = ["Manifest", "Merge", "live_files", "live_sized", "read_manifest"]


class Merge(BaseModel):
    """One merged file and the inputs it replaced."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str = Field(description="Name of the merged file in the partition.")
    replaces: list[str] = Field(description="Names of the files it replaced.")
    rows: int = Field(default=0, ge=0)


class Manifest(BaseModel):
    """The compaction record of one partition (``_manifest.json``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    merges: list[Merge] = Field(default_factory=list)
    revision: int = Field(default=0, ge=0)

    @property
    def merged(self) -> set[str]:
        return {m.file for m in self.merges}

    @property
    def replaced(self) -> set[str]:
        return {name for m in self.merges for name in m.replaces}

    def live(self, names: Iterable[str]) -> list[str]:
        """The live data files among the listed ``names``, plus every live merged file."""
        merged, replaced = self.merged, self.replaced
        listed = [n for n in names if n.endswith(".parquet")]
        out = [n for n in listed if not n.startswith(COMPACTED_PREFIX) and n not in replaced]
        return sorted(out) + sorted(merged - replaced)

    def with_merge(self, file: str, replaces: Iterable[str], rows: int = 0) -> Manifest:
        return Manifest(
            merges=[*self.merges, Merge(file=file, replaces=sorted(replaces), rows=rows)],
            revision=self.revision + 1,
        )

    def without_deleted(self, existing: set[str]) -> Manifest:
        """Forget replaced inputs that are gone (keeps the manifest small)."""
        merges = [
            Merge(file=m.file, replaces=[r for r in m.replaces if r in existing], rows=m.rows)
            for m in self.merges
        ]
        return Manifest(merges=merges, revision=self.revision + 1)


def read_manifest(
    storage: Storage, endpoint: str, log: Log, day: date
) -> tuple[Manifest, str | None]:
    """The partition's manifest and its CAS token (an empty manifest and None if none)."""
    try:
        found = storage.read_versioned(manifest_key(endpoint, log, day))
    except NotFoundError:
        return Manifest(), None
    return Manifest.model_validate(found.json()), found.token


def live_files(storage: Storage, endpoint: str, log: Log, day: date) -> list[str]:
    """Keys of the live data files of one partition: one listing and one manifest read."""
    return [key for key, _ in live_sized(storage, endpoint, log, day)]


def live_sized(
    storage: Storage, endpoint: str, log: Log, day: date
) -> list[tuple[str, int | None]]:
    """:func:`live_files` with each file's size from the listing (None where the backend
    does not say), so readers open the files without a metadata request each."""
    prefix = partition_prefix(endpoint, log, day)
    sizes = {k[len(prefix) :]: n for k, n in storage._list_sizes(prefix)}
    names = list(sizes)
    if MANIFEST in names:
        manifest, _ = read_manifest(storage, endpoint, log, day)
    else:
        manifest = Manifest()  # merged files without a manifest are not switched in yet
    return [(prefix + n, sizes.get(n)) for n in manifest.live(names)]
