"""One training run end to end: data → train → evaluate → compare → register.

Shared by ``rayops train`` and ``python -m rayops.jobs.train`` (``ray job submit``),
so both do exactly the same thing. The run record lands at
``training/runs/<run_id>.json``.

The task (``task="auto"``: from the parameters' objective, else inferred from
the target) decides the holdout (the latest rows with an event time, else a
seeded sample, stratified by class for a classifier) and its metrics. The
comparison with production is the promotion gate (:func:`rayops.gate.compare`)
on both models' per-row losses over the same holdout rows (paired): squared
error for regression, log loss of the true class for a classifier. Its verdict
is recorded with the run (``production.gate``).

Example:
    >>> summary = run_training(storage, target="target", data="rows.parquet",  # doctest: +SKIP
    ...                        params={"max_depth": 6}, register="demand")
    >>> summary["model"]["version"]  # doctest: +SKIP
    '1.1.0'
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rayops.config import Settings, settings_of
from rayops.errors import InvalidInputError
from rayops.gate import compare
from rayops.registry.predictor import Predictor
from rayops.storage import Storage
from rayops.training.cv import regression_metrics
from rayops.training.fit import split_holdout, train_model
from rayops.training.scoring import prepare_frame
from rayops.training.sources import from_feature_set, from_parquet
from rayops.training.targets import prepare_target
from rayops.training.tune import infer_features

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from rayops.training.targets import Target

__all__ = ["holdout_scores", "load_params", "run_training"]


def load_params(
    storage: Storage, *, params_file: str | None = None, from_run: str | None = None
) -> dict[str, Any]:
    """Parameters from a YAML/JSON file, or the best configuration of a tune run.

    A tune run's parameters include its objective and ``n_estimators``, so the
    model trains as it was tuned.
    """
    if params_file and from_run:
        raise InvalidInputError("Give --params or --from-run, not both.")
    if from_run:
        from rayops.training.runs import get_run

        run = get_run(storage, from_run)
        best = run.get("best") or {}
        if not best.get("params"):
            raise InvalidInputError(f"Tune run {from_run!r} has no best configuration to train.")
        objective = run.get("objective") or (run.get("space") or {}).get("objective")
        return {**best["params"], **({"objective": objective} if objective else {})}
    if params_file:
        import yaml

        path = Path(params_file)
        if not path.is_file():
            raise InvalidInputError(f"No parameters file at {params_file!r}.")
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, dict):
            raise InvalidInputError(f"{params_file!r} must hold a mapping of XGBoost parameters.")
        return loaded
    return {}


def run_training(
    storage: Storage,
    *,
    target: str | None,
    features: str | None = None,
    data: str | None = None,
    params: dict[str, Any] | None = None,
    num_boost_round: int = 100,
    workers: int | None = None,
    register: str | None = None,
    actor: str | None = None,
    settings: Settings | None = None,
    task: str = "auto",
    interval_context: Sequence[str] = (),
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train on a feature set (``features="name@3"``) or a Parquet file (``data=``).

    Holds out ``holdout_fraction`` of the rows (the latest ones when the
    feature set declares an event time, else a sample, stratified for a
    classifier), trains (fast path or Ray Train, chosen automatically), scores the
    holdout, compares with ``register``'s production version on the same holdout
    through the promotion gate if there is one, and registers the model (a minor
    version) with task, classes, objective, lineage and drift baseline. Returns
    the run record.

    ``params`` may carry ``objective`` and ``n_estimators`` (a tune run's or a
    card's); ``n_estimators`` wins over ``num_boost_round``.

    A feature set above the fast path (or with ``workers`` >= 2) is split and trained
    on the cluster without the driver holding its rows
    (:mod:`rayops.training.distributed`): only the held-out rows, a sample of
    training rows for the drift baseline and the target column (to decide the task
    and classes) come to the driver. ``progress`` is told what runs and what it
    waits for.

    The registered card also gets the model's global feature importance on the
    holdout (mean |contribution|, gain, weight) and its uncertainty, fitted on the
    holdout (:func:`rayops.training.uncertainty.fit_uncertainty`): conformal
    intervals for regression (Mondrian over ``interval_context`` columns when
    given), calibration and prediction sets for a classifier.
    """

    settings = settings_of(storage, settings)
    say = progress or (lambda _: None)
    if (features is None) == (data is None):
        raise InvalidInputError("Give exactly one of --features NAME[@VERSION] or --data PATH.")
    params = dict(params or {})
    run_id = f"train-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    scaled = None
    if features is not None:
        from rayops.features import FeatureStore
        from rayops.training.distributed import train_feature_set, use_ray_data
        from rayops.training.sources import feature_set_task

        store = FeatureStore(storage, settings=settings)
        version = store.get(features)
        task = feature_set_task(version, task, target) or "auto"
        if use_ray_data(version.row_count, workers, settings):
            scaled = train_feature_set(
                store, version, target, params=params, num_boost_round=num_boost_round,
                workers=workers, run_id=run_id, settings=settings, say=say, task=task,
            )  # fmt: skip
    if scaled is not None:
        result, hold, target = scaled.result, scaled.holdout, scaled.target
        cols, lineage, baseline_rows = scaled.features, scaled.lineage, scaled.baseline_rows
        train_rows, labelled = scaled.train_rows, scaled.labelled
    else:
        result, hold, target, cols, lineage, baseline_rows, labelled = _in_driver(
            storage, features, data, target, params=params, num_boost_round=num_boost_round,
            workers=workers, run_id=run_id, settings=settings, say=say, task=task,
        )  # fmt: skip
        train_rows = len(baseline_rows)
    say(f"scoring the {len(hold):,} held-out rows")
    tol = settings.training.accuracy_tolerance
    candidate = Predictor(
        "candidate", result.booster, cols, result.feature_types,
        task=labelled.task, labels=labelled.labels,
    )  # fmt: skip
    holdout, losses, hold_output = holdout_scores(
        candidate, hold, labelled, tolerance=tol, with_output=True
    )
    record: dict[str, Any] = {
        "run_id": run_id,
        "lineage": lineage,
        "target": target,
        "task": labelled.task.kind.value,
        "classes": labelled.classes,
        "objective": labelled.objective,
        "features": cols,
        "params": result.params,
        "training": result.summary(),
        "rows": {"train": train_rows, "holdout": len(hold)},
        "holdout": holdout,
        "production": None,
        "model": None,
    }
    if register:
        from rayops.registry import Registry, baseline_from_frame
        from rayops.training.sources import registry_lineage

        say(f"registering {register}")

        registry = Registry(storage)
        prod = registry.production(register)
        if prod is not None:
            record["production"] = _against_production(
                registry.load(prod.ref), prod.version, hold, labelled, losses, settings
            )
        from rayops.registry.explain import importance
        from rayops.training.scoring import prepare_frame
        from rayops.training.uncertainty import fit_uncertainty
        from rayops.uncertainty.intervals import segment_keys

        missing = [c for c in interval_context if c not in hold.columns]
        if missing:
            raise InvalidInputError(
                f"Interval context columns {missing} are not in the data; they are "
                f"{sorted(map(str, hold.columns))}."
            )
        uncertainty = fit_uncertainty(
            labelled.task, labelled.encode(hold), hold_output,
            segments=segment_keys(hold, interval_context) if interval_context else None,
            context=interval_context, seed=settings.training.cv_seed,
        )  # fmt: skip
        weights = importance(candidate, prepare_frame(hold, cols))
        mv = registry.register(
            register,
            result.booster,
            importance=weights,
            uncertainty=uncertainty,
            params=result.params,
            metrics={"holdout": holdout},
            features=cols,
            feature_types=result.feature_types,
            lineage=registry_lineage(lineage),
            baseline=baseline_from_frame(baseline_rows, cols),
            run_id=run_id,
            bump="minor",
            author=actor,
            **result.card(),
        )
        record["model"] = {"name": mv.name, "version": mv.version, "ref": mv.ref}
    storage.put_json_if_absent(f"training/runs/{run_id}.json", record)
    return record


def holdout_scores(
    predictor: Any,
    hold: pd.DataFrame,
    labelled: Target,
    *,
    tolerance: float = 5.0,
    with_output: bool = False,
) -> Any:
    """A model's holdout metrics and per-row losses (the gate's input) on ``hold``.

    ``predictor`` is a registry Predictor or EnsemblePredictor; its output comes
    from the one evaluation path (:func:`rayops.registry.predictor.evaluate`).
    Classifier metrics include per-class recall (``recall[<class>]``).
    """

    y = labelled.encode(hold)
    output = predictor.predict(prepare_frame(hold, predictor.features))
    task = labelled.task
    if task.is_classification:
        metrics: dict[str, Any] = task.metrics(
            y, output, labels=labelled.labels, tolerance=tolerance
        )
    else:
        metrics = regression_metrics(y, output, tolerance=tolerance)
    if with_output:
        return metrics, task.row_loss(y, output), output
    return metrics, task.row_loss(y, output)


def _against_production(
    production: Any,
    version: str,
    hold: pd.DataFrame,
    labelled: Target,
    losses: np.ndarray,
    settings: Settings,
) -> dict[str, Any]:
    """Production scored on the candidate's holdout rows, and the gate's verdict."""

    if production.task != labelled.task or production.labels != labelled.labels:
        return {
            "version": version,
            "holdout": None,
            "gate": None,
            "candidate_better": None,
            "reason": (
                f"production {version} is a {production.task} model with classes "
                f"{production.labels.classes if production.labels else None}; the candidate "
                f"is {labelled.task} with {labelled.classes}: not comparable"
            ),
        }
    metrics, prod_losses = holdout_scores(
        production, hold, labelled, tolerance=settings.training.accuracy_tolerance
    )
    # Today's rule (any improvement), now also significant: the one gate decides.
    gate = compare(
        losses, prod_losses, task=labelled.task, min_improvement=0.0,
        alpha=settings.training.gate_alpha, paired=True,
    )  # fmt: skip
    return {
        "version": version,
        "holdout": metrics,
        "gate": gate.as_dict(),
        "candidate_better": gate.accepted,
        "reason": gate.reason,
    }


def _in_driver(
    storage: Storage,
    features: str | None,
    data: str | None,
    target: str | None,
    *,
    params: dict[str, Any] | None,
    num_boost_round: int,
    workers: int | None,
    run_id: str,
    settings: Settings,
    say: Callable[[str], None],
    task: str,
) -> tuple[Any, pd.DataFrame, str, list[str], dict[str, Any], pd.DataFrame, Target]:
    """The rows in the driver (small data, or a local Parquet file): split, then train
    (fast path or Ray Train).
    ``(result, holdout, target, features, lineage, train, labelled)``."""

    say(f"reading {features or data}")
    source = from_feature_set(storage, features) if features else from_parquet(str(data))
    target = target or source.target
    if not target:
        raise InvalidInputError("Say which column to predict with --target.")
    frame = source.frame
    time_column = next(
        (c for c in source.exclude if c in frame.columns and "datetime" in str(frame[c].dtype)),
        None,
    )
    cols = infer_features(frame, target, source.exclude)
    labelled = prepare_target(frame, target, task=task, objective=(params or {}).get("objective"))
    train, hold = split_holdout(
        frame,
        fraction=settings.training.holdout_fraction,
        time_column=time_column,
        seed=settings.training.cv_seed,
        stratify=labelled.y if labelled.task.is_classification and not time_column else None,
    )
    fast = len(train) < settings.training.fast_path_max_rows and (workers or 1) == 1
    say(f"training {len(train):,} rows " + ("in one Ray task (fast path)" if fast else
        f"on Ray Train: waiting for {workers or settings.training.workers} worker(s)"))  # fmt: skip
    result = train_model(
        train,
        target,
        params=params,
        num_boost_round=num_boost_round,
        features=cols,
        workers=workers,
        storage=storage,
        run_id=run_id,
        settings=settings,
        task=labelled.task,
        labels=labelled.labels,
        seed=settings.training.cv_seed,
    )
    return result, hold, target, cols, source.lineage, train, labelled
