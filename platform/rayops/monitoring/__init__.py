"""Monitoring: the serving logs joined with feedback, metrics, drift, health and alerts.

* :mod:`~rayops.telemetry.readers` — read and join the prediction, feedback and request logs.
* :mod:`~rayops.monitoring.metrics` — request count, MAE, RMSE, accuracy, latency
  percentiles and error rate per version over any window; Parquet snapshots.
* :mod:`~rayops.monitoring.drift` — PSI, KS, chi-square and Jensen-Shannon drift statistics.
* :mod:`~rayops.monitoring.checks` — an endpoint's feature, prediction and target drift
  against its main version's baseline; stored reports.
* :mod:`~rayops.monitoring.detectors` — river's ADWIN, Page-Hinkley and KSWIN with JSON state.
* :mod:`~rayops.monitoring.streaming` — those detectors on each version's error stream and
  chosen features, fed from the logs, with state that survives restarts.
* :mod:`~rayops.monitoring.health` — healthy / warning / critical per endpoint and version.
* :mod:`~rayops.monitoring.alerts` and :mod:`~rayops.monitoring.alerting` — rules, alert
  history, de-duplication, cool-down, sinks (log, storage, webhook) and actions.
* :mod:`~rayops.monitoring.gauges` — Prometheus gauges through Ray's metrics API.
* :mod:`~rayops.monitoring.task` — :class:`MonitorTask`, the control loop's monitoring step.
* :mod:`~rayops.monitoring.monitor` — :class:`Monitor`, the SDK behind ``rayops monitor``.

Importing this package is cheap: pandas, pyarrow, scipy and river load inside the functions.

Example:
    >>> HealthState("warning").level
    1
"""

from __future__ import annotations

from rayops.monitoring.alerts import Alert, AlertRule, Severity, read_alerts
from rayops.monitoring.checks import DriftCheck, read_drift_reports
from rayops.monitoring.drift import DriftKind, DriftReport, FeatureDrift
from rayops.monitoring.health import HealthReport, HealthState, endpoint_health
from rayops.monitoring.metrics import (
    VersionMetrics,
    endpoint_metrics,
    parse_window,
    read_snapshots,
    version_metrics,
)
from rayops.monitoring.monitor import Monitor
from rayops.monitoring.streaming import Detection, DetectorKind, read_detections
from rayops.monitoring.task import MonitorTask
from rayops.telemetry.readers import joined, read_feedback, read_predictions, read_requests

__all__ = [
    "Alert",
    "AlertRule",
    "Detection",
    "DetectorKind",
    "DriftCheck",
    "DriftKind",
    "DriftReport",
    "FeatureDrift",
    "HealthReport",
    "HealthState",
    "Monitor",
    "MonitorTask",
    "Severity",
    "VersionMetrics",
    "endpoint_health",
    "endpoint_metrics",
    "joined",
    "parse_window",
    "read_alerts",
    "read_detections",
    "read_drift_reports",
    "read_feedback",
    "read_predictions",
    "read_requests",
    "read_snapshots",
    "version_metrics",
]
