"""Quality, latency and error metrics of one endpoint, per version, over a window.

Everything is computed from the gateway's logs (see :mod:`rayops.telemetry.readers`):

* ``requests``, ``rows``, latency percentiles: the prediction log (shadow rows
  excluded; latency is per request, so each request counts once);
* ``labeled`` and the quality metrics of each version's task (its model card's):
  predictions joined with feedback (:mod:`rayops.monitoring.quality`). Regression:
  ``mae``, ``rmse`` and ``accuracy``, the share of labeled rows with
  ``|prediction - actual| <= tolerance`` (derived from the card unless given);
  classifiers: the task's scikit-learn metrics (``logloss``, ``auc``, ``accuracy``,
  ``f1``, ``brier``, ``ece``... see :class:`VersionMetrics`);
* ``error_rate``: the request-outcome log (``logs/<endpoint>/requests/``): failed
  requests (HTTP status >= 400) over all recorded predict requests. Failures that
  happened before a version was chosen count for the endpoint as a whole (the
  ``"*"`` entry of :func:`endpoint_metrics`), not for any version.

A metric is ``None`` when the window holds no data for it.

Snapshots (:func:`snapshot`) are appended as Parquet under
``monitoring/<endpoint>/metrics/date=YYYY-MM-DD/*.parquet`` so analytics can read
the history (:func:`read_snapshots`).

Example:
    >>> import tempfile
    >>> from datetime import UTC, datetime
    >>> from rayops.storage import open_storage
    >>> end = datetime(2026, 1, 2, tzinfo=UTC)
    >>> start, end = parse_window("24h", end=end)
    >>> version_metrics(open_storage(tempfile.mkdtemp()), "shop", start, end)
    {}
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from rayops.clock import as_utc, utc_now
from rayops.config import settings_of
from rayops.durations import parse_duration
from rayops.errors import InvalidInputError
from rayops.monitoring.layout import metrics_prefix
from rayops.monitoring.quality import VersionInfo, derived_tolerance, quality_of, version_info
from rayops.storage.base import Storage
from rayops.telemetry.readers import joined, read_partitioned, read_requests

if TYPE_CHECKING:
    import pandas as pd

    from rayops.config import Settings

__all__ = [
    "ALL_VERSIONS",
    "VersionMetrics",
    "endpoint_metrics",
    "parse_window",
    "read_snapshots",
    "snapshot",
    "version_metrics",
]

#: Key of the endpoint-wide entry in :func:`endpoint_metrics`.
ALL_VERSIONS = "*"


def parse_window(
    window: str | timedelta | None = None,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    now: Callable[[], datetime] | None = None,
) -> tuple[datetime, datetime]:
    """``(start, end)`` in UTC from a duration (``"1h"``, ``"24h"``, ``"7d"``, ``"30d"``,
    ``"90m"``...) ending at ``end`` (default now), or from explicit ``start``/``end``.

    Example:
        >>> from datetime import datetime, UTC
        >>> s, e = parse_window("1h", end=datetime(2026, 1, 1, 12, tzinfo=UTC))
        >>> s.isoformat()
        '2026-01-01T11:00:00+00:00'
    """
    end = as_utc(end) if end is not None else (now() if now else utc_now())
    end = as_utc(end)
    if start is not None:
        if window is not None:
            raise InvalidInputError("Give either a window duration or a start time, not both.")
        start = as_utc(start)
    else:
        if window is None:
            raise InvalidInputError("Give a window (e.g. '1h', '24h', '7d') or a start time.")
        start = end - parse_duration(window, what="window")
    if end <= start:
        raise InvalidInputError(f"The window ends ({end}) before it starts ({start}).")
    return start, end


@dataclass
class VersionMetrics:
    """Metrics of one version (or the whole endpoint) over one window.

    Every version has the counts, latency and error rate. Its quality metrics are
    those of its task (its model card's): regression has ``mae``, ``rmse`` and
    ``accuracy`` within ±``tolerance``; a classifier has ``logloss``, ``accuracy``,
    ``brier``, and for binary ``auc``, ``pr_auc``, ``precision``, ``recall``, ``f1``
    (at the decision threshold), ``ece`` and ``positive_rate``, for multiclass
    ``macro_f1`` and ``class_recall`` per class. The others are None.

    ``losses`` holds the task's per-row loss (squared error or log loss) of every
    labeled row and ``request_ids`` their requests, in log order, for the promotion
    gate; ``abs_errors`` ``|prediction - actual|`` of a regression version's rows.
    """

    requests: int = 0
    rows: int = 0
    labeled: int = 0
    task: str = "regression"
    mae: float | None = None
    rmse: float | None = None
    accuracy: float | None = None
    tolerance: float | None = None
    logloss: float | None = None
    auc: float | None = None
    pr_auc: float | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    brier: float | None = None
    ece: float | None = None
    positive_rate: float | None = None
    macro_f1: float | None = None
    class_recall: dict[str, float] | None = None
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_p99_ms: float | None = None
    error_rate: float | None = None
    failed_requests: int = 0
    abs_errors: list[float] = field(default_factory=list, repr=False)
    losses: list[float] = field(default_factory=list, repr=False)
    request_ids: list[str] = field(default_factory=list, repr=False)

    def to_dict(self, *, errors: bool = False) -> dict[str, Any]:
        """JSON-ready fields; the per-row lists only when asked for."""
        out = asdict(self)
        if not errors:
            for name in _ROW_LISTS:
                out.pop(name)
        return out


_ROW_LISTS = ("abs_errors", "losses", "request_ids")


def _quality(frame: pd.DataFrame, info: VersionInfo, m: VersionMetrics) -> None:
    m.task = str(info.task)
    if not info.task.is_classification:
        m.tolerance = info.tolerance
    _counts(frame, m)
    found = quality_of(frame, info) if len(frame) else {"labeled": 0}
    for name, value in found.items():
        if hasattr(m, name) and value is not None:
            setattr(m, name, value)


def endpoint_metrics(
    storage: Storage,
    endpoint: str,
    start: datetime,
    end: datetime,
    *,
    tolerance: float | None = None,
    include_shadow: bool = False,
    frame: pd.DataFrame | None = None,
    settings: Settings | None = None,
    infos: dict[str, VersionInfo] | None = None,
) -> dict[str, VersionMetrics]:
    """Like :func:`version_metrics`, plus the endpoint-wide entry under ``"*"``
    (``ALL_VERSIONS``), which also counts requests that failed before routing.

    ``frame`` is the window's joined log (:func:`~rayops.telemetry.readers.joined`)
    when the caller already read it. The endpoint-wide quality is judged as the
    task of the version with the most rows (its classes, threshold, tolerance);
    rows of versions with another task or other classes count for traffic only.
    """

    settings = settings_of(storage, settings)
    if tolerance is not None and tolerance <= 0:
        raise InvalidInputError(f"The accuracy tolerance must be positive, got {tolerance}.")
    if frame is None:
        frame = joined(storage, endpoint, start, end, include_shadow=include_shadow)
    outcomes = read_requests(storage, endpoint, start, end)
    frame_refs = _refs(frame)
    outcome_refs = _refs(outcomes)
    out: dict[str, VersionMetrics] = {}
    refs = sorted(set(frame_refs.dropna()) | set(outcome_refs.dropna()))
    cache = infos if infos is not None else {}
    info = {r: version_info(storage, r, settings, tolerance=tolerance, cache=cache) for r in refs}
    for ref in refs:
        m = VersionMetrics()
        _quality(frame[frame_refs == ref], info[ref], m)
        _outcomes(outcomes[outcome_refs == ref], m)
        out[ref] = m
    main = main_ref(frame_refs)
    fallback = tolerance if tolerance is not None else derived_tolerance(None, settings)
    mine = info[main] if main is not None else VersionInfo.regression(fallback)
    same = [r for r in refs if info[r].task == mine.task and info[r].labels == mine.labels]
    everything = VersionMetrics()
    if mine.task.is_classification:
        _quality(frame[frame_refs.isin(same)] if len(frame) else frame, mine, everything)
    else:
        _quality(frame.iloc[0:0], mine, everything)
        _pool_regression(everything, [out[r] for r in same])
    _counts(frame, everything)
    _outcomes(outcomes, everything)
    out[ALL_VERSIONS] = everything
    out = {ALL_VERSIONS: out[ALL_VERSIONS], **{r: out[r] for r in refs}}
    if len(out) == 1 and out[ALL_VERSIONS].requests == 0 and not len(outcomes):
        return {}
    return out


def _counts(frame: pd.DataFrame, m: VersionMetrics) -> None:
    import numpy as np

    m.rows = len(frame)
    if len(frame):
        per_request = frame.drop_duplicates("request_id")["latency_ms"].to_numpy(np.float64)
        m.requests = len(per_request)
        p50, p95, p99 = np.percentile(per_request, [50, 95, 99])
        m.latency_p50_ms, m.latency_p95_ms, m.latency_p99_ms = float(p50), float(p95), float(p99)


def _outcomes(outcomes: pd.DataFrame, m: VersionMetrics) -> None:
    if len(outcomes):
        failed = int((outcomes["status"].astype("int64") >= 400).sum())
        m.failed_requests = failed
        m.error_rate = failed / len(outcomes)


def _pool_regression(m: VersionMetrics, parts: list[VersionMetrics]) -> None:
    """Endpoint-wide regression quality from its versions' rows, each row judged with
    its own version's tolerance."""
    import numpy as np

    labeled = sum(p.labeled for p in parts)
    m.labeled = labeled
    if not labeled:
        return
    abs_err = np.concatenate([np.asarray(p.abs_errors, dtype=np.float64) for p in parts])
    sq = np.concatenate([np.asarray(p.losses, dtype=np.float64) for p in parts])
    m.mae = float(abs_err.mean())
    m.rmse = float(math.sqrt(float(sq.mean())))
    m.accuracy = sum((p.accuracy or 0.0) * p.labeled for p in parts) / labeled
    tolerances = {p.tolerance for p in parts if p.labeled}
    m.tolerance = tolerances.pop() if len(tolerances) == 1 else None
    m.abs_errors = abs_err.tolist()
    m.losses = sq.tolist()
    m.request_ids = [i for p in parts for i in p.request_ids]


def main_ref(refs: pd.Series) -> str | None:
    """The ref with the most rows (ties: the first by name)."""
    counts = refs.dropna().value_counts()
    if not len(counts):
        return None
    top = counts.max()
    return str(sorted(counts[counts == top].index)[0])


def _refs(frame: pd.DataFrame) -> pd.Series:
    """``model@version`` per row (null where the version is null)."""
    if not len(frame):
        import pandas as pd

        return pd.Series([], dtype=object)
    refs = frame["model"].astype("string") + "@" + frame["version"].astype("string")
    return refs.astype(object).where(frame["version"].notna(), None)


def version_metrics(
    storage: Storage,
    endpoint: str,
    start: datetime,
    end: datetime,
    *,
    tolerance: float | None = None,
    include_shadow: bool = False,
    settings: Settings | None = None,
) -> dict[str, VersionMetrics]:
    """Metrics of every version of ``endpoint`` seen in ``[start, end)``, keyed by
    ``model@version`` (an endpoint may serve versions of several models, e.g. an
    ensemble next to a booster), each judged as its model card's task.

    ``tolerance`` is the T of a regression version's accuracy-within-±T (default:
    derived from its card, :func:`rayops.monitoring.quality.derived_tolerance`).
    With ``include_shadow`` the shadow version's rows (answers logged, never returned)
    are measured too, under their own ref (a shadow rollout judges them).
    Feedback is joined up to 7 days after ``end`` (see :func:`~rayops.telemetry.readers.joined`).

    Example:
        >>> m = version_metrics(storage, "shop", start, end)  # doctest: +SKIP
        >>> m["shop@1.2.0"].rmse, m["shop@1.2.0"].latency_p95_ms  # doctest: +SKIP
        (3.1, 12.5)
    """
    found = endpoint_metrics(
        storage, endpoint, start, end, tolerance=tolerance, include_shadow=include_shadow,
        settings=settings,
    )  # fmt: skip
    found.pop(ALL_VERSIONS, None)
    return found


# --- snapshots ----------------------------------------------------------------------------


_SNAPSHOT_FIELDS = (
    "requests", "rows", "labeled", "mae", "rmse", "accuracy", "latency_p50_ms",
    "latency_p95_ms", "latency_p99_ms", "error_rate", "failed_requests", "tolerance",
    "logloss", "auc", "pr_auc", "precision", "recall", "f1", "brier", "ece", "positive_rate",
    "macro_f1",
)  # fmt: skip


def snapshot(
    storage: Storage,
    endpoint: str,
    start: datetime,
    end: datetime,
    *,
    tolerance: float | None = None,
    settings: Settings | None = None,
) -> dict[str, VersionMetrics]:
    """Compute :func:`endpoint_metrics` and append them as one Parquet object (one row
    per ``ref`` = ``model@version``, ``"*"`` for the endpoint) under
    ``monitoring/<endpoint>/metrics/``."""
    import pyarrow as pa

    found = endpoint_metrics(storage, endpoint, start, end, tolerance=tolerance, settings=settings)
    if not found:
        return found
    start, end = as_utc(start), as_utc(end)
    ints = {"requests", "rows", "labeled", "failed_requests"}
    cols: dict[str, Any] = {
        "endpoint": pa.array([endpoint] * len(found), pa.string()),
        "ref": pa.array(list(found), pa.string()),  # model@version, or "*"
        "window_start": pa.array([start] * len(found), pa.timestamp("us", tz="UTC")),
        "time": pa.array([end] * len(found), pa.timestamp("us", tz="UTC")),
        "task": pa.array([m.task for m in found.values()], pa.string()),
    }
    for name in _SNAPSHOT_FIELDS:
        values = [getattr(m, name) for m in found.values()]
        cols[name] = pa.array(values, pa.int64() if name in ints else pa.float64())
    key = (
        f"{metrics_prefix(endpoint)}date={end:%Y-%m-%d}/"
        f"{end:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:12]}.parquet"
    )
    storage.write_parquet(key, pa.table(cols))
    return found


def read_snapshots(storage: Storage, endpoint: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Stored metric snapshots of ``endpoint`` whose window ended in ``[start, end)``."""

    columns = ("endpoint", "ref", "window_start", "time", "task", *_SNAPSHOT_FIELDS)
    frame = read_partitioned(storage, metrics_prefix(endpoint), columns, as_utc(start), as_utc(end))
    return frame.sort_values(["time", "ref"]).reset_index(drop=True)
