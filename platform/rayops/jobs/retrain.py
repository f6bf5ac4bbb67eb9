"""``python -m rayops.jobs.retrain``: one retrain as a Ray job.

The retrain controller submits it with ``--job`` (a job it has claimed). Run by
hand it claims a forced retrain itself (refused while one runs)::

    ray job submit --address http://127.0.0.1:8265 \\
        --runtime-env-json '{"py_modules": ["platform/rayops"]}' -- \\
        python -m rayops.jobs.retrain --model demand --storage s3://bucket/rayops

It prints the final job document as JSON on the last line of stdout and exits
with the CLI's codes (2 invalid input, 3 not found, 4 conflict, 5 storage, 1 bug).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["build_parser", "main", "run"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m rayops.jobs.retrain",
        description="Retrain a model from its retrain policy: data from the feature set plus "
        "logged feedback, optional re-tune, train, compare with production, canary if better.",
    )
    p.add_argument("--model", required=True, help="Model with a retrain policy.")
    p.add_argument("--job", help="Retrain job id claimed by the controller (default: claim one).")
    p.add_argument("--no-deploy", action="store_true", help="Register but never deploy.")
    p.add_argument("--storage", help="Storage URI (default: RAYOPS_STORAGE).")
    p.add_argument("--address", help="Ray address (default: the job's cluster, or a local one).")
    return p


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the retrain named by ``args`` (needs a Ray session started by the caller)."""
    from rayops.automation.pipeline import run_retrain
    from rayops.automation.retrainer import Retrainer
    from rayops.config import load_settings
    from rayops.storage import open_storage

    settings = load_settings(storage=args.storage)
    storage = open_storage(settings.storage, settings)
    if args.job:
        job = run_retrain(storage, args.model, args.job, settings=settings)
    else:
        job = Retrainer(storage, settings=settings).run_local(
            args.model, deploy=not args.no_deploy, reason="submitted with ray job submit"
        )
    return job.model_dump(mode="json")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job; returns the process exit code."""
    from rayops.jobs import run_job

    return run_job(build_parser().parse_args(argv), run)


if __name__ == "__main__":
    sys.exit(main())
