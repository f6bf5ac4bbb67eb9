"""Automated retraining (:mod:`rayops.automation`): where jobs run and for how long."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from rayops.config._section import Section

__all__ = ["AutomationSettings"]


class AutomationSettings(Section):
    """Automated retraining (:mod:`rayops.automation`): where jobs run and for how long."""

    env_prefix: ClassVar[str] = "RAYOPS_RETRAIN_"

    job_address: str | None = Field(
        default=None,
        description=(
            "Ray Jobs address the retrain controller submits to (http://head:8265). Default: "
            "RAY_ADDRESS, else the dashboard of the cluster the controller runs on."
        ),
    )
    log_window_days: float = Field(
        default=30.0,
        gt=0,
        description=(
            "The first retrain of a feature set adds logged rows with feedback from at most "
            "this many days back. Default 30."
        ),
    )
    entrypoint_num_cpus: float = Field(
        default=0.0,
        ge=0,
        description=(
            "CPUs reserved for a retrain job's driver; its training tasks reserve their own. "
            "Default 0."
        ),
    )
    resource_poll_s: float = Field(
        default=10.0,
        gt=0,
        description=(
            "Seconds between a running retrain job's checks for its own work that Ray cannot "
            "place for lack of CPUs; work waiting a whole poll shows as 'waiting for "
            "resources' in `rayops retrain status`. Default 10."
        ),
    )
    gate_alpha: float = Field(
        default=0.05,
        gt=0,
        le=1,
        description=(
            "Significance level of the retrain decision: the candidate replaces production "
            "only if the promotion gate's one-sided paired t-test on both models' per-row "
            "holdout losses finds it better at this level (and by the policy's "
            "min_improvement); 1 turns the test off. Default 0.05."
        ),
    )
    max_job_s: float = Field(
        default=6 * 3600.0,
        gt=0,
        description=(
            "A retrain job still running after this many seconds is stopped and marked "
            "failed, so a stuck job never blocks the model's next retrain. Default 21600."
        ),
    )
