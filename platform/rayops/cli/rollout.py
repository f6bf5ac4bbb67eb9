"""`rayops deploy|promote|rollback|status|history` and `rayops controller`.

Thin over :class:`rayops.rollout.Rollouts` (rollouts) and :mod:`rayops.control`
(the control loop that analyzes them). Ray is imported only by the commands
that start or reach the controller, so `rayops --help` stays instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from rayops.cli._output import (
    JSON_OPTION,
    StorageOption,
    console,
    current_user,
    emit,
    handle_errors,
    table,
)

if TYPE_CHECKING:
    from rayops.rollout import Rollouts

controller_app = typer.Typer(
    help=(
        "The control loop that analyzes rollouts (and runs monitoring, online learning and "
        "retraining) inside the cluster.\n\nExample: rayops controller start"
    ),
    no_args_is_help=True,
)

ReasonOption = Annotated[str | None, typer.Option("--reason", help="Why (kept in history).")]
EndpointArg = Annotated[str, typer.Argument(help="Endpoint name.")]


def register(app: typer.Typer) -> None:
    """Add the rollout verbs and `rayops controller` to the top-level app."""
    app.command("deploy")(deploy)
    app.command("promote")(promote)
    app.command("rollback")(rollback)
    app.command("status")(status)
    app.command("history")(history)
    app.add_typer(controller_app, name="controller")


def _rollouts(storage: str | None) -> Rollouts:
    from rayops.rollout import Rollouts
    from rayops.storage import open_storage

    return Rollouts(open_storage(storage))


def _thresholds(items: list[str]) -> dict[str, Any]:
    from rayops.errors import InvalidInputError
    from rayops.rollout import Thresholds

    known = set(Thresholds.model_fields) | {"test"}  # "test": the A/B test's older name
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in known:
            raise InvalidInputError(
                f"--threshold {item!r}: use KEY=VALUE with KEY one of {', '.join(sorted(known))}."
            )
        out[key] = value.strip()
    return out


def _render_rollout(d: dict[str, Any]) -> None:
    r = d["rollout"] if "rollout" in d else d
    console.print(
        f"[bold]{r['endpoint']}[/]: {r['strategy']} of {r['candidate']} over {r['stable']} — "
        f"[bold]{r['status']}[/] at step {r['step'] + 1}/{len(r['steps'])} "
        f"({r['steps'][min(r['step'], len(r['steps']) - 1)]}%)",
        highlight=False,
    )
    if r.get("verdict"):
        console.print(f"last verdict: {r['verdict']} — {r.get('reason') or ''}", highlight=False)
    guard = r.get("guard")
    if guard:
        console.print(
            f"post-deploy guard: [bold]{guard['status']}[/] — {guard['labeled']}/"
            f"{guard['window_rows']} labeled rows, {guard['analyses']} checks, "
            f"{guard['failures']}/{guard['failures_needed']} consecutive failing"
            + (f" — {guard['reason']}" if guard.get("reason") else ""),
            highlight=False,
        )
    if "weights" in d:
        rows = [(ref, f"{w}%") for ref, w in d["weights"].items()]
        if d.get("shadow"):
            rows.append((d["shadow"], "shadow"))
        console.print(table("traffic", ["version", "share"], rows))
    if d.get("analyses"):
        console.print(table("analysis over time", *analysis_chart(d["analyses"])))


def analysis_chart(points: list[dict[str, Any]], width: int = 24) -> tuple[list[str], list[Any]]:
    """Columns and rows of the analysis chart: per analysis, stable's and the candidate's
    loss (the task's primary metric) as bars on one scale, the gate's verdict and p-value.

    Example:
        >>> cols, rows = analysis_chart([{"time": "2026-01-01T12:00:05Z", "phase": "guard",
        ...     "weight": 100, "metric": "rmse", "stable_metric": 1.0, "candidate_metric": 2.0,
        ...     "gate": "worse", "p_value": 0.001, "verdict": "breach"}], width=4)
        >>> rows[0][3], rows[0][4]
        ('1 ██', '2 ████')
    """
    values = [
        v for p in points for v in (p.get("stable_metric"), p.get("candidate_metric"))
        if v is not None
    ]  # fmt: skip
    top = max(values, default=0.0) or 1.0

    def bar(v: float | None) -> str:
        if v is None:
            return "—"
        return f"{v:.4g} " + "█" * max(1, round(width * v / top))

    rows = [
        (
            str(p["time"])[11:19], p["phase"], f"{p.get('weight', 0)}%",
            bar(p.get("stable_metric")), bar(p.get("candidate_metric")),
            p.get("gate") or "—",
            "—" if p.get("p_value") is None else f"{p['p_value']:.2g}", p["verdict"],
        )
        for p in points
    ]  # fmt: skip
    metric = next((p["metric"] for p in points if p.get("metric")), "loss")
    cols = ["time", "phase", "weight", f"stable {metric}", f"candidate {metric}", "gate", "p",
            "verdict"]  # fmt: skip
    return cols, rows


def deploy(
    endpoint: EndpointArg,
    model: Annotated[str, typer.Argument(help="MODEL@VERSION (or MODEL@ALIAS) to roll out.")],
    strategy: Annotated[
        str, typer.Option("--strategy", help="full, canary, ab or shadow.")
    ] = "canary",
    steps: Annotated[
        str | None,
        typer.Option(
            "--steps", help="Canary steps in percent (default 5,25,50,100); ab: one split."
        ),
    ] = None,
    interval: Annotated[
        str | None,
        typer.Option("--interval", help="Traffic analyzed per step, e.g. 60s, 5m (default 60s)."),
    ] = None,
    auto_promote: Annotated[
        bool,
        typer.Option("--auto-promote", help="ab/shadow: promote a winner without an operator."),
    ] = False,
    threshold: Annotated[
        list[str] | None,
        typer.Option(
            "--threshold",
            help="Override an analysis limit, e.g. max_latency_p95_ms=150, min_samples=50.",
        ),
    ] = None,
    reason: ReasonOption = None,
    watch: Annotated[
        bool,
        typer.Option("--watch", help="Follow the rollout to its end (promoted or rolled back)."),
    ] = False,
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Start rolling a registered version out on an endpoint.

    The control loop (`rayops controller start`) analyzes each step on live traffic
    and feedback: too few samples hold, healthy advances, a breach rolls back.
    With --watch the command follows it (Ctrl-C stops watching, not the rollout).
    On an endpoint that does not exist yet, deploy creates it serving the version.
    Once a version takes all the traffic, the post-deploy guard watches it against
    the version it replaced and rolls it back on sustained degradation.

    Example: rayops deploy churn churn@1.3.0 --strategy canary --steps 5,25,50,100 --interval 60s
    """
    with handle_errors(as_json):
        doc = _rollouts(storage).deploy(
            endpoint,
            model,
            strategy=strategy,
            steps=steps,
            interval=interval,
            auto_promote=auto_promote,
            thresholds=_thresholds(threshold or []),
            actor=current_user(),
            reason=reason,
        )
        if watch:
            from rayops.cli._progress import watch as follow

            rollouts = _rollouts(storage)
            final = follow(
                lambda: rollouts.status(endpoint),
                _waiting_for,
                lambda d: d["rollout"]["status"] in ("promoted", "rolled_back", "aborted"),
                enabled=not as_json,
            )
            emit(final, as_json, _render_rollout)
            return
    emit(doc.model_dump(mode="json"), as_json, _render_rollout)


def _waiting_for(d: dict[str, Any]) -> str:
    r = d["rollout"]
    share = ", ".join(f"{ref} {w}%" for ref, w in d["weights"].items())
    verdict = f"; last verdict {r['verdict']}: {r.get('reason') or ''}" if r.get("verdict") else ""
    return (
        f"{r['strategy']} of {r['candidate']}: {r['status']}, step {r['step'] + 1}/"
        f"{len(r['steps'])} ({share}){verdict} — waiting for the control loop's next analysis"
    )


def promote(
    endpoint: EndpointArg,
    reason: ReasonOption = None,
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Give the candidate 100% of traffic and move the `production` alias to it.

    Example: rayops promote churn --reason "A/B winner"
    """
    with handle_errors(as_json):
        doc = _rollouts(storage).promote(endpoint, actor=current_user(), reason=reason)
    emit(doc.model_dump(mode="json"), as_json, _render_rollout)


def rollback(
    endpoint: EndpointArg,
    to: Annotated[
        str | None, typer.Option("--to", help="VERSION or MODEL@VERSION (default: stable).")
    ] = None,
    reason: ReasonOption = None,
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Put 100% of traffic back on the stable version (or --to) at once; aliases follow.

    Example: rayops rollback churn --reason "complaints from support"
    """
    with handle_errors(as_json):
        doc = _rollouts(storage).rollback(endpoint, to=to, actor=current_user(), reason=reason)
    emit(doc.model_dump(mode="json"), as_json, _render_rollout)


def status(
    endpoint: EndpointArg, storage: StorageOption = None, as_json: bool = JSON_OPTION
) -> None:
    """Show an endpoint's rollout: weights, step, the post-deploy guard, and every analysis
    so far (canary steps and guard checks) as a chart of stable's against the candidate's
    loss, with the gate's verdict and p-value.

    Example: rayops status churn --json
    """
    with handle_errors(as_json):
        doc = _rollouts(storage).status(endpoint)
    emit(doc, as_json, _render_rollout)


def history(
    endpoint: EndpointArg, storage: StorageOption = None, as_json: bool = JSON_OPTION
) -> None:
    """List every deploy, step, hold, promotion and rollback with its reason.

    Example: rayops history churn
    """
    with handle_errors(as_json):
        events = [e.model_dump(mode="json") for e in _rollouts(storage).history(endpoint)]
    emit(
        events,
        as_json,
        lambda d: console.print(
            table(
                f"rollout history of {endpoint}",
                ["time", "event", "candidate", "weight", "status", "reason"],
                [
                    (
                        e["time"],
                        e["kind"],
                        e["candidate"],
                        f"{e['weight']}%",
                        e["status"],
                        e.get("reason") or "",
                    )
                    for e in d
                ],  # fmt: skip
            )
        ),
    )


@controller_app.command("start")
def controller_start(
    address: Annotated[
        str | None, typer.Option("--address", help="Ray cluster address (default: auto).")
    ] = "auto",
    tasks: Annotated[
        list[str] | None, typer.Option("--task", help="Run only these tasks (repeatable).")
    ] = None,
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Deploy the control loop as a one-replica Serve app on a running Ray cluster.

    Example: rayops controller start --address auto --storage s3://bucket/rayops
    """
    from rayops.cli._output import ray_session

    with handle_errors(as_json), ray_session(address):
        from rayops.apps.controller import CONTROLLER_APP, deploy_controller

        deploy_controller(storage, tasks=tasks)
        emit({"app": CONTROLLER_APP, "deployed": True}, as_json,
             lambda d: console.print(f"[green]deployed[/] {d['app']}"))  # fmt: skip


@controller_app.command("status")
def controller_status(storage: StorageOption = None, as_json: bool = JSON_OPTION) -> None:
    """Show the leading control loop and each task's last run (read from storage).

    Example: rayops controller status --json
    """
    from rayops.control.loop import Lease, read_status
    from rayops.storage import open_storage

    with handle_errors(as_json):
        store = open_storage(storage)
        doc = {"status": read_status(store), "lease": Lease(store, "-", 1.0).current()}

    def render(d: dict[str, Any]) -> None:
        if not d["status"]:
            console.print("no control loop has run on this storage root yet")
            return
        console.print(f"leader {d['status']['holder']} at {d['status']['time']}", highlight=False)
        rows = [
            (name, t["last_run"], "ok" if t["ok"] else t.get("error", "failed"), t["duration_ms"])
            for name, t in d["status"]["tasks"].items()
        ]
        console.print(table("control tasks", ["task", "last run", "result", "ms"], rows))

    emit(doc, as_json, render)


@controller_app.command("run")
def controller_run(
    once: Annotated[
        bool, typer.Option("--once", help="One pass of every task, then exit.")
    ] = False,
    tasks: Annotated[
        list[str] | None, typer.Option("--task", help="Run only these tasks (repeatable).")
    ] = None,
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Run the control loop in this process (foreground) instead of on Serve.

    Useful from cron (`--once`) or for debugging; only one loop acts at a time (a lease
    in storage), so it is safe next to a deployed controller.

    Example: rayops controller run --once --task rollout
    """
    from rayops.config import Settings
    from rayops.control import ControlLoop, default_tasks
    from rayops.storage import open_storage

    with handle_errors(as_json):
        settings = Settings(storage=storage) if storage else Settings()
        store = open_storage(settings.storage, settings)
        loop = ControlLoop(
            store, lambda fenced: default_tasks(fenced, settings, names=tasks), settings=settings
        )
        if once:
            result = loop.run_once(force=True)
            loop.stop()
            emit({"leader": loop.leader, "tasks": result}, as_json)
            return
        loop.start()
        console.print(f"control loop {loop.holder} running; Ctrl-C to stop", highlight=False)
        try:
            import time

            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            loop.stop()
