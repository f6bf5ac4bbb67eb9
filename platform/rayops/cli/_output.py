"""Shared output and error handling for every ``rayops`` command.

Exit codes scripts can trust:

====  ==========================================================
0     success
1     an unexpected failure (a bug: please report it)
2     invalid input or usage (the message says what to fix)
3     not found
4     conflict with a concurrent writer (safe to retry)
5     storage unreachable, missing bucket or permission denied
====  ==========================================================
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from rayops.errors import RayopsError, exit_code

console = Console()
err_console = Console(stderr=True)

EXIT_OK, EXIT_BUG, EXIT_INVALID, EXIT_NOT_FOUND, EXIT_CONFLICT, EXIT_STORAGE = range(6)

JSON_OPTION = typer.Option(False, "--json", help="Print machine-readable JSON on stdout.")

StorageOption = Annotated[
    str | None,
    typer.Option("--storage", help="Storage URI; overrides RAYOPS_STORAGE for this command."),
]


def exit_code_for(error: RayopsError) -> int:
    return exit_code(error)


@contextmanager
def handle_errors(as_json: bool = False) -> Iterator[None]:
    """Turn rayops errors into one clear line on stderr and a stable exit code."""
    try:
        yield
    except RayopsError as e:
        code = exit_code_for(e)
        if as_json:
            print(json.dumps({"error": type(e).__name__, "message": str(e)}))
        err_console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        raise typer.Exit(code) from None


def emit(data: Any, as_json: bool, render: Callable[[Any], None] | None = None) -> None:
    """Print ``data`` as JSON (``--json``) or through ``render`` for people."""
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, default=str, sort_keys=True) + "\n")
    elif render is not None:
        render(data)
    else:
        console.print(data)


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    t = Table(title=title, title_justify="left")
    for c in columns:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*("" if v is None else str(v) for v in r))
    return t


def current_user() -> str | None:
    """The login name recorded as the actor of changes (None where there is none)."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # containers without an /etc/passwd entry
        return None


@contextmanager
def ray_session(address: str | None, env: dict[str, str] | None = None) -> Iterator[None]:
    """Start (or join) Ray for one command; reuse a session the process already has.

    The CLI is an entry point, so it may start Ray; in a notebook or a test that
    already has a session, that session is used and left running. When another Ray
    instance on this machine holds the job agent's port, a private head on free
    ports is started instead (see :mod:`rayops.cli._cluster`), so Ray jobs work.
    ``env`` is added to the environment of a cluster started here (its raylet, and so
    every worker process); a cluster joined by address keeps its own.
    """
    import ray

    from rayops.cli._cluster import DEFAULT_AGENT_PORT, port_free, private_cluster

    if ray.is_initialized():
        yield
        return
    if address is None and not port_free(DEFAULT_AGENT_PORT):
        # Another Ray on this machine holds the job agent's port: a plain ray.init()
        # would start a cluster that cannot run Ray jobs.
        with private_cluster(env=env):
            yield
        return
    # A cluster given by address may not have rayops installed: ship this one with the
    # driver, so every task and actor of this session can import it (rayops.runtime_env).
    from rayops.cli._cluster import with_this_python
    from rayops.runtime_env import runtime_env

    saved = {k: os.environ.get(k) for k in ["PATH", *(env or {})]}
    if address is None:  # the local cluster started here runs jobs with this interpreter
        os.environ["PATH"] = with_this_python(dict(os.environ))["PATH"]
        os.environ.update(env or {})  # ... and its raylet passes env to every worker
    try:
        ray.init(
            address=address,
            log_to_driver=False,
            configure_logging=False,
            runtime_env=runtime_env() if address else None,
        )
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    try:
        yield
    finally:
        from rayops.cli._cluster import stdout_to_stderr, stop_serve

        if address is None:  # the local cluster ends with this command: Serve's HAProxy too
            stop_serve()
        with stdout_to_stderr():
            ray.shutdown()
