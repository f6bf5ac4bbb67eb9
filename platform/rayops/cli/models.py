"""`rayops models`: the model registry from the command line.

Thin over :class:`rayops.registry.Registry`. The registry (and XGBoost, pandas,
pyarrow) is imported inside each command, so `rayops --help` stays instant.
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

# Light (enum only): Typer needs the choices to build --help.
from rayops.registry.lifecycle import Stage

if TYPE_CHECKING:
    from rayops.registry import Registry

models_app = typer.Typer(
    help=(
        "Registered models: versions, lifecycle stages, aliases, history, comparisons.\n\n"
        "Example: rayops models versions churn"
    ),
    no_args_is_help=True,
)

ActorOption = Annotated[
    str | None,
    typer.Option("--actor", help="Who is doing this (recorded in history). Default: $USER."),
]


def register(app: typer.Typer) -> None:
    """Add this capability's commands to the top-level `rayops` app."""
    app.add_typer(models_app, name="models")


def _registry(storage: str | None) -> Registry:
    from rayops.registry import Registry
    from rayops.storage import open_storage

    return Registry(open_storage(storage))


def _actor(actor: str | None) -> str | None:
    if actor:
        return actor
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in containers without /etc/passwd entry
        return None


@models_app.command("list")
def list_models(storage: StorageOption = None, as_json: bool = JSON_OPTION) -> None:
    """List registered models with their latest version and aliases.

    Example: rayops models list --json
    """
    with handle_errors(as_json):
        reg = _registry(storage)
        rows = []
        for name in reg.list():
            versions = reg.versions(name)
            aliases = reg.aliases(name)
            rows.append(
                {
                    "name": name,
                    "latest": versions[-1].version if versions else None,
                    "versions": len(versions),
                    "aliases": {a: s.version for a, s in sorted(aliases.items())},
                }
            )
    emit(
        rows,
        as_json,
        lambda d: console.print(
            table(
                "models",
                ["name", "latest", "versions", "aliases"],
                [
                    (
                        r["name"],
                        r["latest"],
                        r["versions"],
                        ", ".join(f"{a}={v}" for a, v in r["aliases"].items()),
                    )
                    for r in d
                ],
            )
        ),
    )


def _version_row(mv: Any) -> dict[str, Any]:
    card = mv.card
    return {
        "ref": mv.ref,
        "version": mv.version,
        "stage": mv.stage.value,
        "aliases": mv.aliases,
        "kind": card.kind,
        "created_at": card.created_at.isoformat(),
        "author": card.author,
        "run_id": card.run_id,
        "parent": card.parent,
        "metrics": card.metrics,
        "sha256": card.artifact.sha256,
        "size": card.artifact.size,
    }


@models_app.command("versions")
def versions(name: str, storage: StorageOption = None, as_json: bool = JSON_OPTION) -> None:
    """List every version of a model with its stage, aliases and creation time.

    Example: rayops models versions churn --json
    """
    with handle_errors(as_json):
        rows = [_version_row(mv) for mv in _registry(storage).versions(name)]
    emit(
        rows,
        as_json,
        lambda d: console.print(
            table(
                f"versions of {name}",
                ["version", "stage", "aliases", "created", "author", "run"],
                [
                    (
                        r["version"],
                        r["stage"],
                        ", ".join(r["aliases"]),
                        r["created_at"],
                        r["author"],
                        r["run_id"],
                    )
                    for r in d
                ],
            )
        ),
    )


@models_app.command("show")
def show(ref: str, storage: StorageOption = None, as_json: bool = JSON_OPTION) -> None:
    """Show one version's model card: params, metrics, features, lineage, artifact.

    REF is NAME, NAME@VERSION or NAME@ALIAS.

    Example: rayops models show churn@production --json
    """
    with handle_errors(as_json):
        mv = _registry(storage).get(ref)
        data = {"ref": mv.ref, **mv.model_dump(mode="json")}
    emit(data, as_json, _render_card)


def _render_card(d: dict[str, Any]) -> None:
    """A model card for people: what it is, how good, what it leans on."""
    card = d["card"]
    task = card.get("task", "regression")
    head = f"[bold]{d['ref']}[/] ({card['kind']}, {task}), stage {d['stage']}"
    if d.get("aliases"):
        head += f", aliases {', '.join(d['aliases'])}"
    console.print(head)
    if card.get("classes"):
        threshold = d.get("threshold") or card.get("threshold")
        extra = f", decision threshold {threshold:g}" if threshold is not None else ""
        console.print(f"classes (output order): {card['classes']}{extra}")
    if card.get("objective"):
        console.print(f"objective {card['objective']}, target {card.get('target')}")
    for split, values in (card.get("metrics") or {}).items():
        if isinstance(values, dict):
            shown = "  ".join(f"{k} {v:.4g}" for k, v in values.items()
                              if isinstance(v, int | float) and "[" not in k)  # fmt: skip
            console.print(f"{split}: {shown}")
    imp = card.get("importance") or {}
    kind = next((k for k in ("mean_abs_contribution", "gain") if k in imp), None)
    if kind:
        top = sorted(imp[kind].items(), key=lambda kv: -kv[1])[:8]
        console.print(f"importance ({kind}): " + ", ".join(f"{f} {v:.3g}" for f, v in top))
    unc = card.get("uncertainty")
    if unc:
        parts = []
        if unc.get("intervals"):
            parts.append(f"{unc['intervals']} conformal intervals")
        if unc.get("calibration"):
            c = unc["calibration"]
            parts.append(
                f"calibration {c['method']} (ECE {c['ece_before']:.3f} -> {c['ece_after']:.3f})"
            )
        if unc.get("sets"):
            parts.append("prediction sets")
        console.print(f"uncertainty ({unc['source']}, {unc['rows']} rows): " + ", ".join(parts))
    console.print(f"features: {', '.join(card.get('features') or [])}")
    console.print(f"artifact {card['artifact']['file']} sha256 {card['artifact']['sha256'][:16]}…")


@models_app.command("set-threshold")
def set_threshold(
    ref: Annotated[str, typer.Argument(help="A binary classifier version, NAME@VERSION.")],
    threshold: Annotated[
        float, typer.Argument(help="Probability of the second class from which it is predicted.")
    ],
    reason: Annotated[str | None, typer.Option("--reason", help="Why (kept in history).")] = None,
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Change a binary classifier's decision threshold (recorded as an event).

    Gateways serving the version pick it up within serving_ensemble_poll_s.

    Example: rayops models set-threshold churn@1.2.0 0.35 --reason "recall first"
    """
    with handle_errors(as_json):
        mv = _registry(storage).set_threshold(ref, threshold, reason=reason, actor=current_user())
    emit({"ref": mv.ref, "threshold": mv.threshold}, as_json,
         lambda d: console.print(f"{d['ref']}: decision threshold {d['threshold']:g}"))  # fmt: skip


@models_app.command("stage")
def stage(
    ref: str,
    target: Annotated[Stage, typer.Argument(metavar="STAGE", help="Stage to move to.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded in history).")] = "",
    actor: ActorOption = None,
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Move a version to another lifecycle stage (only allowed moves succeed).

    Stages: draft -> trained -> staging -> production, production -> staging
    (roll back), staging -> trained, any -> archived, archived -> trained.

    Example: rayops models stage churn@1.2.0 staging --reason "passed CV"
    """
    with handle_errors(as_json):
        mv = _registry(storage).transition(
            ref, target.value, reason=reason or None, actor=_actor(actor)
        )
        data = {"ref": mv.ref, "stage": mv.stage.value, "reason": reason or None}
    emit(data, as_json, lambda d: console.print(f"[green]{d['ref']}[/] is now {d['stage']}"))


@models_app.command("alias")
def alias(
    name: str,
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="e.g. production.")],
    version: Annotated[str, typer.Argument(help="Version (or another alias) to point at.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded in history).")] = "",
    actor: ActorOption = None,
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Point an alias (production, champion, ...) at a version; every move is kept.

    Example: rayops models alias churn production 1.2.0 --reason "canary passed"
    """
    with handle_errors(as_json):
        state = _registry(storage).set_alias(
            name, alias_name, version, reason=reason or None, actor=_actor(actor)
        )
        data = {"model": name, **state.model_dump(mode="json")}
    emit(
        data,
        as_json,
        lambda d: console.print(
            f"[green]{d['model']}@{d['alias']}[/] -> {d['version']} "
            f"(was {d['previous'] or 'unset'}, revision {d['revision']})"
        ),
    )


@models_app.command("rollback")
def rollback(
    name: str,
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="e.g. production.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded in history).")] = "",
    actor: ActorOption = None,
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Point an alias back at the version it held before its last move.

    Example: rayops models rollback churn production --reason "error rate up"
    """
    with handle_errors(as_json):
        state = _registry(storage).rollback_alias(
            name, alias_name, reason=reason or None, actor=_actor(actor)
        )
        data = {"model": name, **state.model_dump(mode="json")}
    emit(
        data,
        as_json,
        lambda d: console.print(f"[green]{d['model']}@{d['alias']}[/] -> {d['version']}"),
    )


@models_app.command("history")
def history(name: str, storage: StorageOption = None, as_json: bool = JSON_OPTION) -> None:
    """Show a model's timeline: registrations, stage moves, alias moves, deletions.

    Example: rayops models history churn --json
    """
    with handle_errors(as_json):
        events = [e.model_dump(mode="json") for e in _registry(storage).history(name)]

    def describe(e: dict[str, Any]) -> str:
        if e["kind"] == "stage":
            return f"{e['from_stage']} -> {e['to_stage']}"
        if e["kind"] == "alias":
            return f"{e['alias']}: {e['previous_version'] or 'unset'} -> {e['version']}"
        return str(e.get("to_stage") or "")

    emit(
        events,
        as_json,
        lambda d: console.print(
            table(
                f"history of {name}",
                ["time", "event", "version", "change", "actor", "reason"],
                [
                    (e["time"], e["kind"], e["version"], describe(e), e["actor"], e["reason"])
                    for e in d
                ],
            )
        ),
    )


def _comparison_frame(
    storage: str | None, features: str | None, data: str | None
) -> tuple[Any, str]:
    """The rows to compare on (a feature set version or a local Parquet file) and a label."""
    from rayops.errors import InvalidInputError

    if data is not None and features is None:
        from pathlib import Path

        import pandas as pd

        path = Path(data).expanduser()
        if not path.is_file():
            raise InvalidInputError(f"--data {data}: no such file.")
        return pd.read_parquet(path), str(path)
    if features is None or data is not None:
        raise InvalidInputError("Give exactly one of --features FS[@V] or --data PATH.parquet.")
    try:
        from rayops.features import FeatureStore
    except ImportError:
        raise InvalidInputError(
            "The feature store is not available in this installation; pass --data PATH.parquet."
        ) from None
    from rayops.storage import open_storage

    store = FeatureStore(open_storage(storage))
    version = store.get(features)  # pins FS (latest) to FS@V, so the label is exact
    label = f"{version.name}@{version.version} (sha256 {version.sha256[:12]})"
    return store.read(f"{version.name}@{version.version}"), label


@models_app.command("compare")
def compare(
    refs: Annotated[list[str], typer.Argument(metavar="NAME@A NAME@B...", help="Versions.")],
    target: Annotated[str, typer.Option("--target", help="Column holding the true values.")],
    features: Annotated[
        str | None, typer.Option("--features", help="Feature set to evaluate on: FS or FS@V.")
    ] = None,
    data: Annotated[
        str | None, typer.Option("--data", help="Or a local Parquet file to evaluate on.")
    ] = None,
    tolerance: Annotated[
        float | None,
        typer.Option(help="Accuracy tolerance (default: RAYOPS_REGISTRY_ACCURACY_TOLERANCE)."),
    ] = None,
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Compare versions on the same rows with their task's metrics, latency and top features.

    The comparison is stored under models/<name>/comparisons/.

    Example: rayops models compare churn@1.1.0 churn@1.2.0 --features churn-fs@3 --target y
    """
    from rayops.errors import InvalidInputError

    with handle_errors(as_json):
        if len(refs) < 2:
            raise InvalidInputError("Give at least two versions to compare.")
        frame, label = _comparison_frame(storage, features, data)
        result = _registry(storage).compare(refs, frame, target, dataset=label, tolerance=tolerance)
        out = result.model_dump(mode="json")
    emit(out, as_json, _render_comparison)


def _render_comparison(d: dict[str, Any]) -> None:
    names = [m for m in d["results"][0]["metrics"] if "[" not in m][:7]
    rows = []
    for r in d["results"]:
        cells = [r["ref"]] + [
            "" if r["metrics"].get(m) is None else f"{r['metrics'][m]:.4g}" for m in names
        ]
        rows.append([*cells, f"{r['latency_ms_per_1k']:.3g}", ", ".join(r["top_features"][:3])])
    title = (
        f"{d['rows']} rows, {d['task']} target {d['target']}, best by {d['metric']}: {d['best']}"
    )
    console.print(table(title, ["version", *names, "ms / 1k rows", "top features"], rows))


@models_app.command("explain")
def explain(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION (or an alias) to explain.")],
    data: Annotated[str, typer.Option("--data", help="Parquet file of rows to explain.")],
    top_k: Annotated[
        int | None, typer.Option("--top-k", min=1, help="Keep only the N largest per row.")
    ] = None,
    approx: Annotated[
        bool, typer.Option("--approx", help="XGBoost's faster approximate contributions.")
    ] = False,
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Feature contributions of a registered version on rows of a Parquet file.

    Contributions are in margin space (the prediction for regression, the log-odds for a
    binary classifier, each class's logit for multiclass); with the bias they add up to
    the margin for a booster (see the README's Explanations section for ensembles).

    Example: rayops models explain churn@1.2.0 --data rows.parquet --top-k 5 --json
    """
    import pandas as pd

    from rayops.errors import InvalidInputError
    from rayops.registry.explain import contributions
    from rayops.registry.explain import top_k as largest

    with handle_errors(as_json):
        try:
            frame = pd.read_parquet(data)
        except (OSError, ValueError) as e:
            raise InvalidInputError(f"Cannot read {data!r} as Parquet: {e}") from None
        predictor = _registry(storage).load(ref)
        missing = [f for f in predictor.features if f not in frame.columns]
        if missing:
            raise InvalidInputError(f"{data!r} lacks the features {missing} of {predictor.ref}.")
        found = contributions(predictor, frame, approx=approx)
        out: dict[str, Any] = {
            "ref": predictor.ref, "features": found.features, "exact": found.exact,
            "note": found.note, "margin": found.margin.tolist(),
        }  # fmt: skip
        if top_k is not None:
            out["top"] = largest(found, top_k)
        else:
            out["contributions"] = found.values.tolist()
    emit(out, as_json, _render_explanation)


def _render_explanation(d: dict[str, Any]) -> None:
    console.print(f"[bold]{d['ref']}[/]: contributions in margin space"
                  + ("" if d["exact"] else f" ({d['note']})"))  # fmt: skip
    if "top" in d:
        for i, row in enumerate(d["top"][:20]):
            shown = ", ".join(f"{c['feature']} {c['contribution']:+.3g}" for c in row)
            console.print(f"row {i}: {shown}")
        return
    features = d["features"]
    rows = [[str(i), *[f"{v:+.3g}" for v in (r if not isinstance(r[0], list) else r[0])]]
            for i, r in enumerate(d["contributions"][:20])]  # fmt: skip
    console.print(table("contributions (first 20 rows)", ["row", *features, "bias"], rows))


MlflowUriOption = Annotated[
    str,
    typer.Option(
        "--mlflow",
        metavar="URI",
        help="MLflow tracking store: a directory or file:///path (file store) or a server URL.",
    ),
]
ExperimentOption = Annotated[
    str | None,
    typer.Option(
        "--experiment", help="MLflow experiment (default: RAYOPS_REGISTRY_MLFLOW_EXPERIMENT)."
    ),
]


@models_app.command("export")
def export(
    ref: str,
    mlflow_uri: MlflowUriOption,
    register_as: Annotated[
        str | None,
        typer.Option("--register-as", help="Also create a version of this MLflow registered model"),
    ] = None,
    experiment: ExperimentOption = None,
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Write a version as an MLflow model (xgboost flavor, UBJSON) with its card's params,
    metrics and tags, in one MLflow run. Ensembles are refused (export their boosters).

    REF is NAME, NAME@VERSION or NAME@ALIAS.

    Example: rayops models export churn@production --mlflow ./mlruns --register-as churn
    """
    with handle_errors(as_json):
        from rayops.interop import export_model

        out = export_model(
            _registry(storage), ref, mlflow_uri, register_as=register_as, experiment=experiment
        ).model_dump(mode="json")

    def render(d: dict[str, Any]) -> None:
        console.print(f"[green]{d['ref']}[/] -> {d['model_uri']} (run {d['run_id']})")
        if d["registered_version"]:
            console.print(f"registered as {d['registered_name']} version {d['registered_version']}")

    emit(out, as_json, render)


@models_app.command("import")
def import_(
    source: Annotated[
        str,
        typer.Option(
            "--mlflow",
            metavar="SOURCE",
            help="models:/NAME/VERSION, models:/NAME@ALIAS, runs:/RUN_ID/PATH or a directory.",
        ),
    ],
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            "--tracking-uri",
            help="Where models:/ and runs:/ live (default: $MLFLOW_TRACKING_URI).",
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name", help="rayops model to register under (default: the exported or MLflow name)."
        ),
    ] = None,
    actor: ActorOption = None,
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Register an MLflow xgboost model as the next version: UBJSON or JSON only, never a
    pickle (scikit-learn or pyfunc flavors, pickled files and legacy binaries are refused).

    Example: rayops models import --mlflow models:/churn/3 --tracking-uri http://127.0.0.1:5000
    """
    with handle_errors(as_json):
        from rayops.interop import import_model

        out = import_model(
            _registry(storage), source, name=name, uri=tracking_uri, author=_actor(actor)
        ).model_dump(mode="json")
    emit(
        out,
        as_json,
        lambda d: console.print(
            f"[green]{d['ref']}[/] <- {d['source']} ({d['file']}, {d['format']}, {d['task']})"
        ),
    )
