"""The model registry (:mod:`rayops.registry`): comparisons, drift baselines, MLflow interop."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from rayops.config._section import Section

__all__ = ["RegistrySettings"]


class RegistrySettings(Section):
    """The model registry (:mod:`rayops.registry`): comparisons and drift baselines."""

    env_prefix: ClassVar[str] = "RAYOPS_REGISTRY_"

    compare_repeats: int = Field(
        default=3,
        ge=1,
        le=100,
        description="Timed prediction passes per version in a comparison; the fastest is kept.",
    )
    baseline_bins: int = Field(
        default=10, ge=2, le=1000, description="Histogram bins per numeric feature in baselines."
    )
    baseline_quantiles: list[float] = Field(
        default=[0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99],
        description="Quantiles stored per numeric feature in baselines (JSON list in the env).",
    )
    baseline_max_categories: int = Field(
        default=50,
        ge=1,
        description="Most frequent categories kept per categorical feature; the rest are summed.",
    )
    mlflow_experiment: str = Field(
        default="rayops",
        min_length=1,
        max_length=500,
        description="MLflow experiment that `models export` and `runs export` write to "
        "(created if missing; `--experiment` overrides).",
    )
    mlflow_await_registration_s: float = Field(
        default=60.0,
        ge=0,
        le=3600,
        description="How long `models export --register-as` waits for the MLflow model "
        "version to become READY.",
    )
