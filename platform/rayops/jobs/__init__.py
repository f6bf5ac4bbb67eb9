"""Entry points for ``ray job submit -- python -m rayops.jobs.<name> ...``.

Each job module parses its arguments, calls ``ray.init()`` (which joins the
cluster the job was submitted to) and runs library code that never calls
``ray.init`` itself.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["run_job"]


def run_job(args: argparse.Namespace, work: Callable[[argparse.Namespace], dict[str, Any]]) -> int:
    """Join Ray, run ``work(args)``, print its result as the last stdout line; the exit code.

    Exit codes are the CLI's (:func:`rayops.errors.exit_code`): 2 invalid input,
    3 not found, 4 conflict, 5 storage, 1 anything else.
    """
    import ray

    from rayops.errors import RayopsError, exit_code

    ray.init(address=getattr(args, "address", None), log_to_driver=False, configure_logging=False)
    try:
        result = work(args)
    except RayopsError as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_code(e)
    finally:
        ray.shutdown()
    print(json.dumps(result, sort_keys=True, default=str))
    return 0
