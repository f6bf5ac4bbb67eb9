"""Per-version aggregates of the logs in 5-minute slots, so a pass reads only new files.

Log files are immutable: a file is written once, and compaction replaces files
with new ones (:mod:`rayops.telemetry.compaction`). So an aggregate computed
from one file never goes stale, and the cache is keyed by **file name**:

* each live **prediction** file gives, per (5-minute slot of the row's time,
  ``model@version``): rows, requests and a latency histogram (log-spaced bins,
  5% wide, so a quantile read from it is within 2.5% of the exact one);
* each live **request** file: outcomes and failures per (slot, version), and
  failures before routing for the endpoint;
* each live **feedback** file: the labeled contributions of the rows it labels,
  joined with their predictions of up to ``monitoring_aggregate_feedback_horizon_s``
  earlier, slotted by the *prediction's* time: count, and sums of the task's
  quantities — absolute and squared errors and hits within ±T (regression);
  log loss, Brier score, the confusion matrix at the version's threshold,
  calibration bins and 100-bin histograms of the positive-class probability per
  true class (binary: AUC and PR AUC from them, with ties within a bin).

A window's metrics are sums over the live files' aggregates of the slots that
start in ``[floor(start), end)`` (windows are rounded to whole slots). A pass
lists the window's partitions once, computes aggregates only for files it has not
seen (a file written since the last pass, or a merged file after a compaction,
computed once), keeps them in memory and in
``monitoring/<endpoint>/aggregates/<log>/<day>.json``, and forgets files that
are no longer live. Its cost grows with the new rows, not with the window.

**What is guaranteed.** Counts, error rate, MAE, RMSE, accuracy, log loss, Brier
score, precision, recall, F1, macro F1, per-class recall, positive rate and ECE
equal the exact figures (:func:`rayops.monitoring.metrics.endpoint_metrics`) on
the same slots, up to float rounding; latency quantiles are within a bin (±2.5%);
AUC and PR AUC are computed on 100 bins (within about 0.01 of the exact ones on
smooth scores). Feedback is counted when its file is older than
``monitoring_log_lag_s`` (so the predictions it labels are flushed) and the
prediction is at most ``monitoring_aggregate_feedback_horizon_s`` older than the
feedback; later feedback is counted by the exact reads (``version_metrics``,
rollouts, analytics), not here. An actual sent twice for a row counts once when
both arrive in one pass (the latest wins, as in the exact reads) and twice when
they arrive in different passes.

Example:
    >>> [round(q, 2) for q in latency_quantiles({bin_of(10.0): 3, bin_of(100.0): 1}, [0.5, 1])]
    [10.15, 100.55]
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from rayops.config import Settings, settings_of
from rayops.errors import NotFoundError
from rayops.monitoring.layout import aggregates_key
from rayops.monitoring.metrics import ALL_VERSIONS, VersionMetrics
from rayops.monitoring.quality import VersionInfo, derived_tolerance, version_info
from rayops.names import validate_name
from rayops.storage.base import Storage
from rayops.tasks import TaskKind, normalized
from rayops.telemetry.labeled import labeled_rows
from rayops.telemetry.readers import dataset, is_missing_file, join, window_files

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["SLOT_S", "Aggregates", "bin_of", "latency_quantiles"]

#: Width of one aggregate slot, in seconds.
SLOT_S = 300
#: Latency histogram: bin k holds latencies in [BASE**k, BASE**(k+1)) ms.
BASE = 1.05
#: Bins of the positive-class probability histograms (AUC, PR AUC).
P_BINS = 100
ECE_BINS = 10
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LOGS = ("predictions", "requests", "feedback")


def bin_of(ms: float) -> int:
    return int(math.floor(math.log(max(ms, 1e-3)) / math.log(BASE)))


def latency_quantiles(hist: Mapping[int, float], qs: Iterable[float]) -> list[float | None]:
    """Quantiles from a latency histogram (each bin read at its geometric middle)."""
    total = sum(hist.values())
    if total <= 0:
        return [None for _ in qs]
    keys = sorted(hist)
    out: list[float | None] = []
    for q in qs:
        rank, seen = q * total, 0.0
        for k in keys:
            seen += hist[k]
            if seen >= rank:
                out.append(round(BASE ** (k + 0.5), 9))
                break
        else:
            out.append(round(BASE ** (keys[-1] + 0.5), 9))
    return out


def _slots(times: pd.Series) -> np.ndarray:
    import numpy as np

    secs = (times - _EPOCH).dt.total_seconds().to_numpy()
    out: np.ndarray = (np.floor(secs / SLOT_S) * SLOT_S).astype(np.int64)
    return out


def _refs(frame: pd.DataFrame) -> pd.Series:
    refs = frame["model"].astype("string") + "@" + frame["version"].astype("string")
    return refs.astype(object).where(frame["version"].notna(), None)


def _add(into: dict[str, Any], part: Mapping[str, Any]) -> None:
    for key, value in part.items():
        if isinstance(value, dict):
            target = into.setdefault(key, {})
            for k, v in value.items():
                target[k] = target.get(k, 0) + v
        elif isinstance(value, list):
            current = into.get(key)
            into[key] = (
                value[:]
                if current is None
                else [a + b for a, b in zip(current, value, strict=True)]
            )
        elif isinstance(value, int | float):
            into[key] = into.get(key, 0) + value
        else:
            into.setdefault(key, value)


# --- per-file aggregates ------------------------------------------------------------------
def _prediction_aggregate(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if not len(frame):
        return out
    frame = frame.assign(_slot=_slots(frame["time"]), _ref=_refs(frame))
    for (slot, ref), part in frame.groupby(["_slot", "_ref"], sort=False):
        per_request = part.drop_duplicates("request_id")["latency_ms"].astype("float64")
        hist: dict[str, int] = defaultdict(int)
        for ms in per_request.to_numpy():
            hist[str(bin_of(float(ms)))] += 1
        out[f"{int(slot)}|{ref}"] = {"rows": len(part), "requests": len(per_request),
                                     "lat": dict(hist)}  # fmt: skip
    return out


def _request_aggregate(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if not len(frame):
        return out
    failed = (frame["status"].astype("int64") >= 400).astype("int64")
    refs = _refs(frame).fillna(ALL_VERSIONS)
    keyed = frame.assign(_slot=_slots(frame["time"]), _ref=refs, _failed=failed)
    for (slot, ref), part in keyed.groupby(["_slot", "_ref"], sort=False):
        out[f"{int(slot)}|{ref}"] = {"outcomes": len(part), "failed": int(part["_failed"].sum())}
    return out


def _labeled_aggregate(rows: pd.DataFrame, info: VersionInfo) -> dict[str, Any]:
    """The additive labeled quantities of one version's joined rows."""
    import numpy as np

    lab = labeled_rows(rows, info.task, info.labels)
    if not len(lab):
        return {}
    out: dict[str, Any] = {"n": len(lab)}
    if not info.task.is_classification:
        err = lab.output - lab.y
        out.update(abs=float(np.abs(err).sum()), sq=float((err**2).sum()),
                   hit=int((np.abs(err) <= info.tolerance).sum()))  # fmt: skip
        return out
    k = lab.output.shape[1]
    proba = normalized(lab.output)
    pred = info.task.predicted_index(lab.output, threshold=info.threshold)
    onehot = np.eye(k)[lab.y]
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (lab.y, pred), 1)
    out.update(ll=float(lab.loss.sum()), cm=cm.ravel().tolist())
    if info.task.kind is TaskKind.BINARY:
        p1 = lab.output[:, 1]
        y = lab.y.astype(np.float64)
        out["brier"] = float(((p1 - y) ** 2).sum())
        e = np.minimum((p1 * ECE_BINS).astype(np.int64), ECE_BINS - 1)
        out["ece_n"] = np.bincount(e, minlength=ECE_BINS).tolist()
        out["ece_y"] = np.bincount(e, weights=y, minlength=ECE_BINS).tolist()
        out["ece_p"] = np.bincount(e, weights=p1, minlength=ECE_BINS).tolist()
        b = np.clip((p1 * P_BINS).astype(np.int64), 0, P_BINS - 1)
        out["h0"] = np.bincount(b[lab.y == 0], minlength=P_BINS).tolist()
        out["h1"] = np.bincount(b[lab.y == 1], minlength=P_BINS).tolist()
    else:
        out["brier"] = float(((proba - onehot) ** 2).sum())
    return out


# --- reading metrics back ----------------------------------------------------------------
def _auc(h0: list[float], h1: list[float]) -> tuple[float | None, float | None]:
    n0, n1 = sum(h0), sum(h1)
    if n0 <= 0 or n1 <= 0:
        return None, None
    below, auc = 0.0, 0.0
    for a, b in zip(h0, h1, strict=True):  # ascending score: positives above negatives
        auc += b * (below + a / 2)
        below += a
    tp = fp = 0.0
    ap, last_recall = 0.0, 0.0
    for a, b in zip(reversed(h0), reversed(h1), strict=True):  # descending thresholds
        tp, fp = tp + b, fp + a
        if tp + fp > 0 and b > 0:
            recall = tp / n1
            ap += (recall - last_recall) * tp / (tp + fp)
            last_recall = recall
    return auc / (n0 * n1), ap


def _fill(m: VersionMetrics, agg: Mapping[str, Any], info: VersionInfo) -> None:
    import numpy as np

    m.task = str(info.task)
    m.rows, m.requests = int(agg.get("rows", 0)), int(agg.get("requests", 0))
    hist = {int(k): v for k, v in agg.get("lat", {}).items()}
    if m.requests:
        m.latency_p50_ms, m.latency_p95_ms, m.latency_p99_ms = latency_quantiles(
            hist, (0.5, 0.95, 0.99)
        )
    if agg.get("outcomes"):
        m.failed_requests = int(agg.get("failed", 0))
        m.error_rate = m.failed_requests / agg["outcomes"]
    n = int(agg.get("n", 0))
    m.labeled = n
    if not info.task.is_classification:
        m.tolerance = info.tolerance
        if n:
            m.mae, m.rmse = agg["abs"] / n, math.sqrt(agg["sq"] / n)
            m.accuracy = agg["hit"] / n
        return
    if not n:
        return
    k = len(info.labels or [])
    cm = np.asarray(agg["cm"], dtype=np.float64).reshape(k, k)
    m.logloss, m.accuracy, m.brier = agg["ll"] / n, float(np.trace(cm)) / n, agg["brier"] / n
    predicted, actual = cm.sum(axis=0), cm.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        prec = np.where(predicted > 0, np.diag(cm) / predicted, 0.0)
        rec = np.where(actual > 0, np.diag(cm) / actual, 0.0)
        f1 = np.where(prec + rec > 0, 2 * prec * rec / (prec + rec), 0.0)
    if info.task.kind is TaskKind.BINARY:
        m.precision, m.recall, m.f1 = float(prec[1]), float(rec[1]), float(f1[1])
        m.positive_rate = float(predicted[1]) / n
        m.ece = round(sum(abs(y - p) for y, p in zip(agg["ece_y"], agg["ece_p"],
                                                      strict=True)) / n, 12)  # fmt: skip
        m.auc, m.pr_auc = _auc(agg["h0"], agg["h1"])
    else:
        m.macro_f1 = float(f1.mean())
        names = [str(c) for c in (info.labels.classes if info.labels else range(k))]
        m.class_recall = {c: float(r) for c, r in zip(names, rec, strict=True)}


class Aggregates:
    """The cached per-file aggregates of one endpoint (see the module docstring).

    Args:
        storage: the storage root.
        endpoint: the endpoint.
        settings: tunables (``monitoring_aggregate_feedback_horizon_s``, log lag).
    """

    _instances: ClassVar[dict[tuple[str, str, str], Aggregates]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def of(cls, storage: Storage, endpoint: str, settings: Settings) -> Aggregates:
        """The process's instance for ``endpoint`` on this storage root (so the loop keeps its
        cache between passes; a new process reloads it from storage)."""
        key = (storage.uri, endpoint, settings.monitoring.model_dump_json())
        with cls._lock:
            found = cls._instances.get(key)
            if found is None or found.storage is not storage:
                found = cls._instances[key] = cls(storage, endpoint, settings)
            found._infos.clear()  # cards and thresholds are read again each pass
            return found

    def __init__(self, storage: Storage, endpoint: str, settings: Settings | None = None) -> None:
        self.storage = storage
        self.endpoint = validate_name(endpoint, "endpoint name")
        self.settings = settings_of(storage, settings)
        self._files: dict[str, dict[str, dict[str, Any]]] = {log: {} for log in _LOGS}
        self._loaded: set[tuple[str, str]] = set()
        self._infos: dict[str, VersionInfo] = {}
        self.computed: dict[str, int] = dict.fromkeys(_LOGS, 0)

    # --- the cache ------------------------------------------------------------------------
    def _doc_key(self, log: str, day: str) -> str:
        return aggregates_key(self.endpoint, log, day)

    def _load(self, log: str, day: str) -> None:
        if (log, day) in self._loaded:
            return
        self._loaded.add((log, day))
        try:
            doc = self.storage.read_json(self._doc_key(log, day))
        except NotFoundError:
            return
        for name, entry in doc.get("files", {}).items():
            self._files[log].setdefault(name, entry)

    def _save(self, log: str, day: str, live: list[str]) -> None:
        files = {n: self._files[log][n] for n in live if n in self._files[log]}
        self.storage.write_json(self._doc_key(log, day), {"files": files})

    def info(self, ref: str) -> VersionInfo:
        return version_info(self.storage, ref, self.settings, cache=self._infos)

    # --- refresh --------------------------------------------------------------------------
    def refresh(self, start: datetime, end: datetime) -> None:
        """Compute the aggregates of every live file of ``[start, end)``'s partitions that
        is not cached yet; forget files that are no longer live."""

        for log in _LOGS:
            keys = window_files(self.storage, self.endpoint, log, start, end)
            by_day: dict[str, list[str]] = defaultdict(list)
            for key in keys:
                day = key.rsplit("/", 2)[-2]
                by_day[day].append(key)
            for day, day_keys in by_day.items():
                self._load(log, day)
                new = [k for k in day_keys if k not in self._files[log]]
                if log == "feedback":
                    new = [k for k in new if self._settled(k, end)]
                if new:
                    self._compute(log, new, end)
                    self._save(log, day, day_keys)
            live = set(keys)
            for name in [n for n in self._files[log] if n not in live]:
                if any(name.rsplit("/", 2)[-2] == d for d in by_day):
                    del self._files[log][name]

    def _settled(self, key: str, end: datetime) -> bool:
        """A feedback file is processed once it is older than ``end`` (the pass's lagged
        time), so the predictions it labels are in storage."""
        name = key.rsplit("/", 1)[-1]
        if name.startswith("compacted-"):
            return True  # merged from closed hours
        try:
            written = datetime.strptime(name[:16], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        except ValueError:
            return True
        return written < end

    def _compute(self, log: str, keys: list[str], end: datetime) -> None:
        self.computed[log] += len(keys)
        if log == "feedback":
            self._compute_feedback(keys)
            return
        columns = (
            ["request_id", "model", "version", "latency_ms", "time", "shadow"]
            if log == "predictions"
            else ["model", "version", "status", "time"]
        )
        for key in keys:
            data = dataset(self.storage, [key])
            have = [c for c in columns if c in data.schema.names]
            frame = data.to_table(columns=have).to_pandas()
            if log == "predictions":
                if "shadow" in frame.columns:
                    frame = frame[~frame["shadow"].fillna(False).astype(bool)]
                self._files[log][key] = _prediction_aggregate(frame)
            else:
                self._files[log][key] = _request_aggregate(frame)

    def _compute_feedback(self, keys: list[str]) -> None:
        import pandas as pd

        horizon = timedelta(seconds=self.settings.monitoring.aggregate_feedback_horizon_s)
        frames = []
        for key in keys:
            f = dataset(self.storage, [key]).to_table().to_pandas()
            frames.append(f.assign(_file=key))
        fb = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        results: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in keys}
        if len(fb):
            lo = fb["time"].min().to_pydatetime() - horizon
            hi = fb["time"].max().to_pydatetime() + timedelta(microseconds=1)
            preds = self._labeled_predictions(lo, hi, fb["request_id"].unique().tolist())
            if len(preds):
                # the latest actual per row within these files; it belongs to its file
                rows = join(preds, fb.drop(columns=["_file"]))
                latest = fb.sort_values("time").drop_duplicates(["request_id", "row"],
                                                                keep="last")  # fmt: skip
                rows = rows.merge(latest[["request_id", "row", "_file"]],
                                  on=["request_id", "row"], how="inner")  # fmt: skip
                rows = rows.assign(_slot=_slots(rows["time"]), _ref=_refs(rows))
                for (file, slot, ref), part in rows.groupby(["_file", "_slot", "_ref"],
                                                            sort=False):  # fmt: skip
                    info = self.info(str(ref))
                    agg = _labeled_aggregate(part, info)
                    if agg:
                        results[str(file)][f"{int(slot)}|{ref}"] = {**agg, "info": info.key}
        for key in keys:
            self._files["feedback"][key] = results[key]

    def _labeled_predictions(self, lo: datetime, hi: datetime, ids: list[str]) -> pd.DataFrame:
        """The non-shadow predictions of ``ids`` in ``[lo, hi)``: the columns a labeled
        aggregate needs, filtered by request id inside the Parquet scan."""
        import pyarrow as pa
        import pyarrow.compute as pc

        for _ in range(5):
            keys = window_files(self.storage, self.endpoint, "predictions", lo, hi)
            if not keys:
                break
            try:
                data = dataset(self.storage, keys)
                names = data.schema.names
                cols = [c for c in names if c in _LABELED or c.startswith("p_")]
                ts = pa.timestamp("us", tz="UTC")
                where = (
                    (pc.field("time") >= pa.scalar(lo, ts))
                    & (pc.field("time") < pa.scalar(hi, ts))
                    & pc.field("request_id").isin(pa.array(ids, pa.string()))
                )
                frame = data.to_table(columns=cols, filter=where).to_pandas()
            except Exception as e:  # a compaction replaced a file meanwhile: list again
                if not is_missing_file(e):
                    raise
                continue
            if "shadow" in frame.columns:
                frame = frame[~frame["shadow"].fillna(False).astype(bool)]
            return frame.reset_index(drop=True)
        import pandas as pd

        return pd.DataFrame(columns=list(_LABELED))

    # --- metrics --------------------------------------------------------------------------
    def metrics(self, start: datetime, end: datetime) -> dict[str, VersionMetrics]:
        """Per-version metrics (and ``"*"``) of the slots starting in ``[floor(start), end)``."""
        self.refresh(start, end)
        lo = int((start - _EPOCH).total_seconds() // SLOT_S * SLOT_S)
        hi = (end - _EPOCH).total_seconds()
        per_ref: dict[str, dict[str, Any]] = defaultdict(dict)
        for log in _LOGS:
            for entry in self._files[log].values():
                for slot_ref, agg in entry.items():
                    slot, _, ref = slot_ref.partition("|")
                    if lo <= int(slot) < hi:
                        if log == "feedback" and agg.get("info") != self.info(ref).key:
                            continue  # the version's threshold or tolerance changed since
                        _add(per_ref[ref], {k: v for k, v in agg.items() if k != "info"})
        before_routing = per_ref.pop(ALL_VERSIONS, {})
        if not per_ref and not before_routing:
            return {}
        out: dict[str, VersionMetrics] = {}
        for ref in sorted(per_ref):
            m = VersionMetrics()
            _fill(m, per_ref[ref], self.info(ref))
            out[ref] = m
        main = max(sorted(per_ref), key=lambda r: per_ref[r].get("rows", 0), default=None)
        fallback = VersionInfo.regression(derived_tolerance(None, self.settings))
        mine = self.info(main) if main is not None else fallback
        total: dict[str, Any] = {}
        for ref, agg in per_ref.items():
            same = self.info(ref)
            quality = same.task == mine.task and same.labels == mine.labels
            _add(total, agg if quality else {k: agg[k] for k in agg if k in _TRAFFIC})
        _add(total, before_routing)
        everything = VersionMetrics()
        _fill(everything, total, mine)
        if not mine.task.is_classification:
            tolerances = {m.tolerance for m in out.values() if m.labeled}
            everything.tolerance = tolerances.pop() if len(tolerances) == 1 else None
        return {ALL_VERSIONS: everything, **out}


_TRAFFIC = ("rows", "requests", "lat", "outcomes", "failed")
_LABELED = ("request_id", "row", "model", "version", "shadow", "time", "prediction", "label")
