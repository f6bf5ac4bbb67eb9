"""Where a feature set's objects live under the storage root.

::

    features/<name>/<version>/part-00000.parquet ...   the data, in row order
    features/<name>/<version>/manifest.json            written last: the version exists
    features/<name>/claims/<version>.json              put-if-absent: who owns a number
    features/<name>/by-hash/<sha256>.json              put-if-absent: dedup index/reservation

A version number is taken by creating its claim; the claim never becomes
visible to readers, only the manifest does. A claim whose write failed or lost
stays behind, so version numbers always increase but may skip one.

Example:
    >>> manifest_key("churn", 3)
    'features/churn/3/manifest.json'
"""

from __future__ import annotations

__all__ = [
    "ROOT",
    "claim_key",
    "claims_dir",
    "hash_key",
    "manifest_key",
    "name_dir",
    "part_name",
    "version_dir",
]

ROOT = "features"


def name_dir(name: str) -> str:
    return f"{ROOT}/{name}"


def version_dir(name: str, version: int) -> str:
    return f"{ROOT}/{name}/{version}/"


def manifest_key(name: str, version: int) -> str:
    return f"{ROOT}/{name}/{version}/manifest.json"


def claims_dir(name: str) -> str:
    return f"{ROOT}/{name}/claims"


def claim_key(name: str, version: int) -> str:
    return f"{ROOT}/{name}/claims/{version}.json"


def hash_key(name: str, sha256: str) -> str:
    return f"{ROOT}/{name}/by-hash/{sha256}.json"


def part_name(index: int) -> str:
    return f"part-{index:05d}.parquet"
