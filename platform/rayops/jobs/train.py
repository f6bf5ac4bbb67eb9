"""``python -m rayops.jobs.train``: one training run as a Ray job.

Submit it to a running cluster from the repository's root (the working dir is
uploaded, so a local ``--data`` file travels with it; ``py_modules`` makes rayops
importable on a cluster that does not have it installed)::

    ray job submit --address http://127.0.0.1:8265 --working-dir . \\
        --runtime-env-json '{"py_modules": ["platform/rayops"]}' -- \\
        python -m rayops.jobs.train --features sales@3 --target y \\
        --storage s3://bucket/rayops --register sales-xgb

It prints the run record as one JSON document on the last line of stdout and
exits with the CLI's codes (2 invalid input, 3 not found, 5 storage, 1 bug).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["build_parser", "main", "run"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m rayops.jobs.train",
        description="Train an XGBoost model (fast path or Ray Train), evaluate it on a "
        "holdout, compare it with production and register it.",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--features", help="Feature set NAME or NAME@VERSION.")
    source.add_argument("--data", help="A local Parquet file instead of a feature set.")
    p.add_argument("--target", help="Target column (default: the feature set's target role).")
    p.add_argument(
        "--task",
        choices=["auto", "regression", "binary", "multiclass"],
        default="auto",
        help="Learning task (default auto: from the parameters' objective, else the target).",
    )
    params = p.add_mutually_exclusive_group()
    params.add_argument("--params", help="YAML/JSON file of XGBoost parameters.")
    params.add_argument("--from-run", help="Use the best parameters of this tune run.")
    p.add_argument("--rounds", type=int, default=100, help="Boosting rounds (default 100).")
    p.add_argument("--workers", type=int, help="Ray Train workers (default: automatic).")
    p.add_argument("--register", help="Register the model under this name.")
    p.add_argument("--storage", help="Storage URI (default: RAYOPS_STORAGE).")
    p.add_argument("--address", help="Ray address (default: the job's cluster, or a local one).")
    return p


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the training named by ``args`` (needs a Ray session started by the caller)."""
    from rayops.config import load_settings
    from rayops.storage import open_storage
    from rayops.training.pipeline import load_params, run_training

    settings = load_settings(storage=args.storage)
    storage = open_storage(settings.storage, settings)
    params = load_params(storage, params_file=args.params, from_run=args.from_run)
    return run_training(
        storage,
        target=args.target,
        features=args.features,
        data=args.data,
        params=params,
        num_boost_round=args.rounds,
        workers=args.workers,
        register=args.register,
        settings=settings,
        task=getattr(args, "task", "auto"),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job; returns the process exit code."""
    from rayops.jobs import run_job

    return run_job(build_parser().parse_args(argv), run)


if __name__ == "__main__":
    sys.exit(main())
