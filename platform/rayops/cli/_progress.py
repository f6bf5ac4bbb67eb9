"""Progress on the terminal for long commands: what runs, what it waits for, how far.

Drawn on stderr with rich, so ``--json`` output on stdout stays one document,
and not at all with ``--json`` or when stderr is not a terminal (rich then prints
nothing transient).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from rayops.cli._output import err_console

__all__ = ["batch_bar", "status", "watch"]

T = TypeVar("T")


@contextmanager
def status(message: str, enabled: bool = True) -> Iterator[Callable[[str], None]]:
    """A spinner with ``message``; yields a function that replaces the message."""
    if not enabled:
        yield lambda _: None
        return
    with err_console.status(message) as live:
        yield lambda text: live.update(text)


@contextmanager
def batch_bar(enabled: bool = True) -> Iterator[Callable[[Any], None]]:
    """A parts/rows bar for :func:`rayops.batch.run_batch`'s ``progress`` callback."""
    if not enabled:
        yield lambda _: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("parts  {task.fields[rows]}"),
        TimeElapsedColumn(),
        console=err_console,
    )
    task = bar.add_task("checking the input", total=None, rows="")

    def update(p: Any) -> None:
        rows = f"{p.rows_done:,}/{p.rows:,} rows" if p.rows else ""
        bar.update(task, description=p.message, completed=p.parts_done,
                   total=p.parts or None, rows=rows)  # fmt: skip

    with bar:
        yield update


def watch(
    poll: Callable[[], T],
    describe: Callable[[T], str],
    finished: Callable[[T], bool],
    *,
    enabled: bool = True,
    interval_s: float = 2.0,
) -> T:
    """Poll until ``finished``, showing ``describe`` of the latest state; the last state.

    Ctrl-C stops watching (what is watched carries on) and returns the latest state.
    """
    import time

    current = poll()
    with status(describe(current), enabled=enabled) as say:
        try:
            while not finished(current):
                time.sleep(interval_s)
                current = poll()
                say(describe(current))
        except KeyboardInterrupt:
            err_console.print("stopped watching; it carries on without this command")
    return current
