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
   production version's, objective included), scored with k-fold CV on Ray Tune.
3. **Train** — fast path or Ray Train (:func:`rayops.training.pipeline.run_training`)
   with production's task, objective and number of trees (``n_estimators`` from its
   card, else its booster's rounds); the candidate is registered (a minor version)
   with lineage, production's classes and, for a binary model, production's
   decision threshold in force.
4. **Compare and deploy** — both models are scored on the same holdout rows (the
   latest by event time: the most recent labeled traffic) and the promotion gate
   decides (:func:`rayops.gate.compare`, paired, on per-row squared error or log
   loss): *better* means the primary metric (RMSE or log loss) lower by at least
   ``min_improvement`` and a one-sided paired t-test significant at
   ``retrain_gate_alpha``. A better candidate is canaried on the endpoint (with
   ``auto_deploy``); a worse one stays registered, never deployed, and the job's
   decision says ``rejected``.

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

from rayops.automation.data import labeled_rows
from rayops.automation.jobs import JobStage, JobState, JobStore, RetrainDecision, RetrainJob
from rayops.automation.policy import PolicyStore, RetrainPolicy, _interval
from rayops.automation.requests import RetrainRequest, mark_handled, pending_requests
from rayops.automation.resources import ResourceWatch
from rayops.clock import utc_now
from rayops.config import Settings, settings_of
from rayops.errors import ConflictError, InvalidInputError, NotFoundError
from rayops.features import FeatureStore
from rayops.gate import compare
from rayops.rollout import Rollouts
from rayops.storage.base import Storage
from rayops.training.fit import split_holdout
from rayops.training.pipeline import holdout_scores
from rayops.training.sources import from_feature_set
from rayops.training.spaces import parse_space
from rayops.training.targets import prepare_target
from rayops.training.tune import run_tune

if TYPE_CHECKING:
    import pandas as pd

    from rayops.gate import GateResult
    from rayops.registry import ModelVersion, Registry
    from rayops.training.spaces import SearchSpace

__all__ = ["run_retrain", "warm_space"]

logger = logging.getLogger(__name__)

#: Metadata key of a retrain-built feature set version: the feedback cut-off it includes.
LOGGED_UNTIL = "rayops_logged_until"


def warm_space(params: dict[str, Any], *, folds: int = 3) -> SearchSpace:
    """A 3 x 3 x 2 grid around ``params`` (depth ±1, learning rate x0.5/x1/x2, rounds x1/x2)."""

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
    storage: Storage,
    policy: RetrainPolicy,
    job: RetrainJob,
    cutoff: datetime,
    settings: Settings,
    classes: list[Any] | None = None,
) -> tuple[str, str, int]:
    """Write the next feature set version; returns (its ref, the target, logged rows added).

    ``classes`` (a classifier's, from production's card) turn logged labels back into
    the target's values."""

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
            event_time=event_time, feedback_since=since, classes=classes,
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


def _params(
    registry: Registry, policy: RetrainPolicy, production: ModelVersion | None
) -> dict[str, Any]:
    """The parameters to retrain with: the policy's, else production's as its card records
    them — with its objective and its number of trees (``n_estimators``; a card written
    before it was recorded gives its booster's rounds), so a retrain trains the model
    that was tuned rather than 100 rounds of the default objective."""
    if policy.train.params:
        return dict(policy.train.params)
    if production is None:
        return {}
    card = production.card
    params = dict(card.params or {})
    if card.objective and "objective" not in params:
        params["objective"] = card.objective
    if "n_estimators" not in params and card.kind == "booster":
        booster = getattr(registry.load(production.ref), "booster", None)
        if booster is not None:
            params["n_estimators"] = int(booster.num_boosted_rounds())
    return params


def run_retrain(
    storage: Storage,
    model: str,
    job_id: str,
    *,
    settings: Settings | None = None,
    now: Callable[[], datetime] | None = None,
) -> RetrainJob:
    """Run retrain job ``job_id`` of ``model`` (needs a Ray session); returns the final job."""
    settings = settings_of(storage, settings)
    clock = now or utc_now
    jobs = JobStore(storage, now=clock)
    job = jobs.get(model, job_id)
    if job.state.finished:
        return job
    stage = JobStage.DATA
    try:
        from rayops.registry import Registry

        registry = Registry(storage, settings=settings)
        policy = PolicyStore(storage).get(model)
        prod = registry.get(job.production) if job.production else None
        classes = list(prod.card.classes) if prod is not None and prod.card.classes else None
        # Its driver runs: a wait the controller saw before Ray started it is over.
        jobs.update(model, job_id, state=JobState.RUNNING, stage=stage, progress=0.1,
                    waiting=None)  # fmt: skip
        ref, target, added = _build_data(storage, policy, job, clock(), settings, classes)
        jobs.update(model, job_id, feature_set=ref, progress=0.25)
        params = _params(registry, policy, prod)

        def waiting(text: str | None) -> None:
            jobs.update(model, job_id, waiting=text)

        # Report work Ray cannot place (too few free CPUs) while it waits.
        with ResourceWatch(waiting, settings.automation.resource_poll_s):
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
                settings=settings, task=prod.card.task.value if prod is not None else "auto",
            )  # fmt: skip
        stage = JobStage.COMPARE
        candidate = record["model"]["ref"]
        _keep_threshold(registry, candidate, prod, job)
        gate, why = _gate(storage, registry, ref, target, candidate, prod, policy, settings)
        metrics = {"candidate": record["holdout"],
                   "production": (record.get("production") or {}).get("holdout"),
                   "logged_rows": added, "train_run": record["run_id"],
                   "gate": gate.as_dict() if gate is not None else None}  # fmt: skip
        jobs.update(model, job_id, stage=stage, progress=0.8, candidate=candidate,
                    metrics=metrics)  # fmt: skip
        decision, note = _decide(storage, policy, job, candidate, record, gate, why, settings)
        stage = JobStage.DONE
        _handled(storage, job, decision)
        return jobs.finish(model, job_id, JobState.SUCCEEDED, decision=decision, reason=(
            f"{job.reason}; {note}"))  # fmt: skip
    except Exception as e:
        logger.exception("Retrain %s of %s failed at %s.", job_id, model, stage.value)
        jobs.finish(model, job_id, JobState.FAILED, error=f"{stage.value}: {type(e).__name__}: {e}")
        raise


def _keep_threshold(
    registry: Registry, candidate: str, production: ModelVersion | None, job: RetrainJob
) -> None:
    """A retrained binary model decides at production's threshold in force, not 0.5."""
    if production is None or production.threshold is None:
        return
    registered = registry.get(candidate)
    if registered.card.task != production.card.task or registered.threshold is None:
        return
    if abs(registered.threshold - production.threshold) > 1e-12:
        registry.set_threshold(
            candidate, production.threshold, actor=f"retrain {job.id}",
            reason=f"kept from production {production.ref}",
        )  # fmt: skip


def _gate(
    storage: Storage,
    registry: Registry,
    ref: str,
    target: str,
    candidate: str,
    production: ModelVersion | None,
    policy: RetrainPolicy,
    settings: Settings,
) -> tuple[GateResult | None, str | None]:
    """The promotion gate on candidate and production over the same holdout rows.

    The holdout is the one training scored the candidate on (the latest rows by
    event time, else the seeded, stratified sample): the same split of the same
    feature set version, with the same settings. Returns (None, why) when the two
    cannot be compared (no production, another task or class list).
    """
    if production is None:
        return None, None

    cand = registry.load(candidate)
    prod = registry.load(production.ref)
    if cand.task != prod.task or cand.labels != prod.labels:
        classes = prod.labels.classes if prod.labels else None
        return None, (
            f"production {production.version} is a {prod.task} model with classes "
            f"{classes}; the candidate is {cand.task} with "
            f"{cand.labels.classes if cand.labels else None}: not comparable"
        )
    source = from_feature_set(storage, ref)
    frame = source.frame
    # The time column training holds out by (run_training's rule).
    time_column = next(
        (c for c in source.exclude if c in frame.columns and "datetime" in str(frame[c].dtype)),
        None,
    )
    labelled = prepare_target(frame, target, task=cand.task, labels=cand.labels)
    _, hold = split_holdout(
        frame,
        fraction=settings.training.holdout_fraction,
        time_column=time_column,
        seed=settings.training.cv_seed,
        stratify=labelled.y if labelled.task.is_classification and not time_column else None,
    )
    tolerance = settings.training.accuracy_tolerance
    _, cand_loss = holdout_scores(cand, hold, labelled, tolerance=tolerance)
    _, prod_loss = holdout_scores(prod, hold, labelled, tolerance=tolerance)
    gate = compare(
        cand_loss, prod_loss, task=labelled.task, min_improvement=policy.min_improvement,
        alpha=settings.automation.gate_alpha, paired=True,
    )  # fmt: skip
    return gate, None


def _retune(
    storage: Storage, ref: str, target: str, params: dict[str, Any], policy: RetrainPolicy,
    settings: Settings,
) -> dict[str, Any]:  # fmt: skip

    source = from_feature_set(storage, ref)
    result = run_tune(
        source.frame, target=target, space=warm_space(params, folds=policy.train.folds),
        storage=storage, exclude=source.exclude, lineage=source.lineage,
        config_name="retrain warm start", settings=settings,
    )  # fmt: skip
    return {**params, **result.best["params"]}


def _decide(
    storage: Storage, policy: RetrainPolicy, job: RetrainJob, candidate: str,
    record: dict[str, Any], gate: GateResult | None, not_comparable: str | None,
    settings: Settings,
) -> tuple[RetrainDecision, str]:  # fmt: skip
    prod = record.get("production")
    if not_comparable is not None:
        return RetrainDecision.REJECTED, f"{not_comparable}; registered, not deployed"
    if gate is not None:
        version = (prod or {}).get("version") or job.production
        if not gate.accepted:
            return RetrainDecision.REJECTED, (
                f"candidate {candidate} is not better than production {version} "
                f"({gate.reason}); registered, not deployed"
            )
        verdict = f"candidate better than production {version} ({gate.reason})"
    else:
        holdout = record.get("holdout") or {}
        primary = next((m for m in ("logloss", "rmse") if holdout.get(m) is not None), None)
        shown = f"{primary} {float(holdout[primary]):.4g}" if primary else "registered"
        verdict = f"no production version; candidate holdout {shown}"
    if not (job.deploy and policy.auto_deploy and policy.endpoint):
        return RetrainDecision.REGISTERED, f"{verdict}; registered (auto-deploy off)"

    try:
        Rollouts(storage, settings=settings).deploy(
            policy.endpoint, candidate, strategy=policy.canary.strategy,
            steps=policy.canary.steps, interval=policy.canary.interval,
            thresholds=policy.canary.thresholds or None,
            reason=f"retrain {job.id}: {verdict}", actor="retrain", automatic=True,
        )  # fmt: skip
    except (ConflictError, InvalidInputError, NotFoundError) as e:
        return RetrainDecision.REGISTERED, f"{verdict}; registered, not deployed: {e}"
    return (
        RetrainDecision.DEPLOYED,
        f"{verdict}; {policy.canary.strategy} started on {policy.endpoint}",
    )


def _handled(storage: Storage, job: RetrainJob, decision: RetrainDecision) -> None:
    wanted = set(job.requests)
    for request in pending_requests(storage, job.model):
        if request.id in wanted:
            mark_handled(storage, RetrainRequest.model_validate(request), job=job.id,
                         decision=decision.value)  # fmt: skip
