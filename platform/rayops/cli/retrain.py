"""`rayops retrain` and `rayops schedules`: automated retraining from the command line.

Thin over :class:`rayops.automation.retrainer.Retrainer`. Ray is imported only
by `--force` (which submits to Ray Jobs) and `--force --local`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rayops.cli._output import JSON_OPTION, StorageOption, console, emit, handle_errors, table

if TYPE_CHECKING:
    from rayops.automation.retrainer import Retrainer

retrain_app = typer.Typer(
    help=(
        "Automated retraining: triggers, schedules and retrain jobs on Ray Jobs.\n\n"
        "Example: rayops retrain --check"
    ),
    invoke_without_command=True,
)
policy_app = typer.Typer(
    help="Retrain policies (one per model).\n\nExample: rayops retrain policy show demand",
    no_args_is_help=True,
)
schedules_app = typer.Typer(
    help=(
        "Retrain schedules: cron expressions (UTC) or intervals.\n\n"
        "Example: rayops schedules add demand --cron '0 2 * * 0'"
    ),
    no_args_is_help=True,
)
retrain_app.add_typer(policy_app, name="policy")

ModelOption = Annotated[str | None, typer.Option("--model", help="Only this model.")]


def register(app: typer.Typer) -> None:
    """Add `rayops retrain` and `rayops schedules` to the top-level app."""
    app.add_typer(retrain_app, name="retrain")
    app.add_typer(schedules_app, name="schedules")


def _retrainer(storage: str | None) -> Retrainer:
    from rayops.automation.retrainer import Retrainer
    from rayops.config import Settings
    from rayops.storage import open_storage

    settings = Settings(storage=storage) if storage else Settings()
    return Retrainer(open_storage(settings.storage, settings), settings=settings)


def _render_checks(reports: list[dict[str, Any]]) -> None:
    for r in reports:
        head = "[bold red]retrain[/]" if any(t["fired"] for t in r["results"]) else "no retrain"
        console.print(f"[bold]{r['model']}[/]: {head} (production {r['production']})")
        rows = [("yes" if t["fired"] else "no", t["name"], t["reason"]) for t in r["results"]]
        console.print(table("triggers", ["fires", "trigger", "why"], rows))


def _render_jobs(jobs: list[dict[str, Any]]) -> None:
    rows = [
        (j["model"], j["id"], j["state"], j["stage"], f"{j['progress']:.0%}", j["trigger"],
         j.get("decision") or "", j.get("candidate") or "",
         j.get("waiting") or j.get("error") or "")
        for j in jobs
    ]  # fmt: skip
    console.print(
        table(
            "retrain jobs",
            [
                "model",
                "job",
                "state",
                "stage",
                "progress",
                "trigger",
                "decision",
                "candidate",
                "waiting / error",
            ],
            rows,
        )  # fmt: skip
    )


@retrain_app.callback()
def retrain(
    ctx: typer.Context,
    check: Annotated[
        bool, typer.Option("--check", help="Show which triggers fire and why; change nothing.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Retrain now (on Ray Jobs), triggers aside.")
    ] = False,
    deploy: Annotated[
        bool,
        typer.Option("--deploy/--no-deploy", help="With --force: canary a better candidate."),
    ] = True,
    local: Annotated[
        bool, typer.Option("--local", help="With --force: run here instead of on Ray Jobs.")
    ] = False,
    model: ModelOption = None,
    address: Annotated[
        str | None, typer.Option("--address", help="With --force --local: Ray address.")
    ] = None,
    watch: Annotated[
        bool, typer.Option("--watch", help="With --force: follow the retrain job to its end.")
    ] = False,
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Check triggers (--check) or start a retrain (--force); see the sub-commands for the rest.

    Example: rayops retrain --force --model demand --deploy
    """
    if ctx.invoked_subcommand is not None:
        return
    if check == force:
        with handle_errors(as_json):
            from rayops.errors import InvalidInputError

            raise InvalidInputError(
                "Say --check (which triggers fire) or --force --model NAME (retrain now), or "
                "use a sub-command: status, history, policy."
            )
    with handle_errors(as_json):
        r = _retrainer(storage)
        if check:
            reports = [rep.model_dump(mode="json") for rep in r.check(model)]
            emit(reports, as_json, _render_checks)
            return
        if model is None:
            from rayops.errors import InvalidInputError

            raise InvalidInputError("--force needs --model NAME.")
        from rayops.cli._progress import status as spinner

        if local:
            from rayops.cli._output import ray_session

            waiting = f"retraining {model} in this process (data, training, comparison)"
            with spinner(waiting, enabled=not as_json), ray_session(address):
                job = r.run_local(model, deploy=deploy)
        else:
            where = r.settings.automation.job_address or "this cluster's Jobs API"
            with spinner(f"submitting the retrain of {model} to {where}", enabled=not as_json):
                job = r.force(model, deploy=deploy)
            if watch:
                job = _follow(r, job, as_json)
    emit([job.model_dump(mode="json")], as_json, _render_jobs)


def _follow(r: Retrainer, job: Any, as_json: bool) -> Any:
    """Poll the job's record (the job writes its stage and progress) until it ends; a
    Ray job that ended without recording its outcome ends the watch too."""
    from rayops.automation.jobs import JobState
    from rayops.cli._progress import watch

    ray_state: dict[str, str] = {}

    def poll() -> Any:
        current = r.jobs.get(job.model, job.id)
        if not current.state.finished and current.ray_job_id:
            ray_state["state"] = r.submitter.status(current.ray_job_id).state
        return current

    def describe(j: Any) -> str:
        if j.state is JobState.QUEUED or j.stage.value == "submitted":
            wait = f"waiting for Ray Jobs to start {j.id} (Ray: {ray_state.get('state', '?')})"
        else:
            wait = f"{j.id}: {j.stage.value} ({j.progress:.0%})"
        return f"retrain of {j.model}: {wait}"

    def finished(j: Any) -> bool:
        return bool(j.state.finished) or ray_state.get("state") in ("FAILED", "STOPPED")

    return watch(poll, describe, finished, enabled=not as_json)


@retrain_app.command("status")
def status(model: ModelOption = None, storage: StorageOption = None,
           as_json: bool = JSON_OPTION) -> None:  # fmt: skip
    """Each model's running retrain (state, stage, progress) or its latest one.

    Example: rayops retrain status --json
    """
    with handle_errors(as_json):
        jobs = [j.model_dump(mode="json") for j in _retrainer(storage).status(model)]
    emit(jobs, as_json, _render_jobs)


@retrain_app.command("history")
def history(
    model: Annotated[str | None, typer.Argument(help="Model (default: every model).")] = None,
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Finished retrains: trigger, reason, times, metrics before/after and the decision.

    Example: rayops retrain history demand
    """
    with handle_errors(as_json):
        jobs = [j.model_dump(mode="json") for j in _retrainer(storage).history(model)]
    emit(jobs, as_json, _render_jobs)


@policy_app.command("set")
def policy_set(
    model: Annotated[str, typer.Argument(help="Registered model name.")],
    features: Annotated[
        str | None, typer.Option("--features", help="Base feature set NAME[@VERSION].")
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option("--endpoint", help="Endpoint serving the model.")
    ] = None,
    target: Annotated[str | None, typer.Option("--target", help="Target column.")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="A YAML/JSON policy (keys as `policy show`).")
    ] = None,
    auto_deploy: Annotated[
        bool, typer.Option("--auto-deploy/--no-auto-deploy", help="Canary better candidates.")
    ] = True,
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Create or replace a model's retrain policy.

    Example: rayops retrain policy set demand --features demand-fs --endpoint shop
    """
    with handle_errors(as_json):
        from rayops.errors import InvalidInputError

        doc: dict[str, Any] = {}
        if file is not None:
            import yaml

            if not file.is_file():
                raise InvalidInputError(f"No policy file at {str(file)!r}.")
            loaded = yaml.safe_load(file.read_text()) or {}
            if not isinstance(loaded, dict):
                raise InvalidInputError(f"{str(file)!r} must hold a mapping.")
            doc = loaded
        doc = {**doc, "model": model}
        for key, value in (("features", features), ("endpoint", endpoint), ("target", target)):
            if value is not None:
                doc[key] = value
        if file is None or not auto_deploy:
            doc["auto_deploy"] = auto_deploy
        if "features" not in doc:
            raise InvalidInputError("A policy needs --features NAME (the base feature set).")
        policy = _retrainer(storage).set_policy(doc)
    emit(policy.model_dump(mode="json"), as_json)


@policy_app.command("show")
def policy_show(model: Annotated[str, typer.Argument(help="Model name.")],
                storage: StorageOption = None, as_json: bool = JSON_OPTION) -> None:  # fmt: skip
    """Show a model's retrain policy.

    Example: rayops retrain policy show demand --json
    """
    with handle_errors(as_json):
        policy = _retrainer(storage).get_policy(model)
    emit(policy.model_dump(mode="json"), as_json)


@policy_app.command("list")
def policy_list(storage: StorageOption = None, as_json: bool = JSON_OPTION) -> None:
    """List retrain policies.

    Example: rayops retrain policy list
    """
    with handle_errors(as_json):
        policies = [p.model_dump(mode="json") for p in _retrainer(storage).list_policies()]
    emit(policies, as_json, lambda d: console.print(table(
        "retrain policies", ["model", "endpoint", "features", "auto deploy", "schedules"],
        [(p["model"], p["endpoint"], p["features"], p["auto_deploy"], len(p["schedules"]))
         for p in d],
    )))  # fmt: skip


@policy_app.command("remove")
def policy_remove(model: Annotated[str, typer.Argument(help="Model name.")],
                  storage: StorageOption = None, as_json: bool = JSON_OPTION) -> None:  # fmt: skip
    """Remove a model's retrain policy (its job history stays).

    Example: rayops retrain policy remove demand
    """
    with handle_errors(as_json):
        _retrainer(storage).remove_policy(model)
    emit({"removed": model}, as_json)


@schedules_app.command("add")
def schedules_add(
    model: Annotated[str, typer.Argument(help="Model with a retrain policy.")],
    cron: Annotated[str | None, typer.Option("--cron", help="Cron, e.g. '0 2 * * 0'.")] = None,
    every: Annotated[str | None, typer.Option("--every", help="Interval, e.g. 24h.")] = None,
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Add a cron (UTC) or interval schedule; it counts from now.

    Example: rayops schedules add demand --cron '0 2 * * 0'
    """
    with handle_errors(as_json):
        schedule = _retrainer(storage).add_schedule(model, cron=cron, every=every)
    emit(schedule.model_dump(mode="json"), as_json)


@schedules_app.command("list")
def schedules_list(storage: StorageOption = None, as_json: bool = JSON_OPTION) -> None:
    """List every schedule with its last and next run.

    Example: rayops schedules list --json
    """
    with handle_errors(as_json):
        rows = _retrainer(storage).schedules()
    emit(rows, as_json, lambda d: console.print(table(
        "schedules", ["model", "schedule", "last", "next run"],
        [(r["model"], r["schedule"], r["last"], r["next_run"]) for r in d],
    )))  # fmt: skip


@schedules_app.command("remove")
def schedules_remove(
    model: Annotated[str, typer.Argument(help="Model name.")],
    schedule: Annotated[
        str, typer.Argument(help="'cron 0 2 * * 0', 'every 24h' or the expression.")
    ],
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Remove a schedule.

    Example: rayops schedules remove demand '0 2 * * 0'
    """
    with handle_errors(as_json):
        _retrainer(storage).remove_schedule(model, schedule)
    emit({"removed": schedule, "model": model}, as_json)
