"""What one monitoring pass knows about one endpoint, each window computed once.

Health, alert rules and gauges all read metric values through an
:class:`EndpointView`: the joined log of a window is read once, and metrics,
drift, health and streaming detections of that window are derived from it.

Metric names (alert rules are validated against them, :func:`validate_metric`):

* quality and traffic, per version or endpoint-wide: ``requests``, ``rows``,
  ``labeled``, ``accuracy``, ``latency_p50_ms``, ``latency_p95_ms``,
  ``latency_p99_ms``, ``error_rate``; regression ``mae``, ``rmse``; classifiers
  ``logloss``, ``brier``, binary ``auc``, ``pr_auc``, ``precision``, ``recall``,
  ``f1``, ``ece``, ``positive_rate``, multiclass ``macro_f1`` (a metric another
  task has no value for is None, so a rule on it never fires there);
* drift, endpoint-wide: ``drift_share`` (share of drifted features),
  ``drift_score:<feature>`` (that feature's statistic), ``prediction_drift`` and
  ``target_drift`` (their statistics);
* streaming: ``stream_drift`` (detections in the window) and
  ``stream_drift:<stream>`` (of ``error`` or one feature's stream);
* ``health``: 0 healthy, 1 warning, 2 critical (unknown has no value);
* uncertainty, per version (:mod:`~rayops.monitoring.coverage`): ``coverage``,
  ``coverage_break`` (1 when coverage left level ± tolerance beyond chance, else 0),
  ``interval_width``, ``set_size``, ``served_level``, ``estimated_accuracy``,
  ``estimated_logloss``, ``estimated_auc``, ``estimated_mae`` (before labels) and
  ``estimation_error`` (estimated minus realized);
* attribution, per version (:mod:`~rayops.monitoring.attribution`):
  ``attribution_shift`` (the largest move of a feature's share of mean |contribution|
  from its training share) and ``attribution_rank`` (1 when the top-k order changed).

Example:
    >>> validate_metric("drift_score:age")
    'drift_score:age'
    >>> validate_metric("latency")
    Traceback (most recent call last):
    ...
    rayops.errors.InvalidInputError: Unknown metric 'latency'; use one of ...
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from rayops.config import Settings, settings_of
from rayops.errors import InvalidInputError, NotFoundError
from rayops.monitoring.coverage import UNCERTAINTY_METRICS
from rayops.names import validate_name

if TYPE_CHECKING:
    import pandas as pd

    from rayops.monitoring.attribution import AttributionDrift
    from rayops.monitoring.checks import DriftCheck
    from rayops.monitoring.coverage import VersionUncertainty, WindowUncertainty
    from rayops.monitoring.health import HealthReport
    from rayops.monitoring.metrics import VersionMetrics
    from rayops.monitoring.quality import VersionInfo
    from rayops.monitoring.streaming import Detection
    from rayops.storage.base import Storage

__all__ = ["ATTRIBUTION", "METRICS", "PREFIXED", "UNCERTAINTY", "EndpointView", "validate_metric"]

QUALITY = (
    "requests", "rows", "labeled", "mae", "rmse", "accuracy", "latency_p50_ms",
    "latency_p95_ms", "latency_p99_ms", "error_rate", "logloss", "auc", "pr_auc", "precision",
    "recall", "f1", "brier", "ece", "positive_rate", "macro_f1",
)  # fmt: skip
DRIFT = ("drift_share", "prediction_drift", "target_drift")
UNCERTAINTY = UNCERTAINTY_METRICS
ATTRIBUTION = ("attribution_shift", "attribution_rank")
#: Every plain metric name.
METRICS = (*QUALITY, *DRIFT, "stream_drift", "health", *UNCERTAINTY, *ATTRIBUTION)
#: Metric families taking a name after a colon.
PREFIXED = ("drift_score", "stream_drift")


def validate_metric(metric: str) -> str:
    """``metric`` if it is a known metric name, else InvalidInputError naming them."""
    base, sep, arg = metric.partition(":")
    if (not sep and base in METRICS) or (sep and base in PREFIXED and arg):
        if sep:
            validate_name(arg, "feature or stream name")
        return metric
    known = ", ".join([*METRICS, *(f"{p}:<name>" for p in PREFIXED)])
    raise InvalidInputError(f"Unknown metric {metric!r}; use one of {known}.")


class EndpointView:
    """Lazily computed, cached metrics of ``endpoint`` over windows ending at ``end``.

    Args:
        storage: the storage root.
        endpoint: the endpoint.
        end: the end of every window (the pass's time minus the log lag).
        settings: tunables.
        freeze: whether drift checks may freeze prediction/target references.
    """

    def __init__(
        self,
        storage: Storage,
        endpoint: str,
        end: datetime,
        settings: Settings | None = None,
        *,
        freeze: bool = False,
    ) -> None:
        self.storage = storage
        self.endpoint = validate_name(endpoint, "endpoint name")
        self.end = end
        self.settings = settings_of(storage, settings)
        self.freeze = freeze
        self._frames: dict[str, pd.DataFrame] = {}
        self._metrics: dict[str, dict[str, VersionMetrics]] = {}
        self._drift: dict[str, DriftCheck | None] = {}
        self._health: dict[str, dict[str, HealthReport]] = {}
        self._detections: dict[str, list[Detection]] = {}
        self._infos: dict[str, VersionInfo] = {}
        self._docs: dict[str, VersionUncertainty] = {}
        self._uncertainty: dict[tuple[str, str], WindowUncertainty | None] = {}
        self._attribution: dict[tuple[str, str], AttributionDrift | None] = {}

    def bounds(self, window: str | None = None) -> tuple[datetime, datetime]:
        from rayops.monitoring.metrics import parse_window

        return parse_window(window or self.settings.monitoring.window, end=self.end)

    def _key(self, window: str | None) -> str:
        return window or self.settings.monitoring.window

    def frame(self, window: str | None = None) -> pd.DataFrame:
        """The joined prediction + feedback log of the window."""
        from rayops.telemetry.readers import joined

        key = self._key(window)
        if key not in self._frames:
            self._frames[key] = joined(self.storage, self.endpoint, *self.bounds(window))
        return self._frames[key]

    def metrics(self, window: str | None = None) -> dict[str, VersionMetrics]:
        """Per-version metrics, plus ``"*"`` for the endpoint: from the cached aggregates
        (:mod:`~rayops.monitoring.aggregates`, windows rounded to 5-minute slots) when
        ``monitoring_aggregates`` is on, else read exactly from the window's rows."""
        from rayops.monitoring.metrics import endpoint_metrics

        key = self._key(window)
        if key not in self._metrics:
            if self.settings.monitoring.aggregates:
                from rayops.monitoring.aggregates import Aggregates

                aggregates = Aggregates.of(self.storage, self.endpoint, self.settings)
                self._metrics[key] = aggregates.metrics(*self.bounds(window))
            else:
                self._metrics[key] = endpoint_metrics(
                    self.storage, self.endpoint, *self.bounds(window), settings=self.settings,
                    frame=self.frame(window),
                )  # fmt: skip
        return self._metrics[key]

    def info(self, ref: str) -> VersionInfo:
        """What ``ref``'s model card says (task, classes, threshold, baseline), read once."""
        from rayops.monitoring.quality import version_info

        return version_info(self.storage, ref, self.settings, cache=self._infos)

    def set_drift(self, window: str | None, check: DriftCheck | None) -> None:
        """Use ``check`` as the drift of ``window`` (computed by the caller)."""
        self._drift[self._key(window)] = check

    def drift(self, window: str | None = None) -> DriftCheck | None:
        """The drift check of the window (None if the endpoint has no routing table)."""
        from rayops.monitoring.checks import check_drift

        key = self._key(window)
        if key not in self._drift:
            try:
                self._drift[key] = check_drift(
                    self.storage, self.endpoint, *self.bounds(window), settings=self.settings,
                    freeze=self.freeze, frame=self.frame(window),
                )  # fmt: skip
            except NotFoundError:
                self._drift[key] = None
        return self._drift[key]

    def health(self, window: str | None = None) -> dict[str, HealthReport]:
        """Health of every version and of the endpoint (``"*"``)."""
        from rayops.monitoring.health import reports_for

        key = self._key(window)
        if key not in self._health:
            start, end = self.bounds(window)
            metrics = self.metrics(window)
            refs = [r for r in metrics if r != "*"]
            self._health[key] = reports_for(
                self.endpoint, metrics, self.drift(window), start, end, self.settings,
                {r: self.info(r) for r in refs}, {r: self.uncertainty(r, window) for r in refs},
            )  # fmt: skip
        return self._health[key]

    def detections(self, window: str | None = None) -> list[Detection]:
        """Streaming detections stored for the window."""
        from rayops.monitoring.streaming import read_detections

        key = self._key(window)
        if key not in self._detections:
            self._detections[key] = read_detections(
                self.storage, self.endpoint, *self.bounds(window)
            )
        return self._detections[key]

    def uncertainty(self, ref: str, window: str | None = None) -> WindowUncertainty | None:
        """Coverage, width and estimates of ``ref`` over the window (None: no uncertainty
        document, or no rows)."""
        from rayops.monitoring.coverage import served_level, uncertainty_of, version_uncertainty
        from rayops.monitoring.metrics import _refs

        key = (ref, self._key(window))
        if key not in self._uncertainty:
            found = None
            unc = version_uncertainty(self.storage, ref, self.settings, self._docs)
            frame = self.frame(window)
            if not unc.empty and len(frame):
                part = frame[(_refs(frame) == ref).to_numpy(dtype=bool)]
                if len(part):
                    level = served_level(self.storage, ref, self.settings)
                    found = uncertainty_of(
                        part, self.info(ref), unc, level=level, settings=self.settings
                    )
            self._uncertainty[key] = found
        return self._uncertainty[key]

    def attribution(self, ref: str, window: str | None = None) -> AttributionDrift | None:
        """``ref``'s attribution over the window against its card (None: nothing sampled)."""
        from rayops.monitoring.attribution import attribution_drift

        key = (ref, self._key(window))
        if key not in self._attribution:
            self._attribution[key] = attribution_drift(
                self.storage, self.endpoint, ref, *self.bounds(window), settings=self.settings
            )
        return self._attribution[key]

    def refs(self, window: str | None = None) -> list[str]:
        """The versions seen in the window (without ``"*"``)."""
        return sorted(r for r in self.metrics(window) if r != "*")

    def count(self, metric: str, ref: str = "*", window: str | None = None) -> int:
        """The rows behind ``metric``: labeled rows for quality, requests (failed ones
        included) for latency and error rate; drift and others count as enough."""
        base = metric.partition(":")[0]
        if base in UNCERTAINTY and ref != "*":
            found = self.uncertainty(ref, window)
            if found is None:
                return 0
            return found.labeled if base in ("coverage", "coverage_break") else found.rows
        m = self.metrics(window).get(ref)
        if base not in QUALITY or base in ("requests", "rows", "labeled"):
            return 1 << 30
        if m is None:
            return 0
        if base.startswith("latency") or base == "error_rate":
            return m.requests + m.failed_requests
        return m.labeled

    def value(self, metric: str, ref: str = "*", window: str | None = None) -> float | None:
        """The value of ``metric`` for ``ref`` over the window; None without data.

        Drift metrics are endpoint-wide whatever ``ref`` is.
        """
        base, _, arg = validate_metric(metric).partition(":")
        if base in UNCERTAINTY:
            from rayops.monitoring.coverage import metric_value

            return None if ref == "*" else metric_value(self.uncertainty(ref, window), base)
        if base in ATTRIBUTION:
            drift = None if ref == "*" else self.attribution(ref, window)
            if drift is None:
                return None
            return drift.shift if base == "attribution_shift" else float(drift.rank_changed)
        if base in QUALITY:
            m = self.metrics(window).get(ref)
            raw: Any = getattr(m, base) if m is not None else None
            return float(raw) if raw is not None else None
        if base == "health":
            report = self.health(window).get(ref)
            if report is None or report.state.level < 0:
                return None
            return float(report.state.level)
        if base == "stream_drift":
            hits = [
                d
                for d in self.detections(window)
                if (not arg or d.stream == arg) and (ref == "*" or d.ref == ref)
            ]
            return float(len(hits))
        check = self.drift(window)
        if check is None:
            return None
        if base == "drift_share":
            return check.share
        if base == "drift_score":
            return check.score("features", arg)
        return check.score("prediction" if base == "prediction_drift" else "target")
