"""Top-level ``rayops`` commands. Each sub-command group lives in its own module."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from rayops._version import __version__
from rayops.cli import analytics as analytics_cli
from rayops.cli import batch as batch_cli
from rayops.cli import features as features_cli
from rayops.cli import gateway as gateway_cli
from rayops.cli import logs as logs_cli
from rayops.cli import models as models_cli
from rayops.cli import monitor as monitor_cli
from rayops.cli import online as online_cli
from rayops.cli import retrain as retrain_cli
from rayops.cli import rollout as rollout_cli
from rayops.cli import serve as serve_cli
from rayops.cli import train as train_cli
from rayops.cli import tune as tune_cli
from rayops.cli._output import (
    JSON_OPTION,
    StorageOption,
    console,
    emit,
    err_console,
    handle_errors,
    table,
)

app = typer.Typer(
    name="rayops",
    help=(
        "rayops: the MLOps loop for tabular models on Ray.\n\n"
        "Storage is chosen by RAYOPS_STORAGE (a path or s3://bucket/prefix); "
        "see `rayops config`.\n\n"
        "Example: rayops quickstart"
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
storage_app = typer.Typer(help="Inspect the storage root.\n\nExample: rayops storage check")
app.add_typer(storage_app, name="storage")
# Each capability's commands live in their own module.
for _module in (
    features_cli,
    models_cli,
    tune_cli,
    train_cli,
    serve_cli,
    rollout_cli,
    analytics_cli,
    monitor_cli,
    retrain_cli,
    online_cli,
    logs_cli,
    batch_cli,
    gateway_cli,
):
    _module.register(app)


@app.command()
def version(as_json: bool = JSON_OPTION) -> None:
    """Print the rayops version.

    Example: rayops version --json
    """
    emit({"version": __version__}, as_json, lambda d: console.print(d["version"]))


@app.command()
def config(
    as_json: bool = JSON_OPTION,
    markdown: bool = typer.Option(
        False, "--markdown", help="Print the documented defaults as the README's table."
    ),
) -> None:
    """Show every setting, its environment variable and its current value.

    Example: RAYOPS_STORAGE=s3://bucket/rayops rayops config
    """
    from rayops.config import Settings

    if markdown:
        typer.echo(Settings.markdown_table(), nl=False)
        return
    with handle_errors(as_json):
        rows = Settings().describe()
    # A misspelt variable is otherwise silently ignored: say so (stderr keeps --json clean).
    for name in Settings.unknown_env():
        err_console.print(
            f"[yellow]warning:[/] {name} matches no rayops setting and is ignored; "
            "check its spelling against the list below.",
            highlight=False,
        )
    emit(
        [dict(zip(("setting", "env", "value", "description"), r, strict=True)) for r in rows],
        as_json,
        lambda _: console.print(
            table("rayops settings", ["setting", "env", "value", "description"], rows)
        ),
    )


@storage_app.command("check")
def storage_check(storage: StorageOption = None, as_json: bool = JSON_OPTION) -> None:
    """Prove the storage root does what rayops relies on: write, read and delete a probe
    object; put-if-absent refuses a second writer; compare-and-swap refuses a stale
    version. An S3 server that ignores If-None-Match / If-Match fails here.

    Probe objects live under _rayops/probe/<uuid>/ and are always deleted. Exits 5 when a
    probe fails; --json lists every probe with its status, duration and error.

    Example: AWS_ENDPOINT_URL=http://127.0.0.1:9000 rayops storage check --storage s3://bkt/rayops
    """
    from rayops.cli._output import err_console
    from rayops.errors import exit_code
    from rayops.storage import open_storage

    with handle_errors(as_json):
        report = open_storage(storage).check(raise_on_failure=False)
    data = report.model_dump(mode="json")
    failure = report.failure
    if failure is not None:
        data.update(error=type(failure).__name__, message=str(failure))

    def render(d: dict[str, Any]) -> None:
        rows = [
            (p["name"], p["status"], f"{p['duration_ms']:.0f}", p["proves"], p["message"])
            for p in d["probes"]
        ]
        console.print(
            table(f"storage check {d['uri']}", ["probe", "status", "ms", "proves", "error"], rows)
        )
        if d["ok"]:
            console.print(f"[green]ok[/] {d['uri']}")

    emit(data, as_json, render)
    if failure is not None:
        err_console.print(f"[bold red]error:[/] {failure}", highlight=False, soft_wrap=True)
        raise typer.Exit(exit_code(failure))


@app.command()
def quickstart(
    storage: StorageOption = None,
    rows: Annotated[int, typer.Option(min=2_000, help="Rows of synthetic data.")] = 8_000,
    address: Annotated[
        str | None, typer.Option("--address", help="Ray cluster address (default: local).")
    ] = None,
    port: Annotated[int, typer.Option("--port", help="HTTP port of the gateway.")] = 8000,
    task: Annotated[
        str,
        typer.Option(
            "--task",
            help="regression (demand in units, judged by RMSE/MAE) or binary (churn-like "
            "string labels, 20% positive, judged by log loss).",
        ),
    ] = "regression",
    keep_serving: Annotated[
        bool,
        typer.Option(
            "--keep-serving", help="Leave the endpoints and the dashboard up until Ctrl-C."
        ),
    ] = False,
    as_json: bool = JSON_OPTION,
) -> None:
    """Run the whole rayops loop end to end on local defaults (two to three minutes).

    Synthetic data with a drift point becomes a versioned feature set; Ray Tune
    searches a small XGBoost grid with 3-fold CV against a linear baseline; the best
    parameters are trained, registered and promoted; a stacked ensemble joins it; the
    gateway and the control loop start on Ray Serve. Traffic with feedback flows; after
    the drift point the control loop flags the feature drift, fires the retrain
    trigger, runs the retrain as a Ray job, canaries the better candidate on live
    traffic and promotes it. An analytics summary and the dashboard URL end the run.

    With --task binary the same loop runs on generated classification data: labels
    and probabilities are served, labels fed back, and every decision uses log loss.

    Example: rayops quickstart --storage /tmp/rayops-demo --keep-serving
    Example: rayops quickstart --task binary
    """
    from rayops.cli._output import ray_session
    from rayops.quickstart import run_quickstart

    with handle_errors(as_json), ray_session(address):
        report = run_quickstart(
            storage=storage,
            rows=rows,
            echo=None if as_json else console.print,
            port=port,
            keep_serving=keep_serving,
            task=task,
        )
        emit(
            report,
            as_json,
            lambda d: console.print(
                f"[bold green]done[/] in {d['seconds']:.1f}s; artifacts in {d['storage']}"
            ),
        )
        if keep_serving:
            import time

            console.print(
                f"serving at {report['url']}, dashboard {report['dashboard']}; Ctrl-C to stop",
                highlight=False,
            )
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
