"""Feature sets: versioned, content-deduplicated, with metadata, search and point-in-time reads.

Every write of new content becomes the next integer version of a named feature
set, stored as Parquet parts plus a manifest (hash, schema, roles, statistics,
quality report, metadata) under ``features/<name>/<version>/`` of the storage
root, so it works the same on a local directory and on S3.

Example:
    >>> import tempfile, pandas as pd
    >>> from rayops.features import FeatureStore
    >>> from rayops.storage import open_storage
    >>> fs = FeatureStore(open_storage(tempfile.mkdtemp()))
    >>> fs.write("demo", pd.DataFrame({"x": [1, 2, 3]})).ref
    'demo@1'
    >>> fs.list()
    ['demo']
"""

from __future__ import annotations

from rayops.features.manifest import (
    Column,
    ColumnStats,
    ExpectationKind,
    Expectations,
    FeatureSetVersion,
    Quality,
    Range,
    Roles,
    SchemaChanges,
    Violation,
    parse_ref,
)
from rayops.features.store import FeatureStore

__all__ = [
    "Column",
    "ColumnStats",
    "ExpectationKind",
    "Expectations",
    "FeatureSetVersion",
    "FeatureStore",
    "Quality",
    "Range",
    "Roles",
    "SchemaChanges",
    "Violation",
    "parse_ref",
]
