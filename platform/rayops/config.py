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
