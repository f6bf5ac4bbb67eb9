"""One retrain, start to finish: the body of ``python -m rayops.jobs.retrain``.

Stages (each recorded in the job document, so ``rayops retrain status`` shows
where a job is):

1. **Data** — the policy's base feature set (its latest version) plus the
   endpoint's logged features joined with feedback (point in time: features as
   logged when predicted, labels that arrived before the job started, event time
   = prediction time; see :mod:`rayops.automation.data`) become the next version
   of the same feature set. Rows already folded into an earlier retrain's version
   are not added twice: each version records the feedback cut-off it included.
   With a ``window`` only the rows of that last stretch of event time are kept:
   a sliding window, so a model can forget a concept that no longer holds.
2. **Tune** (optional) — a small grid around the previous best parameters (the
   production version's), scored with k-fold CV on Ray Tune.
3. **Train** — fast path or Ray Train (:func:`rayops.training.pipeline.run_training`);
   the candidate is registered (a minor version) with lineage, and it and
   production are scored on the same holdout (the latest rows by event time).
4. **Compare and deploy** — the candidate is *better* when its holdout RMSE is
   below production's by at least ``min_improvement``. A better candidate is
   canaried on the endpoint (with ``auto_deploy``); a worse one stays registered,
   never deployed, and the job's decision says ``rejected``.

A failure at any stage marks the job failed with the stage and the error;
production and the endpoint are untouched (nothing is deployed before stage 4).

Example:
    >>> space = warm_space({"max_depth": 4, "learning_rate": 0.2, "n_estimators": 100})
    >>> space.grid_size()
    18
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from rayops.automation.jobs import JobStage, JobState, JobStore, RetrainDecision, RetrainJob
from rayops.automation.policy import PolicyStore, RetrainPolicy
from rayops.clock import utc_now
from rayops.config import Settings
from rayops.errors import ConflictError, InvalidInputError, NotFoundError
from rayops.storage.base import Storage

if TYPE_CHECKING:
    import pandas as pd

    from rayops.training.spaces import SearchSpace

__all__ = ["run_retrain", "warm_space"]

logger = logging.getLogger(__name__)

#: Metadata key of a retrain-built feature set version: the feedback cut-off it includes.
LOGGED_UNTIL = "rayops_logged_until"


def warm_space(params: dict[str, Any], *, folds: int = 3) -> SearchSpace:
    """A 3 x 3 x 2 grid around ``params`` (depth ±1, learning rate x0.5/x1/x2, rounds x1/x2)."""
    from rayops.training.spaces import parse_space

    depth = int(params.get("max_depth", 6))
    rate = float(params.get("learning_rate", params.get("eta", 0.3)))
    rounds = int(params.get("n_estimators", 100))
    depths = sorted({max(1, depth - 1), depth, depth + 1})
    rates = sorted({round(min(1.0, rate * f), 6) for f in (0.5, 1.0, 2.0)})
    text = (
        "space:\n"
        f"  max_depth: {{grid: {depths}}}\n"
        f"  learning_rate: {{grid: {rates}}}\n"
        f"  n_estimators: {{grid: {[rounds, rounds * 2]}}}\n"
        f"cv: {{folds: {folds}}}\n"
        + (f"objective: {params['objective']}\n" if params.get("objective") else "")
    )
    return parse_space(text, source="warm start around the production parameters")


def _combine(base: pd.DataFrame, logged: pd.DataFrame) -> pd.DataFrame:
    """``logged`` rows appended to ``base`` with the base's columns and dtypes."""
    import pandas as pd

    if not len(logged):
        return base
    extra = logged.reindex(columns=base.columns)
    for col in base.columns:
        dtype = base[col].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            cats = list(dtype.categories)
            seen = [c for c in pd.unique(extra[col].dropna().astype(str)) if c not in cats]
            merged = pd.CategoricalDtype(cats + seen)
            base = base.assign(**{col: base[col].astype(merged)})
            extra[col] = extra[col].astype(object).where(extra[col].notna(), None).astype(merged)
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            extra[col] = pd.to_datetime(extra[col], utc=True).dt.tz_convert(dtype.tz)  # type: ignore[attr-defined]
        elif pd.api.types.is_integer_dtype(dtype) and extra[col].isna().any():
            base = base.assign(**{col: base[col].astype("Int64")})
            extra[col] = extra[col].astype("Int64")
        else:
            extra[col] = extra[col].astype(dtype)
    return pd.concat([base, extra], ignore_index=True)


def _window(
    frame: pd.DataFrame, policy: RetrainPolicy, event_time: str | None, cutoff: datetime
) -> pd.DataFrame:
    """The rows of the policy's sliding window (all rows without one, or if too few)."""
    import pandas as pd

    if policy.window is None or event_time is None or event_time not in frame.columns:
        return frame
    from rayops.automation.policy import _interval

    since = pd.Timestamp(cutoff - _interval(policy.window))
    times = pd.to_datetime(frame[event_time], utc=True)
    recent = frame[times >= since]
    if len(recent) < policy.min_rows:
        logger.warning(
            "Only %d rows in the last %s; training on all %d rows.",
            len(recent), policy.window, len(frame),
        )  # fmt: skip
        return frame
    return recent.reset_index(drop=True)


def _build_data(
    storage: Storage, policy: RetrainPolicy, job: RetrainJob, cutoff: datetime, settings: Settings
) -> tuple[str, str, int]:
    """Write the next feature set version; returns (its ref, the target, logged rows added)."""
    from rayops.automation.data import labeled_rows
    from rayops.features import FeatureStore

    fs = FeatureStore(storage, settings=settings)
    base = fs.get(policy.features)
    frame = fs.read(base.ref)
    roles = base.roles
    targets = list(roles.target or [])
    target = policy.target or (targets[0] if len(targets) == 1 else None)
    if not target:
        raise InvalidInputError(
            f"Feature set {base.ref} declares no single target; set 'target' in the policy."
        )
    event_time = roles.event_time
    logged = None
    if policy.endpoint:
        since_text = (base.metadata or {}).get(LOGGED_UNTIL)
        window = timedelta(days=settings.automation.log_window_days)
        since = datetime.fromisoformat(since_text) if since_text else cutoff - window
        logged = labeled_rows(
            storage, policy.endpoint, since - window, cutoff, target=target,
            event_time=event_time, feedback_since=since,
        )  # fmt: skip
    combined = _combine(frame, logged) if logged is not None else frame
    combined = _window(combined, policy, event_time, cutoff)
    entity = list(roles.entity or []) or None
    version = fs.write(
        base.name,
        combined,
        description=f"retrain {job.id}: {base.ref} + {0 if logged is None else len(logged)} "
        "logged rows with feedback",
        metadata={**(base.metadata or {}), "source": "retrain", "retrain_job": job.id,
                  LOGGED_UNTIL: cutoff.isoformat()},
        entity=entity, event_time=event_time, target=targets or target,
    )  # fmt: skip
    return version.ref, target, 0 if logged is None else len(logged)


def _params(storage: Storage, policy: RetrainPolicy, production: str | None) -> dict[str, Any]:
    if policy.train.params:
        return dict(policy.train.params)
    if production is None:
        return {}
    from rayops.registry import Registry

    return dict(Registry(storage).get(production).card.params or {})


def run_retrain(
    storage: Storage,
    model: str,
    job_id: str,
    *,
    settings: Settings | None = None,
    now: Callable[[], datetime] | None = None,
) -> RetrainJob:
    """Run retrain job ``job_id`` of ``model`` (needs a Ray session); returns the final job."""
    settings = settings or Settings()
    clock = now or utc_now
    jobs = JobStore(storage, now=clock)
    job = jobs.get(model, job_id)
    if job.state.finished:
        return job
    stage = JobStage.DATA
    try:
        policy = PolicyStore(storage).get(model)
        jobs.update(model, job_id, state=JobState.RUNNING, stage=stage, progress=0.1)
        ref, target, added = _build_data(storage, policy, job, clock(), settings)
        jobs.update(model, job_id, feature_set=ref, progress=0.25)
        params = _params(storage, policy, job.production)
        if policy.train.retune:
            stage = JobStage.TUNE
            jobs.update(model, job_id, stage=stage, progress=0.3)
            params = _retune(storage, ref, target, params, policy, settings)
        stage = JobStage.TRAIN
        jobs.update(model, job_id, stage=stage, progress=0.5)
        from rayops.training.pipeline import run_training

        record = run_training(
            storage, target=target, features=ref, params=params,
            num_boost_round=int(params.pop("n_estimators", policy.train.rounds)),
            workers=policy.train.workers, register=model, actor=f"retrain {job_id}",
            settings=settings,
        )  # fmt: skip
        stage = JobStage.COMPARE
        candidate = record["model"]["ref"]
        prod = record.get("production") or {}
        metrics = {"candidate": record["holdout"], "production": prod.get("holdout"),
                   "logged_rows": added, "train_run": record["run_id"]}  # fmt: skip
        jobs.update(model, job_id, stage=stage, progress=0.8, candidate=candidate,
                    metrics=metrics)  # fmt: skip
        decision, note = _decide(storage, policy, job, candidate, record, settings)
        stage = JobStage.DONE
        _handled(storage, job, decision)
        return jobs.finish(model, job_id, JobState.SUCCEEDED, decision=decision, reason=(
            f"{job.reason}; {note}"))  # fmt: skip
    except Exception as e:
        logger.exception("Retrain %s of %s failed at %s.", job_id, model, stage.value)
        jobs.finish(model, job_id, JobState.FAILED, error=f"{stage.value}: {type(e).__name__}: {e}")
        raise


def _retune(
    storage: Storage, ref: str, target: str, params: dict[str, Any], policy: RetrainPolicy,
    settings: Settings,
) -> dict[str, Any]:  # fmt: skip
    from rayops.training.sources import from_feature_set
    from rayops.training.tune import run_tune

    source = from_feature_set(storage, ref)
    result = run_tune(
        source.frame, target=target, space=warm_space(params, folds=policy.train.folds),
        storage=storage, exclude=source.exclude, lineage=source.lineage,
        config_name="retrain warm start", settings=settings,
    )  # fmt: skip
    return {**params, **result.best["params"]}


def _decide(
    storage: Storage, policy: RetrainPolicy, job: RetrainJob, candidate: str,
    record: dict[str, Any], settings: Settings,
) -> tuple[RetrainDecision, str]:  # fmt: skip
    prod = record.get("production")
    cand_rmse = float(record["holdout"]["rmse"])
    if prod:
        prod_rmse = float(prod["holdout"]["rmse"])
        if not cand_rmse < prod_rmse * (1 - policy.min_improvement):
            return RetrainDecision.REJECTED, (
                f"candidate {candidate} holdout RMSE {cand_rmse:.4g} is not better than "
                f"production {prod['version']} ({prod_rmse:.4g}); registered, not deployed"
            )
        verdict = f"candidate RMSE {cand_rmse:.4g} < production {prod_rmse:.4g}"
    else:
        verdict = f"no production version; candidate RMSE {cand_rmse:.4g}"
    if not (job.deploy and policy.auto_deploy and policy.endpoint):
        return RetrainDecision.REGISTERED, f"{verdict}; registered (auto-deploy off)"
    from rayops.rollout import Rollouts

    try:
        Rollouts(storage, settings=settings).deploy(
            policy.endpoint, candidate, strategy=policy.canary.strategy,
            steps=policy.canary.steps, interval=policy.canary.interval,
            thresholds=policy.canary.thresholds or None,
            reason=f"retrain {job.id}: {verdict}", actor="retrain",
        )  # fmt: skip
    except (ConflictError, InvalidInputError, NotFoundError) as e:
        return RetrainDecision.REGISTERED, f"{verdict}; registered, not deployed: {e}"
    return (
        RetrainDecision.DEPLOYED,
        f"{verdict}; {policy.canary.strategy} started on {policy.endpoint}",
    )


def _handled(storage: Storage, job: RetrainJob, decision: RetrainDecision) -> None:
    from rayops.automation.requests import RetrainRequest, mark_handled, pending_requests

    wanted = set(job.requests)
    for request in pending_requests(storage, job.model):
        if request.id in wanted:
            mark_handled(storage, RetrainRequest.model_validate(request), job=job.id,
                         decision=decision.value)  # fmt: skip
