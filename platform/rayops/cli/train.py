"""``rayops train``: train, evaluate, compare with production and register one model."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from rayops.cli._output import (
    JSON_OPTION,
    StorageOption,
    console,
    emit,
    handle_errors,
    ray_session,
)


def train(
    features: Annotated[
        str | None, typer.Option("--features", help="Feature set NAME or NAME@VERSION.")
    ] = None,
    data: Annotated[
        str | None, typer.Option("--data", help="A local Parquet file instead of a feature set.")
    ] = None,
    target: Annotated[
        str | None, typer.Option("--target", help="Column to predict (default: the target role).")
    ] = None,
    task: Annotated[
        str,
        typer.Option(
            "--task",
            help="auto, regression, binary or multiclass (auto: from the parameters' "
            "objective, else inferred from the target).",
        ),
    ] = "auto",
    params: Annotated[
        str | None, typer.Option("--params", help="YAML/JSON file of XGBoost parameters.")
    ] = None,
    from_run: Annotated[
        str | None, typer.Option("--from-run", help="Use the best parameters of a tune run.")
    ] = None,
    rounds: Annotated[int, typer.Option("--rounds", min=1, help="Boosting rounds.")] = 100,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="Ray Train workers (default: automatic)."),
    ] = None,
    register: Annotated[
        str | None, typer.Option("--register", help="Register the model under this name.")
    ] = None,
    interval_context: Annotated[
        str | None,
        typer.Option(
            "--interval-context",
            help="Columns (comma-separated) whose values get their own conformal intervals "
            "(Mondrian), e.g. region,plan.",
        ),
    ] = None,
    address: Annotated[
        str | None, typer.Option("--address", help="Ray cluster address (default: local).")
    ] = None,
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Train an XGBoost model on a feature set version and register it.

    Small data trains in one Ray task; large data (or --workers 2+) on Ray Train
    with checkpoints under the storage root. 20% of rows are held out and scored
    (the latest by event time when the feature set has one; else a sample,
    stratified for a classifier); if the model name has a production version it
    is scored on the same rows and the promotion gate compares the two.

    Example: rayops train --features sales@3 --target y --from-run RUN_ID --register sales-xgb
    """
    from rayops.config import Settings
    from rayops.storage import open_storage
    from rayops.training.pipeline import load_params, run_training
    from rayops.training.targets import check_task_name

    with handle_errors(as_json):
        task = check_task_name(task)
        settings = Settings(storage=storage) if storage else Settings()
        store = open_storage(settings.storage, settings)
        loaded = load_params(store, params_file=params, from_run=from_run)
        from rayops.cli._progress import status

        with status("starting Ray", enabled=not as_json) as say, ray_session(address):
            record = run_training(
                store,
                target=target,
                features=features,
                data=data,
                params=loaded,
                num_boost_round=rounds,
                workers=workers,
                register=register,
                settings=settings,
                task=task,
                interval_context=[c.strip() for c in (interval_context or "").split(",")
                                  if c.strip()],
                progress=say,
            )  # fmt: skip
    emit(record, as_json, _render)


def _render(r: dict[str, Any]) -> None:
    t, h = r["training"], r["holdout"]
    console.print(
        f"trained on [bold]{r['rows']['train']}[/] rows via [bold]{t['path']}[/] "
        f"({t['workers']} worker(s), {t['rounds']} rounds, {t['seconds']:.1f}s)"
    )
    task = r.get("task") or "regression"
    if task == "regression":
        console.print(
            f"holdout ({r['rows']['holdout']} rows): rmse {h['rmse']:.4f}  mae {h['mae']:.4f}  "
            f"r2 {h['r2']:.4f}  accuracy {h['accuracy']:.1%}"
        )
    else:
        shown = "  ".join(
            f"{k} {v:.4f}" for k, v in h.items() if isinstance(v, float) and "[" not in k
        )
        console.print(f"{task} classifier of {r['classes']} ({r['objective']})")
        console.print(f"holdout ({r['rows']['holdout']} rows): {shown}")
    prod = r.get("production")
    if prod:
        verdict = "[green]better[/]" if prod["candidate_better"] else "[red]not better[/]"
        console.print(
            f"production {prod['version']} on the same rows -> candidate is {verdict} "
            f"({prod['reason']})"
        )
    if r.get("model"):
        console.print(f"registered [bold]{r['model']['ref']}[/]")
    console.print(f"run {r['run_id']}")


def register(app: typer.Typer) -> None:
    """Add ``rayops train`` to the top-level app."""
    app.command("train")(train)
