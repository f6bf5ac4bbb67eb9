"""`rayops analytics` and `rayops dashboard`: performance reports, exports and a live view.

Thin over :mod:`rayops.analytics`; reads the storage root only (no Ray needed).
pandas, scipy and pyarrow load inside the commands, so `rayops --help` stays instant.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from rayops.cli._output import JSON_OPTION, StorageOption, console, emit, handle_errors

if TYPE_CHECKING:
    from rich.console import RenderableType

    from rayops.analytics import AnalyticsReport
    from rayops.config import Settings
    from rayops.storage import Storage

RangeOption = Annotated[
    str | None,
    typer.Option(
        "--range", help="Duration ending now: 1h, 24h, 7d, 30d (default analytics_range)."
    ),
]
StartOption = Annotated[
    datetime | None, typer.Option("--start", help="Explicit start (ISO date/time, UTC).")
]
EndOption = Annotated[
    datetime | None, typer.Option("--end", help="Explicit end (ISO date/time, UTC; default now).")
]


def register(app: typer.Typer) -> None:
    """Add `rayops analytics` and `rayops dashboard` to the top-level app."""
    app.command("analytics")(analytics)
    app.command("dashboard")(dashboard)


def _settings(targets: list[str] | None) -> Settings:
    from rayops.config import Settings
    from rayops.errors import InvalidInputError

    settings = Settings()
    updates: dict[str, float] = {}
    fields = {
        "mae": "analytics_target_mae",
        "rmse": "analytics_target_rmse",
        "accuracy": "monitoring_accuracy_warning",
        "latency_p95_ms": "monitoring_latency_warning_ms",
        "error_rate": "monitoring_error_rate_warning",
    }
    names = tuple(fields)
    for item in targets or []:
        metric, sep, value = item.partition("=")
        metric = metric.strip()
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not sep or metric not in names or number != number:
            raise InvalidInputError(
                f"--target {item!r}: use METRIC=VALUE with METRIC one of {', '.join(names)}, "
                "e.g. --target mae=3.0."
            )
        updates[fields[metric]] = number
    return Settings(**{**settings.model_dump(), **updates}) if updates else settings


def _report(
    storage: Storage,
    name: str,
    *,
    range_: str | None,
    start: datetime | None,
    end: datetime | None,
    model: bool,
    settings: Settings,
) -> AnalyticsReport:
    from rayops.analytics import analyze

    return analyze(
        storage, name, range=range_, start=start, end=end,
        subject="model" if model else "endpoint", settings=settings,
    )  # fmt: skip


def analytics(
    name: Annotated[
        str | None, typer.Argument(help="Endpoint name (a model name with --model).")
    ] = None,
    range_: RangeOption = None,
    start: StartOption = None,
    end: EndOption = None,
    fmt: Annotated[
        str, typer.Option("--format", help="table (for people), json or csv (stable schema).")
    ] = "table",
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Write the export to this file.")
    ] = None,
    model: Annotated[
        bool, typer.Option("--model", help="NAME is a model: every endpoint serving it.")
    ] = False,
    target: Annotated[
        list[str] | None, typer.Option("--target", help="Override a target: METRIC=VALUE.")
    ] = None,
    schema: Annotated[
        bool, typer.Option("--schema", help="Print the JSON Schema of the export and exit.")
    ] = False,
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Analytics of an endpoint over a range, as a table, JSON or CSV.

    Each metric's current value vs its baseline and target, trend and status; versions
    compared; feature drift; deployment and timeline; recommendations.

    Example: rayops analytics shop --range 7d --format csv --output shop-7d.csv
    """
    from rayops.errors import InvalidInputError

    with handle_errors(as_json):
        from rayops.analytics.export import schema_text, write_report
        from rayops.storage import open_storage

        if schema:
            typer.echo(schema_text(), nl=False)
            return
        if name is None:
            raise InvalidInputError("Name the endpoint to analyse, e.g. `rayops analytics shop`.")
        kind = "json" if as_json else fmt.lower()
        if kind not in ("table", "json", "csv"):
            raise InvalidInputError(f"--format {fmt!r}: use table, json or csv.")
        report = _report(
            open_storage(storage), name, range_=range_, start=start, end=end, model=model,
            settings=_settings(target),
        )  # fmt: skip
        if kind == "table":
            from rayops.analytics.terminal import render_report

            console.print(render_report(report))
            return
        text = write_report(report, kind, output)
    if output is not None:
        emit({"written": output, "format": kind}, False, lambda d: console.print(
            f"[green]wrote[/] {d['written']} ({d['format']})"
        ))  # fmt: skip
    else:
        typer.echo(text, nl=False)


def dashboard(
    name: Annotated[
        str | None, typer.Argument(help="Endpoint name; omit for an overview of all.")
    ] = None,
    range_: RangeOption = None,
    once: Annotated[bool, typer.Option("--once", help="Print one frame and exit.")] = False,
    interval: Annotated[
        float | None,
        typer.Option(
            "--interval", min=0.1, help="Seconds between refreshes (dashboard_refresh_s)."
        ),
    ] = None,
    frames: Annotated[
        int | None, typer.Option("--frames", min=1, help="Stop after this many frames.")
    ] = None,
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """A live terminal dashboard, refreshed in place (Ctrl-C to quit).

    Metrics with trend arrows, traffic split, health, drift, recent alerts and
    recommendations of one endpoint, or an overview of every endpoint.

    Example: rayops dashboard shop --range 24h --interval 5
    """
    from rayops.config import Settings

    with handle_errors(as_json):
        from rayops.analytics import analyze
        from rayops.analytics.terminal import render_overview, render_report, run_live
        from rayops.serving.endpoints import Endpoints
        from rayops.storage import open_storage

        settings = Settings()
        root = open_storage(storage)

        def reports() -> list[AnalyticsReport]:
            names = [name] if name else Endpoints(root, registry=False).list()
            return [analyze(root, n, range=range_, settings=settings) for n in names]

        def frame() -> RenderableType:
            found = reports()
            return render_report(found[0]) if name else render_overview(found)

        if as_json:
            emit([r.model_dump(mode="json") for r in reports()], True)
            return
        if once:
            console.print(frame())
            return
        run_live(
            frame,
            interval=interval or settings.analytics.dashboard_refresh_s,
            console=console,
            frames=frames,
        )
