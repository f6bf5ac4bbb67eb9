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
from pathlib import Path
from typing import Any

from rayops.config import Settings
from rayops.errors import InvalidInputError
from rayops.storage import Storage

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
) -> dict[str, Any]:
    """Train on a feature set (``features="name@3"``) or a Parquet file (``data=``).

    Holds out ``holdout_fraction`` of the rows (the latest ones when the
    feature set declares an event time), trains (fast path or Ray Train, chosen
    automatically), scores the holdout, scores ``register``'s production version on
    the same holdout if there is one, and registers the model (a minor version)
    with lineage and drift baseline. Returns the run record.
    """
    from rayops.training.fit import evaluate, split_holdout, train_model
    from rayops.training.sources import from_feature_set, from_parquet, registry_lineage
    from rayops.training.tune import infer_features

    settings = settings or Settings()
    if (features is None) == (data is None):
        raise InvalidInputError("Give exactly one of --features NAME[@VERSION] or --data PATH.")
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
    run_id = f"train-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
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
    tol = settings.training.accuracy_tolerance
    holdout = evaluate(result.booster, hold, target, features=cols, tolerance=tol)
    record: dict[str, Any] = {
        "run_id": run_id,
        "lineage": source.lineage,
        "target": target,
        "features": cols,
        "params": result.params,
        "training": result.summary(),
        "rows": {"train": len(train), "holdout": len(hold)},
        "holdout": holdout,
        "production": None,
        "model": None,
    }
    if register:
        from rayops.registry import Registry, baseline_from_frame

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
            lineage=registry_lineage(source.lineage),
            baseline=baseline_from_frame(train, cols),
            run_id=run_id,
            bump="minor",
            author=actor,
        )
        record["model"] = {"name": mv.name, "version": mv.version, "ref": mv.ref}
    storage.put_json_if_absent(f"training/runs/{run_id}.json", record)
    return record
