"""`rayops predict-batch` and `rayops batch`: batch scoring on Ray Data, and its jobs."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from rayops.cli._output import JSON_OPTION, StorageOption, console, emit, handle_errors, table

batch_app = typer.Typer(
    help="Batch scoring jobs and their outputs.\n\nExample: rayops batch list",
    no_args_is_help=True,
)

OutputOption = Annotated[
    str | None,
    typer.Option(
        "--output",
        help="Output root URI (a path or s3://...); results go to batch/<job_id>/ under it. "
        "Default: the storage root.",
    ),
]


def register(app: typer.Typer) -> None:
    """Add `rayops predict-batch` and `rayops batch` to the top-level app."""
    app.command("predict-batch")(predict_batch)
    app.add_typer(batch_app, name="batch")


def predict_batch(
    model: Annotated[str, typer.Argument(help="NAME, NAME@VERSION or NAME@ALIAS to score with.")],
    features: Annotated[
        str | None, typer.Option("--features", help="Feature set NAME or NAME@VERSION.")
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            "--data", help="Parquet file, folder or glob: /path/*.parquet or s3://bucket/x/*."
        ),
    ] = None,
    output: OutputOption = None,
    explain: Annotated[
        bool,
        typer.Option("--explain", help="Add per-feature contributions (c_<feature>, c_bias)."),
    ] = False,
    id_columns: Annotated[
        str | None, typer.Option("--id-columns", help="Input columns to copy, e.g. user_id,day.")
    ] = None,
    label: Annotated[
        str | None,
        typer.Option("--label", help="Column with true values (default: the target, if present)."),
    ] = None,
    job_id: Annotated[
        str | None,
        typer.Option("--job-id", help="Job id (default: derived from model, input and options)."),
    ] = None,
    address: Annotated[
        str | None, typer.Option("--address", help="Ray cluster address (default: local).")
    ] = None,
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Score a registered model over a feature set or Parquet files on Ray Data.

    Scoring actors each load the model once and read, score and write one part of
    the input (a few row groups of one file) per call, in parallel across the
    cluster. Results: batch/<job_id>/part-*.parquet under --output, manifest.json
    last. Running the same command again resumes the job: parts already written
    are skipped.

    Example: rayops predict-batch churn@production --features churn-fs --id-columns user_id
    """
    from rayops.batch import run_batch
    from rayops.cli._output import ray_session
    from rayops.cli._progress import batch_bar
    from rayops.config import load_settings
    from rayops.storage import open_storage

    with handle_errors(as_json):
        settings = load_settings(storage=storage)
        store = open_storage(settings.storage, settings)
        ids = [c.strip() for c in (id_columns or "").split(",") if c.strip()]
        with ray_session(address), batch_bar(not as_json) as progress:
            manifest = run_batch(
                store, model, features=features, data=data, output=output, id_columns=ids,
                label=label, explain=explain, job_id=job_id, settings=settings,
                progress=progress, quiet=not as_json,
            )  # fmt: skip
    emit(manifest.model_dump(mode="json"), as_json, _render_manifest)


def _render_manifest(m: dict[str, Any]) -> None:
    d = m["definition"]
    source = d["input"]
    where = (
        f"{source['feature_set']}@{source['version']}"
        if source["kind"] == "feature_set"
        else f"{len(source['files'])} file(s) at {source['uri']}"
    )
    nodes = len({p["node_id"] for p in m["parts"]})
    console.print(
        f"scored [bold]{m['rows']:,}[/] rows of {where} with [bold]{d['model']}[/] in "
        f"{len(m['parts'])} part(s) on {nodes} node(s) ({m['seconds']:.1f}s"
        + (f", {m['resumed_parts']} part(s) from an earlier run" if m["resumed_parts"] else "")
        + ")",
        highlight=False,
    )
    console.print(f"output {m['output'].rstrip('/')}/batch/{m['job_id']}/", highlight=False)
    if m.get("metrics"):
        console.print(
            "metrics: "
            + "  ".join(f"{k} {v:.4g}" for k, v in m["metrics"].items() if isinstance(v, float)),
            highlight=False,
        )
    console.print(f"job {m['job_id']}", highlight=False)


@batch_app.command("list")
def list_cmd(output: OutputOption = None, storage: StorageOption = None,
             as_json: bool = JSON_OPTION) -> None:  # fmt: skip
    """Batch jobs under the output root: complete ones and those still missing parts.

    Example: rayops batch list --output s3://bucket/scores
    """
    from rayops.batch import list_jobs

    with handle_errors(as_json):
        jobs = list_jobs(_output(output, storage))
    emit(jobs, as_json, _render_list)


def _render_list(jobs: list[dict[str, Any]]) -> None:
    rows = [
        (j["job_id"], j["state"], j["model"], _source(j["input"]),
         f"{j.get('rows_done', j['rows']):,}/{j['rows']:,}", j["created_at"][:19])
        for j in jobs
    ]  # fmt: skip
    console.print(table("batch jobs", ["job", "state", "model", "input", "rows", "created"], rows))


def _source(i: dict[str, Any]) -> str:
    if i["source"] == "feature_set":
        return f"{i['feature_set']}@{i['version']}"
    return f"{len(i['files'])} file(s) at {i['uri']}"


@batch_app.command("show")
def show(
    job_id: Annotated[str, typer.Argument(help="The batch job id.")],
    output: OutputOption = None,
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """One batch job: its manifest, or how far an incomplete one got.

    Example: rayops batch show churn-3f2a9c01b7de --json
    """
    from rayops.batch import get_job

    with handle_errors(as_json):
        job = get_job(_output(output, storage), job_id)
    emit(job, as_json, _render_job)


def _render_job(j: dict[str, Any]) -> None:
    if j["state"] == "complete":
        _render_manifest(j["manifest"])
        return
    console.print(
        f"job {j['job_id']}: [yellow]incomplete[/], {j['parts_done']}/{j['parts']} parts "
        f"({j['rows_done']:,}/{j['rows']:,} rows) of {j['model']} on {_source(j['input'])}; "
        "run the same predict-batch command to finish it",
        highlight=False,
    )


def _output(output: str | None, storage: str | None) -> Any:
    from rayops.config import load_settings
    from rayops.storage import open_storage

    settings = load_settings(storage=storage)
    return open_storage(output or settings.storage, settings)
