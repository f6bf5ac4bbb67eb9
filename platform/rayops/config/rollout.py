"""Rollouts (:mod:`rayops.rollout`): canary steps, A/B tests, rollback limits."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from rayops.config._section import Section
from rayops.gate import TwoSampleTest

__all__ = ["ABTest", "RolloutSettings"]


#: The two-sample test of an A/B rollout on per-request losses.
ABTest = TwoSampleTest


class RolloutSettings(Section):
    """Rollouts (:mod:`rayops.rollout`): canary steps, A/B tests, rollback limits."""

    env_prefix: ClassVar[str] = "RAYOPS_ROLLOUT_"

    steps: list[int] = Field(
        default=[5, 25, 50, 100],
        description=(
            "Canary traffic steps in percent when a rollout does not say (JSON list in the "
            "env). Default [5, 25, 50, 100]."
        ),
    )
    interval_s: float = Field(
        default=60.0,
        gt=0,
        description="Seconds of traffic analyzed per canary step or A/B check. Default 60.",
    )
    ab_split: int = Field(
        default=50,
        ge=1,
        le=99,
        description="Percent of traffic the candidate gets in an A/B test. Default 50.",
    )
    min_samples: int = Field(
        default=30,
        ge=1,
        description=(
            "Labeled rows each arm needs before a step is judged on quality; fewer holds the "
            "step. Default 30."
        ),
    )
    max_latency_p95_ms: float = Field(
        default=200.0,
        gt=0,
        description="A candidate whose p95 latency exceeds this is rolled back. Default 200.",
    )
    max_error_rate: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="A candidate whose share of failed requests exceeds this is rolled back.",
    )
    min_accuracy: float = Field(
        default=0.75,
        ge=0,
        le=1,
        description=(
            "A candidate whose accuracy within ±accuracy_tolerance falls below this is "
            "rolled back. Default 0.75."
        ),
    )
    max_degradation: float = Field(
        default=0.1,
        ge=0,
        description=(
            "Largest relative degradation of the candidate's MAE, RMSE or accuracy against "
            "the stable version on the same window (0.1 = 10%) before rollback."
        ),
    )
    alpha: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description="Significance level of the A/B test on per-row absolute errors.",
    )
    ab_test: ABTest = Field(
        default=ABTest.WELCH,
        description="A/B test on absolute errors: welch (t-test) or mannwhitney (U test).",
    )
