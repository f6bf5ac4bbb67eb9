"""The feature store: versioned, content-deduplicated feature sets on one storage root.

A write streams the input once to hash, profile and check it, then (unless that
exact content is already stored) claims the next version number with
put-if-absent, writes the Parquet parts and publishes the manifest last. See
:mod:`rayops.features.layout` for the keys and :mod:`rayops.features.hashing`
for what "the same content" means.

Example:
    >>> import tempfile, pandas as pd
    >>> from rayops.storage import open_storage
    >>> fs = FeatureStore(open_storage(tempfile.mkdtemp()))
    >>> df = pd.DataFrame({"user": [1, 2], "spend": [9.5, 3.0]})
    >>> v = fs.write("spend", df, entity="user", metadata={"team": "growth"})
    >>> v.ref, v.row_count
    ('spend@1', 2)
    >>> fs.write("spend", df).ref        # same content: the same version, no new data
    'spend@1'
    >>> fs.read("spend@1", columns=["spend"])["spend"].tolist()
    [9.5, 3.0]
"""

from __future__ import annotations

import builtins
import fnmatch
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from rayops.clock import utc_now
from rayops.config import Settings, settings_of
from rayops.errors import InvalidInputError, NotFoundError, UnsafeArtifactError
from rayops.features import layout
from rayops.features.hashing import content_hash
from rayops.features.inputs import check_metadata, parse_expectations, roles_for, to_utc
from rayops.features.manifest import Column, Expectations, FeatureSetVersion, Quality, parse_ref
from rayops.features.pit import point_in_time_join
from rayops.features.publish import VersionPublisher, new_writer, writer_done
from rayops.features.quality import diff_schema, validate_expectations
from rayops.features.scan import scan
from rayops.features.source import open_source
from rayops.features.targets import check_requested, target_tasks
from rayops.names import validate_name
from rayops.storage.base import dumps

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from rayops.storage import Storage

__all__ = ["FeatureStore"]


class FeatureStore:
    """Versioned feature sets under ``features/`` of a storage root.

    Args:
        storage: where everything lives (local directory or S3).
        settings: tunables (``features_*`` fields); defaults to ``Settings()``.
        now: the clock, for tests; returns an aware datetime.
    """

    def __init__(
        self,
        storage: Storage,
        *,
        settings: Settings | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.storage = storage
        self.settings = settings_of(storage, settings)
        self._now = now or utc_now
        self._publisher = VersionPublisher(storage, self.settings, self._now, self._manifest)

    # --- write -----------------------------------------------------------------
    def write(
        self,
        name: str,
        data: Any,
        *,
        description: str = "",
        metadata: dict[str, Any] | None = None,
        entity: str | list[str] | None = None,
        event_time: str | None = None,
        target: str | list[str] | None = None,
        expectations: Expectations | dict[str, Any] | None = None,
        strict: bool = False,
        task: str | dict[str, str] | None = None,
    ) -> FeatureSetVersion:
        """Store ``data`` as the next version of ``name``, or return the identical one.

        ``data`` is a pandas DataFrame, a pyarrow Table, or the path of a Parquet
        file or folder (local, or a key under this storage root); paths stream.
        With ``strict=True`` a write that breaks ``expectations`` raises
        InvalidInputError listing the violations and stores nothing; otherwise
        violations are recorded in ``quality`` of the manifest.

        Each target's task (``regression``, ``binary`` or ``multiclass``) and, for a
        classifier, its sorted classes are recorded in ``roles.target_tasks``: inferred
        as training does, or ``task`` (one name, or one per target) when given; a task
        the data does not fit raises InvalidInputError and stores nothing.

        Example:
            >>> fs.write("churn", "data/churn.parquet", entity="user_id",  # doctest: +SKIP
            ...          event_time="ts", target="churned",
            ...          expectations={"not_null": ["user_id"]}, strict=True)
        """

        validate_name(name, "feature set name")
        meta = check_metadata(metadata)
        exp = parse_expectations(expectations)
        source = open_source(data, self.storage)
        roles = roles_for(source.schema, entity, event_time, target)
        check_requested(task, roles.target)
        if exp is not None:
            validate_expectations(exp, source.schema)
        s = self.settings
        threads = s.features.threads or os.cpu_count() or 1
        with ThreadPoolExecutor(threads, thread_name_prefix="rayops-features") as pool:
            result = scan(
                source,
                expectations=exp,
                pool=pool,
                batch_rows=s.features.batch_rows,
                max_categories=s.features.max_categories,
                top_values=s.features.top_values,
            )
            if strict and result.violations:
                listed = "; ".join(v.message for v in result.violations)
                raise InvalidInputError(
                    f"Feature set {name!r} was not written: {len(result.violations)} "
                    f"expectation(s) violated: {listed}."
                )
            writer = new_writer()
            try:
                existing = self._publisher.reserve(name, result.sha256, writer)
            except BaseException:
                writer_done(writer)
                raise
            if existing is not None:
                writer_done(writer)
                existing._reused = True
                return existing
            version: int | None = None
            try:
                version = self._publisher.claim(name, result.sha256, writer)
                files = self._publisher.write_parts(name, version, source, pool, threads)
                keys = [layout.version_dir(name, version) + f for f in files]
                roles.target_tasks = target_tasks(
                    source.schema, roles.target, task,
                    lambda c: self.storage.read_parquet(keys, columns=[c]).column(c).to_pandas(),
                )  # fmt: skip
                parent = self._latest(name, below=version)
                schema = [Column(name=f.name, type=str(f.type)) for f in source.schema]
                manifest = FeatureSetVersion(
                    name=name,
                    version=version,
                    sha256=result.sha256,
                    created_at=self._now(),
                    row_count=result.row_count,
                    schema=schema,
                    roles=roles,
                    stats=result.stats,
                    metadata=meta,
                    description=description,
                    parent_version=parent.version if parent else None,
                    quality=Quality(
                        schema_changes=diff_schema(parent.schema if parent else None, schema),
                        expectations=exp,
                        violations=result.violations,
                    ),
                    files=files,
                )
                self.storage.put_if_absent(
                    layout.manifest_key(name, version), dumps(manifest.to_json())
                )
            except BaseException:
                self._publisher.abandon(name, version, result.sha256, writer)
                writer_done(writer)
                raise
        try:
            self._publisher.record(name, result.sha256, version, writer)
        finally:
            writer_done(writer)
        return manifest

    # --- read ------------------------------------------------------------------
    def get(self, ref: str, *, as_of: datetime | date | str | None = None) -> FeatureSetVersion:
        """The manifest of ``name@N``, of the latest version, or of the one current ``as_of``.

        Raises NotFoundError for an unknown name or version.
        """
        parsed = parse_ref(ref)
        if parsed.version is not None:
            if as_of is not None:
                raise InvalidInputError(f"Give either a version ({ref!r}) or as_of, not both.")
            found = self._manifest(parsed.name, parsed.version)
            if found is None:
                known = ", ".join(str(n) for n in self._numbers(parsed.name)) or "none"
                raise NotFoundError(
                    f"Feature set {parsed.name!r} has no version {parsed.version} "
                    f"(versions: {known})."
                )
            return found
        if as_of is None:
            latest = self._latest(parsed.name)
            if latest is None:
                raise self._no_such(parsed.name)
            return latest
        when = to_utc(as_of)
        versions = self.versions(parsed.name)
        current = [v for v in versions if v.created_at <= when]
        if not current:
            raise NotFoundError(
                f"Feature set {parsed.name!r} had no version at {when.isoformat()}; its first "
                f"was created at {versions[0].created_at.isoformat()}."
            )
        return max(current, key=lambda v: v.version)

    def read_arrow(
        self,
        ref: str,
        columns: list[str] | None = None,
        filter: Any = None,
        as_of: datetime | date | str | None = None,
    ) -> pa.Table:
        """Read a version as an Arrow table; columns and filter are pushed into Parquet."""
        import pyarrow as pa

        version = self.get(ref, as_of=as_of)
        if columns is not None:
            unknown = [c for c in columns if c not in version.columns]
            if unknown:
                raise InvalidInputError(
                    f"{version.ref} has no column(s) {unknown}; it has {version.columns}."
                )
        keys = [layout.version_dir(version.name, version.version) + f for f in version.files]
        try:
            return self.storage.read_parquet(keys, columns=columns, filter=filter)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as e:
            raise InvalidInputError(f"Cannot read {version.ref} with that filter: {e}") from e

    def read(
        self,
        ref: str,
        columns: list[str] | None = None,
        filter: Any = None,
        as_of: datetime | date | str | None = None,
    ) -> pd.DataFrame:
        """Read a version as a pandas DataFrame (see :meth:`read_arrow`)."""
        return self.read_arrow(ref, columns=columns, filter=filter, as_of=as_of).to_pandas()

    def to_ray_dataset(self, ref: str, columns: list[str] | None = None) -> Any:
        """A ``ray.data.Dataset`` over a version's files (for Tune/Train); needs a running Ray."""
        import ray.data

        version = self.get(ref)
        fs, _ = self.storage.arrow_filesystem()
        paths = [
            self.storage.path_of(layout.version_dir(version.name, version.version) + f)
            for f in version.files
        ]
        return ray.data.read_parquet(paths, filesystem=fs, columns=columns)

    def verify(self, ref: str) -> FeatureSetVersion:
        """Re-hash a stored version; raise UnsafeArtifactError if it no longer matches."""

        version = self.get(ref)
        prefix = layout.version_dir(version.name, version.version)
        source = open_source(prefix, self.storage)
        actual = content_hash(source.batches(self.settings.features.batch_rows), source.schema)
        if actual != version.sha256:
            raise UnsafeArtifactError(
                f"{version.ref} is corrupt: its data hashes to {actual[:12]}, the manifest "
                f"says {version.sha256[:12]}."
            )
        return version

    # --- list and search ---------------------------------------------------------
    def versions(self, name: str) -> list[FeatureSetVersion]:
        """Every published version of ``name``, oldest first; NotFoundError if none."""
        validate_name(name, "feature set name")
        out = [m for n in self._numbers(name) if (m := self._manifest(name, n)) is not None]
        if not out:
            raise self._no_such(name)
        return out

    def list(self) -> builtins.list[str]:
        """Names of the feature sets that have at least one published version, sorted."""
        names = []
        for child in self.storage.list_children(layout.ROOT):
            try:
                validate_name(child)
            except InvalidInputError:
                continue
            if self._latest(child) is not None:
                names.append(child)
        return names

    def search(
        self,
        name_glob: str | None = None,
        metadata: dict[str, Any] | None = None,
        since: datetime | date | str | None = None,
        until: datetime | date | str | None = None,
    ) -> builtins.list[FeatureSetVersion]:
        """Versions whose name matches the glob, whose metadata has every given
        key=value (compared as text too, so CLI strings match numbers), and that
        were created within ``[since, until]`` (a plain date ``until`` includes that day).

        Example:
            >>> fs.search("churn*", {"team": "growth"}, since="2026-01-01")  # doctest: +SKIP
        """
        lo = to_utc(since) if since is not None else None
        hi = to_utc(until, end_of_day=True) if until is not None else None
        out = []
        for name in self.list():
            if name_glob is not None and not fnmatch.fnmatchcase(name, name_glob):
                continue
            for v in self.versions(name):
                if lo is not None and v.created_at < lo:
                    continue
                if hi is not None and v.created_at > hi:
                    continue
                if metadata and not all(
                    k in v.metadata
                    and (v.metadata[k] == want or _text(v.metadata[k]) == _text(want))
                    for k, want in metadata.items()
                ):
                    continue
                out.append(v)
        return out

    def point_in_time_join(
        self,
        entities: pd.DataFrame,
        ref: str,
        *,
        entity: str | builtins.list[str] | None = None,
        event_time: str | None = None,
        columns: builtins.list[str] | None = None,
    ) -> pd.DataFrame:
        """Attach to each entity row the feature values known at its event time.

        See :func:`rayops.features.pit.point_in_time_join`.
        """

        return point_in_time_join(
            self, entities, ref, entity=entity, event_time=event_time, columns=columns
        )

    # --- internals ---------------------------------------------------------------
    def _numbers(self, name: str) -> builtins.list[int]:
        return sorted(
            int(c) for c in self.storage.list_children(layout.name_dir(name)) if c.isdigit()
        )

    def _manifest(self, name: str, version: int) -> FeatureSetVersion | None:
        key = layout.manifest_key(name, version)
        try:
            raw = self.storage.read_bytes(key)
        except NotFoundError:
            return None
        try:
            return FeatureSetVersion.model_validate_json(raw)
        except ValidationError as e:
            raise UnsafeArtifactError(
                f"The manifest {key!r} in {self.storage.uri} is malformed "
                f"({e.error_count()} problem(s), first: {e.errors()[0]['msg']}); "
                "restore it or delete that version's folder."
            ) from None

    def _latest(self, name: str, below: int | None = None) -> FeatureSetVersion | None:
        for number in reversed(self._numbers(name)):
            if below is not None and number >= below:
                continue
            found = self._manifest(name, number)
            if found is not None:
                return found
        return None

    def _no_such(self, name: str) -> NotFoundError:
        return NotFoundError(
            f"No feature set {name!r} in {self.storage.uri}; `rayops features list` shows "
            "the ones that exist."
        )

    def __repr__(self) -> str:
        return f"FeatureStore({self.storage!r})"


def _text(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value
