"""Health of an endpoint and of each of its versions: healthy, warning or critical.

Checks, each against a warning and a critical threshold:

==============  ====================  ==================================================
check           bad when              limits (warning / critical)
==============  ====================  ==================================================
accuracy        below                 every task; see below
auc             below                 binary classifiers; see below
latency_p95_ms  above (ms)            ``monitoring_latency_*_ms``: 100 / 200
error_rate      above                 ``monitoring_error_rate_*``: 0.01 / 0.05
drift_share     above                 ``monitoring_drift_*``: 0.0 / 0.10
estimated_      below                 a classifier's accuracy limits; only while its
accuracy                              realized accuracy is unknown (too few labels)
coverage_break  above                 0.5 / 1.5: a broken coverage is a warning
==============  ====================  ==================================================

The last two come from the version's uncertainty document
(:mod:`rayops.monitoring.coverage`) and exist only for a version that has one: the
accuracy estimated from calibrated probabilities is the **early warning** before
labels arrive (with ``monitoring_health_min_requests`` requests), and coverage
outside ``level ± monitoring_coverage_tolerance`` beyond chance is a warning.

**Quality limits fit the model** unless set. With ``monitoring_accuracy_warning``
/ ``_critical`` (``monitoring_auc_*``) set, they are used as given, for every
version. Unset (the default), each version's limits are derived from its own
model card (:func:`quality_limits`):

* a classifier: its holdout accuracy (AUC) × (1 − ``monitoring_degradation_warning``)
  for the warning and × (1 − ``monitoring_degradation_critical``) for critical
  (10% and 20% worse than in training by default);
* regression: accuracy is measured within a tolerance derived from the card
  (2 × holdout MAE, :func:`rayops.monitoring.quality.derived_tolerance`), on which
  the earlier system's levels 0.80 / 0.75 mean "clearly worse than in training"
  whatever the target's unit (a sound model has 86-89% of its rows within 2 × MAE);
* a card without the figure: 0.80 / 0.75 for accuracy, 0.75 / 0.70 for AUC.

The endpoint as a whole (``"*"``) is judged with its main version's limits.
Latency, error rate and drift keep absolute limits (the earlier system's alert
levels are the critical ones). Drift is measured on the endpoint's inputs, so
every version of an endpoint shares its drift check.

A check without enough data (``monitoring_health_min_labeled`` labeled rows for
quality, ``monitoring_health_min_requests`` requests for latency and error rate,
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
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from rayops.config import Settings, settings_of
from rayops.errors import InvalidInputError
from rayops.monitoring.metrics import ALL_VERSIONS
from rayops.monitoring.view import EndpointView
from rayops.tasks import TaskKind

if TYPE_CHECKING:
    from rayops.monitoring.checks import DriftCheck
    from rayops.monitoring.coverage import WindowUncertainty
    from rayops.monitoring.metrics import VersionMetrics
    from rayops.monitoring.quality import VersionInfo
    from rayops.storage.base import Storage

__all__ = [
    "HealthCheck", "HealthReport", "HealthState", "assess", "endpoint_health", "quality_limits",
]  # fmt: skip


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
    source: Literal["settings", "card", "default"] = Field(
        default="settings",
        description="Where the limits come from: set, derived from the card, or the fallback.",
    )


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


Rule = tuple[Literal["above", "below"], float, float, Literal["settings", "card", "default"]]

#: Quality limits of a card without the figure (the earlier system's for accuracy).
FALLBACK = {"accuracy": (0.80, 0.75), "auc": (0.75, 0.70)}


def quality_limits(info: VersionInfo | None, settings: Settings) -> dict[str, Rule]:
    """The quality checks of a version and their limits (see the module docstring).

    Example:
        >>> from rayops.monitoring.quality import VersionInfo
        >>> from rayops.tasks import Task
        >>> info = VersionInfo(Task.of("binary"), baseline={"accuracy": 0.9, "auc": 0.95})
        >>> {k: v[1:3] for k, v in quality_limits(info, Settings()).items()}
        {'accuracy': (0.81, 0.72), 'auc': (0.855, 0.76)}
    """

    m = settings.monitoring
    metrics = ["accuracy"]
    if info is not None and info.task.kind is TaskKind.BINARY:
        metrics.append("auc")
    given = {
        "accuracy": (m.accuracy_warning, m.accuracy_critical),
        "auc": (m.auc_warning, m.auc_critical),
    }
    out: dict[str, Rule] = {}
    for metric in metrics:
        warning, critical = given[metric]
        fallback = FALLBACK[metric]
        base = info.baseline.get(metric) if info is not None else None
        derive = info is not None and info.task.is_classification and base is not None
        if warning is not None and critical is not None:
            out[metric] = ("below", warning, critical, "settings")
        elif derive:
            assert base is not None
            w = round(base * (1 - m.degradation_warning), 6)
            c = round(base * (1 - m.degradation_critical), 6)
            w = warning if warning is not None else max(w, critical or 0.0)
            c = critical if critical is not None else min(c, w)
            out[metric] = ("below", w, c, "card")
        else:
            source: Literal["settings", "default"] = (
                "settings" if warning is not None or critical is not None else "default"
            )
            w = warning if warning is not None else max(fallback[0], critical or 0.0)
            c = critical if critical is not None else min(fallback[1], w)
            out[metric] = ("below", w, c, source)
    return out


def _thresholds(settings: Settings, info: VersionInfo | None = None) -> dict[str, Rule]:
    s = settings
    out: dict[str, Rule] = {
        **quality_limits(info, settings),
        "latency_p95_ms": (
            "above", s.monitoring.latency_warning_ms, s.monitoring.latency_critical_ms, "settings"
        ),
        "error_rate": (
            "above", s.monitoring.error_rate_warning, s.monitoring.error_rate_critical, "settings"
        ),
        "drift_share": ("above", s.monitoring.drift_warning, s.monitoring.drift_critical,
                        "settings"),
    }  # fmt: skip
    for metric, (bad, warning, critical, _) in out.items():
        if (bad == "below" and warning < critical) or (bad == "above" and warning > critical):
            raise InvalidInputError(
                f"The {metric} warning threshold ({warning}) is past its critical threshold "
                f"({critical}); the warning must come first."
            )
    return out


def _check(metric: str, value: float | None, rule: Rule) -> HealthCheck:
    bad, warning, critical, source = rule
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
        metric=metric, value=value, bad_when=bad, warning=warning, critical=critical, state=state,
        source=source,
    )  # fmt: skip


def assess(
    endpoint: str,
    ref: str,
    metrics: VersionMetrics | None,
    drift_share: float | None,
    time: datetime,
    settings: Settings | None = None,
    *,
    window_start: datetime | None = None,
    info: VersionInfo | None = None,
    uncertainty: WindowUncertainty | None = None,
) -> HealthReport:
    """Health of one version (or ``"*"``) from its metrics and the endpoint's drift share;
    ``info`` (its card, :func:`rayops.monitoring.quality.version_info`) sets its task and
    derived limits (None: regression with the fallback limits); ``uncertainty`` (the
    version's window figures) adds the estimated-accuracy and coverage checks."""
    settings = settings or Settings()
    rules = _thresholds(settings, info)
    enough_labels = (
        metrics is not None and metrics.labeled >= settings.monitoring.health_min_labeled
    )
    enough_requests = (
        metrics is not None
        and metrics.requests + metrics.failed_requests >= settings.monitoring.health_min_requests
    )
    values = {
        "accuracy": metrics.accuracy if metrics is not None and enough_labels else None,
        "auc": metrics.auc if metrics is not None and enough_labels else None,
        "latency_p95_ms": metrics.latency_p95_ms if metrics and enough_requests else None,
        "error_rate": metrics.error_rate if metrics and enough_requests else None,
        "drift_share": drift_share,
    }
    checks = [_check(name, values[name], rules[name]) for name in rules]
    if uncertainty is not None:
        checks += _uncertainty_checks(uncertainty, values["accuracy"], rules, enough_requests,
                                      info)  # fmt: skip
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


def _uncertainty_checks(
    found: WindowUncertainty,
    accuracy: float | None,
    rules: Mapping[str, Rule],
    enough_requests: bool,
    info: VersionInfo | None,
) -> list[HealthCheck]:
    out = []
    estimated = (found.estimated or {}).get("accuracy")
    classifier = info is not None and info.task.is_classification
    if classifier and accuracy is None and estimated is not None and enough_requests:
        bad, warning, critical, source = rules["accuracy"]
        out.append(_check("estimated_accuracy", estimated, (bad, warning, critical, source)))
    if found.coverage is not None:
        out.append(_check("coverage_break", float(found.broken), ("above", 0.5, 1.5, "settings")))
    return out


def reports_for(
    endpoint: str,
    metrics: dict[str, VersionMetrics],
    drift: DriftCheck | None,
    start: datetime,
    end: datetime,
    settings: Settings,
    infos: Mapping[str, VersionInfo] | None = None,
    uncertainty: Mapping[str, WindowUncertainty | None] | None = None,
) -> dict[str, HealthReport]:
    """Health of every version in ``metrics`` and of the endpoint (``"*"``, judged with the
    limits of its version with the most rows); ``infos`` maps refs to their cards and
    ``uncertainty`` to their window figures (:mod:`rayops.monitoring.coverage`)."""

    infos = infos or {}
    share = drift.share if drift is not None else None
    versions = sorted(r for r in metrics if r != ALL_VERSIONS)
    main = max(versions, key=lambda r: metrics[r].rows, default=None)
    refs = [ALL_VERSIONS, *versions]
    return {
        ref: assess(
            endpoint,
            ref,
            metrics.get(ref),
            share,
            end,
            settings,
            window_start=start,
            info=infos.get(main if ref == ALL_VERSIONS else ref) if main else None,
            uncertainty=(uncertainty or {}).get(ref),
        )  # fmt: skip
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

    settings = settings_of(storage, settings)
    end = now() if callable(now) else (now or datetime.now(UTC))
    return EndpointView(storage, endpoint, end, settings).health(window)
