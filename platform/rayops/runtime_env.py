"""What a Ray job or a remote driver needs to run rayops on a cluster that never installed it.

A Ray job's entrypoint runs on the cluster's head node, in the cluster's Python,
so it must not name an interpreter path of the submitting machine: it is
``python -m rayops.jobs.<name> ...`` (:func:`module_entrypoint`). rayops itself
travels in the job's ``runtime_env`` as ``py_modules`` (:func:`runtime_env`):
Ray zips this very package directory, uploads it once (cached by content hash)
and puts it on ``sys.path`` of the job's driver and of every task and actor it
starts, on every node. A cluster that has rayops installed runs the uploaded
copy, so the job runs the submitter's code, whatever version the nodes have.

The same holds for ``ray job submit`` from a clone of the repository:
``--runtime-env-json '{"py_modules": ["platform/rayops"]}'`` (or the file
``runtime_env.yaml`` at the repository's root) makes ``python -m rayops.jobs...``
importable there.

Example:
    >>> module_entrypoint("rayops.jobs.retrain", ["--model", "demand", "--job", "r 1"])
    "python -P -m rayops.jobs.retrain --model demand --job 'r 1'"
    >>> env = runtime_env({"RAYOPS_STORAGE": "s3://b/r"})
    >>> env["py_modules"] == [package_dir()], env["env_vars"]
    (True, {'RAYOPS_STORAGE': 's3://b/r'})
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["module_entrypoint", "package_dir", "runtime_env"]

#: Left out of the uploaded package: caches that differ per machine.
EXCLUDES = ["__pycache__", "*.pyc", ".mypy_cache", ".pytest_cache"]


def package_dir() -> str:
    """The directory of the rayops package this process imported."""
    return str(Path(__file__).resolve().parent)


def runtime_env(env_vars: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A Ray ``runtime_env`` that makes this rayops importable on every node.

    ``env_vars`` are passed to the job's driver and its workers (e.g. the
    settings of :meth:`rayops.config.Settings.job_env`).
    """
    env: dict[str, Any] = {"py_modules": [package_dir()], "excludes": list(EXCLUDES)}
    if env_vars:
        env["env_vars"] = dict(env_vars)
    return env


def module_entrypoint(module: str, args: Sequence[str] = (), *, python: str = "python") -> str:
    """The shell command ``python -P -m module args...`` of a Ray job, each argument quoted.

    ``python`` is whatever the cluster's PATH calls ``python`` (its Ray
    environment), never this machine's ``sys.executable``. ``-P`` keeps the job's
    working directory off ``sys.path``: a head started from ``/tmp`` runs jobs there,
    and Ray's own ``/tmp/ray`` session directory would otherwise shadow the ``ray``
    package (``module 'ray' has no attribute 'init'``).
    """
    head = [shlex.quote(python), "-P", "-m", module]
    return " ".join([*head, *(shlex.quote(a) for a in args)])
