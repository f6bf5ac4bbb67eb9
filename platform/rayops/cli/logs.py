"""`rayops logs stats|compact|expire`: the prediction, feedback and request logs.

Thin over :mod:`rayops.telemetry`; the control loop compacts and expires on its
own (`telemetry` task), these commands do it now or show where things stand.
"""

from __future__ import annotations

from typing import Annotated

import typer

from rayops.cli._output import JSON_OPTION, StorageOption, console, emit, handle_errors, table

logs_app = typer.Typer(
    help=(
        "The logs every endpoint writes (typed Parquet under logs/<endpoint>/): size, "
        "compaction, retention.\n\nExample: rayops logs stats churn --json"
    ),
    no_args_is_help=True,
)

EndpointArg = Annotated[str, typer.Argument(help="Endpoint name.")]


def register(app: typer.Typer) -> None:
    """Add `rayops logs` to the top-level app."""
    app.add_typer(logs_app, name="logs")


@logs_app.command("stats")
def stats(
    endpoint: EndpointArg, storage: StorageOption = None, as_json: bool = JSON_OPTION
) -> None:
    """Files, rows, bytes and day partitions of each log of ENDPOINT.

    `files` counts every data file; `live_files` the ones readers read (the
    inputs of a compaction stop counting once it is switched in).

    Example: rayops logs stats churn --json
    """
    from rayops.storage import open_storage
    from rayops.telemetry.stats import log_stats

    with handle_errors(as_json):
        found = log_stats(open_storage(storage), endpoint)
    rows = [[log, s["files"], s["live_files"], s["rows"], s["bytes"], s["partitions"]]
            for log, s in found.items()]  # fmt: skip
    emit(
        found,
        as_json,
        lambda _: console.print(
            table(f"logs of {endpoint}", ["log", "files", "live", "rows", "bytes", "days"], rows)
        ),
    )


@logs_app.command("compact")
def compact(
    endpoint: EndpointArg,
    day: Annotated[
        list[str] | None,
        typer.Option("--day", help="A day (YYYY-MM-DD) to compact; repeat it. Default: all."),
    ] = None,
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Merge ENDPOINT's small log files now (hours that are over); repair a dead run's leftovers.

    Example: rayops logs compact churn --day 2026-12-01
    """
    from datetime import date

    from rayops.clock import utc_now
    from rayops.config import Settings
    from rayops.errors import InvalidInputError
    from rayops.storage import open_storage
    from rayops.telemetry.compaction import Compactor

    with handle_errors(as_json):
        try:
            days = [date.fromisoformat(d) for d in day] if day else None
        except ValueError:
            raise InvalidInputError(f"--day must be YYYY-MM-DD, got {day}.") from None
        settings = Settings(storage=storage) if storage else Settings()
        store = open_storage(settings.storage, settings)
        report = Compactor(store, settings.telemetry).compact_endpoint(
            endpoint, utc_now(), days=days
        )
    out = {**report.summary(), "partitions": report.partitions}
    emit(out, as_json, lambda d: console.print(
        f"merged {d['input_files']} files into {d['merged_files']} ({d['rows']} rows); "
        f"deleted {d['deleted_files']} files left by earlier runs"))  # fmt: skip


@logs_app.command("expire")
def expire_cmd(
    endpoint: Annotated[
        str | None, typer.Argument(help="Endpoint name; default: every endpoint.")
    ] = None,
    days: Annotated[
        float | None,
        typer.Option("--days", help="Keep this many days; default telemetry_retention_days."),
    ] = None,
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Delete log days older than the retention (whole day partitions).

    Example: rayops logs expire --days 30
    """
    from rayops.clock import utc_now
    from rayops.config import Settings
    from rayops.storage import open_storage
    from rayops.telemetry.compaction import expire

    with handle_errors(as_json):
        settings = Settings(storage=storage) if storage else Settings()
        keep = settings.telemetry.retention_days if days is None else days
        store = open_storage(settings.storage, settings)
        out = expire(store, utc_now(), keep, [endpoint] if endpoint else None)
    emit(out, as_json, lambda d: console.print(
        f"deleted {d['partitions']} day partitions ({d['files']} files)"))  # fmt: skip
