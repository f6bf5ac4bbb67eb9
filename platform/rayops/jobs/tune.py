"""``python -m rayops.jobs.tune``: a tuning run as a Ray job.

Submit it to a running cluster from the directory that holds your configs
(and, with ``--data``, the Parquet file; the working dir is uploaded)::

    ray job submit --address http://127.0.0.1:8265 --working-dir . -- \\
        python -m rayops.jobs.tune --config tune_configs/xgboost_grid.yaml \\
        --features sales@3 --target y --storage s3://bucket/rayops --register sales-xgb

It prints one JSON document (the run summary) as its last line of stdout, and
exits with the CLI's codes (2 invalid input, 3 not found, 5 storage, 1 bug).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from rayops.errors import InvalidInputError

__all__ = ["build_parser", "main", "run"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m rayops.jobs.tune",
        description="Hyperparameter search with k-fold CV on Ray Tune; the run is persisted "
        "under the storage root.",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--features", help="Feature set NAME or NAME@VERSION.")
    source.add_argument("--data", help="A local Parquet file instead of a feature set.")
    p.add_argument("--config", required=True, help="Search-space YAML (tune_configs/...).")
    p.add_argument("--target", help="Target column (default: the feature set's target role).")
    p.add_argument(
        "--task",
        choices=["auto", "regression", "binary", "multiclass"],
        default="auto",
        help="Learning task (default auto: inferred from the target or the config's objective).",
    )
    p.add_argument("--metric", help="Selection metric (default: the task's primary metric).")
    p.add_argument("--folds", type=int, help="Number of CV folds (default: the config's, or 5).")
    p.add_argument("--exclude", action="append", default=[], help="Column to keep out of X.")
    p.add_argument("--select-features", action="store_true", help="Run feature selection.")
    p.add_argument("--selection-method", choices=["gain", "permutation"], default="gain")
    p.add_argument("--top-k", type=int, help="Features to keep (default: about half).")
    p.add_argument("--threshold", type=float, help="Keep features with this importance share.")
    p.add_argument("--register", help="Register the refit best model under this name.")
    p.add_argument("--storage", help="Storage URI (default: RAYOPS_STORAGE).")
    p.add_argument("--address", help="Ray address (default: the job's cluster, or a local one).")
    return p


def run(args: argparse.Namespace, progress: Any = None) -> dict[str, Any]:
    """Load the data and config named by ``args``, run the search, return the summary.

    Needs a Ray session (``ray.init``) already started by the caller.
    """
    from pathlib import Path

    from rayops.config import load_settings
    from rayops.storage import open_storage
    from rayops.training.sources import from_feature_set, from_parquet
    from rayops.training.spaces import load_space
    from rayops.training.tune import run_tune

    settings = load_settings(storage=args.storage)
    storage = open_storage(settings.storage, settings)
    space = load_space(args.config)
    data = from_feature_set(storage, args.features) if args.features else from_parquet(args.data)
    target = args.target or data.target
    if target is None:
        raise InvalidInputError("Name the target column with --target COL.")
    result = run_tune(
        data.frame,
        target=target,
        space=space,
        storage=storage,
        exclude=(*data.exclude, *args.exclude),
        folds=args.folds,
        select_features=args.select_features,
        selection_method=args.selection_method,
        top_k=args.top_k,
        threshold=args.threshold,
        register=args.register,
        lineage=data.lineage,
        config_name=Path(args.config).name,
        settings=settings,
        progress=progress,
        task=data.task_for(getattr(args, "task", "auto"), target) or "auto",
        metric=getattr(args, "metric", None),
    )
    return {**result.summary(), "storage": storage.uri}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job; returns the process exit code."""
    from rayops.jobs import run_job

    return run_job(build_parser().parse_args(argv), run)


if __name__ == "__main__":
    sys.exit(main())
