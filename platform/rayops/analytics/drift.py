"""Drift per feature for analytics: logged feature values against a model card's baseline.

The gateway logs every row's features as a JSON object (the ``features`` column of
the prediction log). The latest ``analytics_drift_max_rows`` rows of the current
window are compared with the training baseline of the reference version's model
card by :func:`rayops.monitoring.drift.feature_drift` (PSI and KS for numeric
features, Jensen-Shannon for categorical ones); the same is done per time bucket
on runs of consecutive chart buckets holding at least
``analytics_drift_min_rows`` rows (quiet periods make wider cells), each sampled
down to its share of ``analytics_drift_max_rows``, for the drift-over-time heatmap.

Example:
    >>> import tempfile
    >>> from datetime import UTC, datetime, timedelta
    >>> from rayops.config import Settings
    >>> from rayops.storage import open_storage
    >>> end = datetime(2026, 1, 2, tzinfo=UTC)
    >>> drift_summary(open_storage(tempfile.mkdtemp()), ["shop"], "m@1.0.0", {"x": {}},
    ...               start=end - timedelta(days=1), current_start=end - timedelta(hours=1),
    ...               end=end, step=timedelta(hours=1), settings=Settings()) is None
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from rayops.analytics.report import DriftPoint, DriftSummary, FeatureDriftOut
from rayops.config import Settings
from rayops.monitoring.drift import feature_drift
from rayops.storage.base import Storage
from rayops.telemetry.readers import feature_frame, read_predictions

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["drift_summary"]


def _groups(counts: pd.Series, min_rows: int) -> list[tuple[int, int]]:
    """Runs ``[lo, hi)`` of consecutive chart buckets holding at least ``min_rows`` rows
    each (a short last run joins the one before it)."""
    out: list[tuple[int, int]] = []
    lo, rows = None, 0
    for key, n in counts.items():
        lo = int(key) if lo is None else lo
        rows += int(n)
        if rows >= min_rows:
            out.append((lo, int(key) + 1))
            lo, rows = None, 0
    if lo is not None and out:
        out[-1] = (out[-1][0], int(counts.index[-1]) + 1)
    return out


def _read_features(
    storage: Storage, endpoints: list[str], start: datetime, end: datetime, model: str | None
) -> pd.DataFrame:
    import pandas as pd

    cols = ("request_id", "model", "f_*", "time")
    parts = [read_predictions(storage, ep, start, end, columns=cols) for ep in endpoints]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)
    if model is not None and len(frame):
        frame = frame[frame["model"] == model]
    if len(frame):
        frame["time"] = pd.to_datetime(frame["time"], utc=True)
        frame = frame.sort_values("time", kind="stable")
    return frame


def drift_summary(
    storage: Storage,
    endpoints: list[str],
    baseline_ref: str,
    baseline: Mapping[str, Any],
    *,
    start: datetime,
    current_start: datetime,
    end: datetime,
    step: timedelta,
    settings: Settings,
    model: str | None = None,
) -> DriftSummary | None:
    """Drift of the current window (at least ``analytics_drift_min_rows`` latest rows) and
    per bucket; None with fewer logged rows, or none with a feature the baseline knows."""

    logged = _read_features(storage, endpoints, start, end, model)
    min_rows = settings.analytics.drift_min_rows
    span_s = max((end - start).total_seconds(), 1.0)
    if len(logged) < min_rows:
        return None
    current = logged[logged["time"] >= current_start].tail(settings.analytics.drift_max_rows)
    if len(current) < min_rows:  # too few rows lately: the latest rows of the range instead
        current = logged.tail(min_rows)
    window_start = min(current_start, current["time"].min().to_pydatetime())
    frame = feature_frame(current)
    names = [f for f in baseline if f in frame.columns]
    if not names:
        return None
    report = feature_drift(frame, baseline, features=names, settings=settings)
    features = [
        FeatureDriftOut(
            feature=f.feature,
            kind=f.kind,
            method=f.method,
            score=f.score,
            threshold=f.threshold,
            drifted=f.drifted,
        )
        for f in report.features.values()
    ]
    series: list[DriftPoint] = []
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    step_s = int(step.total_seconds())
    chart_bucket = ((logged["time"] - epoch).dt.total_seconds() // step_s).astype("int64")
    for lo, hi in _groups(chart_bucket.value_counts().sort_index(), min_rows):
        part = logged[(chart_bucket >= lo) & (chart_bucket < hi)]
        cap = max(settings.analytics.drift_max_rows * (hi - lo) * step_s // int(span_s), min_rows)
        sample = part.sample(n=min(cap, len(part)), random_state=0)
        values = feature_frame(sample)
        present = [n for n in names if n in values.columns]
        if not present:
            continue
        found = feature_drift(values, baseline, features=present, settings=settings)
        series += [
            DriftPoint(
                time=epoch + timedelta(seconds=lo * step_s),
                end=epoch + timedelta(seconds=hi * step_s),
                feature=f.feature,
                score=f.score,
                threshold=f.threshold,
                drifted=f.drifted,
                rows=len(sample),
            )
            for f in found.features.values()
        ]
    return DriftSummary(
        baseline_ref=baseline_ref,
        window_start=window_start,
        window_end=end,
        rows=len(frame),
        share=report.share,
        share_threshold=report.share_threshold,
        drifted=report.drifted,
        features=features,
        series=series,
    )
