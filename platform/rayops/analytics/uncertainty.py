"""The uncertainty and explanation parts of the analytics report.

* ``uncertainty`` — per time bucket and version: coverage of the labeled rows by the
  version's conformal interval or set at the level served then (the adaptive level's
  history, :func:`rayops.monitoring.adaptive.level_at`), mean interval width (or set size), and the
  metrics estimated before labels next to the realized ones, with the estimation
  error (:func:`rayops.monitoring.coverage.uncertainty_of`);
* ``calibration`` — each classifier version's reliability curve (before and after
  calibration) and ECE, from its uncertainty document (out-of-fold rows);
* ``importance`` — each version's share of mean |contribution| per feature, per
  explained hour (the ``attribution`` control task's records), against its training
  shares;
* ``histograms`` — per feature of the reference version's baseline: the training
  histogram (its bin edges, or its category frequencies) against the current
  window's logged rows in the same bins.

These parts read the full prediction log of the range (features included) once per
endpoint, beside the narrower read of :func:`rayops.analytics.frames.load_window`.

Example:
    >>> import tempfile
    >>> from datetime import UTC, datetime
    >>> from rayops.storage import open_storage
    >>> t = datetime(2026, 1, 2, tzinfo=UTC)
    >>> parts = uncertainty_parts(open_storage(tempfile.mkdtemp()), ["shop"], {}, None,
    ...     start=t.replace(day=1), current_start=t.replace(day=1), end=t, step_s=3600)
    >>> parts["uncertainty"], parts["histograms"]
    ([], [])
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from rayops.analytics.report import (
    CalibrationOut,
    HistogramOut,
    ImportanceOut,
    ImportancePoint,
    UncertaintyPoint,
)
from rayops.config import Settings, settings_of
from rayops.monitoring.adaptive import level_at, level_history
from rayops.monitoring.attribution import attribution_drift, read_attribution, training_importance
from rayops.monitoring.coverage import metric_value, uncertainty_of, version_uncertainty
from rayops.monitoring.metrics import _refs
from rayops.registry.explain import shares
from rayops.telemetry.readers import joined

if TYPE_CHECKING:
    import pandas as pd

    from rayops.monitoring.quality import VersionInfo
    from rayops.storage.base import Storage

__all__ = ["feature_histograms", "uncertainty_parts"]


def _frame(
    storage: Storage, endpoints: list[str], start: datetime, end: datetime, model: str | None
) -> pd.DataFrame:
    import pandas as pd

    parts = [joined(storage, ep, start, end) for ep in endpoints]
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame()
    frame = pd.concat(parts, ignore_index=True)
    frame["ref"] = _refs(frame)
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    if model is not None:
        frame = frame[frame["model"] == model]
    return frame.reset_index(drop=True)


def _series(
    storage: Storage,
    frame: pd.DataFrame,
    infos: Mapping[str, VersionInfo],
    step_s: int,
    settings: Settings,
) -> list[UncertaintyPoint]:

    if not len(frame):
        return []
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    nominal = settings.monitoring.coverage_level
    buckets = ((frame["time"] - epoch).dt.total_seconds() // step_s).astype("int64")
    out = []
    for ref in sorted(set(frame["ref"].dropna())):
        unc = version_uncertainty(storage, ref, settings)
        if unc.empty or ref not in infos:
            continue
        history = level_history(storage, ref)
        mine = (frame["ref"] == ref).to_numpy(dtype=bool)
        for bucket in sorted(set(buckets[mine])):
            part = frame[mine & (buckets == bucket).to_numpy()]
            when = epoch + timedelta(seconds=int(bucket) * step_s)
            level = level_at(history, when, nominal=nominal)
            found = uncertainty_of(part, infos[ref], unc, level=level, settings=settings)
            est = found.estimated or {}
            error = est.get("error")
            primary = "accuracy" if infos[ref].task.is_classification else "mae"
            guess = est.get(primary)
            out.append(
                UncertaintyPoint(
                    time=epoch + timedelta(seconds=int(bucket) * step_s),
                    ref=ref,
                    level=level,
                    rows=found.rows,
                    labeled=found.labeled,
                    coverage=found.coverage,
                    broken=found.broken,
                    interval_width=found.width,
                    set_size=found.set_size,
                    **{
                        m: metric_value(found, m)
                        for m in (
                            "estimated_accuracy",
                            "estimated_logloss",
                            "estimated_auc",
                            "estimated_mae",
                        )
                    },
                    realized=guess - error if guess is not None and error is not None else None,
                    estimation_error=error,
                )  # fmt: skip
            )
    return out


def _calibration(storage: Storage, refs: list[str], settings: Settings) -> list[CalibrationOut]:
    out = []
    for ref in refs:
        cal = version_uncertainty(storage, ref, settings).calibrator
        if cal is None:
            continue
        before: Any = cal.curve.get("before") or {}
        after: Any = cal.curve.get("after") or {}
        out.append(
            CalibrationOut(
                ref=ref,
                method=cal.method,
                ece_before=cal.ece_before,
                ece_after=cal.ece_after,
                predicted_before=before.get("predicted", []),
                observed_before=before.get("observed", []),
                predicted_after=after.get("predicted", []),
                observed_after=after.get("observed", []),
            )  # fmt: skip
        )
    return out


def _importance(
    storage: Storage, endpoints: list[str], refs: list[str], start: datetime, end: datetime,
    settings: Settings,
) -> list[ImportanceOut]:  # fmt: skip

    out = []
    for ref in refs:
        training = training_importance(storage, ref)
        series: list[ImportancePoint] = []
        drift = None
        for ep in endpoints:
            for r in read_attribution(storage, ep, start, end, ref):
                for feature, share in shares(r.get("mean_abs_contribution", {})).items():
                    series.append(
                        ImportancePoint(
                            time=datetime.fromisoformat(r["hour"]),
                            ref=ref,
                            feature=feature,
                            share=min(1.0, share),
                            explained=int(r.get("explained", 0)),
                        )  # fmt: skip
                    )
            drift = drift or attribution_drift(
                storage, ep, ref, start, end, settings=settings, training=training
            )
        if drift is not None:
            out.append(
                ImportanceOut(
                    ref=ref,
                    training=drift.training,
                    current=drift.current,
                    shift=drift.shift,
                    rank_changed=drift.rank_changed,
                    series=sorted(series, key=lambda p: (p.time, p.feature)),
                )  # fmt: skip
            )
    return out


def feature_histograms(baseline: Mapping[str, Any], frame: pd.DataFrame) -> list[HistogramOut]:
    """Per feature of ``baseline`` (a card's), its training histogram against the logged
    rows of ``frame`` (``f_<feature>`` columns) in the same bins; values outside the
    training range count in the first or last bin.

    Example:
        >>> import pandas as pd
        >>> base = {"x": {"kind": "numeric", "histogram": {"edges": [0, 1, 2], "counts": [3, 1]}}}
        >>> h = feature_histograms(base, pd.DataFrame({"f_x": [0.5, 1.5, 1.7, 9.0]}))[0]
        >>> h.bins, h.baseline, h.current
        (['[0, 1)', '[1, 2)'], [0.75, 0.25], [0.25, 0.75])
    """
    import numpy as np
    import pandas as pd

    out = []
    for feature, stats in baseline.items():
        column = frame.get(f"f_{feature}")
        if column is None:
            continue
        kind = stats.get("kind")
        if kind == "numeric" and stats.get("histogram"):
            edges = np.asarray(stats["histogram"]["edges"], dtype=np.float64)
            counts = np.asarray(stats["histogram"]["counts"], dtype=np.float64)
            values = pd.to_numeric(column, errors="coerce").to_numpy(np.float64)
            values = values[np.isfinite(values)]
            idx = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(counts) - 1)
            now = np.bincount(idx, minlength=len(counts)).astype(np.float64)
            bins = [f"[{a:.4g}, {b:.4g})" for a, b in zip(edges[:-1], edges[1:], strict=True)]
            base = counts / counts.sum() if counts.sum() else counts
        elif kind == "categorical" and stats.get("frequencies"):
            freq = stats["frequencies"]
            bins = [str(k) for k in freq]
            present = column.dropna().astype(str)
            known = {b for b in bins if b != "__other__"}
            mapped = present.where(present.isin(known), "__other__")
            counts_now = mapped.value_counts()
            now = np.asarray([float(counts_now.get(b, 0)) for b in bins])
            values = present.to_numpy()
            base = np.asarray([float(v) for v in freq.values()])
        else:
            continue
        total = now.sum()
        out.append(
            HistogramOut(
                feature=feature,
                kind=str(kind),
                bins=bins,
                baseline=[round(float(v), 6) for v in base],
                current=[round(float(v / total), 6) if total else 0.0 for v in now],
                rows=len(values),
            )  # fmt: skip
        )
    return out


def uncertainty_parts(
    storage: Storage,
    endpoints: list[str],
    infos: Mapping[str, VersionInfo],
    baseline: Mapping[str, Any] | None,
    *,
    start: datetime,
    current_start: datetime,
    end: datetime,
    step_s: int,
    model: str | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """The report's ``uncertainty``, ``calibration``, ``importance`` and ``histograms``
    (see the module docstring)."""
    settings = settings_of(storage, settings)
    frame = _frame(storage, endpoints, start, end, model)
    refs = sorted(r for r in infos)
    current = frame[frame["time"] >= current_start] if len(frame) else frame
    return {
        "uncertainty": _series(storage, frame, infos, step_s, settings),
        "calibration": _calibration(storage, refs, settings),
        "importance": _importance(storage, endpoints, refs, start, end, settings),
        "histograms": feature_histograms(baseline or {}, current) if len(current) else [],
    }
