"""Hyperparameter search with k-fold cross-validation inside Ray Tune trials.

:func:`run_tune` is the whole run: fold plan, linear baseline, Tune search,
optional feature selection, refit of the best configuration on all rows, and
the persisted run (``runs/<run_id>/``). Call it inside a Ray session (entry
points call ``ray.init``; this module never does).

How it stays fast and fair:

* The frame and the fold plan go to the object store once (``ray.put``); trials
  receive object refs, never data captured in a closure.
* Every configuration, the baseline and feature selection use the same folds,
  computed once from the seed (stratified by class for a classifier).
* The task (``task="auto"``: inferred from the target, see
  :mod:`rayops.training.targets`) decides the objective, the metrics of every
  fold, the default selection metric (RMSE or log loss) and the baseline
  (least squares or logistic regression).
* Trials take ``cpus_per_trial`` CPUs and XGBoost uses as many threads, so
  parallel trials never oversubscribe. Actors are reused across trials and cache
  each fold's ``QuantileDMatrix``, so the quantile sketch is built once per
  worker instead of once per trial.
* In a grid search, configurations that differ only in ``n_estimators`` share
  one model per fold, trained to the largest count and scored at each count
  with ``iteration_range``; the trials table marks such rows ``shared_rounds``.
* With ASHA, a trial reports after each fold (the time unit is a fold), so weak
  configurations stop early; only configurations scored on every fold are
  ``completed`` and eligible as the best.

Example:
    >>> import ray, rayops
    >>> from rayops.training import parse_space, run_tune
    >>> ray.init(num_cpus=2)  # doctest: +SKIP
    >>> space = parse_space("space: {max_depth: {grid: [3, 5]}, n_estimators: {grid: [20]}}")
    >>> result = run_tune(rayops.make_regression(2_000), target="target", space=space,
    ...                   storage=rayops.open_storage("/tmp/rayops"))  # doctest: +SKIP
    >>> result.best["params"]  # doctest: +SKIP
    {'max_depth': 3, 'n_estimators': 20}
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rayops.config import Settings, settings_of
from rayops.errors import InvalidInputError, RayopsError
from rayops.storage import Storage
from rayops.tasks import TaskKind, direction_of
from rayops.training.baseline import score_linear
from rayops.training.cv import FoldPlan, aggregate
from rayops.training.runs import new_run_id, save_run
from rayops.training.scoring import fit_booster, prepare_frame
from rayops.training.selection import select_features as run_selection
from rayops.training.sources import registry_lineage
from rayops.training.spaces import SearchSpace
from rayops.training.targets import prepare_target
from rayops.training.trials import trial, trial_rows, trials_frame

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Progress", "TuneResult", "infer_features", "run_tune"]

#: ``progress(configs_done, configs_total, best_score_so_far)``
Progress = Callable[[int, int, float | None], None]


@dataclass(frozen=True)
class TuneResult:
    """The outcome of :func:`run_tune`; the same facts are stored under ``runs/<run_id>/``."""

    run_id: str
    run: dict[str, Any]
    trials: pd.DataFrame
    best: dict[str, Any]
    baseline: dict[str, Any]
    selection: dict[str, Any] | None = None
    registered: dict[str, Any] | None = field(default=None)

    def summary(self) -> dict[str, Any]:
        """A short JSON-ready view: best, baseline, selection, counts, timing."""
        sel = self.selection
        return {
            "run_id": self.run_id,
            "task": self.run.get("task", "regression"),
            "classes": self.run.get("classes"),
            "objective": self.run.get("objective"),
            "metric": self.run["metric"],
            "best": {"params": self.best["params"], "score": self.best["score"],
                     "metrics": self.best["metrics"]},
            "baseline": {"score": self.baseline["score"], "metrics": self.baseline["metrics"]},
            "selection": None if sel is None else {
                "method": sel["method"], "selected": sel["selected"],
                "score_with": sel["score_with"], "score_without": sel["score_without"],
                "used_for_refit": sel["used_for_refit"],
            },
            "configs": self.run["n_configs"],
            "statuses": self.run["statuses"],
            "registered": self.registered,
            "seconds": self.run["timing"]["total_s"],
        }  # fmt: skip


def infer_features(frame: pd.DataFrame, target: str, exclude: tuple[str, ...] = ()) -> list[str]:
    """Every column except the target, ``exclude`` and date/time columns."""
    import pandas as pd

    return [
        c
        for c in frame.columns
        if c != target
        and c not in exclude
        and not pd.api.types.is_datetime64_any_dtype(frame[c].dtype)
    ]


def _progress_callback(total: int, rounds: int, metric: str, mode: str, progress: Progress) -> Any:
    from ray import tune

    class _Progress(tune.Callback):  # type: ignore[misc]
        # Tune pickles its callbacks with the experiment state; the display
        # (locks, terminals) stays behind, so a restored copy reports nothing.
        def __init__(self, report: Progress) -> None:
            self.done = 0
            self.best: float | None = None
            self.report: Progress | None = report

        def __getstate__(self) -> dict[str, Any]:
            return {**self.__dict__, "report": None}

        def _tell(self) -> None:
            if self.report is not None:
                self.report(min(self.done, total), total, self.best)

        def on_trial_complete(self, iteration: int, trials: Any, trial: Any, **info: Any) -> None:
            score = (trial.last_result or {}).get(f"{metric}_mean")
            if score is not None and (self.best is None or (score < self.best) == (mode == "min")):
                self.best = float(score)
            self.done += rounds
            self._tell()

        def on_trial_error(self, iteration: int, trials: Any, trial: Any, **info: Any) -> None:
            self.done += rounds
            self._tell()

    return _Progress(progress)


def run_tune(
    frame: pd.DataFrame,
    *,
    target: str,
    space: SearchSpace,
    storage: Storage,
    features: list[str] | None = None,
    exclude: tuple[str, ...] = (),
    folds: int | None = None,
    select_features: bool = False,
    selection_method: str = "gain",
    top_k: int | None = None,
    threshold: float | None = None,
    register: str | None = None,
    lineage: dict[str, Any] | None = None,
    config_name: str | None = None,
    settings: Settings | None = None,
    progress: Progress | None = None,
    task: str = "auto",
    metric: str | None = None,
) -> TuneResult:
    """Search ``space`` with k-fold CV on Ray Tune and persist the run.

    Args:
        frame: the data; ``target`` is the label column.
        space: a validated :class:`~rayops.training.spaces.SearchSpace`.
        task: ``auto`` (infer from the target, or from the space's objective),
            ``regression``, ``binary`` or ``multiclass``.
        metric: the selection metric (default: the space's, else the task's primary).
        storage: where ``runs/<run_id>/`` is written.
        features: feature columns (default: all but target, ``exclude`` and datetimes).
        folds: number of folds (default: the space's ``cv.folds``, then settings).
        select_features: run importance-based selection for the best configuration.
        register: register the refit best model under this name (needs rayops.registry).
        lineage: the data's lineage (feature set name, version, sha256, rows) for run.json.
        progress: called as configurations finish.

    Raises:
        InvalidInputError: unknown target/feature columns, NaN targets, bad fold settings,
            a target, objective or metric that does not fit the task.
    """
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.basic_variant import BasicVariantGenerator

    settings = settings_of(storage, settings)
    started = time.perf_counter()
    if target not in frame.columns:
        raise InvalidInputError(
            f"Target column {target!r} is not in the data; columns: {list(frame.columns)}."
        )
    exclude = tuple(exclude) + ((space.cv.column,) if space.cv.column else ())
    features = features or infer_features(frame, target, exclude)
    missing = [c for c in features if c not in frame.columns]
    if missing or not features:
        raise InvalidInputError(f"Feature columns {missing} are not in the data.")
    if target in features:
        raise InvalidInputError(f"The target {target!r} cannot also be a feature.")
    labelled = prepare_target(frame, target, task=task, objective=space.objective)
    kind, objective = labelled.task, labelled.objective
    metric = space.metric_for(kind, metric)
    mode = "max" if direction_of(metric) == "max" else "min"
    tuned = {**space.params, **space.space}
    if "scale_pos_weight" in tuned and kind.kind is not TaskKind.BINARY:
        raise InvalidInputError(
            f"scale_pos_weight weighs the positive class of a binary task; this is {kind}."
        )
    y = labelled.y
    X = prepare_frame(frame, features)
    n_folds = folds or space.cv.folds or settings.training.cv_folds
    seed, tolerance = settings.training.cv_seed, settings.training.accuracy_tolerance
    scoring = labelled.scoring(tolerance)
    plan = FoldPlan.for_frame(
        frame, strategy=space.cv.strategy, folds=n_folds, seed=seed, column=space.cv.column,
        stratify=y if kind.is_classification else None,
    )  # fmt: skip
    run_id = new_run_id()
    data_ref, plan_ref = ray.put({"X": X, "y": y}), ray.put(plan)

    @ray.remote(num_cpus=1)
    def baseline_task(data: dict[str, Any], plan: FoldPlan) -> list[dict[str, float]]:
        return score_linear(data["X"], data["y"], plan, scoring=scoring)

    t0 = time.perf_counter()
    baseline_ref = baseline_task.remote(data_ref, plan_ref)
    param_space = space.to_tune()
    n_rounds = max(1, len(param_space["rounds"]))
    cpus = settings.training.tune_cpus_per_trial
    setup = {
        "model": space.model,
        "metric": metric,
        "mode": mode,
        "objective": objective,
        "scoring": scoring,
        "seed": seed,
        "nthread": cpus,
        "tolerance": tolerance,
        "token": run_id,
        "report_each_fold": space.scheduler is not None,
    }
    trainable = tune.with_resources(
        tune.with_parameters(trial, data=data_ref, plan=plan_ref, setup=setup),
        {"cpu": cpus},
    )
    scheduler = None
    if space.scheduler is not None:
        scheduler = ASHAScheduler(
            time_attr="training_iteration",
            max_t=len(plan),
            grace_period=min(space.scheduler.grace_period, len(plan)),
            reduction_factor=space.scheduler.reduction_factor,
        )
    callbacks = []
    total = space.grid_size()
    if progress is not None:
        callbacks.append(_progress_callback(total, n_rounds, metric, mode, progress))
    with tempfile.TemporaryDirectory(prefix="rayops-tune-") as tmp:
        tuner = tune.Tuner(
            trainable,
            param_space=param_space,
            tune_config=tune.TuneConfig(
                metric=f"{metric}_mean",
                mode=mode,
                num_samples=space.num_samples,
                scheduler=scheduler,
                search_alg=BasicVariantGenerator(random_state=seed),
                reuse_actors=True,
            ),
            run_config=tune.RunConfig(
                name=run_id,
                storage_path=tmp,
                verbose=0,
                callbacks=callbacks,
                # A trial whose actor dies (or that raises) runs again from scratch: a trial
                # is one configuration's CV, short enough not to need checkpoints.
                failure_config=tune.FailureConfig(max_failures=settings.training.tune_max_failures),
            ),
        )
        # Tune prints its own banner to stdout; keep stdout for the caller (--json).
        with contextlib.redirect_stdout(sys.stderr), _cloud_secrets_kept_from_trials():
            grid = tuner.fit()
        rows = trial_rows(grid, len(plan), space)
    tune_s = time.perf_counter() - t0
    trials = trials_frame(rows, metric, mode, scoring.metrics)
    baseline_folds = ray.get(baseline_ref)
    completed = trials[trials["status"] == "completed"]
    if completed.empty:
        errors = trials["error"].dropna().head(1).tolist()
        raise RayopsError(f"No configuration completed in run {run_id}; first error: {errors}")
    best_row = completed.sort_values(["rank", "config_id"]).iloc[0]
    best_params = json.loads(best_row["params_json"])
    best_folds = [
        {m: float(best_row[f"{m}_folds"][i]) for m in scoring.metrics}
        for i in range(int(best_row["folds_scored"]))
    ]
    best = {
        "config_id": int(best_row["config_id"]),
        "trial_id": str(best_row["trial_id"]),
        "params": best_params,
        "score": float(best_row[f"{metric}_mean"]),
        "metrics": _defined(aggregate(best_folds, scoring.metrics)),
        "folds": [_defined(f) for f in best_folds],
    }
    baseline_agg = _defined(aggregate(baseline_folds, scoring.metrics))
    baseline: dict[str, Any] = {
        "model": "logistic regression (one-hot + scaling)"
        if kind.is_classification
        else "linear (one-hot + scaling, least squares)",
        "score": baseline_agg[f"{metric}_mean"],
        "metrics": baseline_agg,
        "folds": [_defined(f) for f in baseline_folds],
    }

    selection: dict[str, Any] | None = None
    refit_features = list(features)
    t1 = time.perf_counter()
    if select_features and space.model == "xgboost":
        sel = run_selection(
            data_ref,
            plan_ref,
            best_params,
            features=list(features),
            method=selection_method,  # type: ignore[arg-type]
            top_k=None
            if threshold is not None
            else (top_k or settings.training.selection_top_k or None),
            threshold=threshold,
            objective=objective,
            seed=seed,
            scoring=scoring,
            metric=metric,
        )
        selection = sel.to_dict()
        key = f"{metric}_mean"
        better = sel.score_with[key] <= sel.score_without[key]
        if mode == "max":
            better = sel.score_with[key] >= sel.score_without[key]
        selection["used_for_refit"] = better
        if better:
            refit_features = list(sel.selected)
    selection_s = time.perf_counter() - t1

    model_ubj: bytes | None = None
    booster: Any = None
    t2 = time.perf_counter()
    if space.model == "xgboost":

        @ray.remote(num_cpus=cpus)
        def refit_task(data: dict[str, Any]) -> bytes:
            b = fit_booster(
                data["X"][refit_features],
                data["y"],
                best_params,
                objective=objective,
                seed=seed,
                nthread=cpus,
                num_class=scoring.num_class,
            )
            return bytes(b.save_raw(raw_format="ubj"))

        model_ubj = ray.get(refit_task.remote(data_ref))
    refit_s = time.perf_counter() - t2

    registered = None
    if register is not None:
        if model_ubj is None:
            raise InvalidInputError("Only an xgboost search can be registered as a model.")
        import xgboost as xgb

        from rayops.registry import Registry  # type: ignore[import-not-found,unused-ignore]
        from rayops.registry.baseline import (  # type: ignore[import-not-found,unused-ignore]
            baseline_from_frame,
        )

        booster = xgb.Booster(model_file=bytearray(model_ubj))
        mv = Registry(storage).register(
            register,
            booster,
            params={**best_params, "objective": objective},
            metrics=best["metrics"],
            features=refit_features,
            feature_types=list(booster.feature_types or []),
            lineage=registry_lineage(lineage),
            baseline=baseline_from_frame(X[refit_features], refit_features),
            run_id=run_id,
            bump="minor",
            **labelled.card(),
        )
        registered = {"name": mv.name, "version": str(mv.version)}

    run = {
        "created_at": datetime.now(UTC).isoformat(),
        "config_name": config_name,
        "space": space.model_dump(mode="json"),
        "metric": metric,
        "mode": mode,
        **labelled.describe(),
        "target": target,
        "features": list(features),
        "cv": plan.describe(),
        "tolerance": tolerance,
        "seed": seed,
        "data": {"rows": len(frame), **(lineage or {"source": "dataframe"})},
        "baseline": baseline,
        "best": best,
        "selection": selection,
        "refit": {
            "features": refit_features,
            "params": best_params,
            "seconds": refit_s,
            "model_key": f"runs/{run_id}/model.ubj" if model_ubj else None,
        },
        "n_configs": int(len(trials)),
        "n_trials": int(trials["trial_id"].nunique()),
        "statuses": {str(k): int(v) for k, v in trials["status"].value_counts().items()},
        "shared_rounds": bool(trials["shared_rounds"].any()),
        "registered": registered,
        "timing": {
            "total_s": time.perf_counter() - started,
            "tune_s": tune_s,
            "selection_s": selection_s,
            "refit_s": refit_s,
        },
    }
    save_run(storage, run_id, run, trials, model_ubj)
    return TuneResult(run_id, run, trials, best, baseline, selection, registered)


def _defined(metrics: dict[str, float]) -> dict[str, float | None]:
    """NaN (a metric undefined on some rows) as None, so run.json and --json stay JSON."""
    import math

    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in metrics.items()}


#: Credentials Ray Tune copies from the driver's environment into every trial actor's
#: ``runtime_env`` (``ray.tune.execution.class_cache``), which the runtime-env agent then
#: writes to ``runtime_env_agent.log`` in plain text.
_CLOUD_SECRETS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN",
                  "AWS_SESSION_TOKEN")  # fmt: skip


@contextlib.contextmanager
def _cloud_secrets_kept_from_trials() -> Iterator[None]:
    """Hide the AWS credential variables from Ray Tune while it starts trials.

    Trials read their data from the object store and Tune's storage here is a local
    temporary directory, so they need no credentials; without this, Tune would put the
    driver's secret key into each trial's runtime env, and Ray logs runtime envs. The
    driver's own S3 sessions have resolved their credentials already (botocore caches
    them), and the variables are back as soon as the search ends.
    """
    saved = {k: os.environ.pop(k) for k in _CLOUD_SECRETS if k in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)
