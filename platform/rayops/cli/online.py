"""`rayops online enable|disable|status|log|update`: online learning of an endpoint.

Thin over :class:`rayops.online.OnlineLearner`; the updates themselves run in
the control loop (`rayops controller`), or now with `rayops online update`.
Heavy libraries are imported only inside the commands.
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
    from rayops.online import OnlineLearner

online_app = typer.Typer(
    help=(
        "Online learning: buffered incremental updates of an endpoint's model, behind a "
        "validation gate, hot-swapped like a deploy.\n\nExample: rayops online enable churn"
    ),
    no_args_is_help=True,
)

EndpointArg = Annotated[str, typer.Argument(help="Endpoint name.")]
ReasonOption = Annotated[str | None, typer.Option("--reason", help="Why (kept in the config).")]


def register(app: typer.Typer) -> None:
    """Add `rayops online` to the top-level app."""
    app.add_typer(online_app, name="online")


def _learner(storage: str | None) -> OnlineLearner:
    from rayops.online import OnlineLearner
    from rayops.storage import open_storage

    return OnlineLearner(open_storage(storage))


def _overrides(options: dict[str, Any], items: list[str]) -> dict[str, Any]:
    from rayops.errors import InvalidInputError
    from rayops.online.config import ENDPOINT_SETTINGS

    out = {k: v for k, v in options.items() if v is not None}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in ENDPOINT_SETTINGS:
            raise InvalidInputError(
                f"--set {item!r}: use KEY=VALUE with KEY one of {', '.join(ENDPOINT_SETTINGS)}."
            )
        out[key] = value.strip()
    for key in ("max_age_s", "decay_half_life_s"):
        if isinstance(out.get(key), str):
            from rayops.rollout.rollouts import parse_interval

            out[key] = 0.0 if out[key] in ("0", "0s") else parse_interval(out[key])
    return out


def _render_status(d: dict[str, Any]) -> None:
    state = "[green]enabled[/]" if d["enabled"] else "[yellow]disabled[/]"
    console.print(f"[bold]{d['endpoint']}[/]: online learning {state}, serving {d['serving']}")
    b = d.get("buffer")
    if b:
        age = ""
        if b["age_s"] is not None:
            age = f", oldest {b['age_s']:.0f}s old (flush at {b['max_age_s']:.0f}s)"
        console.print(
            f"buffer: {b['size']}/{b['capacity']} samples{age}; {b['waiting']} waiting for "
            f"their prediction, {b['dropped']} dropped; due: {b['due'] or 'no'}",
            highlight=False,
        )
    s = d.get("state")
    if s:
        console.print(
            f"updates: {s['attempts']} ({s['accepted']} accepted), high-error streak "
            f"{s['high_error_streak']}, last {s['last_update'] or '-'}",
            highlight=False,
        )
    rows = [(k, v, "override" if k in d["overrides"] else "") for k, v in d["config"].items()]
    console.print(table("settings", ["setting", "value", ""], rows))


def _primary(metrics: dict[str, Any]) -> str:
    """The holdout primary metric of an update record's side: log loss or RMSE."""
    for name in ("logloss", "rmse"):
        if metrics.get(name) is not None:
            return f"{metrics[name]:.3g}"
    return ""


def _render_log(records: list[dict[str, Any]]) -> None:
    rows = [
        (
            r["started_at"][:19],
            r["status"],
            r["trigger"],
            r["samples"],
            f"{r['duration_ms']:.0f}",
            _primary(r["before"] or {}),
            _primary(r["after"] or {}),
            r["version"] or "",
            r["reason"],
        )
        for r in records
    ]
    console.print(
        table(
            "online updates",
            [
                "started",
                "status",
                "trigger",
                "samples",
                "ms",
                "RMSE/log loss before",
                "after",
                "version",
                "reason",
            ],
            rows,
        )  # fmt: skip
    )


@online_app.command("enable")
def enable(
    endpoint: EndpointArg,
    buffer_size: Annotated[
        int | None, typer.Option("--buffer-size", help="Samples that trigger an update (N).")
    ] = None,
    max_age: Annotated[
        str | None, typer.Option("--max-age", help="Flush a non-full buffer this old (T): 24h.")
    ] = None,
    mode: Annotated[str | None, typer.Option("--mode", help="continue, refresh or both.")] = None,
    rounds: Annotated[int | None, typer.Option("--rounds", help="Trees added per update.")] = None,
    min_improvement: Annotated[
        float | None, typer.Option("--min-improvement", help="Required MAE drop (0.01 = 1%).")
    ] = None,
    settings: Annotated[
        list[str] | None,
        typer.Option("--set", help="Any other setting as KEY=VALUE (see `rayops online status`)."),
    ] = None,
    reason: ReasonOption = None,
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Turn online learning on for an endpoint (again: change its settings).

    Example: rayops online enable churn --buffer-size 100 --max-age 24h --mode continue
    """
    with handle_errors(as_json):
        options = {
            "buffer_size": buffer_size,
            "max_age_s": max_age,
            "mode": mode,
            "rounds": rounds,
            "min_improvement": min_improvement,
        }
        doc = _learner(storage).enable(
            endpoint, actor=current_user(), reason=reason, **_overrides(options, settings or [])
        )
    emit(doc, as_json, _render_status)


@online_app.command("disable")
def disable(
    endpoint: EndpointArg,
    reason: ReasonOption = None,
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Turn online learning off for an endpoint; buffered samples are kept.

    Example: rayops online disable churn --reason "investigating"
    """
    with handle_errors(as_json):
        doc = _learner(storage).disable(endpoint, actor=current_user(), reason=reason)
    emit(doc, as_json, _render_status)


@online_app.command("status")
def status(
    endpoint: EndpointArg, storage: StorageOption = None, as_json: bool = JSON_OPTION
) -> None:
    """Show an endpoint's buffer, update counters and effective settings.

    Example: rayops online status churn --json
    """
    with handle_errors(as_json):
        doc = _learner(storage).status(endpoint)
    emit(doc, as_json, _render_status)


@online_app.command("log")
def log(
    endpoint: EndpointArg,
    limit: Annotated[
        int | None, typer.Option("--limit", min=0, help="Only the latest N updates.")
    ] = None,
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Show every update attempt: time, duration, samples, metrics, outcome and reason.

    Example: rayops online log churn --limit 20
    """
    with handle_errors(as_json):
        records = [r.model_dump(mode="json") for r in _learner(storage).log(endpoint, limit=limit)]
    emit(records, as_json, _render_log)


@online_app.command("update")
def update(
    endpoint: EndpointArg, storage: StorageOption = None, as_json: bool = JSON_OPTION
) -> None:
    """Run one update now with whatever is buffered (at least min_samples).

    Example: rayops online update churn
    """
    with handle_errors(as_json):
        record = _learner(storage).update_now(endpoint).model_dump(mode="json")
    emit(record, as_json, lambda r: _render_log([r]))
