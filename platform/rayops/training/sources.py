"""Where a tuning run's rows come from: a feature set version or a Parquet file.

Both return the frame, the columns to keep out of the features (entity keys and
event time) and the lineage recorded with the run (and, for a feature set, with
a registered model).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rayops.errors import InvalidInputError
from rayops.features import FeatureStore
from rayops.storage import Storage

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "TrainingData",
    "feature_set_lineage",
    "feature_set_roles",
    "from_feature_set",
    "from_parquet",
    "registry_lineage",
]


@dataclass(frozen=True)
class TrainingData:
    """Rows to tune on and where they came from."""

    frame: pd.DataFrame
    lineage: dict[str, Any]
    target: str | None = None
    exclude: tuple[str, ...] = field(default=())
    #: The target's task as the feature set recorded it at ingest (None: not recorded).
    task: str | None = None

    def task_for(self, requested: str | None, target: str | None) -> str | None:
        """``requested`` unless it is ``auto``/None; then the recorded task of ``target``
        when it is the feature set's own target."""
        if requested not in (None, "auto") or target != self.target:
            return requested
        return self.task or requested


def from_feature_set(storage: Storage, ref: str) -> TrainingData:
    """Read ``name`` or ``name@VERSION`` from the feature store under ``storage``."""

    store = FeatureStore(storage)
    version = store.get(ref)
    frame = store.read(version.ref)
    target, exclude = feature_set_roles(version)
    return TrainingData(
        frame=frame, lineage=feature_set_lineage(version), target=target, exclude=exclude,
        task=recorded_task(version, target),
    )  # fmt: skip


def recorded_task(version: Any, target: str | None) -> str | None:
    """The task a feature-set version recorded for ``target`` at ingest, if any."""
    tasks = getattr(getattr(version, "roles", None), "target_tasks", None) or {}
    found = tasks.get(target) if target else None
    return getattr(found, "task", None)


def feature_set_task(version: Any, requested: str | None, target: str | None) -> str | None:
    """The task to train ``target`` of a feature-set version with: ``requested`` unless
    it is ``auto``/None, else what the version recorded for that target at ingest."""
    if requested not in (None, "auto"):
        return requested
    own, _ = feature_set_roles(version)
    return recorded_task(version, target or own) or requested


def feature_set_roles(version: Any) -> tuple[str | None, tuple[str, ...]]:
    """A version's single target (or None) and the columns that are never features
    (entity keys and event time)."""
    roles = version.roles
    exclude = tuple(getattr(roles, "entity", []) or [])
    event_time = getattr(roles, "event_time", None)
    if event_time:
        exclude = (*exclude, event_time)
    targets = list(getattr(roles, "target", []) or [])
    return (targets[0] if len(targets) == 1 else None), exclude


def feature_set_lineage(version: Any) -> dict[str, Any]:
    """What a run records about the feature-set version it trained on."""
    return {
        "source": "feature_set",
        "feature_set": version.name,
        "version": int(version.version),
        "sha256": version.sha256,
        "rows": int(version.row_count),
        "ref": version.ref,
    }


def from_parquet(path: str | Path) -> TrainingData:
    """Read a local Parquet file; its SHA-256 is recorded as the lineage."""
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise InvalidInputError(f"No Parquet file at {str(p)!r}; pass --data PATH.parquet.")
    digest = hashlib.sha256(p.read_bytes()).hexdigest()
    try:
        frame = pd.read_parquet(p)
    except Exception as e:  # pyarrow raises several unrelated types for a bad file
        raise InvalidInputError(f"Cannot read {str(p)!r} as Parquet: {e}") from None
    return TrainingData(
        frame=frame,
        lineage={"source": "parquet", "path": p.name, "sha256": digest, "rows": len(frame)},
    )


def registry_lineage(lineage: dict[str, Any] | None) -> dict[str, Any] | None:
    """The registry's lineage fields from a source's lineage (feature sets only).

    A Parquet file has no feature-set name and version, so it gives ``None``.
    """
    keys = ("feature_set", "version", "sha256", "rows")
    if lineage and all(k in lineage for k in keys):
        return {k: lineage[k] for k in keys}
    return None
