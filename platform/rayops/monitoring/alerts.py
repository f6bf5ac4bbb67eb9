"""Alert rules, alert records and their history in storage.

A rule says: when ``metric`` of an endpoint (or of each of its versions) over
``window`` is ``comparator`` ``threshold``, raise an alert of ``severity``, at most
once per breach and never again within ``cooldown``; optionally roll back a
running canary or request a retrain (see :mod:`~rayops.monitoring.alerting`).

Storage::

    monitoring/rules.json                                  every rule (compare-and-swap)
    monitoring/<endpoint>/alerts/date=YYYY-MM-DD/*.json    one record per alert
    monitoring/<endpoint>/alert_state.json                 de-duplication and cool-down

Example:
    >>> import tempfile
    >>> from rayops.storage import open_storage
    >>> s = open_storage(tempfile.mkdtemp())
    >>> rule = add_rule(s, {"name": "slow", "metric": "latency_p95_ms", "comparator": ">",
    ...                     "threshold": 200, "window": "15m", "severity": "critical"})
    >>> [r.name for r in list_rules(s)], rule.breached(250.0)
    (['slow'], True)
    >>> add_rule(s, {"name": "bad", "metric": "latency", "comparator": ">", "threshold": 1})
    Traceback (most recent call last):
    ...
    rayops.errors.InvalidInputError: Invalid alert rule: metric: Value error, Unknown metric ...
"""

from __future__ import annotations

import enum
import fnmatch
import operator
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rayops.config import Settings
from rayops.errors import InvalidInputError, NotFoundError
from rayops.monitoring.layout import ROOT, RULES_KEY, alerts_prefix
from rayops.monitoring.records import read_records
from rayops.monitoring.view import validate_metric
from rayops.names import validate_name
from rayops.storage.base import Storage

__all__ = [
    "Alert",
    "AlertRule",
    "Severity",
    "add_rule",
    "default_rules",
    "effective_rules",
    "get_rule",
    "list_rules",
    "read_alerts",
    "remove_rule",
    "rules_for",
]


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


class Severity(enum.StrEnum):
    """How urgent an alert is."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


def _duration(value: str | None, what: str, *, zero: bool = False) -> str | None:
    from rayops.durations import parse_duration

    if value is None:
        return None
    if zero and value.strip() in ("0", "0s", "0m", "0h", "0d"):
        return value.strip()
    parse_duration(value, what=what)
    return value


class AlertRule(BaseModel):
    """One alert rule (stored in ``monitoring/rules.json``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Unique rule name.")
    metric: str = Field(description="A metric name (rayops.monitoring.view.METRICS).")
    comparator: Literal[">", ">=", "<", "<="]
    threshold: float
    window: str | None = Field(
        default=None,
        description="Duration the metric is computed over (default monitoring_window).",
    )
    severity: Severity = Severity.WARNING
    cooldown: str | None = Field(
        default=None,
        description="Silence after an alert (default monitoring_alert_cooldown_s; '0s' for none).",
    )
    endpoint: str | None = Field(default=None, description="Endpoint name or glob; None: all.")
    per_version: bool = Field(
        default=False, description="Evaluate each model@version (else the endpoint as a whole)."
    )
    actions: list[Literal["rollback", "retrain"]] = Field(default_factory=list)
    webhook: str | None = Field(default=None, description="URL (default monitoring_webhook_url).")
    description: str = ""
    enabled: bool = True
    min_count: int = Field(
        default=0,
        ge=0,
        description=(
            "The metric counts only with at least this many labeled rows (quality metrics) or "
            "requests (latency, error rate) in the window; below, it has no value."
        ),
    )
    default: bool = Field(
        default=False, description="A built-in rule (monitoring_default_rules), not stored."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return validate_name(v, "rule name")

    @field_validator("metric")
    @classmethod
    def _metric(cls, v: str) -> str:
        try:
            return validate_metric(v)
        except InvalidInputError as e:
            raise ValueError(str(e).rstrip(".")) from None

    @field_validator("window")
    @classmethod
    def _window(cls, v: str | None) -> str | None:
        try:
            return _duration(v, "window")
        except InvalidInputError as e:
            raise ValueError(str(e).rstrip(".")) from None

    @field_validator("cooldown")
    @classmethod
    def _cooldown(cls, v: str | None) -> str | None:
        try:
            return _duration(v, "cooldown", zero=True)
        except InvalidInputError as e:
            raise ValueError(str(e).rstrip(".")) from None

    @field_validator("webhook")
    @classmethod
    def _webhook(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError(f"the webhook must be an http:// or https:// URL, got {v!r}")
        return v

    def breached(self, value: float | None) -> bool:
        """Whether ``value`` breaks the rule (never for a missing value)."""
        return value is not None and _COMPARE[self.comparator](value, self.threshold)

    def matches(self, endpoint: str) -> bool:
        """Whether the rule applies to ``endpoint``."""
        return self.enabled and (
            self.endpoint is None or fnmatch.fnmatchcase(endpoint, self.endpoint)
        )

    def cooldown_span(self, default_s: float) -> timedelta:
        from rayops.durations import parse_duration

        if self.cooldown is None:
            return timedelta(seconds=default_s)
        if self.cooldown in ("0", "0s", "0m", "0h", "0d"):
            return timedelta(0)
        return parse_duration(self.cooldown, what="cooldown")


class Alert(BaseModel):
    """One raised alert, as stored and as POSTed to a webhook."""

    model_config = ConfigDict(extra="forbid")

    id: str
    rule: str
    endpoint: str
    ref: str | None = Field(description="model@version, or None for the endpoint as a whole.")
    metric: str
    value: float
    threshold: float
    comparator: str
    severity: Severity
    window: str
    time: datetime
    message: str
    actions: list[dict[str, Any]] = Field(
        default_factory=list, description="Outcome of each action the rule asked for."
    )
    deliveries: list[dict[str, Any]] = Field(
        default_factory=list, description="Outcome of each sink (log, storage, webhook)."
    )


# --- rules -----------------------------------------------------------------------------------


def _parse(data: AlertRule | Mapping[str, Any]) -> AlertRule:
    from rayops.registry.card import validated

    if isinstance(data, AlertRule):
        return data
    return validated(AlertRule, dict(data), "alert rule")


def list_rules(storage: Storage) -> list[AlertRule]:
    """Every stored rule, by name."""
    try:
        doc = storage.read_json(RULES_KEY)
    except NotFoundError:
        return []
    return sorted((AlertRule.model_validate(r) for r in doc["rules"]), key=lambda r: r.name)


def default_rules(settings: Settings | None = None) -> list[AlertRule]:
    """The built-in rules, from the earlier system's alert levels (issue 24), per task.

    Accuracy (every task: a classifier's share of right labels; regression's share
    within the tolerance derived from the card) below 0.80 is a warning and below
    0.75 critical; a binary classifier's ROC AUC below 0.75 / 0.70; p95 latency above
    100 / 200 ms and the error rate above 1% / 5%; more than 10% of the features
    drifted. Quality and latency are judged per version; error rate and drift for the
    endpoint (failures before routing belong to no version). A metric with too few
    labeled rows or requests (``monitoring_health_min_*``) has no value, so nothing
    fires on a handful of rows. Uncertainty and attribution, per version: coverage of the
    conformal interval or set broken (``coverage_break``: outside ``monitoring_coverage_level``
    ± ``monitoring_coverage_tolerance`` beyond chance, with at least
    ``monitoring_coverage_min_labels`` labels); a classifier's accuracy estimated before
    labels below ``monitoring_estimated_accuracy_warning`` (the early warning); a feature's
    attribution share moved more than ``monitoring_attribution_threshold`` from training
    (warning) or the top-k order changed (info). A version without an uncertainty document
    or explained rows has no value for those, so they stay quiet. Empty when
    ``monitoring_default_rules`` is off.

    Example:
        >>> [r.name for r in default_rules()][:3]
        ['default-accuracy-critical', 'default-accuracy-warning', 'default-attribution']
    """
    settings = settings or Settings()
    m = settings.monitoring
    if not m.default_rules:
        return []
    labeled, requests = m.health_min_labeled, m.health_min_requests
    specs: list[tuple[str, str, str, float, Severity, bool, int]] = [
        ("accuracy-warning", "accuracy", "<", 0.80, Severity.WARNING, True, labeled),
        ("accuracy-critical", "accuracy", "<", 0.75, Severity.CRITICAL, True, labeled),
        ("auc-warning", "auc", "<", 0.75, Severity.WARNING, True, labeled),
        ("auc-critical", "auc", "<", 0.70, Severity.CRITICAL, True, labeled),
        ("latency-warning", "latency_p95_ms", ">", 100.0, Severity.WARNING, True, requests),
        ("latency-critical", "latency_p95_ms", ">", 200.0, Severity.CRITICAL, True, requests),
        ("error-rate-warning", "error_rate", ">", 0.01, Severity.WARNING, False, requests),
        ("error-rate-critical", "error_rate", ">", 0.05, Severity.CRITICAL, False, requests),
        ("drift", "drift_share", ">", 0.10, Severity.WARNING, False, 0),
        ("coverage", "coverage_break", ">=", 1.0, Severity.WARNING, True, m.coverage_min_labels),
        ("estimated-accuracy", "estimated_accuracy", "<", m.estimated_accuracy_warning,
         Severity.WARNING, True, requests),
        ("attribution", "attribution_shift", ">", m.attribution_threshold, Severity.WARNING,
         True, 0),
        ("attribution-rank", "attribution_rank", ">=", 1.0, Severity.INFO, True, 0),
    ]  # fmt: skip
    rules = [
        AlertRule(
            name=f"default-{name}",
            metric=metric,
            comparator=comparator,  # type: ignore[arg-type]
            threshold=threshold,
            severity=severity,
            per_version=per_version,
            min_count=count,
            default=True,
            description="built-in (monitoring_default_rules)",
        )  # fmt: skip
        for name, metric, comparator, threshold, severity, per_version, count in specs
    ]
    return sorted(rules, key=lambda r: r.name)


def effective_rules(storage: Storage, settings: Settings | None = None) -> list[AlertRule]:
    """The stored rules and the built-in ones that no stored rule of the same name replaces
    (store a rule named ``default-...`` with ``enabled: false`` to turn one off)."""
    stored = list_rules(storage)
    names = {r.name for r in stored}
    builtin = [r for r in default_rules(settings) if r.name not in names]
    return sorted([*stored, *builtin], key=lambda r: r.name)


def rules_for(storage: Storage, endpoint: str, settings: Settings | None = None) -> list[AlertRule]:
    """The enabled rules that apply to ``endpoint``, the built-in ones included."""
    return [r for r in effective_rules(storage, settings) if r.matches(endpoint)]


def get_rule(storage: Storage, name: str) -> AlertRule:
    for rule in list_rules(storage):
        if rule.name == name:
            return rule
    raise NotFoundError(f"No alert rule named {name!r}; see `rayops alerts rules list`.")


def add_rule(
    storage: Storage, rule: AlertRule | Mapping[str, Any], *, replace: bool = False
) -> AlertRule:
    """Store ``rule``; InvalidInputError if the name is taken (unless ``replace``)."""
    parsed = _parse(rule).model_copy(update={"default": False})

    def change(doc: dict[str, Any] | None) -> dict[str, Any]:
        rules = [r for r in (doc or {"rules": []})["rules"]]
        if any(r["name"] == parsed.name for r in rules):
            if not replace:
                raise InvalidInputError(
                    f"An alert rule named {parsed.name!r} exists; remove it first or replace it."
                )
            rules = [r for r in rules if r["name"] != parsed.name]
        return {"rules": [*rules, parsed.model_dump(mode="json")]}

    storage.update_json(RULES_KEY, change)
    return parsed


def remove_rule(storage: Storage, name: str) -> None:
    """Delete the rule ``name``; NotFoundError if there is none."""

    def change(doc: dict[str, Any] | None) -> dict[str, Any]:
        rules = (doc or {"rules": []})["rules"]
        if not any(r["name"] == name for r in rules):
            raise NotFoundError(f"No alert rule named {name!r}; see `rayops alerts rules list`.")
        return {"rules": [r for r in rules if r["name"] != name]}

    storage.update_json(RULES_KEY, change)


# --- history ---------------------------------------------------------------------------------


def _endpoints_with_alerts(storage: Storage) -> list[str]:
    return [
        name
        for name in storage.list_children(ROOT)
        if not name.endswith(".json") and storage.list_children(alerts_prefix(name))
    ]


def read_alerts(
    storage: Storage,
    *,
    endpoint: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Alert]:
    """Stored alerts with ``since <= time < until`` (open ends when None), of one
    endpoint or all, oldest first.

    Example:
        >>> import tempfile
        >>> from datetime import UTC, datetime
        >>> from rayops.storage import open_storage
        >>> s = open_storage(tempfile.mkdtemp())
        >>> read_alerts(s, endpoint="shop", since=datetime(2026, 1, 1, tzinfo=UTC))
        []
    """
    names = [endpoint] if endpoint is not None else _endpoints_with_alerts(storage)
    out = [
        Alert.model_validate(doc)
        for name in names
        for doc in read_records(storage, alerts_prefix(name), since, until)
    ]
    return sorted(out, key=lambda a: (a.time, a.endpoint, a.id))
