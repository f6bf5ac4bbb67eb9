"""The analytics report: one pydantic document, exported as JSON with a published schema.

:class:`AnalyticsReport` is what :func:`rayops.analytics.analyze` returns, what
``rayops analytics --format json`` writes and what the web dashboard polls. Its
JSON Schema is generated from these models and shipped as
``rayops/analytics/schema.json`` (a test keeps it identical to
:func:`report_schema`). ``schema_version`` changes only when a field is removed or
changes meaning; new optional fields may appear in the same version.

Conventions: times are ISO 8601 in UTC; shares (accuracy, error rate, traffic) are
fractions in [0, 1]; latency is in milliseconds; MAE and RMSE are in the target's
units, log loss in nats; a metric with no data in its window, or that the task does
not have (MAE of a classifier, AUC of a regression), is ``null``. ``task`` says which.

Example:
    >>> report_schema()["properties"]["schema_version"]["const"]
    1
    >>> Priority.CRITICAL.rank < Priority.MEDIUM.rank
    True
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from rayops.analytics.trends import Trend, TrendResult

__all__ = [
    "SCHEMA_ID",
    "SCHEMA_VERSION",
    "AlertOut",
    "AnalyticsReport",
    "CalibrationOut",
    "DeploymentOut",
    "DriftPoint",
    "DriftSummary",
    "FeatureDriftOut",
    "HealthOut",
    "HistogramOut",
    "ImportanceOut",
    "ImportancePoint",
    "MetricStatus",
    "MetricSummary",
    "Priority",
    "Recommendation",
    "ReportSettings",
    "RolloutOut",
    "RouteOut",
    "SeriesPoint",
    "Subject",
    "TimeRange",
    "TimelineEvent",
    "TimelineKind",
    "Totals",
    "UncertaintyPoint",
    "VersionSummary",
    "report_schema",
]

SCHEMA_VERSION: Final = 1
SCHEMA_ID = "urn:rayops:analytics-report:1"

_DOC = ConfigDict(extra="forbid")


class Subject(StrEnum):
    """What a report is about: one endpoint, or one model on every endpoint serving it."""

    ENDPOINT = "endpoint"
    MODEL = "model"


class MetricStatus(StrEnum):
    """Where a metric stands against its target and limit."""

    OK = "ok"
    WARNING = "warning"  # past its target, or within target but declining
    CRITICAL = "critical"  # past its hard limit, or past its target and declining
    NO_DATA = "no_data"


class Priority(StrEnum):
    """How urgent a recommendation is."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"

    @property
    def rank(self) -> int:
        return ("critical", "high", "medium").index(self.value)


class TimelineKind(StrEnum):
    """Where a timeline event comes from."""

    ROUTING = "routing"  # endpoint routing table changes
    ROLLOUT = "rollout"  # rollout decisions (deploy, step, promote, rollback)
    REGISTRY = "registry"  # registrations, stage and alias moves
    RETRAIN = "retrain"  # retrain requests and runs
    ALERT = "alert"  # fired alerts


class TimeRange(BaseModel):
    """The analysed window ``[start, end)`` and its sub-windows."""

    model_config = _DOC

    label: str | None = Field(description="The range as asked ('7d'), null for explicit dates.")
    start: datetime
    end: datetime
    bucket_seconds: int = Field(gt=0, description="Width of one series bucket.")
    current_start: datetime = Field(description="Start of the 'current' window (ends at end).")
    previous_start: datetime = Field(
        description="Start of the previous period [previous_start, start), as long as the range."
    )


class ReportSettings(BaseModel):
    """The settings the figures depend on, so a report can be read on its own."""

    model_config = _DOC

    trend_threshold: float
    trend_alpha: float
    trend_min_points: int
    trend_min_rows: int
    accuracy_tolerance: float | None = Field(
        description="T of regression's accuracy within ±T (the reference version's; null for "
        "classifiers)."
    )
    quality_margin: float


class Totals(BaseModel):
    """Counts over the whole range (shadow rows excluded)."""

    model_config = _DOC

    requests: int = Field(ge=0, description="Predict requests logged (one per request id).")
    rows: int = Field(ge=0, description="Predicted rows.")
    labeled: int = Field(ge=0, description="Rows with feedback (an actual value).")
    failed_requests: int = Field(ge=0, description="Requests answered with HTTP status >= 400.")
    versions: int = Field(ge=0, description="Versions that answered traffic in the range.")


class MetricSummary(BaseModel):
    """One metric of the whole endpoint (or model): value, baseline, target, status, trend."""

    model_config = _DOC

    metric: str = Field(
        description="mae, rmse, accuracy (regression); logloss, auc, accuracy, f1... "
        "(classifiers); latency_p50_ms, ... error_rate."
    )
    label: str
    unit: str
    higher_is_better: bool
    value: float | None = Field(description="Over the whole range.")
    current: float | None = Field(description="Over the current window (see range).")
    previous: float | None = Field(description="Over the previous period of the same length.")
    baseline: float | None = Field(description="Reference value; see baseline_source.")
    baseline_source: Literal["model_card", "previous_period"] | None = None
    target: float | None
    target_source: Literal["settings", "baseline_margin"] | None = None
    limit: float | None = Field(description="Hard limit (monitoring's critical level).")
    status: MetricStatus
    trend: TrendResult
    breach_hours: float | None = Field(
        default=None,
        description="How long the metric has been past its target at the end of the range.",
    )


class VersionSummary(BaseModel):
    """One version served in the range, with its metrics and its comparison to the reference."""

    model_config = _DOC

    ref: str
    model: str
    version: str
    stage: str | None = Field(description="Registry stage now (null if unknown).")
    aliases: list[str] = Field(default_factory=list)
    weight: int | None = Field(description="Current share of traffic in percent (null: unrouted).")
    shadow: bool = Field(default=False, description="The version is the endpoint's shadow now.")
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    traffic_share: float | None = Field(description="Share of the range's requests it answered.")
    requests: int = 0
    rows: int = 0
    labeled: int = 0
    failed_requests: int = 0
    mae: float | None = None
    rmse: float | None = None
    accuracy: float | None = None
    logloss: float | None = None
    auc: float | None = None
    pr_auc: float | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    brier: float | None = None
    ece: float | None = None
    positive_rate: float | None = None
    macro_f1: float | None = None
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_p99_ms: float | None = None
    error_rate: float | None = None
    status: MetricStatus
    mae_trend: Trend
    reference: bool = Field(default=False, description="Compared against (most traffic now).")
    mae_change_vs_reference: float | None = Field(default=None, description="(mae - ref) / ref.")
    mae_p_value_vs_reference: float | None = Field(
        default=None, description="Mann-Whitney U test of absolute errors against the reference."
    )
    loss_metric: Literal["mae", "logloss"] = Field(
        default="mae", description="What versions are compared on: MAE, or log loss."
    )
    loss_change_vs_reference: float | None = Field(
        default=None, description="(loss_metric - reference's) / reference's."
    )
    loss_p_value_vs_reference: float | None = Field(
        default=None,
        description="Mann-Whitney U test of the per-row losses (squared error or log loss).",
    )


class SeriesPoint(BaseModel):
    """Metrics of one version (``ref``, ``"*"`` = all) in one time bucket."""

    model_config = _DOC

    time: datetime = Field(description="Start of the bucket.")
    ref: str
    requests: int = 0
    rows: int = 0
    labeled: int = 0
    failed_requests: int = 0
    mae: float | None = None
    rmse: float | None = None
    accuracy: float | None = None
    logloss: float | None = None
    auc: float | None = None
    pr_auc: float | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    brier: float | None = None
    ece: float | None = None
    positive_rate: float | None = None
    macro_f1: float | None = None
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_p99_ms: float | None = None
    error_rate: float | None = None


class FeatureDriftOut(BaseModel):
    """Drift of one feature over the current window against the training baseline."""

    model_config = _DOC

    feature: str
    kind: str = Field(description="numeric or categorical.")
    method: str = Field(description="Statistic the flag is decided on: psi, ks, jensen_shannon.")
    score: float
    threshold: float
    drifted: bool


class DriftPoint(BaseModel):
    """Drift score of one feature over ``[time, end)``: one or more consecutive buckets,
    merged until they hold ``analytics_drift_min_rows`` rows."""

    model_config = _DOC

    time: datetime
    end: datetime
    feature: str
    score: float
    threshold: float
    drifted: bool
    rows: int = Field(ge=0)


class UncertaintyPoint(BaseModel):
    """Coverage, interval width and estimated-against-realized quality of one version in one
    time bucket (:mod:`rayops.monitoring.coverage`); None where it does not apply."""

    model_config = _DOC

    time: datetime = Field(description="Start of the bucket.")
    ref: str
    level: float = Field(description="Level of the interval or set the rows were served at.")
    rows: int = Field(ge=0)
    labeled: int = Field(ge=0, description="Labeled rows coverage is measured on.")
    coverage: float | None = Field(default=None, description="Share of labels inside.")
    broken: bool = Field(default=False, description="Coverage off beyond chance (binomial).")
    interval_width: float | None = Field(default=None, description="Mean upper - lower.")
    set_size: float | None = Field(default=None, description="Mean classes per set.")
    estimated_accuracy: float | None = None
    estimated_logloss: float | None = None
    estimated_auc: float | None = None
    estimated_mae: float | None = None
    realized: float | None = Field(
        default=None, description="Realized accuracy (classifiers) or MAE (regression)."
    )
    estimation_error: float | None = Field(default=None, description="Estimated - realized.")


class CalibrationOut(BaseModel):
    """A classifier version's reliability curve from its card (out-of-fold rows)."""

    model_config = _DOC

    ref: str
    method: str = Field(description="isotonic, platt, temperature, or none.")
    ece_before: float | None = None
    ece_after: float | None = None
    predicted_before: list[float] = Field(default_factory=list)
    observed_before: list[float] = Field(default_factory=list)
    predicted_after: list[float] = Field(default_factory=list)
    observed_after: list[float] = Field(default_factory=list)


class ImportancePoint(BaseModel):
    """One feature's share of a version's mean |contribution| in one explained hour."""

    model_config = _DOC

    time: datetime = Field(description="Start of the explained hour.")
    ref: str
    feature: str
    share: float = Field(ge=0, le=1)
    explained: int = Field(ge=0, description="Logged rows explained in that hour.")


class ImportanceOut(BaseModel):
    """A version's attribution over time against its training shares (the card)."""

    model_config = _DOC

    ref: str
    training: dict[str, float] = Field(description="Training share per feature (the card).")
    current: dict[str, float] = Field(description="Share per feature over the range.")
    shift: float = Field(description="Largest move of one feature's share from training.")
    rank_changed: bool
    series: list[ImportancePoint] = Field(default_factory=list)


class HistogramOut(BaseModel):
    """A feature's distribution: training baseline against the current window's traffic."""

    model_config = _DOC

    feature: str
    kind: str = Field(description="numeric or categorical.")
    bins: list[str] = Field(description="Bin labels: [lo, hi) ranges, or categories.")
    baseline: list[float] = Field(description="Share of training rows per bin.")
    current: list[float] = Field(description="Share of current rows per bin.")
    rows: int = Field(ge=0, description="Current rows counted.")


class DriftSummary(BaseModel):
    """Feature drift of logged rows against the baseline in a version's model card."""

    model_config = _DOC

    baseline_ref: str = Field(description="The version whose model-card baseline is used.")
    window_start: datetime
    window_end: datetime
    rows: int = Field(ge=0, description="Logged rows the current-window drift is computed on.")
    share: float = Field(description="Share of features that drifted.")
    share_threshold: float
    drifted: bool
    features: list[FeatureDriftOut]
    series: list[DriftPoint] = Field(default_factory=list)


class RouteOut(BaseModel):
    """One route of the endpoint's current routing table."""

    model_config = _DOC

    ref: str
    weight: int
    stage: str | None = None
    aliases: list[str] = Field(default_factory=list)


class RolloutOut(BaseModel):
    """The endpoint's latest rollout (see :mod:`rayops.rollout`)."""

    model_config = _DOC

    id: str
    strategy: str
    status: str
    stable: str
    candidate: str
    weight: int
    step: int
    started_at: datetime
    updated_at: datetime
    reason: str | None = None


class TimelineEvent(BaseModel):
    """One dated event: a routing change, rollout decision, stage move, retrain, alert."""

    model_config = _DOC

    time: datetime
    kind: TimelineKind
    endpoint: str | None = None
    ref: str | None = None
    title: str
    detail: str | None = None
    actor: str | None = None


class DeploymentOut(BaseModel):
    """An endpoint's deployment now: weights, stages, rollout and its last events."""

    model_config = _DOC

    endpoint: str
    revision: int | None = None
    updated_at: datetime | None = None
    routes: list[RouteOut] = Field(default_factory=list)
    shadow_ref: str | None = None
    shadow_share: float | None = None
    rollout: RolloutOut | None = None
    last_events: list[TimelineEvent] = Field(default_factory=list)


class AlertOut(BaseModel):
    """An alert raised by a monitoring rule (see :mod:`rayops.monitoring.alerts`)."""

    model_config = _DOC

    id: str
    time: datetime
    rule: str
    endpoint: str
    ref: str | None = None
    metric: str | None = None
    value: float | None = None
    threshold: float | None = None
    comparator: str | None = None
    window: str | None = None
    severity: str = Field(description="info, warning or critical.")
    message: str


class HealthOut(BaseModel):
    """Health of one version (or the endpoint) over monitoring's window, at the range's end."""

    model_config = _DOC

    ref: str = Field(description="model@version, or '*' for the endpoint.")
    state: str = Field(description="healthy, warning, critical or unknown.")
    reasons: list[str] = Field(default_factory=list)


class Recommendation(BaseModel):
    """Something to do, how urgent it is, and why."""

    model_config = _DOC

    priority: Priority
    metric: str | None = None
    ref: str | None = None
    title: str = Field(description="What is wrong, in a few words.")
    action: str = Field(description="What to do, in plain words.")
    message: str = Field(description="'<title>: <action>', one line.")


class AnalyticsReport(BaseModel):
    """Performance analytics of one endpoint (or model) over a time range."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"$id": SCHEMA_ID})

    schema_version: Literal[1] = SCHEMA_VERSION
    subject: Subject
    name: str = Field(description="The endpoint or model name.")
    task: Literal["regression", "binary", "multiclass"] = Field(
        default="regression",
        description="The reference version's task: it decides the metrics, baselines, targets.",
    )
    classes: list[str] | None = Field(default=None, description="A classifier's classes.")
    endpoints: list[str] = Field(description="Endpoints whose logs the report reads.")
    generated_at: datetime
    range: TimeRange
    settings: ReportSettings
    totals: Totals
    metrics: list[MetricSummary]
    versions: list[VersionSummary]
    series: list[SeriesPoint]
    drift: DriftSummary | None = None
    uncertainty: list[UncertaintyPoint] = Field(
        default_factory=list, description="Coverage, width, estimated vs realized per bucket."
    )
    calibration: list[CalibrationOut] = Field(default_factory=list)
    importance: list[ImportanceOut] = Field(default_factory=list)
    histograms: list[HistogramOut] = Field(default_factory=list)
    deployments: list[DeploymentOut] = Field(default_factory=list)
    health: list[HealthOut] = Field(default_factory=list)
    alerts: list[AlertOut] = Field(default_factory=list)
    timeline: list[TimelineEvent] = Field(default_factory=list)
    recommendations: list[Recommendation] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list, description="What could not be computed.")

    def metric(self, name: str) -> MetricSummary | None:
        """The summary of metric ``name``, if the report has it."""
        return next((m for m in self.metrics if m.metric == name), None)


def report_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of :class:`AnalyticsReport`, as published in
    ``rayops/analytics/schema.json``."""
    schema = AnalyticsReport.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
