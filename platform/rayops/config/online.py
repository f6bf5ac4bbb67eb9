"""Online learning (:mod:`rayops.online`): buffer, update, gate, escalation."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from rayops.config._section import Section

__all__ = ["OnlineSettings", "UpdateMode"]


class UpdateMode(StrEnum):
    """How an incremental update adapts the serving booster."""

    CONTINUE = "continue"  # add a few trees on buffer + replay
    REFRESH = "refresh"  # recompute every leaf value, structure unchanged
    BOTH = "both"  # refresh, then add trees


class OnlineSettings(Section):
    """Online learning (:mod:`rayops.online`): buffer, update, gate, escalation."""

    env_prefix: ClassVar[str] = "RAYOPS_ONLINE_"

    interval_s: float = Field(
        default=1.0,
        gt=0,
        description=(
            "Seconds between online-learning passes of the control loop (each reads the "
            "feedback log of every enabled endpoint). Default 1."
        ),
    )
    buffer_size: int = Field(
        default=100,
        ge=2,
        description=(
            "Labeled samples that fill an endpoint's buffer and trigger an incremental update "
            "(N). Default 100."
        ),
    )
    max_age_s: float = Field(
        default=86_400.0,
        gt=0,
        description=(
            "Seconds after which a buffer that is not full is flushed anyway, counted from its "
            "oldest sample's feedback (T). Default 86400 (24 h)."
        ),
    )
    min_samples: int = Field(
        default=10,
        ge=2,
        description="Fewest samples an age-triggered update uses; fewer keep waiting. Default 10.",
    )
    mode: UpdateMode = Field(
        default=UpdateMode.CONTINUE,
        description=(
            "How an update adapts the serving booster: continue (add online_rounds trees), "
            "refresh (recompute leaf values) or both (refresh, then add trees). Default continue."
        ),
    )
    rounds: int = Field(
        default=10, ge=1, description="Trees an update adds in continue or both mode. Default 10."
    )
    replay_fraction: float = Field(
        default=0.3,
        ge=0,
        lt=1,
        description=(
            "Share of an update's training rows drawn from already-applied older samples "
            "(guards against forgetting). Default 0.3."
        ),
    )
    replay_size: int = Field(
        default=5_000,
        ge=0,
        description="Most recent applied samples kept per endpoint for replay. Default 5000.",
    )
    decay_half_life_s: float = Field(
        default=0.0,
        ge=0,
        description=(
            "Half-life in seconds of a training sample's weight by its age; 0 weighs every "
            "sample equally. Default 0."
        ),
    )
    holdout_fraction: float = Field(
        default=0.2,
        gt=0,
        lt=1,
        description=(
            "Most recent share of the buffer held out to judge an update; those samples stay "
            "buffered and train the next update. Default 0.2."
        ),
    )
    min_improvement: float = Field(
        default=0.01,
        ge=0,
        description=(
            "An online update is accepted only if the promotion gate finds the holdout primary "
            "metric (RMSE for regression, log loss for classifiers) at least this fraction "
            "lower than the serving model's (0.01 = 1%). Default 0.01."
        ),
    )
    gate_alpha: float = Field(
        default=0.01,
        gt=0,
        le=1,
        description=(
            "An online update is accepted only if the gate's one-sided paired t-test on the "
            "holdout's per-row losses (squared error or log loss; parent and candidate on the "
            "same rows) finds it better at this level; 1 turns the test off. Default 0.01."
        ),
    )
    escalation_degradation: float = Field(
        default=0.5,
        ge=0,
        description=(
            "An update leaves the error 'still high' when the serving model's holdout primary "
            "metric (RMSE or log loss) is more than this fraction above its reference: the "
            "holdout figure on the card of the trained version it descends from (0.5 = 50% "
            "worse). Without such a figure only online_escalation_limit or "
            "online_escalation_mae can escalate. Default 0.5."
        ),
    )
    escalation_limit: float | None = Field(
        default=None,
        gt=0,
        description=(
            "When set, an absolute limit on the serving model's holdout primary metric (RMSE "
            "for regression, log loss for classifiers) that replaces the relative rule of "
            "online_escalation_degradation. Default unset."
        ),
    )
    escalation_mae: float | None = Field(
        default=None,
        gt=0,
        description=(
            "Regression only, the earlier absolute rule: a holdout MAE above this leaves the "
            "error 'still high' (it wins over the two rules above when set). Default unset."
        ),
    )
    escalation_updates: int = Field(
        default=3,
        ge=1,
        description=(
            "Consecutive online updates with the error still high that file a full-retrain "
            "request. Default 3."
        ),
    )
    settle_s: float = Field(
        default=1.0,
        ge=0,
        description=(
            "Seconds feedback must be old before it is buffered, so writes in flight are never "
            "skipped. Default 1."
        ),
    )
    prediction_wait_s: float = Field(
        default=30.0,
        ge=0,
        description=(
            "Seconds a feedback row waits for its prediction to reach the log (written every "
            "serving_log_flush_s) before it is dropped from the buffer. Default 30."
        ),
    )
    feedback_window_s: float = Field(
        default=86_400.0,
        gt=0,
        description=(
            "Oldest a prediction may be when its feedback arrives for the sample to be "
            "buffered. Default 86400 (24 h)."
        ),
    )
    max_rows: int = Field(
        default=50_000,
        ge=2,
        description="Most buffered samples one online update uses, oldest first. Default 50000.",
    )
    nthread: int = Field(
        default=1,
        ge=1,
        description="XGBoost threads of an online update (it runs in-process). Default 1.",
    )
