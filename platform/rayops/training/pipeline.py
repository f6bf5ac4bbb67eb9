"""One training run end to end: data → train → evaluate → compare → register.

Shared by ``rayops train`` and ``python -m rayops.jobs.train`` (``ray job submit``),
so both do exactly the same thing. The run record lands at
``training/runs/<run_id>.json``.

Example:
    >>> summary = run_training(storage, target="target", data="rows.parquet",  # doctest: +SKIP
    ...                        params={"max_depth": 6}, register="demand")
    >>> summary["model"]["version"]  # doctest: +SKIP
    '1.1.0'
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rayops.config import Settings
from rayops.errors import InvalidInputError
from rayops.storage import Storage

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["load_params", "run_training"]


def load_params(
    storage: Storage, *, params_file: str | None = None, from_run: str | None = None
) -> dict[str, Any]:
    """Parameters from a YAML/JSON file, or the best configuration of a tune run."""
    if params_file and from_run:
        raise InvalidInputError("Give --params or --from-run, not both.")
    if from_run:
        from rayops.training.runs import get_run

        best = get_run(storage, from_run).get("best") or {}
        if not best.get("params"):
            raise InvalidInputError(f"Tune run {from_run!r} has no best configuration to train.")
        return dict(best["params"])
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
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train on a feature set (``features="name@3"``) or a Parquet file (``data=``).

    Holds out ``holdout_fraction`` of the rows (the latest ones when the
    feature set declares an event time), trains (fast path or Ray Train, chosen
    automatically), scores the holdout, scores ``register``'s production version on
    the same holdout if there is one, and registers the model (a minor version)
    with lineage and drift baseline. Returns the run record.

    A feature set above the fast path (or with ``workers`` >= 2) is split and trained
    on the cluster without the driver holding its rows
    (:mod:`rayops.training.distributed`): only the held-out rows and a sample of
    training rows for the drift baseline come to the driver. ``progress`` is told
    what runs and what it waits for.
    """
    from rayops.training.fit import evaluate

    settings = settings or Settings()
    say = progress or (lambda _: None)
    if (features is None) == (data is None):
        raise InvalidInputError("Give exactly one of --features NAME[@VERSION] or --data PATH.")
    run_id = f"train-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    scaled = None
    if features is not None:
        from rayops.features import FeatureStore
        from rayops.training.distributed import train_feature_set, use_ray_data

        store = FeatureStore(storage, settings=settings)
        version = store.get(features)
        if use_ray_data(version.row_count, workers, settings):
            scaled = train_feature_set(
                store, version, target, params=params, num_boost_round=num_boost_round,
                workers=workers, run_id=run_id, settings=settings, say=say,
            )  # fmt: skip
    if scaled is not None:
        result, hold, target = scaled.result, scaled.holdout, scaled.target
        cols, lineage, baseline_rows = scaled.features, scaled.lineage, scaled.baseline_rows
        train_rows = scaled.train_rows
    else:
        result, hold, target, cols, lineage, baseline_rows = _in_driver(
            storage, features, data, target, params=params, num_boost_round=num_boost_round,
            workers=workers, run_id=run_id, settings=settings, say=say,
        )  # fmt: skip
        train_rows = len(baseline_rows)
    say(f"scoring the {len(hold):,} held-out rows")
    tol = settings.training.accuracy_tolerance
    holdout = evaluate(result.booster, hold, target, features=cols, tolerance=tol)
    record: dict[str, Any] = {
        "run_id": run_id,
        "lineage": lineage,
        "target": target,
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

        say(f"registering {register}")
        from rayops.training.sources import registry_lineage

        registry = Registry(storage)
        prod = registry.production(register)
        if prod is not None:
            prod_booster = getattr(registry.load(prod.ref), "booster", None)
            if prod_booster is not None:
                prod_metrics = evaluate(prod_booster, hold, target, tolerance=tol)
                record["production"] = {
                    "version": prod.version,
                    "holdout": prod_metrics,
                    "candidate_better": holdout["rmse"] < prod_metrics["rmse"],
                }
        mv = registry.register(
            register,
            result.booster,
            params=result.params,
            metrics={"holdout": holdout},
            features=cols,
            feature_types=result.feature_types,
            lineage=registry_lineage(lineage),
            baseline=baseline_from_frame(baseline_rows, cols),
            run_id=run_id,
            bump="minor",
            author=actor,
        )
        record["model"] = {"name": mv.name, "version": mv.version, "ref": mv.ref}
    storage.put_json_if_absent(f"training/runs/{run_id}.json", record)
    return record


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
) -> tuple[Any, pd.DataFrame, str, list[str], dict[str, Any], pd.DataFrame]:
    """The rows in the driver (small data, or a local Parquet file): split, then train
    (fast path or Ray Train). ``(result, holdout, target, features, lineage, train)``."""
    from rayops.training.fit import split_holdout, train_model
    from rayops.training.sources import from_feature_set, from_parquet
    from rayops.training.tune import infer_features

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
    train, hold = split_holdout(
        frame, fraction=settings.training.holdout_fraction, time_column=time_column
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
    )
    return result, hold, target, cols, source.lineage, train
