"""Tuning with cross-validation, training and fine-tuning (:mod:`rayops.training`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from rayops.config._section import Section

__all__ = ["TrainingSettings"]


class TrainingSettings(Section):
    """Tuning with cross-validation, training and fine-tuning (:mod:`rayops.training`)."""

    env_prefix: ClassVar[str] = "RAYOPS_TRAIN_"
    env_names: ClassVar[dict[str, tuple[str, ...]]] = {
        "cv_folds": ("RAYOPS_CV_FOLDS",),
        "cv_seed": ("RAYOPS_CV_SEED",),
        "accuracy_tolerance": ("RAYOPS_ACCURACY_TOLERANCE",),
        "tune_cpus_per_trial": ("RAYOPS_TUNE_CPUS_PER_TRIAL",),
        "tune_max_failures": ("RAYOPS_TUNE_MAX_FAILURES",),
        "selection_top_k": ("RAYOPS_SELECTION_TOP_K",),
        "holdout_fraction": ("RAYOPS_HOLDOUT_FRACTION",),
        "finetune_min_improvement": ("RAYOPS_FINETUNE_MIN_IMPROVEMENT",),
    }

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
    fast_path_max_rows: int = Field(
        default=200_000,
        ge=0,
        description=(
            "Below this many rows (and with at most one worker requested) a model trains "
            "in one Ray task, skipping Ray Train's worker-group start-up."
        ),
    )
    workers: int = Field(
        default=2, ge=1, description="Ray Train workers when the data is above the fast path."
    )
    checkpoint_every: int = Field(
        default=50,
        ge=1,
        description=(
            "Boosting rounds between Ray Train checkpoints/reports (a report costs ~2 s, so "
            "never report every round)."
        ),
    )
    max_failures: int = Field(
        default=1,
        ge=0,
        description="Worker failures Ray Train recovers from (from the last checkpoint).",
    )
    cpus_per_worker: float = Field(
        default=0.0,
        ge=0,
        description=(
            "CPUs each Ray Train worker reserves; 0: the node's CPUs divided among the workers "
            "placed on it (the largest equal share that fits every worker on the cluster's "
            "nodes). Default 0."
        ),
    )
    nthread: int = Field(
        default=0,
        ge=0,
        description=(
            "XGBoost threads per Ray Train worker; 0: the worker's reserved CPUs (at least 1). "
            "Default 0."
        ),
    )
    holdout_max_rows: int = Field(
        default=1_000_000,
        ge=1,
        description=(
            "On the Ray Data path (a feature set above the fast path, or --workers 2+), at most "
            "this many held-out rows: the holdout fraction shrinks so the rows scored in the "
            "driver stay bounded, and every other row trains. Default 1000000."
        ),
    )
    baseline_rows: int = Field(
        default=100_000,
        ge=1,
        description=(
            "On the Ray Data path, the drift baseline of the model card comes from a seeded "
            "sample of about this many training rows. Default 100000."
        ),
    )
    holdout_fraction: float = Field(
        default=0.2, gt=0, lt=1, description="Share of rows held out to evaluate a trained model."
    )
    finetune_min_improvement: float = Field(
        default=0.01,
        ge=0,
        description=(
            "A fine-tuned model is accepted only if the promotion gate finds its holdout "
            "primary metric (RMSE or log loss) at least this fraction lower than the "
            "parent's (0.01 = 1%)."
        ),
    )
    gate_alpha: float = Field(
        default=0.05,
        gt=0,
        le=1,
        description=(
            "Significance level of the promotion gate when training compares a candidate "
            "with production and fine-tuning compares it with its parent: the candidate's "
            "per-row holdout loss must be lower by a one-sided paired t-test with p < alpha "
            "(1 turns the test off)."
        ),
    )
