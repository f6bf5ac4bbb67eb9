"""One settings object for every tunable number in rayops.

Values come from keyword arguments, then ``RAYOPS_*`` environment variables, then
the documented defaults below. Later capabilities add their fields here, so that
``rayops config`` shows everything a user can turn in one place.

Example:
    >>> from rayops.config import Settings
    >>> s = Settings(storage="/tmp/rayops-demo")
    >>> s.storage
    '/tmp/rayops-demo'
    >>> s.storage_max_attempts
    2
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEFAULT_STORAGE", "Settings"]

#: Where artifacts live when ``RAYOPS_STORAGE`` is not set: a directory in the
#: user's home, so every command run by the same user sees the same platform.
DEFAULT_STORAGE = str(Path.home() / ".rayops" / "storage")


class Settings(BaseSettings):
    """Every setting rayops reads, with its environment variable and default.

    Each field ``x`` is read from ``RAYOPS_X`` unless noted otherwise.
    """

    model_config = SettingsConfigDict(
        env_prefix="RAYOPS_", extra="forbid", frozen=True, populate_by_name=True
    )

    # --- storage -------------------------------------------------------------
    storage: str = Field(
        default=DEFAULT_STORAGE,
        description=(
            "Storage root URI: a local path, file:///path, or s3://bucket/prefix. "
            "Default: ~/.rayops/storage."
        ),
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "RAYOPS_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL", "s3_endpoint_url"
        ),
        description=(
            "Endpoint of an S3-compatible server (MinIO, moto, Ceph...). Also read from "
            "AWS_ENDPOINT_URL. Unset means AWS S3 itself."
        ),
    )
    s3_region: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "RAYOPS_S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION", "s3_region"
        ),
        description="S3 region. Also read from AWS_REGION / AWS_DEFAULT_REGION. Default us-east-1.",
    )
    storage_connect_timeout_s: float = Field(
        default=2.0, gt=0, description="Seconds to wait for a TCP connection to the S3 endpoint."
    )
    storage_read_timeout_s: float = Field(
        default=30.0, gt=0, description="Seconds to wait for an S3 response once connected."
    )
    storage_max_attempts: int = Field(
        default=2,
        ge=1,
        le=10,
        description=(
            "Attempts per S3 request (first try included). With the default timeouts an "
            "unreachable endpoint is reported in well under 10 seconds."
        ),
    )
    cas_max_retries: int = Field(
        default=64,
        ge=1,
        description="Re-reads allowed when a compare-and-swap or version claim loses a race.",
    )

    # --- feature store (rayops.features) ---------------------------------------
    features_compression: str = Field(
        default="zstd",
        pattern=r"^(zstd|snappy|lz4|gzip|brotli|none)$",
        description=(
            "Parquet codec for feature-set files (zstd, snappy, lz4, gzip, brotli or none). "
            "Default zstd."
        ),
    )
    features_rows_per_file: int = Field(
        default=1_000_000,
        ge=1,
        description=(
            "Rows per Parquet part file of a feature-set version; parts are written in "
            "parallel and bound the memory a streamed ingest holds. Default 1000000."
        ),
    )
    features_batch_rows: int = Field(
        default=262_144,
        ge=1,
        description="Rows per record batch when scanning (hash, stats, checks). Default 262144.",
    )
    features_threads: int | None = Field(
        default=None,
        ge=1,
        description=(
            "Threads for scanning columns and writing parts during a feature-set write. "
            "Default: the number of CPUs."
        ),
    )
    features_max_categories: int = Field(
        default=10_000,
        ge=1,
        description=(
            "Distinct values counted exactly per categorical column; beyond this the "
            "distinct count is a lower bound and top values are omitted. Default 10000."
        ),
    )
    features_top_values: int = Field(
        default=10,
        ge=0,
        description="Most frequent values kept per categorical column. Default 10.",
    )
    features_wait_timeout_s: float = Field(
        default=300.0,
        gt=0,
        description=(
            "Seconds a writer waits for a concurrent writer of identical content to publish "
            "its version before giving up with a conflict. Default 300."
        ),
    )
    features_stale_reservation_s: float = Field(
        default=3600.0,
        gt=0,
        description=(
            "Age in seconds after which an unfinished write's dedup reservation is considered "
            "abandoned (its writer crashed) and may be taken over. Default 3600."
        ),
    )

    # --- model registry (rayops.registry) ---------------------------------------
    registry_compare_repeats: int = Field(
        default=3,
        ge=1,
        le=100,
        description="Timed prediction passes per version in a comparison; the fastest is kept.",
    )
    registry_baseline_bins: int = Field(
        default=10, ge=2, le=1000, description="Histogram bins per numeric feature in baselines."
    )
    registry_baseline_quantiles: list[float] = Field(
        default=[0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99],
        description="Quantiles stored per numeric feature in baselines (JSON list in the env).",
    )
    registry_baseline_max_categories: int = Field(
        default=50,
        ge=1,
        description="Most frequent categories kept per categorical feature; the rest are summed.",
    )

    # --- tuning and cross-validation (rayops.training.tune) ---------------------
    cv_folds: int = Field(
        default=5, ge=2, le=100, description="Cross-validation folds when a run does not say."
    )
    cv_seed: int = Field(
        default=0,
        ge=0,
        description="Seed of the fold shuffle, random search and XGBoost; same seed, same folds.",
    )
    accuracy_tolerance: float = Field(
        default=5.0,
        gt=0,
        description="T of the 'accuracy within ±T' metric: share of predictions within T of truth.",
    )
    tune_cpus_per_trial: int = Field(
        default=1,
        ge=1,
        description=(
            "CPUs (and XGBoost threads) per Tune trial; trials run in parallel on the rest."
        ),
    )
    tune_max_failures: int = Field(
        default=1,
        ge=0,
        description=(
            "Times a failed Tune trial (its worker died or it raised) is retried before it "
            "counts as an error (Tune's FailureConfig(max_failures))."
        ),
    )
    selection_top_k: int = Field(
        default=0,
        ge=0,
        description="Feature selection keeps this many features; 0 keeps about half of them.",
    )

    # --- training (rayops.training.fit) -----------------------------------------
    train_fast_path_max_rows: int = Field(
        default=200_000,
        ge=0,
        description=(
            "Below this many rows (and with at most one worker requested) a model trains "
            "in one Ray task, skipping Ray Train's worker-group start-up."
        ),
    )
    train_workers: int = Field(
        default=2, ge=1, description="Ray Train workers when the data is above the fast path."
    )
    train_checkpoint_every: int = Field(
        default=50,
        ge=1,
        description=(
            "Boosting rounds between Ray Train checkpoints/reports (a report costs ~2 s, so "
            "never report every round)."
        ),
    )
    train_max_failures: int = Field(
        default=1,
        ge=0,
        description="Worker failures Ray Train recovers from (from the last checkpoint).",
    )
    holdout_fraction: float = Field(
        default=0.2, gt=0, lt=1, description="Share of rows held out to evaluate a trained model."
    )
    finetune_min_improvement: float = Field(
        default=0.01,
        ge=0,
        description=(
            "A fine-tuned model is accepted only if its holdout RMSE is at least this "
            "fraction lower than the parent's (0.01 = 1%)."
        ),
    )

    # --- serving (rayops.serving) ---------------------------------------------
    serving_poll_interval_s: float = Field(
        default=0.5,
        gt=0,
        description=(
            "Seconds between a gateway replica's checks of the routing tables in storage; a "
            "routing change takes effect within about this long. Default 0.5."
        ),
    )
    serving_max_body_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="Largest request body the gateway accepts (413 above it). Default 16 MiB.",
    )
    serving_max_json_depth: int = Field(
        default=8,
        ge=2,
        le=64,
        description=(
            "Deepest nesting of arrays and objects in a JSON request body (400 above it, checked "
            "before parsing). Predict and feedback bodies need 3, an OIP body with a 2-D tensor "
            "as nested rows 5. Default 8."
        ),
    )
    serving_max_json_values: int = Field(
        default=4_000_000,
        ge=1,
        description=(
            "Most values (numbers, strings, literals, arrays, objects) in one JSON request body "
            "(400 above it, checked before parsing): each costs a Python object of 24-64 bytes. "
            "Default 4,000,000, more than a 16 MiB body of realistic rows holds."
        ),
    )
    serving_max_json_string_bytes: int = Field(
        default=65_536,
        ge=1024,
        description=(
            "Longest string (key or value, in bytes as sent) in a JSON request body (400 above "
            "it). Default 64 KiB."
        ),
    )
    serving_max_json_keys: int = Field(
        default=10_000,
        ge=16,
        description=(
            "Most keys in one JSON object of a request body (400 above it): at least the "
            "features of the widest model served. Default 10,000."
        ),
    )
    serving_max_rows: int = Field(
        default=100_000, ge=1, description="Most rows in one predict or feedback request."
    )
    serving_reject_missing: bool = Field(
        default=False,
        description=(
            "Reject (422) feature values that are null/NaN instead of passing them to XGBoost "
            "as missing values. Infinite values are always rejected."
        ),
    )
    serving_log_flush_s: float = Field(
        default=5.0,
        gt=0,
        description="Seconds between flushes of the buffered prediction log to Parquet.",
    )
    serving_log_max_rows: int = Field(
        default=50_000,
        ge=1,
        description="Buffered prediction-log rows that trigger an early flush.",
    )
    serving_model_cache: int = Field(
        default=32,
        ge=1,
        description="Loaded model versions a gateway replica keeps in memory (LRU).",
    )
    serving_batch_max_rows: int = Field(
        default=256,
        ge=0,
        description=(
            "Concurrent small requests (up to 16 numeric rows each) for one model version are "
            "predicted together in batches of at most this many rows; 0 disables batching."
        ),
    )
    serving_ensemble_poll_s: float = Field(
        default=5.0,
        gt=0,
        description=(
            "Seconds between a gateway replica's re-reads of its ensembles' stats documents "
            "(dynamic selection and voting weights), on the routing poll. Default 5."
        ),
    )
    serving_ensemble_stats_interval_s: float = Field(
        default=60.0,
        gt=0,
        description=(
            "Seconds between recomputations of every served ensemble's per-member stats by the "
            "control loop's 'ensembles' task. Default 60."
        ),
    )
    serving_ensemble_window_s: float = Field(
        default=86_400.0,
        gt=0,
        description=(
            "Labeled rows of the last this many seconds feed an ensemble's member stats "
            "(spec setting window_s overrides). Default 86400 (one day)."
        ),
    )
    serving_ensemble_half_life_s: float = Field(
        default=3_600.0,
        gt=0,
        description=(
            "A labeled row's weight in the member stats halves every this many seconds of age "
            "(spec setting half_life_s overrides). Default 3600."
        ),
    )
    serving_ensemble_min_rows: int = Field(
        default=20,
        ge=1,
        description=(
            "Labeled rows a context segment needs before dynamic selection or voting uses its "
            "stats; below, the ensemble-wide stats, then the spec's weights. Default 20."
        ),
    )
    serving_ensemble_max_rows: int = Field(
        default=20_000,
        ge=1,
        description=(
            "Newest labeled rows per ensemble the stats task re-predicts on each pass. "
            "Default 20000."
        ),
    )

    # --- control loop (rayops.control) ------------------------------------------
    control_tick_s: float = Field(
        default=5.0,
        gt=0,
        description=(
            "Seconds between passes of the control loop (rollout analysis, monitoring, online "
            "updates, retrain triggers); a task may run less often. Default 5."
        ),
    )
    control_lease_s: float = Field(
        default=30.0,
        gt=0,
        description=(
            "Seconds a control loop's lease lasts without renewal; a crashed loop's successor "
            "takes over after at most this long. Default 30."
        ),
    )

    # --- rollouts (rayops.rollout) ---------------------------------------------
    rollout_steps: list[int] = Field(
        default=[5, 25, 50, 100],
        description=(
            "Canary traffic steps in percent when a rollout does not say (JSON list in the "
            "env). Default [5, 25, 50, 100]."
        ),
    )
    rollout_interval_s: float = Field(
        default=60.0,
        gt=0,
        description="Seconds of traffic analyzed per canary step or A/B check. Default 60.",
    )
    rollout_ab_split: int = Field(
        default=50,
        ge=1,
        le=99,
        description="Percent of traffic the candidate gets in an A/B test. Default 50.",
    )
    rollout_min_samples: int = Field(
        default=30,
        ge=1,
        description=(
            "Labeled rows each arm needs before a step is judged on quality; fewer holds the "
            "step. Default 30."
        ),
    )
    rollout_max_latency_p95_ms: float = Field(
        default=200.0,
        gt=0,
        description="A candidate whose p95 latency exceeds this is rolled back. Default 200.",
    )
    rollout_max_error_rate: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="A candidate whose share of failed requests exceeds this is rolled back.",
    )
    rollout_min_accuracy: float = Field(
        default=0.75,
        ge=0,
        le=1,
        description=(
            "A candidate whose accuracy within ±accuracy_tolerance falls below this is "
            "rolled back. Default 0.75."
        ),
    )
    rollout_max_degradation: float = Field(
        default=0.1,
        ge=0,
        description=(
            "Largest relative degradation of the candidate's MAE, RMSE or accuracy against "
            "the stable version on the same window (0.1 = 10%) before rollback."
        ),
    )
    rollout_alpha: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description="Significance level of the A/B test on per-row absolute errors.",
    )
    rollout_ab_test: str = Field(
        default="welch",
        pattern=r"^(welch|mannwhitney)$",
        description="A/B test on absolute errors: welch (t-test) or mannwhitney (U test).",
    )

    # --- monitoring (rayops.monitoring) -----------------------------------------
    monitoring_psi_threshold: float = Field(
        default=0.2,
        gt=0,
        description="A numeric feature drifted when its PSI against the baseline reaches this.",
    )
    monitoring_ks_threshold: float = Field(
        default=0.1,
        gt=0,
        le=1,
        description=(
            "A numeric feature drifted when its Kolmogorov-Smirnov statistic (largest CDF gap) "
            "reaches this; an effect size, because on large windows p-values flag tiny shifts."
        ),
    )
    monitoring_js_threshold: float = Field(
        default=0.1,
        gt=0,
        le=1,
        description="A categorical feature drifted when its Jensen-Shannon distance reaches this.",
    )
    monitoring_drift_share: float = Field(
        default=0.1,
        gt=0,
        le=1,
        description="The dataset drifted when more than this share of its features drifted.",
    )
    monitoring_psi_epsilon: float = Field(
        default=1e-4, gt=0, description="Floor for empty-bin proportions in PSI."
    )
    monitoring_drift_alpha: float = Field(
        default=0.01,
        gt=0,
        lt=1,
        description=(
            "A feature is flagged only if its drift test (chi-square on the PSI bins, KS, "
            "chi-square on the categories) is also significant at this level. Default 0.01."
        ),
    )
    monitoring_drift_min_rows: int = Field(
        default=100,
        ge=1,
        description="Windows with fewer rows are measured but never flagged as drifted.",
    )
    monitoring_ks_min_distinct: int = Field(
        default=20,
        ge=1,
        description=(
            "KS flags a numeric column only when the window has more distinct values than "
            "this (the baseline CDF is continuous); PSI covers low-cardinality columns."
        ),
    )
    monitoring_interval_s: float = Field(
        default=60.0,
        gt=0,
        description="Seconds between monitoring passes of the control loop. Default 60.",
    )
    monitoring_window: str = Field(
        default="1h",
        pattern=r"^\d+(\.\d+)?[smhdw]$",
        description=(
            "Default window of `monitor status`, health and alert rules that do not set one."
        ),
    )
    monitoring_drift_window: str = Field(
        default="1h",
        pattern=r"^\d+(\.\d+)?[smhdw]$",
        description="Window of the drift check the control loop runs and stores each pass.",
    )
    monitoring_log_lag_s: float = Field(
        default=10.0,
        ge=0,
        description=(
            "The control loop reads logs up to this many seconds before now, so rows the "
            "gateway still buffers (serving_log_flush_s) are in storage. Default 10."
        ),
    )
    monitoring_feedback_wait_s: float = Field(
        default=300.0,
        ge=0,
        description=(
            "Predictions enter the streaming error detectors this many seconds after they were "
            "made, with the feedback received by then; later feedback is not streamed."
        ),
    )
    monitoring_reference_rows: int = Field(
        default=1000,
        ge=10,
        description=(
            "Prediction (and target) drift compare with the first window of at least this many "
            "predictions (labeled rows) the main version served; frozen then."
        ),
    )
    monitoring_accuracy_warning: float = Field(
        default=0.80, ge=0, le=1, description="Health is warning when accuracy falls below this."
    )
    monitoring_accuracy_critical: float = Field(
        default=0.75,
        ge=0,
        le=1,
        description="Health is critical when accuracy falls below this (the earlier alert level).",
    )
    monitoring_latency_warning_ms: float = Field(
        default=100.0, gt=0, description="Health is warning when p95 latency exceeds this."
    )
    monitoring_latency_critical_ms: float = Field(
        default=200.0, gt=0, description="Health is critical when p95 latency exceeds this."
    )
    monitoring_error_rate_warning: float = Field(
        default=0.01, ge=0, le=1, description="Health is warning when the error rate exceeds this."
    )
    monitoring_error_rate_critical: float = Field(
        default=0.05, ge=0, le=1, description="Health is critical when the error rate exceeds this."
    )
    monitoring_drift_warning: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Health is warning when the share of drifted features exceeds this (any).",
    )
    monitoring_drift_critical: float = Field(
        default=0.10,
        ge=0,
        le=1,
        description="Health is critical when the share of drifted features exceeds this (10%).",
    )
    monitoring_health_min_labeled: int = Field(
        default=30,
        ge=1,
        description="Labeled rows needed before accuracy counts for health (else unknown).",
    )
    monitoring_health_min_requests: int = Field(
        default=10,
        ge=1,
        description="Requests needed before latency and error rate count for health.",
    )
    monitoring_alert_cooldown_s: float = Field(
        default=900.0,
        ge=0,
        description=(
            "After an alert fires, the same rule and version stay silent this long (rules may "
            "set their own cooldown). Default 900."
        ),
    )
    monitoring_webhook_url: str | None = Field(
        default=None,
        description="Alerts are POSTed as JSON to this URL (rules may set their own webhook).",
    )
    monitoring_webhook_timeout_s: float = Field(
        default=5.0, gt=0, description="Timeout of one webhook POST; a failure is recorded."
    )
    monitoring_webhook_retries: int = Field(
        default=3,
        ge=0,
        le=10,
        description=(
            "Retries of a webhook POST after a connection error or a 429, 500, 502, 503 or "
            "504 answer (after 0.2, 0.4, 0.8 s... or the answer's Retry-After, at most 10 s). "
            "Default 3."
        ),
    )
    monitoring_error_detectors: list[Literal["adwin", "page_hinkley", "kswin"]] = Field(
        default=["adwin", "page_hinkley", "kswin"],
        description=(
            "Streaming detectors (river) on each version's absolute-error stream "
            "(JSON list in the env)."
        ),
    )
    monitoring_stream_features: list[str] = Field(
        default=[],
        description="Numeric features streamed through monitoring_feature_detectors (JSON list).",
    )
    monitoring_feature_detectors: list[Literal["adwin", "page_hinkley", "kswin"]] = Field(
        default=["adwin", "kswin"],
        description="Streaming detectors on each of monitoring_stream_features (JSON list).",
    )
    monitoring_stream_max_rows: int = Field(
        default=20_000,
        ge=1,
        description="Most rows one pass feeds a stream; beyond, an evenly spaced subsample.",
    )
    monitoring_kswin_max_rows: int = Field(
        default=500,
        ge=1,
        description=(
            "Most rows one pass feeds a KSWIN (a KS test per update, a few hundred to a "
            "thousand updates/s); beyond, an evenly spaced subsample."
        ),
    )
    monitoring_adwin_delta: float = Field(
        default=0.002, gt=0, lt=1, description="ADWIN's confidence delta (river default)."
    )
    monitoring_adwin_replay: int = Field(
        default=5000,
        ge=100,
        description=(
            "Inputs kept to rebuild an ADWIN after a restart (its state is not JSON); exact "
            "while fewer arrived since its last detection."
        ),
    )
    monitoring_ph_delta: float = Field(
        default=0.1,
        ge=0,
        description="Page-Hinkley's tolerated change, in units of the stream's scale.",
    )
    monitoring_ph_threshold: float = Field(
        default=100.0, gt=0, description="Page-Hinkley's detection threshold (lambda)."
    )
    monitoring_ph_min_instances: int = Field(
        default=30, ge=1, description="Inputs Page-Hinkley needs before it can detect."
    )
    monitoring_kswin_alpha: float = Field(
        default=1e-5, gt=0, lt=1, description="KSWIN's significance level."
    )
    monitoring_kswin_window: int = Field(
        default=300, ge=2, description="KSWIN's sliding window of recent inputs."
    )
    monitoring_kswin_stat_size: int = Field(
        default=100, ge=1, description="KSWIN's most recent inputs tested against the window."
    )

    # --- online learning (rayops.online) ----------------------------------------
    online_interval_s: float = Field(
        default=1.0,
        gt=0,
        description=(
            "Seconds between online-learning passes of the control loop (each reads the "
            "feedback log of every enabled endpoint). Default 1."
        ),
    )
    online_buffer_size: int = Field(
        default=100,
        ge=2,
        description=(
            "Labeled samples that fill an endpoint's buffer and trigger an incremental update "
            "(N). Default 100."
        ),
    )
    online_max_age_s: float = Field(
        default=86_400.0,
        gt=0,
        description=(
            "Seconds after which a buffer that is not full is flushed anyway, counted from its "
            "oldest sample's feedback (T). Default 86400 (24 h)."
        ),
    )
    online_min_samples: int = Field(
        default=10,
        ge=2,
        description="Fewest samples an age-triggered update uses; fewer keep waiting. Default 10.",
    )
    online_mode: str = Field(
        default="continue",
        pattern=r"^(refresh|continue|both)$",
        description=(
            "How an update adapts the serving booster: continue (add online_rounds trees), "
            "refresh (recompute leaf values) or both (refresh, then add trees). Default continue."
        ),
    )
    online_rounds: int = Field(
        default=10, ge=1, description="Trees an update adds in continue or both mode. Default 10."
    )
    online_replay_fraction: float = Field(
        default=0.3,
        ge=0,
        lt=1,
        description=(
            "Share of an update's training rows drawn from already-applied older samples "
            "(guards against forgetting). Default 0.3."
        ),
    )
    online_replay_size: int = Field(
        default=5_000,
        ge=0,
        description="Most recent applied samples kept per endpoint for replay. Default 5000.",
    )
    online_decay_half_life_s: float = Field(
        default=0.0,
        ge=0,
        description=(
            "Half-life in seconds of a training sample's weight by its age; 0 weighs every "
            "sample equally. Default 0."
        ),
    )
    online_holdout_fraction: float = Field(
        default=0.2,
        gt=0,
        lt=1,
        description=(
            "Most recent share of the buffer held out to judge an update; those samples stay "
            "buffered and train the next update. Default 0.2."
        ),
    )
    online_min_improvement: float = Field(
        default=0.01,
        ge=0,
        description=(
            "An online update is accepted only if the holdout MAE drops by at least this "
            "fraction (0.01 = 1%). Default 0.01."
        ),
    )
    online_gate_alpha: float = Field(
        default=0.01,
        gt=0,
        le=1,
        description=(
            "An online update is accepted only if a one-sided paired t-test on the holdout's "
            "per-row absolute errors finds it better at this level; 1 turns the test off. "
            "Default 0.01."
        ),
    )
    online_escalation_mae: float = Field(
        default=5.0,
        gt=0,
        description=(
            "Holdout MAE of the serving model above which an online update leaves the error "
            "'still high'. Default 5.0."
        ),
    )
    online_escalation_updates: int = Field(
        default=3,
        ge=1,
        description=(
            "Consecutive online updates with the error still high that file a full-retrain "
            "request. Default 3."
        ),
    )
    online_settle_s: float = Field(
        default=1.0,
        ge=0,
        description=(
            "Seconds feedback must be old before it is buffered, so writes in flight are never "
            "skipped. Default 1."
        ),
    )
    online_prediction_wait_s: float = Field(
        default=30.0,
        ge=0,
        description=(
            "Seconds a feedback row waits for its prediction to reach the log (written every "
            "serving_log_flush_s) before it is dropped from the buffer. Default 30."
        ),
    )
    online_feedback_window_s: float = Field(
        default=86_400.0,
        gt=0,
        description=(
            "Oldest a prediction may be when its feedback arrives for the sample to be "
            "buffered. Default 86400 (24 h)."
        ),
    )
    online_max_rows: int = Field(
        default=50_000,
        ge=2,
        description="Most buffered samples one online update uses, oldest first. Default 50000.",
    )
    online_nthread: int = Field(
        default=1,
        ge=1,
        description="XGBoost threads of an online update (it runs in-process). Default 1.",
    )

    # --- analytics and dashboards (rayops.analytics) ----------------------------
    analytics_range: str = Field(
        default="24h",
        pattern=r"^\s*\d+(\.\d+)?\s*[smhdw]\s*$",
        description="Time range of analytics and dashboards when none is given. Default 24h.",
    )
    analytics_buckets: int = Field(
        default=24,
        ge=4,
        le=500,
        description=(
            "About this many time buckets per range for charts and trends (widths are rounded "
            "to 1, 2, 5, 10, 15, 30 min, 1, 2, 3, 6, 12 h or 1 day). Default 24."
        ),
    )
    analytics_current_hours: float = Field(
        default=24.0,
        gt=0,
        description=(
            "A metric's 'current' value is measured over the last this many hours of the range "
            "(the whole range if shorter). Default 24."
        ),
    )
    analytics_trend_threshold: float = Field(
        default=0.05,
        gt=0,
        description=(
            "A trend is improving or declining only if its Theil-Sen slope moves the metric by at "
            "least this share of its median over the range (0.05 = 5%)."
        ),
    )
    analytics_trend_alpha: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description="Significance level of the Mann-Kendall test a trend must also pass.",
    )
    analytics_trend_min_points: int = Field(
        default=5, ge=3, description="Fewest buckets with data for a trend; fewer: unknown."
    )
    analytics_trend_min_rows: int = Field(
        default=10,
        ge=1,
        description=(
            "Buckets with fewer labeled rows (quality) or requests (latency, errors) are left out "
            "of trends. Default 10."
        ),
    )
    analytics_target_mae: float | None = Field(
        default=None,
        gt=0,
        description=(
            "Target MAE. Unset: the model card's holdout MAE × (1 + analytics_quality_margin)."
        ),
    )
    analytics_target_rmse: float | None = Field(
        default=None,
        gt=0,
        description=(
            "Target RMSE. Unset: the model card's holdout RMSE × (1 + analytics_quality_margin)."
        ),
    )
    analytics_quality_margin: float = Field(
        default=0.1,
        ge=0,
        description=(
            "Without a set MAE/RMSE target, the target is the model card's holdout value plus "
            "this share (0.1 = 10%)."
        ),
    )
    analytics_drift_max_rows: int = Field(
        default=20_000,
        ge=100,
        description=(
            "Most logged rows whose features are parsed for drift per report (the latest); "
            "bounds the cost of drift on busy endpoints."
        ),
    )
    analytics_drift_min_rows: int = Field(
        default=200,
        ge=20,
        description=(
            "Fewest rows a drift-over-time bucket needs; chart buckets are merged until they "
            "hold this many (drift statistics on a few dozen rows are noise). Default 200."
        ),
    )
    analytics_events: int = Field(
        default=10, ge=1, description="Latest deployment events shown per endpoint."
    )
    analytics_cache_s: float = Field(
        default=5.0,
        ge=0,
        description=(
            "Seconds the web dashboard keeps a computed report, so open pages do not re-read "
            "storage on every poll. Default 5."
        ),
    )
    dashboard_refresh_s: float = Field(
        default=10.0,
        gt=0,
        description="Seconds between refreshes of the web and terminal dashboards. Default 10.",
    )

    # --- automated retraining (rayops.automation) -------------------------------
    retrain_job_address: str | None = Field(
        default=None,
        description=(
            "Ray Jobs address the retrain controller submits to (http://head:8265). Default: "
            "RAY_ADDRESS, else the dashboard of the cluster the controller runs on."
        ),
    )
    retrain_log_window_days: float = Field(
        default=30.0,
        gt=0,
        description=(
            "The first retrain of a feature set adds logged rows with feedback from at most "
            "this many days back. Default 30."
        ),
    )
    retrain_entrypoint_num_cpus: float = Field(
        default=0.0,
        ge=0,
        description=(
            "CPUs reserved for a retrain job's driver; its training tasks reserve their own. "
            "Default 0."
        ),
    )
    retrain_max_job_s: float = Field(
        default=6 * 3600.0,
        gt=0,
        description=(
            "A retrain job still running after this many seconds is stopped and marked "
            "failed, so a stuck job never blocks the model's next retrain. Default 21600."
        ),
    )

    # --- security ------------------------------------------------------------
    api_token: SecretStr | None = Field(
        default=None,
        description=(
            "When set, every HTTP route except health checks requires "
            "'Authorization: Bearer <token>'."
        ),
    )

    def describe(self) -> list[tuple[str, str, str, str]]:
        """Rows of (setting, environment variable, current value, description).

        Secrets are shown as ``***``; used by ``rayops config``.
        """
        rows = []
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            shown = "***" if isinstance(value, SecretStr) else ("" if value is None else str(value))
            alias = field.validation_alias
            env = (
                " | ".join(c for c in alias.choices if isinstance(c, str) and c.isupper())
                if isinstance(alias, AliasChoices)
                else f"RAYOPS_{name.upper()}"
            )
            rows.append((name, env, shown, field.description or ""))
        return rows
