"""``python -m rayops.jobs.batch_predict``: batch scoring as a Ray job.

Submit it to a running cluster (rayops travels in the runtime_env, so the
cluster need not have it installed)::

    ray job submit --address http://127.0.0.1:8265 --working-dir . \\
        --runtime-env-json '{"py_modules": ["platform/rayops"]}' -- \\
        python -m rayops.jobs.batch_predict churn@production --features churn-fs \\
        --id-columns user_id --storage s3://bucket/rayops

It takes the options of ``rayops predict-batch``, prints the manifest as one
JSON document on the last line of stdout and exits with the CLI's codes (2
invalid input, 3 not found, 5 storage, 1 bug).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["build_parser", "main", "run"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m rayops.jobs.batch_predict",
        description="Score a registered model over a feature set or Parquet files on Ray Data.",
    )
    p.add_argument("model", help="NAME, NAME@VERSION or NAME@ALIAS.")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--features", help="Feature set NAME or NAME@VERSION.")
    source.add_argument("--data", help="Parquet file, folder or glob (local or s3://).")
    p.add_argument("--output", help="Output root URI (default: the storage root).")
    p.add_argument("--explain", action="store_true", help="Add c_<feature> contributions.")
    p.add_argument("--id-columns", default="", help="Input columns to copy, comma-separated.")
    p.add_argument("--label", help="Column with true values (default: the target, if present).")
    p.add_argument("--job-id", help="Job id (default: derived from the job's definition).")
    p.add_argument("--storage", help="Storage URI (default: RAYOPS_STORAGE).")
    p.add_argument("--address", help="Ray address (default: the job's cluster, or a local one).")
    return p


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the scoring named by ``args`` (needs a Ray session started by the caller)."""
    from rayops.batch import run_batch
    from rayops.config import load_settings
    from rayops.storage import open_storage

    settings = load_settings(storage=args.storage)
    storage = open_storage(settings.storage, settings)
    manifest = run_batch(
        storage,
        args.model,
        features=args.features,
        data=args.data,
        output=args.output,
        id_columns=[c.strip() for c in args.id_columns.split(",") if c.strip()],
        label=args.label,
        explain=args.explain,
        job_id=args.job_id,
        settings=settings,
    )
    return manifest.model_dump(mode="json")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job; returns the process exit code."""
    from rayops.jobs import run_job

    return run_job(build_parser().parse_args(argv), run)


if __name__ == "__main__":
    sys.exit(main())
