"""The replay window: the most recent samples an endpoint's updates already used.

Each update trains on the new buffer plus a random sample of this window, so a
few trees fitted to the last hundred rows do not make the model forget what the
thousands before them taught (``online_replay_fraction`` of the training rows
come from here). The window keeps the latest ``online_replay_size`` samples
(feature JSON, actual value or label, prediction time) in one Parquet object,
``online/<endpoint>/replay.parquet``, replaced atomically after each update; it
is a derived cache of logged samples, so losing it only weakens the next few
updates.

Example:
    >>> import tempfile
    >>> from rayops.storage import open_storage
    >>> len(read_replay(open_storage(tempfile.mkdtemp()), "shop"))
    0
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rayops.errors import NotFoundError
from rayops.online.config import online_prefix
from rayops.storage.base import Storage

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["REPLAY_COLUMNS", "append_replay", "read_replay", "replay_key", "replay_rows"]

REPLAY_COLUMNS = ("features", "actual", "actual_label", "time")


def replay_key(endpoint: str) -> str:
    return f"{online_prefix(endpoint)}replay.parquet"


def read_replay(storage: Storage, endpoint: str) -> pd.DataFrame:
    """The replay window of ``endpoint`` (empty if none yet), oldest first."""
    import pandas as pd

    try:
        window = storage.read_parquet(replay_key(endpoint)).to_pandas()
    except NotFoundError:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in REPLAY_COLUMNS})
    if "actual_label" not in window.columns:  # written before classifiers learned online
        window["actual_label"] = pd.Series([None] * len(window), dtype=object)
    return window


def append_replay(storage: Storage, endpoint: str, samples: pd.DataFrame, size: int) -> int:
    """Add ``samples`` (``features``, ``actual``, ``actual_label``, ``time``) and keep the
    latest ``size``.

    Returns the rows kept. ``size`` 0 removes the window.
    """
    import pandas as pd
    import pyarrow as pa

    if size == 0:
        storage.delete(replay_key(endpoint))
        return 0
    current = read_replay(storage, endpoint)
    new = samples[list(REPLAY_COLUMNS)]
    parts = [p for p in (current, new) if len(p)]
    if not parts:
        return 0
    window = pd.concat(parts, ignore_index=True)
    window["time"] = pd.to_datetime(window["time"], utc=True)
    window = window.sort_values("time", kind="stable").tail(size)
    window["actual_label"] = (
        window["actual_label"].astype(object).where(window["actual_label"].notna(), None)
    )
    schema = pa.schema(
        [("features", pa.string()), ("actual", pa.float64()), ("actual_label", pa.string()),
         ("time", pa.timestamp("us", "UTC"))]
    )  # fmt: skip
    table = pa.Table.from_pandas(window, schema=schema, preserve_index=False)
    storage.write_parquet(replay_key(endpoint), table)
    return len(window)


def replay_rows(window: pd.DataFrame, train_rows: int, fraction: float, seed: int) -> pd.DataFrame:
    """A seeded random sample of ``window`` making up ``fraction`` of the training rows.

    Example:
        >>> import pandas as pd
        >>> w = pd.DataFrame({"features": ["{}"] * 10, "actual": range(10), "time": range(10)})
        >>> len(replay_rows(w, 70, 0.3, seed=1)), len(replay_rows(w, 7, 0.3, seed=1))
        (10, 3)
    """
    import numpy as np

    if fraction <= 0 or not len(window):
        return window.iloc[:0]
    wanted = int(round(train_rows * fraction / (1 - fraction)))
    n = min(len(window), wanted)
    picks = np.sort(np.random.default_rng(seed).choice(len(window), size=n, replace=False))
    return window.iloc[picks]
