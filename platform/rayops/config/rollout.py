"""Rollouts (:mod:`rayops.rollout`): canary steps, A/B tests, rollback limits.

The limits a rollout is judged by (:class:`RolloutLimits`) are declared once,
here: the rollout document's own copy of them
(:class:`rayops.rollout.state.Thresholds`) derives from this class, so a
constraint (``alpha`` in (0, 1), ``max_error_rate`` in [0, 1]...) cannot differ
between the settings and a rollout.

Example:
    >>> RolloutSettings().alpha, sorted(RolloutLimits.model_fields)[:3]
    (0.05, ['ab_test', 'alpha', 'max_degradation'])
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from rayops.config._section import Section
from rayops.gate import TwoSampleTest

__all__ = ["ABTest", "RolloutLimits", "RolloutSettings"]


#: The two-sample test of an A/B rollout on per-request losses.
ABTest = TwoSampleTest


class RolloutLimits(BaseModel):
    """What a candidate is judged by: guardrails, per-task quality floors and the gate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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
            "Regression: a candidate whose accuracy within ±accuracy_tolerance falls below this "
            "is rolled back (unless the stable version's is lower still). Default 0.75."
        ),
    )
    min_auc: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description=(
            "Binary classifiers: a candidate whose ROC AUC falls below this (0.5 is chance) is "
            "rolled back (unless the stable version's is lower still). Default 0.5."
        ),
    )
    min_class_accuracy: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description=(
            "Classifiers: a candidate whose share of correctly predicted labels falls below "
            "this is rolled back (unless the stable version's is lower still); 0 turns the "
            "floor off, since a sound accuracy depends on the class balance. Default 0."
        ),
    )
    max_degradation: float = Field(
        default=0.1,
        ge=0,
        description=(
            "Largest relative degradation of the candidate's primary metric (RMSE for "
            "regression, log loss for classifiers, from the mean per-row loss) against the "
            "stable version on the same window (0.1 = 10%) tolerated before rollback; a "
            "larger one rolls back only when the promotion gate also finds it significant."
        ),
    )
    alpha: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description=(
            "Significance level of the rollout gate on per-request losses: a canary or shadow "
            "is rolled back when it is worse with p < alpha (one-sided); an A/B test is "
            "two-sided (alpha/2 per side), spent over its looks."
        ),
    )
    ab_test: ABTest = Field(
        default=ABTest.WELCH,
        description=(
            "Test of two independent arms (canary, A/B) on per-request losses: welch (t-test) "
            "or mannwhitney (U test). A shadow is always paired (t-test on the same requests)."
        ),
    )

    prelabel_guard: bool = Field(
        default=True,
        description=(
            "Pre-label guard: hold a canary whose quality estimated without labels (expected "
            "log loss from its probabilities, or the expected absolute error of its conformal "
            "model) is clearly worse than stable's on the same window. Default on."
        ),
    )
    prelabel_label_share: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description=(
            "The pre-label guard holds a canary only while fewer than this share of the "
            "candidate's rows in the window have labels; beyond it, labels decide. Default 0.5."
        ),
    )


class RolloutSettings(RolloutLimits, Section):
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
    guard: bool = Field(
        default=True,
        description=(
            "Post-deploy guard: watch every version that takes all production traffic (a full "
            "deploy, a promotion, an online hot-swap, a retrain's promotion) against the "
            "version it replaced, and roll it back on sustained degradation. Default on."
        ),
    )
    guard_window_rows: int = Field(
        default=200,
        ge=1,
        description=(
            "Labeled rows of the new version the guard watches before it lets go (together "
            "with guard_window_s: whichever comes later). Default 200."
        ),
    )
    guard_window_s: float = Field(
        default=900.0,
        gt=0,
        description=(
            "Seconds the guard watches a new version at least (together with "
            "guard_window_rows: whichever comes later). Default 900."
        ),
    )
    guard_interval_s: float = Field(
        default=60.0,
        gt=0,
        description="Seconds between two guard analyses of one endpoint. Default 60.",
    )
    guard_failures: int = Field(
        default=2,
        ge=1,
        description=(
            "Consecutive failing guard analyses that roll a version back (hysteresis: one "
            "unlucky window does not). Default 2."
        ),
    )
    guard_baseline_s: float = Field(
        default=3600.0,
        gt=0,
        description=(
            "Seconds of the replaced version's traffic before the switch that the guard "
            "compares the new version with (unpaired). Default 3600."
        ),
    )
    guard_shadow_share: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description=(
            "Share of requests mirrored to the replaced version while the guard watches, so "
            "the comparison is paired on the same requests; 0 compares with the replaced "
            "version's traffic before the switch instead. Default 0."
        ),
    )
