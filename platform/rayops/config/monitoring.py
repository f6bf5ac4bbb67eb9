"""Monitoring (:mod:`rayops.monitoring`): drift, health limits, alerts, detectors."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, SecretStr

from rayops.config._section import Section
from rayops.durations import DURATION_PATTERN

__all__ = ["MonitoringSettings"]


class MonitoringSettings(Section):
    """Monitoring (:mod:`rayops.monitoring`): drift, health limits, alerts, detectors."""

    env_prefix: ClassVar[str] = "RAYOPS_MONITORING_"

    psi_threshold: float = Field(
        default=0.2,
        gt=0,
        description="A numeric feature drifted when its PSI against the baseline reaches this.",
    )
    ks_threshold: float = Field(
        default=0.1,
        gt=0,
        le=1,
        description=(
            "A numeric feature drifted when its Kolmogorov-Smirnov statistic (largest CDF gap) "
            "reaches this; an effect size, because on large windows p-values flag tiny shifts."
        ),
    )
    js_threshold: float = Field(
        default=0.1,
        gt=0,
        le=1,
        description="A categorical feature drifted when its Jensen-Shannon distance reaches this.",
    )
    drift_share: float = Field(
        default=0.1,
        gt=0,
        le=1,
        description="The dataset drifted when more than this share of its features drifted.",
    )
    psi_epsilon: float = Field(
        default=1e-4, gt=0, description="Floor for empty-bin proportions in PSI."
    )
    drift_alpha: float = Field(
        default=0.01,
        gt=0,
        lt=1,
        description=(
            "A feature is flagged only if its drift test (chi-square on the PSI bins, KS, "
            "chi-square on the categories) is also significant at this level. Default 0.01."
        ),
    )
    drift_min_rows: int = Field(
        default=100,
        ge=1,
        description="Windows with fewer rows are measured but never flagged as drifted.",
    )
    ks_min_distinct: int = Field(
        default=20,
        ge=1,
        description=(
            "KS flags a numeric column only when the window has more distinct values than "
            "this (the baseline CDF is continuous); PSI covers low-cardinality columns."
        ),
    )
    interval_s: float = Field(
        default=60.0,
        gt=0,
        description="Seconds between monitoring passes of the control loop. Default 60.",
    )
    window: str = Field(
        default="1h",
        pattern=DURATION_PATTERN,
        description=(
            "Default window of `monitor status`, health and alert rules that do not set one."
        ),
    )
    drift_window: str = Field(
        default="1h",
        pattern=DURATION_PATTERN,
        description="Window of the drift check the control loop runs and stores each pass.",
    )
    log_lag_s: float = Field(
        default=10.0,
        ge=0,
        description=(
            "The control loop reads logs up to this many seconds before now, so rows the "
            "gateway still buffers (serving_log_flush_s) are in storage. Default 10."
        ),
    )
    feedback_wait_s: float = Field(
        default=300.0,
        ge=0,
        description=(
            "Predictions enter the streaming error detectors this many seconds after they were "
            "made, with the feedback received by then; later feedback is not streamed."
        ),
    )
    reference_rows: int = Field(
        default=1000,
        ge=10,
        description=(
            "Prediction (and target) drift compare with the first window of at least this many "
            "predictions (labeled rows) the main version served; frozen then."
        ),
    )
    accuracy_tolerance: float | None = Field(
        default=None,
        gt=0,
        description=(
            "T of a regression version's 'accuracy within ±T' in monitoring, health and alerts. "
            "Unset: monitoring_tolerance_mae_multiple × the version's holdout MAE from its card "
            "(else accuracy_tolerance)."
        ),
    )
    tolerance_mae_multiple: float = Field(
        default=2.0,
        gt=0,
        description=(
            "Without monitoring_accuracy_tolerance, T = this × the card's holdout MAE: a sound "
            "model then has 86-89% of rows within T (normal or Laplace errors). Default 2."
        ),
    )
    accuracy_warning: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description=(
            "Health is warning when accuracy falls below this. Unset: derived per version: a "
            "classifier's card holdout accuracy × (1 - monitoring_degradation_warning); 0.80 for "
            "regression (on the derived T) or a card without accuracy."
        ),
    )
    accuracy_critical: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description=(
            "Health is critical when accuracy falls below this. Unset: derived as for the "
            "warning with monitoring_degradation_critical; 0.75 (the earlier alert level) for "
            "regression or a card without accuracy."
        ),
    )
    auc_warning: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description=(
            "Binary classifiers: health is warning when ROC AUC falls below this. Unset: the "
            "card's holdout AUC × (1 - monitoring_degradation_warning), else 0.75."
        ),
    )
    auc_critical: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description=(
            "Binary classifiers: health is critical when ROC AUC falls below this. Unset: the "
            "card's holdout AUC × (1 - monitoring_degradation_critical), else 0.70."
        ),
    )
    degradation_warning: float = Field(
        default=0.10,
        gt=0,
        lt=1,
        description=(
            "Derived health limits: warning when a quality metric is this share worse than the "
            "version's card holdout value (0.10 = 10%)."
        ),
    )
    degradation_critical: float = Field(
        default=0.20,
        gt=0,
        lt=1,
        description=(
            "Derived health limits: critical when a quality metric is this share worse than the "
            "card's holdout value (0.20 = 20%)."
        ),
    )
    default_rules: bool = Field(
        default=True,
        description=(
            "The built-in alert rules (accuracy, AUC, p95 latency, error rate, drifted "
            "features; `rayops alerts rules list` marks them) are active. A stored rule of the "
            "same name replaces one; false turns them all off."
        ),
    )
    aggregates: bool = Field(
        default=True,
        description=(
            "Health and alert rules read per-version aggregates of 5-minute slots, cached per "
            "hour under monitoring/<endpoint>/aggregates/ and recomputed only when that hour's "
            "live log files change, so a pass costs time in proportion to the new rows."
        ),
    )
    aggregate_feedback_horizon_s: float = Field(
        default=7200.0,
        ge=0,
        description=(
            "An hour's cached aggregate is recomputed when feedback files written up to this "
            "many seconds after the hour ends appear; feedback arriving later is counted by "
            "exact reads (version_metrics, rollouts, analytics), not by aggregates."
        ),
    )
    latency_warning_ms: float = Field(
        default=100.0, gt=0, description="Health is warning when p95 latency exceeds this."
    )
    latency_critical_ms: float = Field(
        default=200.0, gt=0, description="Health is critical when p95 latency exceeds this."
    )
    error_rate_warning: float = Field(
        default=0.01, ge=0, le=1, description="Health is warning when the error rate exceeds this."
    )
    error_rate_critical: float = Field(
        default=0.05, ge=0, le=1, description="Health is critical when the error rate exceeds this."
    )
    drift_warning: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Health is warning when the share of drifted features exceeds this (any).",
    )
    drift_critical: float = Field(
        default=0.10,
        ge=0,
        le=1,
        description="Health is critical when the share of drifted features exceeds this (10%).",
    )
    health_min_labeled: int = Field(
        default=30,
        ge=1,
        description="Labeled rows needed before accuracy counts for health (else unknown).",
    )
    health_min_requests: int = Field(
        default=10,
        ge=1,
        description="Requests needed before latency and error rate count for health.",
    )
    alert_cooldown_s: float = Field(
        default=900.0,
        ge=0,
        description=(
            "After an alert fires, the same rule and version stay silent this long (rules may "
            "set their own cooldown). Default 900."
        ),
    )
    webhook_url: str | None = Field(
        default=None,
        description="Alerts are POSTed as JSON to this URL (rules may set their own webhook).",
    )
    webhook_timeout_s: float = Field(
        default=5.0, gt=0, description="Timeout of one webhook POST; a failure is recorded."
    )
    webhook_secret: SecretStr | None = Field(
        default=None,
        description=(
            "When set, webhook alerts carry X-Rayops-Timestamp and X-Rayops-Signature: "
            "sha256=<hex HMAC-SHA256 of '<timestamp>.<body>' with this secret>."
        ),
    )
    slack_webhook_url: str | None = Field(
        default=None,
        description="Alerts also go to this Slack-compatible incoming webhook (text + blocks).",
    )
    smtp_host: str | None = Field(
        default=None, description="SMTP server for alert email (unset: no email)."
    )
    smtp_port: int = Field(default=587, ge=1, le=65535, description="SMTP port. Default 587.")
    smtp_starttls: bool = Field(
        default=True, description="Upgrade the SMTP connection with STARTTLS. Default true."
    )
    smtp_user: str | None = Field(default=None, description="SMTP login (unset: no login).")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password.")
    alert_email_from: str = Field(
        default="rayops@localhost", description="Sender address of alert email."
    )
    alert_email_to: list[str] = Field(
        default=[], description="Recipients of alert email (JSON list in the env)."
    )
    sink_retries: int = Field(
        default=3,
        ge=0,
        le=10,
        description=(
            "Retries of an alert delivery to any sink after a failure (connection error, "
            "HTTP 429/5xx, SMTP error), after sink_backoff_s, 2x, 4x... or an answer's "
            "Retry-After (at most 10 s); what still fails is dead-lettered. Default 3."
        ),
    )
    sink_backoff_s: float = Field(
        default=0.2, ge=0, description="First pause between alert delivery attempts. Default 0.2."
    )
    error_detectors: list[Literal["adwin", "page_hinkley", "kswin"]] = Field(
        default=["adwin", "page_hinkley", "kswin"],
        description=(
            "Streaming detectors (river) on each version's per-row loss stream (squared "
            "error or log loss over the card's holdout mean; JSON list in the env)."
        ),
    )
    stream_features: list[str] = Field(
        default=[],
        description="Numeric features streamed through monitoring_feature_detectors (JSON list).",
    )
    feature_detectors: list[Literal["adwin", "page_hinkley", "kswin"]] = Field(
        default=["adwin", "kswin"],
        description="Streaming detectors on each of monitoring_stream_features (JSON list).",
    )
    stream_max_rows: int = Field(
        default=20_000,
        ge=1,
        description="Most rows one pass feeds a stream; beyond, an evenly spaced subsample.",
    )
    kswin_max_rows: int = Field(
        default=500,
        ge=1,
        description=(
            "Most rows one pass feeds a KSWIN (a KS test per update, a few hundred to a "
            "thousand updates/s); beyond, an evenly spaced subsample."
        ),
    )
    adwin_delta: float = Field(
        default=0.002, gt=0, lt=1, description="ADWIN's confidence delta (river default)."
    )
    adwin_replay: int = Field(
        default=5000,
        ge=100,
        description=(
            "Inputs kept to rebuild an ADWIN after a restart (its state is not JSON); exact "
            "while fewer arrived since its last detection."
        ),
    )
    ph_delta: float = Field(
        default=0.1,
        ge=0,
        description="Page-Hinkley's tolerated change, in units of the stream's scale.",
    )
    ph_threshold: float = Field(
        default=100.0, gt=0, description="Page-Hinkley's detection threshold (lambda)."
    )
    ph_min_instances: int = Field(
        default=30, ge=1, description="Inputs Page-Hinkley needs before it can detect."
    )
    kswin_alpha: float = Field(default=1e-5, gt=0, lt=1, description="KSWIN's significance level.")
    kswin_window: int = Field(
        default=300, ge=2, description="KSWIN's sliding window of recent inputs."
    )
    kswin_stat_size: int = Field(
        default=100, ge=1, description="KSWIN's most recent inputs tested against the window."
    )
    # --- uncertainty: coverage, adaptive conformal, estimated performance, attribution -----
    coverage_level: float = Field(
        default=0.9,
        gt=0,
        lt=1,
        description=(
            "Nominal level of the conformal interval (regression) or prediction set "
            "(classification) whose coverage monitoring measures, and the target of adaptive "
            "conformal inference. Default 0.9."
        ),
    )
    coverage_tolerance: float = Field(
        default=0.02,
        ge=0,
        lt=1,
        description=(
            "Coverage is broken when it leaves coverage_level ± this beyond chance (a one-sided "
            "binomial test at coverage_alpha against the nearer edge). Default 0.02 (2 points)."
        ),
    )
    coverage_alpha: float = Field(
        default=0.01,
        gt=0,
        lt=1,
        description="Significance level of the coverage binomial test. Default 0.01.",
    )
    coverage_min_labels: int = Field(
        default=100,
        ge=1,
        description="Labeled rows a window needs before its coverage counts (alert, health).",
    )
    probabilities_calibrated: bool = Field(
        default=False,
        description=(
            "The logged class probabilities (p_ columns) are already calibrated (serving "
            "applied the version's calibration). When false, monitoring applies the version's "
            "calibrator to them before computing prediction sets and estimated metrics."
        ),
    )
    aci: bool = Field(
        default=True,
        description=(
            "The control loop's `aci` task adapts each served version's interval/set level "
            "from delayed feedback (adaptive conformal inference)."
        ),
    )
    aci_gamma: float = Field(
        default=0.005,
        gt=0,
        le=0.5,
        description="Step size γ of adaptive conformal inference (α ← α + γ(α* − miss)).",
    )
    aci_min_labels: int = Field(
        default=200,
        ge=1,
        description=(
            "Labeled rows a version needs before its adapted level is served; until then the "
            "served level is coverage_level."
        ),
    )
    aci_alpha_min: float = Field(
        default=0.002,
        gt=0,
        lt=1,
        description="Smallest miscoverage α the adapted level may reach (level ≤ 1 − this).",
    )
    aci_alpha_max: float = Field(
        default=0.4,
        gt=0,
        lt=1,
        description="Largest miscoverage α the adapted level may reach (level ≥ 1 − this).",
    )
    aci_horizon_s: float = Field(
        default=86400.0,
        gt=0,
        description=(
            "How far back the aci task looks for predictions whose feedback arrived since its "
            "last pass (feedback later than this after its prediction is not used)."
        ),
    )
    estimated_accuracy_warning: float = Field(
        default=0.80,
        ge=0,
        le=1,
        description=(
            "The built-in early-warning rule fires when a classifier's accuracy estimated from "
            "its calibrated probabilities (before labels) falls below this."
        ),
    )
    explain_sample_rows: int = Field(
        default=200,
        ge=1,
        description=(
            "The `attribution` control task explains at most this many logged rows per hour per "
            "version (a uniform sample), so its cost is bounded: one TreeSHAP pass over this "
            "many rows per version-hour."
        ),
    )
    attribution_lookback_s: float = Field(
        default=86400.0,
        gt=0,
        description="Completed hours the attribution task fills in, back from now.",
    )
    attribution_threshold: float = Field(
        default=0.15,
        gt=0,
        le=1,
        description=(
            "Attribution drift: a feature's share of total mean |contribution| moved this much "
            "from its training share (the card's importance). Default 0.15."
        ),
    )
    attribution_top_k: int = Field(
        default=3,
        ge=1,
        description="Attribution drift also when the order of the top k features changes.",
    )
