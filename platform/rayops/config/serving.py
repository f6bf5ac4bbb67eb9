"""The gateway (:mod:`rayops.serving`): routing, limits, logs, caches, ensembles."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from rayops.config._section import Section

__all__ = ["ServingSettings"]


class ServingSettings(Section):
    """The gateway (:mod:`rayops.serving`): routing, limits, logs, caches, ensembles."""

    env_prefix: ClassVar[str] = "RAYOPS_SERVING_"

    poll_interval_s: float = Field(
        default=0.5,
        gt=0,
        description=(
            "Seconds between reads of the routing tables in storage (by the routing watcher, or "
            "by each gateway replica while it reads storage itself); a routing change takes "
            "effect within about this long. Default 0.5."
        ),
    )
    routing_watcher: bool = Field(
        default=True,
        description=(
            "Gateway replicas follow one routing watcher (a detached Ray actor per storage "
            "root, in Serve's namespace) instead of each re-reading every routing table every "
            "poll interval, so storage reads do not grow with the number of replicas. A "
            "replica falls back to reading storage itself while the watcher is unavailable. "
            "Used only when Ray is initialised. Default on."
        ),
    )
    routing_watcher_wait_s: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description=(
            "Longest a gateway replica's long poll of the routing watcher waits for a change "
            "(it answers at once when there is one); a watcher that has not answered a second "
            "later is taken for dead and the replica reads storage itself. Default 2."
        ),
    )
    routing_watcher_retry_s: float = Field(
        default=5.0,
        gt=0,
        description=(
            "Seconds between a gateway replica's attempts to reach (or re-create) the routing "
            "watcher while it reads the routing tables from storage itself. Default 5."
        ),
    )
    max_body_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="Largest request body the gateway accepts (413 above it). Default 16 MiB.",
    )
    max_json_depth: int = Field(
        default=8,
        ge=2,
        le=64,
        description=(
            "Deepest nesting of arrays and objects in a JSON request body (400 above it, checked "
            "before parsing). Predict and feedback bodies need 3, an OIP body with a 2-D tensor "
            "as nested rows 5. Default 8."
        ),
    )
    max_json_values: int = Field(
        default=4_000_000,
        ge=1,
        description=(
            "Most values (numbers, strings, literals, arrays, objects) in one JSON request body "
            "(400 above it, checked before parsing): each costs a Python object of 24-64 bytes. "
            "Default 4,000,000, more than a 16 MiB body of realistic rows holds."
        ),
    )
    max_json_string_bytes: int = Field(
        default=65_536,
        ge=1024,
        description=(
            "Longest string (key or value, in bytes as sent) in a JSON request body (400 above "
            "it). Default 64 KiB."
        ),
    )
    max_json_keys: int = Field(
        default=10_000,
        ge=16,
        description=(
            "Most keys in one JSON object of a request body (400 above it): at least the "
            "features of the widest model served. Default 10,000."
        ),
    )
    max_rows: int = Field(
        default=100_000, ge=1, description="Most rows in one predict or feedback request."
    )
    reject_missing: bool = Field(
        default=False,
        description=(
            "Reject (422) feature values that are null/NaN instead of passing them to XGBoost "
            "as missing values. Infinite values are always rejected."
        ),
    )
    log_flush_s: float = Field(
        default=5.0,
        gt=0,
        description="Seconds between flushes of the buffered prediction log to Parquet.",
    )
    log_max_rows: int = Field(
        default=50_000,
        ge=1,
        description="Buffered prediction-log rows that trigger an early flush.",
    )
    log_contributions: str = Field(
        default="",
        max_length=10_000,
        description=(
            "Endpoints whose prediction log also holds each row's feature contributions "
            "(c_<feature> and c_bias columns, margin space), comma-separated, or * for every "
            "endpoint. Each request of such an endpoint then pays for an explanation "
            "(exact TreeSHAP, or approximate when the request asks). Default: none."
        ),
    )
    model_cache: int = Field(
        default=32,
        ge=1,
        description="Loaded model versions a gateway replica keeps in memory (LRU).",
    )
    batch_max_rows: int = Field(
        default=256,
        ge=0,
        description=(
            "Concurrent small requests (up to 16 numeric rows each) for one model version are "
            "predicted together in batches of at most this many rows; 0 disables batching."
        ),
    )
    ensemble_poll_s: float = Field(
        default=5.0,
        gt=0,
        description=(
            "Seconds between a gateway replica's re-reads of its ensembles' stats documents "
            "(dynamic selection and voting weights), on the routing poll. Default 5."
        ),
    )
    ensemble_stats_interval_s: float = Field(
        default=60.0,
        gt=0,
        description=(
            "Seconds between recomputations of every served ensemble's per-member stats by the "
            "control loop's 'ensembles' task. Default 60."
        ),
    )
    ensemble_window_s: float = Field(
        default=86_400.0,
        gt=0,
        description=(
            "Labeled rows of the last this many seconds feed an ensemble's member stats "
            "(spec setting window_s overrides). Default 86400 (one day)."
        ),
    )
    ensemble_half_life_s: float = Field(
        default=3_600.0,
        gt=0,
        description=(
            "A labeled row's weight in the member stats halves every this many seconds of age "
            "(spec setting half_life_s overrides). Default 3600."
        ),
    )
    ensemble_min_rows: int = Field(
        default=20,
        ge=1,
        description=(
            "Labeled rows a context segment needs before dynamic selection or voting uses its "
            "stats; below, the ensemble-wide stats, then the spec's weights. Default 20."
        ),
    )
    ensemble_max_rows: int = Field(
        default=20_000,
        ge=1,
        description=(
            "Newest labeled rows per ensemble the stats task re-predicts on each pass. "
            "Default 20000."
        ),
    )

    def contribution_endpoints(self) -> frozenset[str]:
        """The endpoint names of ``log_contributions`` (``*``: every endpoint).

        Example:
            >>> sorted(ServingSettings(log_contributions="churn, credit").contribution_endpoints())
            ['churn', 'credit']
        """
        return frozenset(n.strip() for n in self.log_contributions.split(",") if n.strip())
