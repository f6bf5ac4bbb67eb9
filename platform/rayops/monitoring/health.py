"""Health of an endpoint and of each of its versions: healthy, warning or critical.

Four checks, each against a warning and a critical threshold (``Settings``):

=============  =========================  =======  ========
check          bad when                   warning  critical
=============  =========================  =======  ========
accuracy       below (share within ±T)    0.80     0.75
latency_p95    above (ms)                 100      200
error_rate     above (failed requests)    0.01     0.05
drift_share    above (drifted features)   0.0      0.10
=============  =========================  =======  ========

The critical levels are the earlier system's alert levels (accuracy below 75%,
latency above 200 ms, error rate above 5%, drift magnitude above 10%, read here
as the share of drifted features); its "minimum" levels (80%, 100 ms, 1%) are the
warnings. Drift is measured on the endpoint's inputs, so every version of an
endpoint shares its drift check.

A check without enough data (``monitoring_health_min_labeled`` labeled rows for
accuracy, ``monitoring_health_min_requests`` requests for latency and error rate,
a drift check for drift) is ``unknown`` and does not count; the state is the
worst known check, and ``unknown`` only when no check is known.

Example:
    >>> from datetime import UTC, datetime
    >>> from rayops.monitoring.metrics import VersionMetrics
    >>> m = VersionMetrics(requests=50, labeled=50, accuracy=0.78, latency_p95_ms=20.0,
    ...                    error_rate=0.0)
    >>> r = assess("shop", "*", m, 0.0, datetime(2026, 1, 1, tzinfo=UTC))
    >>> r.state.value, [c.metric for c in r.checks if c.state != "healthy"]
    ('warning', ['accuracy'])
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from rayops.config import Settings
from rayops.errors import InvalidInputError

if TYPE_CHECKING:
    from rayops.monitoring.checks import DriftCheck
    from rayops.monitoring.metrics import VersionMetrics
    from rayops.storage.base import Storage

__all__ = ["HealthCheck", "HealthReport", "HealthState", "assess", "endpoint_health"]


class HealthState(enum.StrEnum):
    """How an endpoint or version is doing; ``unknown`` when there is no data."""

    HEALTHY = "healthy"
    WARNING = "warning"
    CRITICAL = "critical"
    UNKNOWN = "unknown"

    @property
    def level(self) -> int:
        """0 healthy, 1 warning, 2 critical, -1 unknown (for gauges and alert rules)."""
        return _LEVELS[self]


_LEVELS = {
    HealthState.HEALTHY: 0,
    HealthState.WARNING: 1,
    HealthState.CRITICAL: 2,
    HealthState.UNKNOWN: -1,
}


class HealthCheck(BaseModel):
    """One metric against its two thresholds."""

    model_config = ConfigDict(extra="forbid")

    metric: str
    value: float | None
    bad_when: Literal["above", "below"]
    warning: float
    critical: float
    state: HealthState


class HealthReport(BaseModel):
    """The health of ``ref`` (``model@version``, or ``"*"`` for the whole endpoint)."""

    model_config = ConfigDict(extra="forbid")

    endpoint: str
    ref: str
    state: HealthState
    checks: list[HealthCheck]
    time: datetime = Field(description="End of the window the checks read.")
    window_start: datetime | None = None

    def to_dict(self) -> dict[str, object]:
        return self.model_dump(mode="json")


def _thresholds(settings: Settings) -> dict[str, tuple[Literal["above", "below"], float, float]]:
    s = settings
    out: dict[str, tuple[Literal["above", "below"], float, float]] = {
        "accuracy": ("below", s.monitoring.accuracy_warning, s.monitoring.accuracy_critical),
        "latency_p95_ms": (
            "above", s.monitoring.latency_warning_ms, s.monitoring.latency_critical_ms
        ),
        "error_rate": ("above", s.monitoring.error_rate_warning, s.monitoring.error_rate_critical),
        "drift_share": ("above", s.monitoring.drift_warning, s.monitoring.drift_critical),
    }  # fmt: skip
    for metric, (bad, warning, critical) in out.items():
        if (bad == "below" and warning < critical) or (bad == "above" and warning > critical):
            raise InvalidInputError(
                f"The {metric} warning threshold ({warning}) is past its critical threshold "
                f"({critical}); the warning must come first."
            )
    return out


def _check(
    metric: str, value: float | None, rule: tuple[Literal["above", "below"], float, float]
) -> HealthCheck:
    bad, warning, critical = rule
    if value is None:
        state = HealthState.UNKNOWN
    else:

        def past(limit: float) -> bool:
            return value < limit if bad == "below" else value > limit

        state = (
            HealthState.CRITICAL
            if past(critical)
            else HealthState.WARNING
            if past(warning)
            else HealthState.HEALTHY
        )
    return HealthCheck(
        metric=metric, value=value, bad_when=bad, warning=warning, critical=critical, state=state
    )


def assess(
    endpoint: str,
    ref: str,
    metrics: VersionMetrics | None,
    drift_share: float | None,
    time: datetime,
    settings: Settings | None = None,
    *,
    window_start: datetime | None = None,
) -> HealthReport:
    """Health of one version (or ``"*"``) from its metrics and the endpoint's drift share."""
    settings = settings or Settings()
    rules = _thresholds(settings)
    enough_labels = (
        metrics is not None and metrics.labeled >= settings.monitoring.health_min_labeled
    )
    enough_requests = (
        metrics is not None
        and metrics.requests + metrics.failed_requests >= settings.monitoring.health_min_requests
    )
    values = {
        "accuracy": metrics.accuracy if metrics is not None and enough_labels else None,
        "latency_p95_ms": metrics.latency_p95_ms if metrics and enough_requests else None,
        "error_rate": metrics.error_rate if metrics and enough_requests else None,
        "drift_share": drift_share,
    }
    checks = [_check(name, values[name], rules[name]) for name in rules]
    known = [c.state for c in checks if c.state is not HealthState.UNKNOWN]
    state = max(known, key=lambda s: s.level) if known else HealthState.UNKNOWN
    return HealthReport(
        endpoint=endpoint,
        ref=ref,
        state=state,
        checks=checks,
        time=time,
        window_start=window_start,
    )


def reports_for(
    endpoint: str,
    metrics: dict[str, VersionMetrics],
    drift: DriftCheck | None,
    start: datetime,
    end: datetime,
    settings: Settings,
) -> dict[str, HealthReport]:
    """Health of every version in ``metrics`` and of the endpoint (``"*"``)."""
    from rayops.monitoring.metrics import ALL_VERSIONS

    share = drift.share if drift is not None else None
    refs = [ALL_VERSIONS, *sorted(r for r in metrics if r != ALL_VERSIONS)]
    return {
        ref: assess(endpoint, ref, metrics.get(ref), share, end, settings, window_start=start)
        for ref in refs
    }


def endpoint_health(
    storage: Storage,
    endpoint: str,
    *,
    now: datetime | Callable[[], datetime] | None = None,
    window: str | None = None,
    settings: Settings | None = None,
) -> dict[str, HealthReport]:
    """Health of ``endpoint`` over the ``window`` ending ``now`` (default
    ``monitoring_window``, 1h), keyed by ``model@version`` and ``"*"``.

    Example:
        >>> reports = endpoint_health(storage, "shop", window="1h")  # doctest: +SKIP
        >>> reports["*"].state.value  # doctest: +SKIP
        'healthy'
    """
    from rayops.monitoring.view import EndpointView

    settings = settings or Settings()
    end = now() if callable(now) else (now or datetime.now(UTC))
    return EndpointView(storage, endpoint, end, settings).health(window)
