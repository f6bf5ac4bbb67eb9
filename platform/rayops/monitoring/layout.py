"""Where monitoring keeps its documents under the storage root: the only code that
knows these keys (every other monitoring module asks here).

Per endpoint, under ``monitoring/<endpoint>/``::

    cursor.json                          the monitoring task's last judged window
    metrics/date=YYYY-MM-DD/*.parquet    metric snapshots
    drift/date=YYYY-MM-DD/*.parquet      drift reports
    reference/<model>/<version>.json     a version's drift reference
    alerts/                              fired and resolved alerts
    alert_state.json                     open alerts and cooldowns
    streams.json, detections/            streaming detectors and what they found
    aggregates/<log>/<day>.json          per-bucket aggregates of a log day
    attribution/, attribution_cursor.json  importance over time

and, for all endpoints, ``monitoring/rules.json`` (alert rules) and
``monitoring/dead-letters/`` (alert deliveries that failed every retry).

Example:
    >>> metrics_prefix("churn")
    'monitoring/churn/metrics/'
    >>> reference_key("churn", "churn-model@1.2.0")
    'monitoring/churn/reference/churn-model/1.2.0.json'
"""

from __future__ import annotations

from rayops.names import validate_name

__all__ = [
    "DEAD_LETTERS",
    "ROOT",
    "RULES_KEY",
    "aggregates_key",
    "alert_state_key",
    "alerts_prefix",
    "attribution_cursor_key",
    "attribution_prefix",
    "cursor_key",
    "detections_prefix",
    "drift_prefix",
    "endpoint_dir",
    "metrics_prefix",
    "reference_key",
    "streams_key",
]

#: Every monitoring document lives under this prefix.
ROOT = "monitoring/"
#: The alert rules of every endpoint.
RULES_KEY = "monitoring/rules.json"
#: Alert deliveries that failed every retry.
DEAD_LETTERS = "monitoring/dead-letters/"


def endpoint_dir(endpoint: str) -> str:
    """``monitoring/<endpoint>/`` (the name is validated: it becomes a path)."""
    return f"{ROOT}{validate_name(endpoint, 'endpoint name')}/"


def cursor_key(endpoint: str) -> str:
    return f"{endpoint_dir(endpoint)}cursor.json"


def metrics_prefix(endpoint: str) -> str:
    return f"{endpoint_dir(endpoint)}metrics/"


def drift_prefix(endpoint: str) -> str:
    return f"{endpoint_dir(endpoint)}drift/"


def reference_key(endpoint: str, ref: str) -> str:
    """The drift reference of ``ref`` (``MODEL@VERSION``) on ``endpoint``."""
    model, _, version = ref.partition("@")
    return (
        f"{endpoint_dir(endpoint)}reference/"
        f"{validate_name(model, 'model name')}/{validate_name(version, 'model version')}.json"
    )


def alerts_prefix(endpoint: str) -> str:
    return f"{endpoint_dir(endpoint)}alerts/"


def alert_state_key(endpoint: str) -> str:
    return f"{endpoint_dir(endpoint)}alert_state.json"


def streams_key(endpoint: str) -> str:
    return f"{endpoint_dir(endpoint)}streams.json"


def detections_prefix(endpoint: str) -> str:
    return f"{endpoint_dir(endpoint)}detections/"


def aggregates_key(endpoint: str, log: str, day: str) -> str:
    """The aggregates of one day (``YYYY-MM-DD``) of one log of ``endpoint``."""
    return f"{endpoint_dir(endpoint)}aggregates/{validate_name(log, 'log')}/{day}.json"


def attribution_prefix(endpoint: str) -> str:
    return f"{endpoint_dir(endpoint)}attribution/"


def attribution_cursor_key(endpoint: str) -> str:
    return f"{endpoint_dir(endpoint)}attribution_cursor.json"
