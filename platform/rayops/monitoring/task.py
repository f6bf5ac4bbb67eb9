"""The monitoring step of the control loop: one pass over every endpoint.

Each tick, for each endpoint (:meth:`rayops.serving.Endpoints.list`), at
``end = now - monitoring_log_lag_s`` (so the gateway's buffered log rows are in
storage):

1. **metrics snapshot** of ``[last snapshot end, end)`` appended as Parquet
   (:func:`~rayops.monitoring.metrics.snapshot`; the cursor is
   ``monitoring/<endpoint>/cursor.json``), so snapshots tile time without gaps;
2. **drift check** of the last ``monitoring_drift_window`` against the main
   version's baseline, stored (:func:`~rayops.monitoring.checks.read_drift_reports`);
3. **streaming detectors** fed with the rows since their cursors
   (:func:`~rayops.monitoring.streaming.feed_streams`);
4. **health** of every version and the endpoint over ``monitoring_window``, and each
   version's coverage, interval width and estimated metrics
   (:mod:`~rayops.monitoring.coverage`; in the summary's ``uncertainty`` and the gauges);
5. **alert rules** evaluated, alerts delivered, actions run
   (:class:`~rayops.monitoring.alerting.Alerter`);
6. **gauges** set (:mod:`~rayops.monitoring.gauges`).

Everything it keeps lives in storage, so a restarted loop resumes. One
endpoint's failure is reported in the summary and does not stop the others.

Example:
    >>> import tempfile
    >>> from datetime import UTC, datetime
    >>> from rayops.storage import open_storage
    >>> MonitorTask(open_storage(tempfile.mkdtemp())).tick(datetime(2026, 1, 1, tzinfo=UTC))
    {'endpoints': {}}
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from rayops.config import Settings
from rayops.controltask import ControlTask
from rayops.errors import NotFoundError, RayopsError
from rayops.monitoring.alerting import AlertAction, Alerter
from rayops.monitoring.gauges import Gauges, default_gauges
from rayops.monitoring.layout import cursor_key
from rayops.storage.base import Storage

__all__ = ["MonitorTask", "per_endpoint"]

logger = logging.getLogger(__name__)

_QUALITY = (
    "requests", "mae", "rmse", "accuracy", "latency_p50_ms", "latency_p95_ms",
    "latency_p99_ms", "error_rate", "logloss", "auc", "f1", "brier", "ece", "macro_f1",
)  # fmt: skip


_UNCERTAINTY = (
    "coverage", "interval_width", "set_size", "served_level", "estimated_accuracy",
    "estimated_auc", "estimated_logloss", "estimated_mae", "estimation_error",
)  # fmt: skip


def per_endpoint(
    storage: Storage, check: Callable[[str, datetime], dict[str, Any]], now: datetime, what: str
) -> dict[str, Any]:
    """``check(endpoint, now)`` for every endpoint, by name; one endpoint's failure (a
    RayopsError, or a bug or corrupt document) is its entry's ``error`` and the others go on."""
    from rayops.serving import Endpoints

    out: dict[str, Any] = {}
    for endpoint in Endpoints(storage, registry=False).list():
        try:
            out[endpoint] = check(endpoint, now)
        except RayopsError as e:
            logger.warning("%s of %s failed: %s", what, endpoint, e)
            out[endpoint] = {"error": f"{type(e).__name__}: {e}"}
        except Exception as e:  # a bug or a corrupt document: the other endpoints go on
            logger.exception("%s of %s crashed.", what, endpoint)
            out[endpoint] = {"error": f"{type(e).__name__}: {e}"}
    return out


class MonitorTask(ControlTask):
    """Metrics, drift, streaming detectors, health, alerts and gauges for every endpoint.

    Args:
        storage: the storage root.
        settings: tunables (``monitoring_*``).
        gauges: where to report (default: Ray gauges when Ray is initialized).
        alerter: evaluates and delivers alerts (default: one on ``storage``).
        actions: alert action handlers for the default alerter (see :class:`Alerter`).
    """

    name = "monitor"

    def __init__(
        self,
        storage: Storage,
        settings: Settings | None = None,
        *,
        gauges: Gauges | None = None,
        alerter: Alerter | None = None,
        actions: Mapping[str, AlertAction] | None = None,
    ) -> None:
        super().__init__(storage, settings)
        self._gauges = gauges
        self.alerter = alerter or Alerter(storage, self.settings, actions=actions)

    @property
    def interval_s(self) -> float:
        return self.settings.monitoring.interval_s

    @property
    def gauges(self) -> Gauges:
        if self._gauges is None:  # decided at the first tick, inside the loop's process
            self._gauges = default_gauges()
        return self._gauges

    def tick(self, now: datetime) -> dict[str, Any]:
        return {"endpoints": per_endpoint(self.storage, self.check, now, "Monitoring")}

    def check(self, endpoint: str, now: datetime) -> dict[str, Any]:
        """One monitoring pass over ``endpoint`` at ``now``; returns its summary."""
        from rayops.monitoring.alerts import rules_for
        from rayops.monitoring.checks import store_drift
        from rayops.monitoring.metrics import snapshot
        from rayops.monitoring.streaming import feed_streams
        from rayops.monitoring.view import EndpointView

        s = self.settings
        end = now - timedelta(seconds=s.monitoring.log_lag_s)
        summary: dict[str, Any] = {"time": end.isoformat()}
        key = cursor_key(endpoint)
        try:
            cursor = self.storage.read_json(key)
        except NotFoundError:
            cursor = {}
        start = (
            datetime.fromisoformat(cursor["snapshot_end"])
            if "snapshot_end" in cursor
            else end - timedelta(seconds=s.monitoring.interval_s)
        )
        if start < end:
            snapped = snapshot(self.storage, endpoint, start, end, settings=s)
            summary["snapshot"] = {"start": start.isoformat(), "refs": sorted(snapped)}
            self.storage.write_json(key, {**cursor, "snapshot_end": end.isoformat()})

        view = EndpointView(self.storage, endpoint, end, s, freeze=True)
        drift = view.drift(s.monitoring.drift_window)
        if drift is not None:
            store_drift(self.storage, drift)
            summary["drift"] = {
                "share": drift.share,
                "drifted": drift.features.drifted_features if drift.features else [],
                "notes": drift.notes,
            }
        detections = feed_streams(self.storage, endpoint, now, s)
        summary["detections"] = [d.to_dict() for d in detections]
        health = view.health()
        summary["health"] = {ref: r.state.value for ref, r in health.items()}
        alerts = self.alerter.evaluate(view, rules_for(self.storage, endpoint, s), now)
        summary["alerts"] = [{"id": a.id, "rule": a.rule, "ref": a.ref} for a in alerts]
        summary["uncertainty"] = {
            ref: found.to_dict() for ref in view.refs() if (found := view.uncertainty(ref))
        }
        self._report(endpoint, view, drift, health)
        return summary

    def _report(self, endpoint: str, view: Any, drift: Any, health: dict[str, Any]) -> None:
        g = self.gauges
        for ref, m in view.metrics().items():
            for metric in _QUALITY:
                value = getattr(m, metric)
                if value is not None:
                    g.set_quality(endpoint, ref, metric, float(value))
        if drift is not None and drift.features is not None:
            g.set_drift(endpoint, "*", "share", drift.features.share)
            for name, fd in drift.features.features.items():
                g.set_drift(endpoint, name, fd.method, fd.score)
                g.set_drift(endpoint, name, "drifted", float(fd.drifted))
        for part in ("prediction", "target"):
            report = getattr(drift, part, None) if drift is not None else None
            if report is not None:
                for name, fd in report.features.items():
                    g.set_drift(endpoint, name, fd.method, fd.score)
        for ref, r in health.items():
            g.set_health(endpoint, ref, r.state.level)
        for ref in view.refs():
            for metric in _UNCERTAINTY:
                value = view.value(metric, ref)
                if value is not None:
                    g.set_quality(endpoint, ref, metric, value)
