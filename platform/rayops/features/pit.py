"""Point-in-time join: feature values as they were known at each row's event time.

For every entity row (keys + event time ``t``) the join picks, among the feature
rows with the same keys, the one with the latest event time ``<= t``; nothing
after ``t`` can leak into the result. A row with no such feature row (or a null
time) gets nulls. If several feature rows share keys and time, the one stored
last wins. The result has the entity rows in their original order and index.

Example:
    >>> import pandas as pd, tempfile
    >>> from rayops.features import FeatureStore
    >>> from rayops.storage import open_storage
    >>> fs = FeatureStore(open_storage(tempfile.mkdtemp()))
    >>> feats = pd.DataFrame({"user": [1, 1], "ts": pd.to_datetime(["2026-01-01", "2026-01-03"]),
    ...                       "spend": [10.0, 30.0]})
    >>> _ = fs.write("spend", feats, entity="user", event_time="ts")
    >>> rows = pd.DataFrame({"user": [1, 1, 1],
    ...                      "ts": pd.to_datetime(["2025-12-31", "2026-01-02", "2026-01-03"])})
    >>> fs.point_in_time_join(rows, "spend")["spend"].tolist()
    [nan, 10.0, 30.0]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rayops.errors import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd

    from rayops.features.store import FeatureStore

__all__ = ["point_in_time_join"]

_ROW = "__rayops_row__"


def _as_list(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _key_filter(entities: pd.DataFrame, keys: list[str], time_col: str) -> Any:
    """A Parquet filter keeping only the entities' keys and times up to their latest."""
    import pyarrow as pa
    import pyarrow.compute as pc

    expr = None
    for k in keys:
        values = pa.array(entities[k].dropna().unique())
        cond = pc.field(k).isin(values)
        expr = cond if expr is None else expr & cond
    latest = entities[time_col].max()
    if latest is not None and latest == latest:  # not NaT/NaN
        cond = pc.field(time_col) <= pa.scalar(latest)
        expr = cond if expr is None else expr & cond
    return expr


def _align_time(left: pd.Series, right: pd.Series, time_col: str) -> pd.Series:
    import pandas as pd

    lt, rt = left.dtype, right.dtype
    if pd.api.types.is_datetime64_any_dtype(lt) and pd.api.types.is_datetime64_any_dtype(rt):
        ltz, rtz = getattr(lt, "tz", None), getattr(rt, "tz", None)
        if (ltz is None) != (rtz is None):
            raise InvalidInputError(
                f"Event times of {time_col!r} are timezone-aware on one side and naive on the "
                "other; make both UTC-aware (or both naive) before joining."
            )
        return right.astype(lt)
    if lt != rt:
        try:
            return right.astype(lt)
        except (TypeError, ValueError) as e:
            raise InvalidInputError(
                f"Event times of {time_col!r} have type {lt} in the entities and {rt} in the "
                "feature set; convert one to the other."
            ) from e
    return right


def point_in_time_join(
    store: FeatureStore,
    entities: pd.DataFrame,
    ref: str,
    *,
    entity: str | list[str] | None = None,
    event_time: str | None = None,
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """``entities`` with, per row, the latest feature values not after its event time.

    ``entity`` and ``event_time`` default to the roles declared when the feature
    set was written; ``columns`` defaults to every feature column except keys,
    event time and targets.
    """
    import numpy as np
    import pandas as pd

    version = store.get(ref)
    keys = _as_list(entity) or version.roles.entity
    time_col = event_time or version.roles.event_time
    if not keys or time_col is None:
        raise InvalidInputError(
            f"{version.ref} declares no entity and event-time columns: pass entity= and "
            "event_time=, or write the feature set with those roles."
        )
    needed = [*keys, time_col]
    for where, have in (("entities", list(entities.columns)), (version.ref, version.columns)):
        missing = [c for c in needed if c not in have]
        if missing:
            raise InvalidInputError(f"Column(s) {missing} are missing from {where}.")
    skip = {*keys, time_col, *version.roles.target}
    feature_cols = (
        list(columns) if columns is not None else [c for c in version.columns if c not in skip]
    )
    clash = [c for c in feature_cols if c in entities.columns]
    if clash:
        raise InvalidInputError(
            f"Column(s) {clash} exist in both the entities and {version.ref}; drop or rename "
            "them, or choose columns=."
        )
    read_cols = [*keys, time_col, *[c for c in feature_cols if c not in needed]]
    try:
        right = store.read(
            version.ref, columns=read_cols, filter=_key_filter(entities, keys, time_col)
        )
    except (InvalidInputError, TypeError, ValueError):
        # The pushdown could not be typed against the stored columns; filter in memory.
        right = store.read(version.ref, columns=read_cols)
    left = entities.reset_index(drop=True)
    left[_ROW] = np.arange(len(left))
    right = right[right[time_col].notna()]
    right[time_col] = _align_time(left[time_col], right[time_col], time_col)
    has_time = left[time_col].notna()
    merged = pd.merge_asof(
        left[has_time].sort_values(time_col, kind="stable"),
        right.sort_values(time_col, kind="stable"),
        on=time_col,
        by=keys,
        direction="backward",
        allow_exact_matches=True,
    )
    if not has_time.all():
        merged = pd.concat([merged, left[~has_time]], ignore_index=True)
    merged = merged.sort_values(_ROW, kind="stable").drop(columns=[_ROW])
    merged.index = entities.index
    return merged[[*entities.columns, *[c for c in feature_cols if c not in needed]]]
