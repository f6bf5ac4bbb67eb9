"""Streaming drift detectors fed by the control loop from the serving logs, with
their state in storage so that they survive restarts.

Streams, per endpoint:

* ``loss`` of each version (``model@version``): the task's per-row loss
  (:meth:`rayops.tasks.Task.row_loss`: squared error for regression, the log loss
  of the true class for classifiers) divided by the version's holdout mean loss
  from its model card (RMSE² or log loss; 1.0 when the card has neither), so
  that thresholds read in units of "the loss the model had in training".
  Rows enter ``monitoring_feedback_wait_s`` after they were predicted, with the
  feedback received by then, in prediction order. Page-Hinkley watches increases.
* each feature in ``monitoring_stream_features``: the logged value standardized
  by the main version's baseline mean and standard deviation.

Each stream runs river's ADWIN, Page-Hinkley and/or KSWIN
(:mod:`~rayops.monitoring.detectors`). **Persistence without pickle**: the state
of every stream lives in one JSON document per endpoint,
``monitoring/<endpoint>/streams.json`` (compare-and-swap), with the cursors (the
log time up to which each kind of stream was fed). Page-Hinkley and KSWIN are
written as their exact internal state; ADWIN, whose window lives in a Rust object
with no JSON form, as a bounded replay buffer of its inputs since its last reset,
replayed into a fresh ADWIN on load (see :mod:`~rayops.monitoring.detectors` for
why, and when that is exact).

Each detection is stored as a record under ``monitoring/<endpoint>/detections/``
(:func:`read_detections`); ids are deterministic, so a repeated pass stores it once.

Example:
    >>> import tempfile
    >>> from datetime import UTC, datetime
    >>> from rayops.storage import open_storage
    >>> read_detections(open_storage(tempfile.mkdtemp()), "shop")
    []
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from rayops.config import Settings, settings_of
from rayops.durations import parse_duration
from rayops.errors import NotFoundError
from rayops.monitoring.detectors import Detector, DetectorKind, make_detector
from rayops.monitoring.layout import detections_prefix, streams_key
from rayops.monitoring.quality import card_metric
from rayops.monitoring.records import read_records, write_record
from rayops.registry import Registry
from rayops.serving import Endpoints
from rayops.storage.base import Storage, dumps
from rayops.telemetry.readers import feature_frame, joined, read_predictions

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "Detection",
    "Detector",
    "DetectorKind",
    "feed_streams",
    "make_detector",
    "read_detections",
]


@dataclass(frozen=True)
class Detection:
    """A detector fired on a stream at its ``index``-th input (counting from 1)."""

    endpoint: str
    stream: str  # "loss" or a feature name
    ref: str | None  # the version of an error stream
    detector: str
    index: int
    time: datetime  # log time of the row that completed the detection
    value: float  # that row's (scaled) input

    @property
    def id(self) -> str:
        raw = f"{self.stream}|{self.ref}|{self.detector}|{self.index}"
        return hashlib.sha256(raw.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "endpoint": self.endpoint,
            "stream": self.stream,
            "ref": self.ref,
            "detector": self.detector,
            "index": self.index,
            "time": self.time.isoformat(),
            "value": self.value,
        }


class _Stream:
    def __init__(
        self, name: str, center: float, scale: float, detectors: dict[str, Detector]
    ) -> None:
        self.name, self.center, self.scale, self.detectors = name, center, scale, detectors

    @classmethod
    def load(
        cls, doc: Mapping[str, Any] | None, name: str, center: float, scale: float,
        kinds: list[str], mode: str, settings: Settings,
    ) -> _Stream:  # fmt: skip
        found = dict(doc["detectors"]) if doc else {}
        if doc:  # keep the normalization the stored state was built on
            center, scale = float(doc["center"]), float(doc["scale"])
        detectors = {
            k: Detector.restore(found[k], settings)
            if k in found
            else make_detector(k, settings, mode=mode)
            for k in kinds
        }
        return cls(name, center, scale, detectors)

    def feed(self, values: np.ndarray, kswin_max: int) -> list[tuple[str, int, int, float]]:
        """Feed raw values; returns (detector, its input index, position in values, scaled
        value). KSWIN (~1,000 updates/s) gets at most ``kswin_max`` evenly spaced values."""
        scaled = [(float(raw) - self.center) / self.scale for raw in values]
        hits = []
        for kind, det in self.detectors.items():
            if kind == DetectorKind.KSWIN:
                positions = [int(i) for i in _evenly(len(scaled), kswin_max)]
            else:
                positions = list(range(len(scaled)))
            for i in positions:
                if det.update(scaled[i]):
                    hits.append((kind, det.n, i, scaled[i]))
        return sorted(hits, key=lambda h: (h[2], h[0]))

    def to_doc(self) -> dict[str, Any]:
        return {
            "center": self.center,
            "scale": self.scale,
            "detectors": {k: d.state() for k, d in self.detectors.items()},
        }


def _card_loss(card: Any) -> float | None:
    """The holdout mean of the task's per-row loss: RMSE² (the MSE) or the log loss."""

    if card is None:
        return None
    if str(card.task) == "regression":
        rmse = card_metric(card.metrics, "rmse")
        mae = card_metric(card.metrics, "mae")  # MSE = MAE² · π/2 for normal errors
        return rmse**2 if rmse else (mae**2 * math.pi / 2 if mae else None)
    return card_metric(card.metrics, "logloss")


def _evenly(n: int, limit: int) -> np.ndarray:
    import numpy as np

    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(np.int64))


def feed_streams(
    storage: Storage, endpoint: str, now: datetime, settings: Settings | None = None
) -> list[Detection]:
    """Feed every stream of ``endpoint`` with the log rows since its cursor; store the
    state and the detections; return the detections (see the module docstring)."""
    import pandas as pd

    settings = settings_of(storage, settings)
    key = streams_key(endpoint)
    try:
        current = storage.read_versioned(key)
        doc, token = current.json(), current.token
    except NotFoundError:
        doc, token = {"cursors": {}, "streams": {}}, None
    streams_doc: dict[str, Any] = doc["streams"]
    cursors: dict[str, str] = doc["cursors"]
    first = parse_duration(settings.monitoring.window, what="monitoring window")
    registry = Registry(storage, settings=settings)
    found: list[Detection] = []

    def card(ref: str) -> Any:
        try:
            return registry.get(ref).card
        except NotFoundError:
            return None

    lag = timedelta(seconds=settings.monitoring.log_lag_s)
    wait = timedelta(
        seconds=max(settings.monitoring.log_lag_s, settings.monitoring.feedback_wait_s)
    )
    # Loss streams: predictions old enough for their feedback, in prediction order.
    end = now - wait
    start = datetime.fromisoformat(cursors["errors"]) if "errors" in cursors else end - first
    if start < end and settings.monitoring.error_detectors:
        from rayops.monitoring.quality import version_info
        from rayops.telemetry.labeled import labeled_rows

        rows = joined(storage, endpoint, start, end, feedback_grace=now - end)
        rows = rows.sort_values(["time", "request_id", "row"]).reset_index(drop=True)
        refs = (rows["model"].astype(str) + "@" + rows["version"].astype(str)).to_numpy()
        infos: dict[str, Any] = {}
        for ref in sorted(set(refs)):
            info = version_info(storage, ref, settings, cache=infos)
            lab = labeled_rows(rows[refs == ref], info.task, info.labels)
            if not len(lab):
                continue
            name = f"loss:{ref}"
            c = card(ref) if name not in streams_doc else None
            scale = _card_loss(c) or 1.0
            stream = _Stream.load(
                streams_doc.get(name), name, 0.0, scale,
                list(settings.monitoring.error_detectors), "up", settings,
            )  # fmt: skip
            pick = _evenly(len(lab), settings.monitoring.stream_max_rows)
            values = lab.loss[pick]
            times = list(rows.loc[lab.index, "time"].iloc[pick])
            for det, index, i, x in stream.feed(values, settings.monitoring.kswin_max_rows):
                t = _as_datetime(times[i])
                found.append(Detection(endpoint, "loss", ref, det, index, t, x))
            streams_doc[name] = stream.to_doc()
        cursors["errors"] = end.isoformat()
    # Feature streams: every predicted row, standardized by the main version's baseline.
    end = now - lag
    start = datetime.fromisoformat(cursors["features"]) if "features" in cursors else end - first
    wanted = list(settings.monitoring.stream_features)
    if start < end and wanted and settings.monitoring.feature_detectors:
        ref = Endpoints(storage, registry=False).get(endpoint).main.ref
        baseline = getattr(card(ref), "baseline", None) or {}
        preds = read_predictions(storage, endpoint, start, end).sort_values(
            ["time", "request_id", "row"]
        )
        values_frame = feature_frame(preds)
        pick = _evenly(len(preds), settings.monitoring.stream_max_rows)
        times = list(preds["time"].iloc[pick])
        for feature in wanted:
            stats = baseline.get(feature, {})
            if feature not in values_frame.columns or stats.get("kind") != "numeric":
                continue
            name = f"feature:{feature}"
            stream = _Stream.load(
                streams_doc.get(name), name, float(stats.get("mean", 0.0)),
                float(stats.get("std") or 1.0), list(settings.monitoring.feature_detectors),
                "both", settings,
            )  # fmt: skip
            numbers = pd.to_numeric(values_frame[feature], errors="coerce")
            col = numbers.to_numpy(dtype="float64", na_value=math.nan)[pick]
            ok = [i for i, v in enumerate(col) if math.isfinite(v)]
            for det, index, i, x in stream.feed(col[ok], settings.monitoring.kswin_max_rows):
                t = _as_datetime(times[ok[i]])
                found.append(Detection(endpoint, feature, None, det, index, t, x))
            streams_doc[name] = stream.to_doc()
        cursors["features"] = end.isoformat()
    # Detections first (idempotent ids), then the state: a crash in between replays the
    # same rows into the same state and finds the same detections again.
    prefix = detections_prefix(endpoint)
    for d in found:
        write_record(storage, prefix, d.time, d.id, d.to_dict())
    doc["updated_at"] = now.isoformat()
    storage.compare_and_swap(key, dumps(doc), token)
    return found


def _as_datetime(value: Any) -> datetime:
    import pandas as pd

    ts = pd.Timestamp(value)
    out: datetime = (ts.tz_localize("UTC") if ts.tzinfo is None else ts).to_pydatetime()
    return out


def read_detections(
    storage: Storage, endpoint: str, start: datetime | None = None, end: datetime | None = None
) -> list[Detection]:
    """Stored detections of ``endpoint`` with ``start <= time < end``, oldest first."""
    out = []
    for d in read_records(storage, detections_prefix(endpoint), start, end):
        out.append(
            Detection(
                d["endpoint"],
                d["stream"],
                d["ref"],
                d["detector"],
                int(d["index"]),
                datetime.fromisoformat(d["time"]),
                float(d["value"]),
            )  # fmt: skip
        )
    return out
