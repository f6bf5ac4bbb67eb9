"""Read an endpoint's logs once and compute metrics per version and per time bucket.

The figures use the same definitions as :mod:`rayops.monitoring.metrics`
(a test checks they agree): latency percentiles over requests (each request
once), the task's quality metrics over rows with feedback (the latest actual per
row; :func:`rayops.monitoring.quality.quality_of`, each version as its card's task),
error rate = failed requests (HTTP status >= 400) / logged predict requests.
Shadow rows are left out. Unlike :func:`rayops.telemetry.readers.joined`, the
``features`` column is not read here (it is the largest one); drift reads it
separately, for the latest rows only.

Example:
    >>> bucket_width(timedelta(hours=24), 24)
    datetime.timedelta(seconds=3600)
    >>> bucket_width(timedelta(days=7), 24)
    datetime.timedelta(seconds=21600)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from rayops.monitoring.metrics import ALL_VERSIONS
from rayops.monitoring.quality import quality_of
from rayops.storage.base import Storage
from rayops.telemetry.readers import read_feedback, read_predictions, read_requests

if TYPE_CHECKING:
    import pandas as pd

    from rayops.monitoring.quality import VersionInfo

__all__ = ["LogWindow", "bucket_width", "load_window", "metrics_of", "series_of"]

_NICE_SECONDS = (
    60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800,
)  # fmt: skip
_COLUMNS = (
    "request_id", "row", "endpoint", "model", "version", "prediction", "label", "latency_ms",
    "time",
)  # fmt: skip
#: Quality columns of a metrics dict (None where the task has no such metric).
QUALITY = (
    "mae", "rmse", "accuracy", "logloss", "auc", "pr_auc", "precision", "recall", "f1", "brier",
    "ece", "positive_rate", "macro_f1",
)  # fmt: skip


def bucket_width(span: timedelta, buckets: int) -> timedelta:
    """A round bucket width giving about ``buckets`` buckets over ``span``."""
    raw = max(span.total_seconds() / buckets, 1.0)
    best = min(_NICE_SECONDS, key=lambda s: abs(math.log(s / raw)))
    return timedelta(seconds=best)


@dataclass
class LogWindow:
    """Predicted rows joined with feedback, and request outcomes, of one window."""

    frame: pd.DataFrame  # columns of _COLUMNS + ref, actual, error
    outcomes: pd.DataFrame  # request_id, endpoint, ref (None before routing), status, time

    def between(self, start: datetime, end: datetime) -> LogWindow:
        f, o = self.frame, self.outcomes
        return LogWindow(
            f[(f["time"] >= start) & (f["time"] < end)],
            o[(o["time"] >= start) & (o["time"] < end)],
        )


def _refs(frame: pd.DataFrame) -> pd.Series:
    refs = frame["model"].astype("string") + "@" + frame["version"].astype("string")
    return refs.astype(object).where(frame["version"].notna(), None)


def load_window(
    storage: Storage,
    endpoints: list[str],
    start: datetime,
    end: datetime,
    *,
    model: str | None = None,
    feedback_grace: timedelta = timedelta(days=7),
) -> LogWindow:
    """Rows and outcomes of ``endpoints`` in ``[start, end)`` (only ``model``'s, if given)."""
    import pandas as pd

    frames, outcomes = [], []
    for ep in endpoints:
        preds = read_predictions(storage, ep, start, end, columns=[*_COLUMNS, "p_*"])
        fb = read_feedback(storage, ep, start, end + feedback_grace)
        if len(fb):  # the latest actual per row wins (a correction)
            fb = fb.sort_values("time").drop_duplicates(["request_id", "row"], keep="last")
            fb = fb[["request_id", "row", "actual", "actual_label"]]
        if len(fb) and len(preds):
            preds = preds.astype({"row": "int64"})
            joined = preds.merge(fb.astype({"row": "int64"}), on=["request_id", "row"], how="left")
        else:
            joined = preds.assign(actual=float("nan"), actual_label=None)
        joined["endpoint"] = ep
        frames.append(joined)
        oc = read_requests(storage, ep, start, end)
        oc["endpoint"] = ep
        outcomes.append(oc)
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=_COLUMNS)
    oc_all = pd.concat(outcomes, ignore_index=True) if outcomes else pd.DataFrame()
    frame["actual"] = pd.to_numeric(frame.get("actual"), errors="coerce").astype("float64")
    frame["prediction"] = frame["prediction"].astype("float64")
    frame["latency_ms"] = frame["latency_ms"].astype("float64")
    frame["error"] = frame["prediction"] - frame["actual"]
    frame["ref"] = _refs(frame) if len(frame) else pd.Series([], dtype=object)
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    if len(oc_all):
        oc_all["ref"] = _refs(oc_all)
        oc_all["time"] = pd.to_datetime(oc_all["time"], utc=True)
        oc_all = oc_all[["request_id", "endpoint", "ref", "status", "time"]]
    else:
        oc_all = pd.DataFrame(
            {c: pd.Series(dtype=object) for c in ("request_id", "endpoint", "ref", "status")}
        )
        oc_all["time"] = pd.Series(dtype="datetime64[us, UTC]")
    if model is not None:
        frame = frame[frame["model"] == model]
        oc_all = oc_all[oc_all["ref"].astype(str).str.startswith(f"{model}@")]
    return LogWindow(frame.reset_index(drop=True), oc_all.reset_index(drop=True))


def metrics_of(frame: pd.DataFrame, outcomes: pd.DataFrame, info: VersionInfo) -> dict[str, Any]:
    """Counts and metrics of one slice, judged as ``info``'s task (see the module
    docstring); None where no data. ``losses`` holds the per-row losses."""
    import numpy as np

    out: dict[str, Any] = dict.fromkeys(
        (*QUALITY, "latency_p50_ms", "latency_p95_ms", "latency_p99_ms")
    )
    out["rows"] = len(frame)
    per_request = frame.drop_duplicates(["endpoint", "request_id"])["latency_ms"]
    lat = per_request.to_numpy(np.float64)
    out["requests"] = len(lat)
    if len(lat):
        p50, p95, p99 = np.percentile(lat, [50, 95, 99])
        out.update(latency_p50_ms=float(p50), latency_p95_ms=float(p95), latency_p99_ms=float(p99))
    found = quality_of(frame, info) if len(frame) else {"labeled": 0, "losses": []}
    out["labeled"] = found["labeled"]
    out["losses"] = found["losses"]
    for name in QUALITY:
        if found.get(name) is not None:
            out[name] = found[name]
    failed = int((outcomes["status"].astype("int64") >= 400).sum()) if len(outcomes) else 0
    out["failed_requests"] = failed
    out["error_rate"] = failed / len(outcomes) if len(outcomes) else None
    return out


def _grouped(
    f: pd.DataFrame, o: pd.DataFrame, keys_f: list[Any], keys_o: list[Any], tolerance: Any
) -> pd.DataFrame:
    """:func:`metrics_of` of regression for every group at once (vectorized); ``tolerance``
    is per row (each version's own T)."""
    import pandas as pd

    req = f.drop_duplicates(["endpoint", "request_id"])
    req_keys = [k.loc[req.index] for k in keys_f]
    latency = req.groupby(req_keys)["latency_ms"]
    lat = pd.DataFrame(
        {f"latency_p{round(q * 100)}_ms": latency.quantile(q) for q in (0.5, 0.95, 0.99)}
    )
    lab = f["error"].notna()
    err = f.loc[lab, "error"]
    lab_keys = [k.loc[err.index] for k in keys_f]
    tol = tolerance.loc[err.index] if hasattr(tolerance, "loc") else tolerance
    quality = pd.DataFrame(
        {"abs": err.abs(), "sq": err**2, "hit": (err.abs() <= tol).astype("float64")}
    ).groupby(lab_keys)
    out = pd.DataFrame({"rows": f.groupby(keys_f).size(), "requests": req.groupby(req_keys).size()})
    out = out.join(lat, how="outer")
    out["labeled"] = quality.size()
    out["mae"] = quality["abs"].mean()
    out["rmse"] = quality["sq"].mean() ** 0.5
    out["accuracy"] = quality["hit"].mean()
    if len(o):
        failed = (o["status"].astype("int64") >= 400).astype("int64")
        oc = failed.groupby(keys_o).agg(["size", "sum"])
        out = out.join(oc, how="outer")
    else:
        out["size"], out["sum"] = 0, 0
    out["failed_requests"] = out["sum"].fillna(0).astype("int64")
    out["error_rate"] = out["sum"] / out["size"]
    for col in ("rows", "requests", "labeled"):
        out[col] = out[col].fillna(0).astype("int64")
    out.index = out.index.set_names(["bucket", "ref"][: len(keys_f)])
    return out.drop(columns=["size", "sum"])


def series_of(
    window: LogWindow,
    start: datetime,
    end: datetime,
    step: timedelta,
    infos: Mapping[str, VersionInfo],
    overall: VersionInfo,
) -> list[dict[str, Any]]:
    """Metrics per bucket (aligned to multiples of ``step`` since the epoch) and per ref,
    plus ``"*"`` for all versions (judged as ``overall``); each ref is judged as its own
    ``infos`` entry; buckets with no data are left out."""
    import pandas as pd

    step_s = int(step.total_seconds())
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    f, o = window.frame, window.outcomes
    if not len(f) and not len(o):
        return []

    def bucket(frame: pd.DataFrame) -> pd.Series:
        secs = (frame["time"] - epoch).dt.total_seconds()
        return (secs // step_s).astype("int64").rename("bucket")

    fb = bucket(f) if len(f) else pd.Series([], dtype="int64", name="bucket")
    ob = bucket(o) if len(o) else pd.Series([], dtype="int64", name="bucket")
    if overall.task.is_classification:
        return _looped(f, o, fb, ob, infos, overall, epoch, step_s)
    tol = f["ref"].map({r: i.tolerance for r, i in infos.items()}).fillna(overall.tolerance)
    everything = _grouped(f, o, [fb], [ob], tol).assign(ref=ALL_VERSIONS)
    fr, orf = f["ref"].rename("ref"), o["ref"].rename("ref")
    has_ref = orf.notna()
    per_ref = _grouped(f, o[has_ref], [fb, fr], [ob[has_ref], orf[has_ref]], tol)
    per_ref = per_ref.reset_index(level="ref")
    table = pd.concat([everything, per_ref]).reset_index().sort_values(["bucket", "ref"])
    metric_cols = [c for c in table.columns if c not in ("bucket", "ref")]
    out: list[dict[str, Any]] = []
    for rec in table.to_dict(orient="records"):
        point: dict[str, Any] = {
            "time": epoch + timedelta(seconds=int(rec["bucket"]) * step_s),
            "ref": rec["ref"],
        }
        for c in metric_cols:
            v = rec[c]
            point[c] = None if v is None or (isinstance(v, float) and math.isnan(v)) else v
        for c in ("rows", "requests", "labeled", "failed_requests"):
            point[c] = int(point[c] or 0)
        out.append(point)
    return out


def _looped(
    f: pd.DataFrame,
    o: pd.DataFrame,
    fb: pd.Series,
    ob: pd.Series,
    infos: Mapping[str, VersionInfo],
    overall: VersionInfo,
    epoch: datetime,
    step_s: int,
) -> list[dict[str, Any]]:
    """The series of a classifier's endpoint: :func:`metrics_of` per bucket and ref."""
    out: list[dict[str, Any]] = []
    buckets = sorted(set(fb.tolist()) | set(ob.tolist()))
    same = [r for r, i in infos.items() if i.task == overall.task and i.labels == overall.labels]
    for b in buckets:
        fpart, opart = f[fb == b], o[ob == b]
        time = epoch + timedelta(seconds=int(b) * step_s)
        quality = fpart[fpart["ref"].isin(same)]
        whole = metrics_of(quality, opart, overall)
        whole.update({k: v for k, v in metrics_of(fpart, opart.iloc[0:0], overall).items()
                      if k in ("rows", "requests") or k.startswith("latency")})  # fmt: skip
        out.append({"time": time, "ref": ALL_VERSIONS, **whole})
        refs = sorted(set(fpart["ref"].dropna()) | set(opart["ref"].dropna()))
        for ref in refs:
            info = infos.get(ref, overall)
            point = metrics_of(fpart[fpart["ref"] == ref], opart[opart["ref"] == ref], info)
            out.append({"time": time, "ref": ref, **point})
    for p in out:
        p.pop("losses", None)
    return sorted(out, key=lambda p: (p["time"], p["ref"]))
