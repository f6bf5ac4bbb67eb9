"""`rayops monitor status|drift|uncertainty|check` and `rayops alerts list|rules ...`.

Thin over :class:`rayops.monitoring.Monitor`. pandas, pyarrow, scipy and river
load inside the commands, so `rayops --help` stays instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from rayops.cli._output import JSON_OPTION, StorageOption, console, emit, handle_errors, table

if TYPE_CHECKING:
    from rayops.monitoring import Monitor

monitor_app = typer.Typer(
    help=(
        "Monitoring: per-version metrics, health, drift and streaming detections.\n\n"
        "Example: rayops monitor status churn --window 24h"
    ),
    no_args_is_help=True,
)
alerts_app = typer.Typer(
    help=(
        "Alerts raised by the monitor, and the rules that raise them.\n\n"
        "Example: rayops alerts list --since 24h"
    ),
    no_args_is_help=True,
)
rules_app = typer.Typer(
    help=(
        "Alert rules: metric, comparator, threshold, window, severity, cool-down, actions.\n\n"
        "Example: rayops alerts rules add slow --metric latency_p95_ms --comparator '>' "
        "--threshold 200 --severity critical"
    ),
    no_args_is_help=True,
)
alerts_app.add_typer(rules_app, name="rules")

WindowOption = Annotated[
    str | None, typer.Option("--window", help="Duration ending now: 1h, 24h, 7d, 30d (default 1h).")
]
EndpointArg = Annotated[str, typer.Argument(help="Endpoint name.")]


def register(app: typer.Typer) -> None:
    """Add `rayops monitor` and `rayops alerts` to the top-level app."""
    app.add_typer(monitor_app, name="monitor")
    app.add_typer(alerts_app, name="alerts")


def _monitor(storage: str | None) -> Monitor:
    from rayops.control.tasks import alert_actions
    from rayops.monitoring import Monitor
    from rayops.storage import open_storage

    store = open_storage(storage)
    return Monitor(store, actions=alert_actions(store))


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _render_status(docs: list[dict[str, Any]]) -> None:
    for d in docs:
        rows: list[tuple[Any, ...]] = []
        for ref, m in d["versions"].items():
            h = d["health"].get(ref, {})
            rows.append(
                (
                    ref, h.get("state", "-"), m["requests"], m["labeled"], _fmt(m["mae"]),
                    _fmt(m["rmse"]), _fmt(m["accuracy"]), _fmt(m["latency_p95_ms"]),
                    _fmt(m["error_rate"]),
                )
            )  # fmt: skip
        title = f"{d['endpoint']}: {d['state']} ({d['window']['start']} .. {d['window']['end']})"
        cols = ["version", "health", "requests", "labeled", "mae", "rmse", "accuracy",
                "p95 ms", "error rate"]  # fmt: skip
        console.print(table(title, cols, rows or [("(no traffic)",)]))


@monitor_app.command("status")
def status(
    endpoint: Annotated[str | None, typer.Argument(help="Endpoint (default: all).")] = None,
    window: WindowOption = None,
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Metrics and health of every version of an endpoint (or of all endpoints).

    Example: rayops monitor status churn --window 24h --json
    """
    with handle_errors(as_json):
        docs = _monitor(storage).status(endpoint, window)
    emit(docs, as_json, _render_status)


def _render_uncertainty(d: dict[str, Any]) -> None:
    rows: list[tuple[Any, ...]] = []
    for ref, v in d["versions"].items():
        est = v.get("estimated") or {}
        guess = est.get("accuracy", est.get("mae"))
        error = est.get("error")
        realized = guess - error if guess is not None and error is not None else None
        aci = v.get("adaptive") or {}
        att = v.get("attribution") or {}
        rows.append(
            (
                ref, _fmt(v.get("level")), v.get("labeled", 0), _fmt(v.get("coverage")),
                "BROKEN" if v.get("broken") else "", _fmt(v.get("width") or v.get("set_size")),
                _fmt(guess), _fmt(realized),
                f"{'on' if aci.get('active') else 'off'} ({aci.get('labels', 0)} labels)" if aci
                else "-",
                _fmt(att.get("shift")), ", ".join(att.get("top_current", [])),
            )
        )  # fmt: skip
    title = f"uncertainty of {d['endpoint']} ({d['window']['start']} .. {d['window']['end']})"
    cols = ["version", "level", "labeled", "coverage", "flag", "width/set", "estimated",
            "realized", "adaptive", "attribution shift", "top features"]  # fmt: skip
    console.print(table(title, cols, rows or [("(no traffic)",)]))


@monitor_app.command("uncertainty")
def uncertainty(
    endpoint: EndpointArg,
    window: WindowOption = None,
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Coverage, interval width, estimated vs realized quality, adaptive level and
    attribution drift of every version of an endpoint.

    Coverage is the share of labeled rows inside the version's conformal interval
    (or prediction set) at the level it is served at; estimated quality comes from
    calibrated probabilities (classifiers) or conformal residuals (regression)
    before labels arrive; attribution compares mean |contribution| of sampled
    logged rows with the card's training importance.

    Example: rayops monitor uncertainty churn --window 24h --json
    """
    with handle_errors(as_json):
        doc = _monitor(storage).uncertainty(endpoint, window)
    emit(doc, as_json, _render_uncertainty)


def _render_drift(d: dict[str, Any]) -> None:
    feats = (d.get("features") or {}).get("features", {})
    rows = [
        (name, f["kind"], f["method"], _fmt(f["score"]), _fmt(f["threshold"]),
         "DRIFT" if f["drifted"] else "", f["rows"])
        for name, f in feats.items()
    ]  # fmt: skip
    for part in ("prediction", "target"):
        for name, f in ((d.get(part) or {}).get("features") or {}).items():
            rows.append(
                (f"({part}) {name}", f["kind"], f["method"], _fmt(f["score"]),
                 _fmt(f["threshold"]), "DRIFT" if f["drifted"] else "", f["rows"])
            )  # fmt: skip
    share = (d.get("features") or {}).get("share")
    title = f"drift of {d['endpoint']} against {d['ref']}'s baseline; share drifted {_fmt(share)}"
    cols = ["feature", "kind", "statistic", "score", "threshold", "flag", "rows"]
    console.print(table(title, cols, rows))
    for note in d.get("notes", []):
        console.print(f"note: {note}", highlight=False)


@monitor_app.command("drift")
def drift(
    endpoint: EndpointArg,
    window: WindowOption = None,
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Feature, prediction and target drift of an endpoint's recent traffic.

    Features are compared with the training baseline in the model card of the
    endpoint's main version: PSI and Kolmogorov-Smirnov for numbers, chi-square
    and Jensen-Shannon for categories.

    Example: rayops monitor drift churn --window 1h
    """
    with handle_errors(as_json):
        doc = _monitor(storage).drift(endpoint, window).to_dict()
    emit(doc, as_json, _render_drift)


@monitor_app.command("check")
def check(
    endpoint: Annotated[str | None, typer.Argument(help="Endpoint (default: all).")] = None,
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Run one monitoring pass now: snapshot, drift, detectors, health, alert rules.

    The control loop does this every monitoring_interval_s; use this from cron
    when no loop runs.

    Example: rayops monitor check churn --json
    """
    with handle_errors(as_json):
        doc = _monitor(storage).check(endpoint)
    emit(
        doc,
        as_json,
        lambda d: console.print(
            table(
                "monitoring pass",
                ["endpoint", "health", "drifted", "detections", "alerts"],
                [
                    (
                        name,
                        (s.get("health") or {}).get("*", s.get("error", "-")),
                        ", ".join((s.get("drift") or {}).get("drifted", [])),
                        len(s.get("detections", [])),
                        len(s.get("alerts", [])),
                    )  # fmt: skip
                    for name, s in d["endpoints"].items()
                ],
            )
        ),
    )


def _render_alerts(docs: list[dict[str, Any]]) -> None:
    rows = [
        (a["time"], a["severity"], a["endpoint"], a["ref"] or "*", a["rule"], a["message"])
        for a in docs
    ]
    console.print(
        table("alerts", ["time", "severity", "endpoint", "version", "rule", "message"], rows)
    )


@alerts_app.command("list")
def list_alerts(
    endpoint: Annotated[str | None, typer.Option("--endpoint", help="Only this endpoint.")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Time (2026-01-31T12:00) or duration ago (24h).")
    ] = "24h",
    until: Annotated[str | None, typer.Option("--until", help="Time or duration ago.")] = None,
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Alerts raised in a time range (default: the last 24 hours), oldest first.

    Example: rayops alerts list --endpoint churn --since 7d --json
    """
    with handle_errors(as_json):
        found = _monitor(storage).alerts(endpoint, since, until)
    emit([a.model_dump(mode="json") for a in found], as_json, _render_alerts)


@rules_app.command("add")
def add_rule(
    name: Annotated[str, typer.Argument(help="Rule name.")],
    metric: Annotated[
        str,
        typer.Option(
            "--metric",
            help="e.g. accuracy, latency_p95_ms, error_rate, drift_share, health, stream_drift.",
        ),
    ],
    comparator: Annotated[str, typer.Option("--comparator", help="One of >, >=, <, <=.")],
    threshold: Annotated[float, typer.Option("--threshold", help="The limit.")],
    window: WindowOption = None,
    severity: Annotated[str, typer.Option("--severity", help="info, warning or critical.")] = (
        "warning"
    ),
    cooldown: Annotated[
        str | None, typer.Option("--cooldown", help="Silence after an alert, e.g. 30m (0s: none).")
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option("--endpoint", help="Endpoint name or glob (default: all).")
    ] = None,
    per_version: Annotated[
        bool, typer.Option("--per-version", help="Evaluate each model@version separately.")
    ] = False,
    action: Annotated[
        list[str] | None, typer.Option("--action", help="rollback and/or retrain.")
    ] = None,
    webhook: Annotated[
        str | None, typer.Option("--webhook", help="POST alerts to this URL.")
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace a rule of that name.")
    ] = False,
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Add an alert rule (stored in monitoring/rules.json); bad metrics or windows are refused.

    Example: rayops alerts rules add canary-bad --metric accuracy --comparator '<' --threshold 0.75 --per-version --action rollback
    """  # noqa: E501
    with handle_errors(as_json):
        rule = _monitor(storage).add_rule(
            {
                "name": name, "metric": metric, "comparator": comparator, "threshold": threshold,
                "window": window, "severity": severity, "cooldown": cooldown,
                "endpoint": endpoint, "per_version": per_version, "actions": action or [],
                "webhook": webhook,
            },
            replace=replace,
        )  # fmt: skip
    emit(rule.model_dump(mode="json"), as_json, lambda d: console.print(f"added rule {d['name']}"))


@rules_app.command("list")
def list_rules(storage: StorageOption = None, as_json: bool = JSON_OPTION) -> None:
    """List the alert rules.

    Example: rayops alerts rules list --json
    """
    with handle_errors(as_json):
        found = [r.model_dump(mode="json") for r in _monitor(storage).rules()]
    emit(
        found,
        as_json,
        lambda docs: console.print(
            table(
                "alert rules",
                ["name", "rule", "window", "severity", "endpoint", "actions", "kind"],
                [
                    (
                        r["name"],
                        f"{r['metric']} {r['comparator']} {r['threshold']:g}",
                        r["window"] or "default",
                        r["severity"],
                        r["endpoint"] or "*",
                        ", ".join(r["actions"]),
                        "default" if r.get("default") else "stored",
                    )  # fmt: skip
                    for r in docs
                ],
            )
        ),
    )


@rules_app.command("remove")
def remove_rule(
    name: Annotated[str, typer.Argument(help="Rule name.")],
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Remove an alert rule.

    Example: rayops alerts rules remove slow
    """
    with handle_errors(as_json):
        _monitor(storage).remove_rule(name)
    emit({"removed": name}, as_json, lambda d: console.print(f"removed rule {d['removed']}"))
