"""`rayops serve` and `rayops endpoints`: the serving gateway and routing tables.

Thin over :mod:`rayops.serving`. Ray, pandas, pyarrow and XGBoost are imported
inside the commands, so `rayops --help` stays instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from rayops.cli._output import JSON_OPTION, console, emit, handle_errors, table

if TYPE_CHECKING:
    from rayops.serving import Endpoints, RoutingTable

endpoints_app = typer.Typer(
    help=(
        "Endpoints: named routing tables (versions and weights) served by the gateway.\n\n"
        "Example: rayops endpoints set churn --route churn@1.0.0=90 --route churn@1.1.0=10"
    ),
    no_args_is_help=True,
)

StorageOption = Annotated[
    str | None,
    typer.Option("--storage", help="Storage URI; overrides RAYOPS_STORAGE for this command."),
]
ReasonOption = Annotated[str | None, typer.Option("--reason", help="Why (kept in history).")]


def register(app: typer.Typer) -> None:
    """Add `rayops serve` and `rayops endpoints` to the top-level `rayops` app."""
    app.command("serve")(serve)
    app.add_typer(endpoints_app, name="endpoints")


def _endpoints(storage: str | None) -> Endpoints:
    from rayops.serving import Endpoints
    from rayops.storage import open_storage

    return Endpoints(open_storage(storage))


def _actor() -> str | None:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def _parse_routes(routes: list[str]) -> dict[str, int]:
    from rayops.errors import InvalidInputError

    out: dict[str, int] = {}
    for item in routes:
        ref, sep, weight = item.rpartition("=")
        if not sep or not weight.strip().isdigit():
            raise InvalidInputError(
                f"--route {item!r}: use NAME@VERSION=WEIGHT, e.g. churn@1.1.0=10."
            )
        out[ref.strip()] = int(weight)
    return out


def _doc(t: RoutingTable) -> dict[str, Any]:
    return t.model_dump(mode="json")


def _render(d: dict[str, Any]) -> None:
    rows = [(r["ref"], f"{r['weight']}%") for r in d["routes"]]
    if d.get("shadow"):
        rows.append((d["shadow"]["ref"], f"shadow {d['shadow']['share']:.0%}"))
    console.print(
        table(f"endpoint {d['endpoint']} (revision {d['revision']})", ["version", "traffic"], rows)
    )


@endpoints_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Endpoint name.")],
    model: Annotated[str, typer.Argument(help="MODEL@VERSION (or MODEL@ALIAS) for all traffic.")],
    shadow: Annotated[str | None, typer.Option("--shadow", help="MODEL@VERSION to mirror.")] = None,
    shadow_share: Annotated[float, typer.Option("--shadow-share", help="Mirrored share.")] = 1.0,
    reason: ReasonOption = None,
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Create an endpoint sending all traffic to one registered version.

    Example: rayops endpoints create churn churn@1.0.0
    """
    with handle_errors(as_json):
        shadow_doc = {"ref": shadow, "share": shadow_share} if shadow else None
        t = _endpoints(storage).create(
            name, model, shadow=shadow_doc, actor=_actor(), reason=reason
        )
    emit(_doc(t), as_json, _render)


@endpoints_app.command("set")
def set_routes(
    name: Annotated[str, typer.Argument(help="Endpoint name.")],
    route: Annotated[
        list[str], typer.Option("--route", help="MODEL@VERSION=WEIGHT; weights sum to 100.")
    ],
    shadow: Annotated[str | None, typer.Option("--shadow", help="MODEL@VERSION to mirror.")] = None,
    shadow_share: Annotated[float, typer.Option("--shadow-share", help="Mirrored share.")] = 1.0,
    reason: ReasonOption = None,
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Replace an endpoint's routes (compare-and-swap); the gateway applies it within a second.

    Example: rayops endpoints set churn --route churn@1.0.0=90 --route churn@1.1.0=10
    """
    with handle_errors(as_json):
        shadow_doc = {"ref": shadow, "share": shadow_share} if shadow else None
        t = _endpoints(storage).set_routes(
            name, _parse_routes(route), shadow=shadow_doc, actor=_actor(), reason=reason
        )
    emit(_doc(t), as_json, _render)


@endpoints_app.command("list")
def list_endpoints(storage: StorageOption = None, as_json: bool = JSON_OPTION) -> None:
    """List endpoints and their routes.

    Example: rayops endpoints list --json
    """
    with handle_errors(as_json):
        eps = _endpoints(storage)
        docs = [_doc(eps.get(n)) for n in eps.list()]
    emit(
        docs,
        as_json,
        lambda d: console.print(
            table(
                "endpoints",
                ["endpoint", "revision", "routes", "shadow"],
                [
                    (
                        e["endpoint"],
                        e["revision"],
                        ", ".join(f"{r['ref']}={r['weight']}" for r in e["routes"]),
                        e["shadow"]["ref"] if e.get("shadow") else "",
                    )
                    for e in d
                ],
            )
        ),
    )


@endpoints_app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="Endpoint name.")],
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Show one endpoint's routing table and the recent per-member performance of its ensembles.

    Example: rayops endpoints show churn --json
    """
    with handle_errors(as_json):
        eps = _endpoints(storage)
        doc = _doc(eps.get(name))
        doc["ensembles"] = {
            ref: (stats.model_dump(mode="json") if stats is not None else None)
            for ref, stats in eps.performance(name).items()
        }
    emit(doc, as_json, _render_with_members)


def _render_with_members(d: dict[str, Any]) -> None:
    _render(d)
    for ref, stats in d.get("ensembles", {}).items():
        if stats is None:
            console.print(f"{ref}: no member stats yet (the control loop's 'ensembles' task)")
            continue
        rows = [
            (
                m,
                s["rows"],
                f"{s.get('loss', s.get('mse')):.4g}",
                f"{s['mae']:.4g}" if s.get("mae") is not None else "",
                f"{s['mse'] ** 0.5:.4g}" if s.get("mse") is not None else "",
                f"{s['accuracy']:.1%}",
            )
            for m, s in stats["overall"].items()
        ]
        title = (
            f"{ref} ({stats['kind']}): members on {stats['rows']} labeled rows, "
            f"{len(stats['segments'])} segments, updated {stats['updated_at']}"
        )
        loss = "log loss" if stats.get("task", "regression") != "regression" else "loss (mse)"
        console.print(table(title, ["member", "rows", loss, "mae", "rmse", "accuracy"], rows))


def _autoscaling(text: str | None) -> dict[str, Any] | None:
    import json

    from rayops.errors import InvalidInputError

    if text is None:
        return None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise InvalidInputError(f"--autoscaling-config is not JSON ({e.msg}).") from None
    if not isinstance(doc, dict):
        raise InvalidInputError(
            "--autoscaling-config must be a JSON object, "
            'e.g. {"min_replicas": 1, "max_replicas": 4}.'
        )
    return doc


def serve(
    port: Annotated[int, typer.Option("--port", help="HTTP port of the Serve ingress.")] = 8000,
    host: Annotated[
        str, typer.Option("--host", help="HTTP host of the Serve ingress.")
    ] = "127.0.0.1",
    address: Annotated[
        str | None, typer.Option("--address", help="Ray cluster address; default: start locally.")
    ] = None,
    replicas: Annotated[
        str | None,
        typer.Option(
            "--replicas",
            help="Gateway replicas: a number (default 1), or 'auto' for Serve's autoscaling.",
        ),
    ] = None,
    autoscaling_config: Annotated[
        str | None,
        typer.Option(
            "--autoscaling-config",
            help=(
                "Serve autoscaling_config as JSON, "
                'e.g. \'{"min_replicas": 1, "max_replicas": 4}\'; not with a number of --replicas.'
            ),
        ),
    ] = None,
    num_cpus: Annotated[float, typer.Option("--num-cpus", help="CPUs per replica.")] = 1.0,
    ingress: Annotated[
        str,
        typer.Option(
            "--ingress",
            help=(
                "HTTP ingress: auto (HAProxy when its binary runs here, else default), "
                "haproxy (HAProxy, direct to the replicas), direct (replicas listen on their "
                "own ports, proxy on the head only), default (Serve's Python proxy)."
            ),
        ),
    ] = "auto",
    blocking: Annotated[
        bool, typer.Option("--blocking/--no-blocking", help="Stay in the foreground until Ctrl-C.")
    ] = True,
    controller: Annotated[
        bool,
        typer.Option(
            "--controller/--no-controller",
            help="Also deploy the control loop (rollout analysis, monitoring, retraining).",
        ),
    ] = True,
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Deploy the gateway (every endpoint, route prefix /) and the control loop on Ray Serve.

    The ingress is HAProxy with direct ingress to the replicas when it can run (the
    fastest Serve has), else Serve's default proxy, with one line saying why.

    Example: rayops serve --port 8000 --storage s3://bucket/rayops --replicas auto
    """
    from rayops.cli._output import ray_session

    with handle_errors(as_json):
        from rayops.apps.ingress import Ingress, resolve, serve_env
        from rayops.errors import InvalidInputError

        try:
            wanted = Ingress(ingress)
        except ValueError:
            choices = ", ".join(m.value for m in Ingress)
            raise InvalidInputError(f"--ingress {ingress!r}: use one of {choices}.") from None
        scaling = _autoscaling(autoscaling_config)
        from rayops.apps.gateway import build_app

        # Bad sizing fails here, before a Ray cluster is started or joined.
        build_app({"storage": storage, "num_replicas": replicas, "num_cpus": num_cpus,
                   "autoscaling_config": scaling})  # fmt: skip
        # A head this command starts itself gets the ingress in its environment (so every
        # process of it agrees); on any cluster, Serve's controller gets it (start_serve).
        head_env = serve_env(resolve(wanted)[0]) if address is None else None
        with ray_session(address, env=head_env):
            _serve(host, port, replicas, scaling, num_cpus, wanted, controller, storage,
                   as_json, blocking)  # fmt: skip


def _serve(
    host: str,
    port: int,
    replicas: str | None,
    scaling: dict[str, Any] | None,
    num_cpus: float,
    ingress: Any,
    controller: bool,
    storage: str | None,
    as_json: bool,
    blocking: bool,
) -> None:
    from ray import serve as ray_serve

    from rayops.apps.gateway import APP_NAME, build_app, start_serve

    app = build_app(
        {"storage": storage, "num_replicas": replicas, "num_cpus": num_cpus,
         "autoscaling_config": scaling}
    )  # fmt: skip
    mode = start_serve(host, port, ingress)  # the mode Serve really runs, for the report
    ray_serve.run(app, name=APP_NAME, route_prefix="/")
    url = f"http://{host}:{port}"
    if controller:
        from rayops.apps.controller import deploy_controller

        deploy_controller(storage)
    emit(
        {"url": url, "app": APP_NAME, "controller": controller,
         "ingress": mode.value},
        as_json,
        lambda d: console.print(
            f"[green]serving[/] {d['url']} (app {d['app']}, ingress {d['ingress']})"
        ),
    )  # fmt: skip
    if blocking:
        import time

        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            ray_serve.delete(APP_NAME)
            if controller:
                from rayops.apps.controller import CONTROLLER_APP

                ray_serve.delete(CONTROLLER_APP)
