"""``rayops tune`` (search with k-fold CV on Ray Tune) and ``rayops runs`` (its results)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from rayops.cli._output import (
    JSON_OPTION,
    StorageOption,
    console,
    emit,
    err_console,
    handle_errors,
    ray_session,
    table,
)

runs_app = typer.Typer(
    help="Tuning runs stored under runs/<run_id>/.\n\nExample: rayops runs list --json",
    no_args_is_help=True,
)


def _fmt(x: Any) -> str:
    return f"{x:.4f}" if isinstance(x, float) else ("" if x is None else str(x))


def tune(
    config: Annotated[str, typer.Option("--config", help="Search-space YAML file.")],
    features: Annotated[
        str | None, typer.Option("--features", help="Feature set NAME or NAME@VERSION.")
    ] = None,
    data: Annotated[
        str | None, typer.Option("--data", help="A Parquet file instead of a feature set.")
    ] = None,
    target: Annotated[
        str | None, typer.Option("--target", help="Target column (default: the set's target).")
    ] = None,
    task: Annotated[
        str,
        typer.Option(
            "--task",
            help="auto, regression, binary or multiclass (auto: inferred from the target).",
        ),
    ] = "auto",
    metric: Annotated[
        str | None,
        typer.Option(
            "--metric",
            help="Selection metric (default: rmse, or logloss for a classifier; e.g. auc).",
        ),
    ] = None,
    folds: Annotated[
        int | None, typer.Option("--folds", min=2, help="CV folds (default: config's, or 5).")
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="Column to keep out of the features.")
    ] = None,
    select_features: Annotated[
        bool, typer.Option("--select-features", help="Select features for the best config.")
    ] = False,
    selection_method: Annotated[
        str, typer.Option("--selection-method", help="gain or permutation.")
    ] = "gain",
    top_k: Annotated[int | None, typer.Option("--top-k", min=1, help="Features to keep.")] = None,
    threshold: Annotated[
        float | None,
        typer.Option("--threshold", min=0.0, max=1.0, help="Or keep features with this share."),
    ] = None,
    register: Annotated[
        str | None, typer.Option("--register", help="Register the refit best model as NAME.")
    ] = None,
    storage: StorageOption = None,
    address: Annotated[
        str | None, typer.Option("--address", help="Ray cluster address (default: local).")
    ] = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Search hyperparameters with k-fold cross-validation on Ray Tune.

    Every configuration, and a linear baseline (logistic regression for a
    classifier), is scored on the same folds (stratified for a classifier); the
    best is refit on all rows, stored under runs/<run_id>/ and, with --register,
    registered as a model version.

    Example: rayops tune --config tune_configs/xgboost_grid.yaml --features sales@3 --target y
    """
    import argparse

    with handle_errors(as_json):
        from rayops.errors import InvalidInputError

        if (features is None) == (data is None):
            raise InvalidInputError("Give exactly one of --features NAME[@VERSION] or --data PATH.")
        if selection_method not in ("gain", "permutation"):
            raise InvalidInputError("--selection-method must be gain or permutation.")
        from rayops.tasks import Task
        from rayops.training.spaces import load_space
        from rayops.training.targets import check_task_name

        task = check_task_name(task)  # bad options fail here, before Ray starts
        space = load_space(config)
        if task != "auto":
            space.objective_for(Task.of(task))
            space.metric_for(Task.of(task), metric)
        args = argparse.Namespace(
            config=config, features=features, data=data, target=target, folds=folds,
            task=task, metric=metric,
            exclude=exclude or [], select_features=select_features,
            selection_method=selection_method, top_k=top_k, threshold=threshold,
            register=register, storage=storage,
        )  # fmt: skip
        summary = _run_with_progress(args, address, show=not as_json)
    emit(summary, as_json, _render_summary)


def _run_with_progress(args: Any, address: str | None, *, show: bool) -> dict[str, Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from rayops.jobs.tune import run

    with ray_session(address):
        with Progress(
            TextColumn("[bold]tuning"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[best]}"), TimeElapsedColumn(),
            console=err_console, disable=not show, transient=False,
        ) as bar:  # fmt: skip
            task = bar.add_task("tune", total=None, best="")

            def progress(done: int, total: int, best: float | None) -> None:
                shown = "" if best is None else f"best {best:.4f}"
                bar.update(task, completed=done, total=total, best=shown)

            summary: dict[str, Any] = run(args, progress=progress)
    return summary


#: The extra CV columns of the summary table, by task.
_SHOWN = {
    "regression": (("r2", "R²"), ("accuracy", "acc±T")),
    "binary": (("auc", "AUC"), ("accuracy", "accuracy")),
    "multiclass": (("accuracy", "accuracy"), ("macro_f1", "macro F1")),
}


def _render_summary(d: dict[str, Any]) -> None:
    metric = d["metric"]
    shown = [(m, name) for m, name in _SHOWN[d.get("task") or "regression"] if m != metric]
    rows = [
        [label, _fmt(part["score"]), *(_fmt(part["metrics"].get(f"{m}_mean")) for m, _ in shown)]
        for label, part in (("best xgboost", d["best"]), ("linear baseline", d["baseline"]))
    ]
    if d.get("task") not in (None, "regression"):
        rows[1][0] = "logistic baseline"
        console.print(f"task {d['task']}, classes {d.get('classes')}, objective {d['objective']}")
    console.print(
        table(f"run {d['run_id']}", ["model", f"{metric} (CV mean)", *(n for _, n in shown)], rows)
    )
    console.print(f"best params: {d['best']['params']}")
    sel = d.get("selection")
    if sel:
        console.print(
            f"selected {len(sel['selected'])} features ({sel['method']}): {sel['selected']}; "
            f"{metric} with {_fmt(sel['score_with'][f'{metric}_mean'])}, "
            f"without {_fmt(sel['score_without'][f'{metric}_mean'])}"
        )
    if d.get("registered"):
        console.print(f"registered {d['registered']['name']}@{d['registered']['version']}")
    console.print(f"{d['configs']} configs in {d['seconds']:.1f}s; stored in {d['storage']}")


@runs_app.command("list")
def runs_list(storage: StorageOption = None, as_json: bool = JSON_OPTION) -> None:
    """List tuning runs, newest first.

    Example: rayops runs list --storage /tmp/rayops --json
    """
    from rayops.storage import open_storage
    from rayops.training.runs import list_runs

    with handle_errors(as_json):
        runs = list_runs(open_storage(storage))
    cols = ["run_id", "config", "metric", "best_score", "baseline_score", "configs", "model"]
    emit(
        runs,
        as_json,
        lambda rs: console.print(table("runs", cols, [[_fmt(r.get(c)) for c in cols] for r in rs])),
    )


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="The run id (see `rayops runs list`).")],
    storage: StorageOption = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Best configurations to show.")] = 10,
    as_json: bool = JSON_OPTION,
) -> None:
    """Show one run: its best configuration, baseline, selection and top trials.

    Example: rayops runs show 20261122T142301Z-3f9a1c --json
    """
    from rayops.storage import open_storage
    from rayops.training.runs import get_run, read_trials

    with handle_errors(as_json):
        s = open_storage(storage)
        run = get_run(s, run_id)
        trials = read_trials(s, run_id)
    metric = run["metric"]
    ranked = trials[trials["status"] == "completed"].sort_values("rank").head(top)
    run["top_trials"] = [
        {"rank": int(r["rank"]), "params": r["params_json"], f"{metric}_mean": r[f"{metric}_mean"],
         f"{metric}_std": r[f"{metric}_std"]}
        for _, r in ranked.iterrows()
    ]  # fmt: skip

    def render(d: dict[str, Any]) -> None:
        console.print(
            f"run {d['run_id']} ({d.get('config_name')}), {d['n_configs']} configs, "
            f"{d['cv']['folds']}-fold {d['cv']['strategy']}, data {d['data']}"
        )
        rows = [[t["rank"], t["params"], _fmt(t[f"{metric}_mean"]), _fmt(t[f"{metric}_std"])]
                for t in d["top_trials"]]  # fmt: skip
        console.print(table("best configurations", ["rank", "params", metric, "std"], rows))
        console.print(f"baseline {metric}: {_fmt(d['baseline']['score'])}")
        if d.get("selection"):
            console.print(f"selected features: {d['selection']['selected']}")

    emit(run, as_json, render)


@runs_app.command("export")
def runs_export(
    run_id: Annotated[str, typer.Argument(help="The run id (see `rayops runs list`).")],
    mlflow_uri: Annotated[
        str,
        typer.Option(
            "--mlflow",
            metavar="URI",
            help="MLflow tracking store: a directory or file:///path (file store) or a server URL.",
        ),
    ],
    experiment: Annotated[
        str | None,
        typer.Option(
            "--experiment", help="MLflow experiment (default: RAYOPS_REGISTRY_MLFLOW_EXPERIMENT)."
        ),
    ] = None,
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Write a tune run to MLflow: one parent run, one child run per configuration (params,
    fold-mean and std metrics, each fold as a step; the best tagged rayops.best=true).

    Exporting a run again returns the earlier export.

    Example: rayops runs export 20261122T142301Z-3f9a1c --mlflow http://127.0.0.1:5000
    """
    with handle_errors(as_json):
        from rayops.interop import export_run
        from rayops.storage import open_storage

        out = export_run(
            open_storage(storage), run_id, mlflow_uri, experiment=experiment
        ).model_dump(mode="json")
    emit(
        out,
        as_json,
        lambda d: console.print(
            f"run {d['run_id']} -> MLflow run {d['parent_run_id']} with {d['children']} "
            f"children (best {d['best_child_run_id']})"
            + (" [already exported]" if d["already_exported"] else "")
        ),
    )


def register(app: typer.Typer) -> None:
    """Add this capability's commands to the top-level `rayops` app."""
    app.command("tune")(tune)
    app.add_typer(runs_app, name="runs")
