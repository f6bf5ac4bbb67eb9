"""`rayops features`: ingest, list, inspect and search versioned feature sets.

Heavy libraries (pyarrow, pandas) are imported inside the commands only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rayops.cli._output import JSON_OPTION, StorageOption, console, emit, handle_errors, table
from rayops.errors import InvalidInputError

if TYPE_CHECKING:
    from rayops.features import FeatureSetVersion, FeatureStore

features_app = typer.Typer(
    help=(
        "Versioned, content-deduplicated feature sets on the storage root.\n\n"
        "Example: rayops features ingest churn data/churn.parquet --entity user_id"
    ),
    no_args_is_help=True,
)

# Defined here rather than imported from _app, which imports this module first.
MetaOption = Annotated[
    list[str] | None,
    typer.Option("--meta", help="Metadata as key=value; repeat for several.", show_default=False),
]


def register(app: typer.Typer) -> None:
    """Add this capability's commands to the top-level `rayops` app."""
    app.add_typer(features_app, name="features")


def _store(storage: str | None) -> FeatureStore:
    from rayops.features import FeatureStore
    from rayops.storage import open_storage

    return FeatureStore(open_storage(storage))


def _pairs(items: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInputError(f"--meta {item!r} is not key=value.")
        out[key] = value
    return out


def _summary(v: FeatureSetVersion) -> dict[str, Any]:
    return {
        "ref": v.ref,
        "name": v.name,
        "version": v.version,
        "sha256": v.sha256,
        "created_at": v.created_at.isoformat(),
        "row_count": v.row_count,
        "columns": len(v.schema),
        "violations": len(v.quality.violations),
        "metadata": v.metadata,
        "description": v.description,
        "targets": {
            c: t.model_dump(mode="json", exclude_none=True) for c, t in v.roles.target_tasks.items()
        },
    }


def _version_table(title: str, rows: list[dict[str, Any]]) -> None:
    console.print(
        table(
            title,
            ["ref", "created", "rows", "cols", "sha256", "violations", "metadata"],
            [
                (
                    r["ref"],
                    r["created_at"][:16].replace("T", " "),
                    r["row_count"],
                    r["columns"],
                    r["sha256"][:8],
                    r["violations"],
                    " ".join(f"{k}={v}" for k, v in sorted(r["metadata"].items())),
                )
                for r in rows
            ],
        )
    )


@features_app.command("ingest")
def ingest(
    name: Annotated[str, typer.Argument(help="Feature set name.")],
    path: Annotated[str, typer.Argument(help="Parquet file or folder (local or a storage key).")],
    meta: MetaOption = None,
    description: Annotated[str, typer.Option(help="What this feature set holds.")] = "",
    entity: Annotated[
        list[str] | None, typer.Option("--entity", help="Entity key column; repeatable.")
    ] = None,
    event_time: Annotated[str | None, typer.Option(help="Event-time column.")] = None,
    target: Annotated[
        list[str] | None, typer.Option("--target", help="Target column; repeatable.")
    ] = None,
    expectations: Annotated[
        Path | None,
        typer.Option(help="JSON file of expectations (not_null, ranges, allowed_values, ...)."),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Reject the write if an expectation is violated.")
    ] = False,
    task: Annotated[
        str | None,
        typer.Option(
            help="What the target is for: auto (default: inferred as training does), "
            "regression, binary or multiclass. Recorded with the classes; tune and train "
            "--task auto use it."
        ),
    ] = None,
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Store a Parquet file or folder as the next version of a feature set.

    Identical content (same columns, types, values and row order) returns the
    existing version and writes nothing.

    Example: rayops features ingest churn data/churn/ --entity user_id --meta team=growth
    """
    with handle_errors(as_json):
        exp = None
        if expectations is not None:
            try:
                exp = json.loads(expectations.read_text())
            except (OSError, ValueError) as e:
                raise InvalidInputError(f"Cannot read expectations from {expectations}: {e}") from e
        from rayops.cli._progress import status

        waiting = (
            f"hashing, profiling and checking {path}, then writing it as the next version of {name}"
        )
        with status(waiting, enabled=not as_json):
            v = _store(storage).write(
                name,
                path,
                description=description,
                metadata=_pairs(meta),
                entity=entity or None,
                event_time=event_time,
                target=target or None,
                expectations=exp,
                strict=strict,
                task=task,
            )
    doc = {**_summary(v), "reused": v.reused}
    doc["quality"] = v.quality.model_dump(mode="json", exclude_none=True)

    def render(d: dict[str, Any]) -> None:
        what = "[yellow]unchanged[/]" if d["reused"] else "[green]stored[/]"
        console.print(f"{what} {d['ref']} rows={d['row_count']} sha256={d['sha256'][:12]}")
        for violation in v.quality.violations:
            console.print(f"  [red]violation[/] {violation.message}", highlight=False)

    emit(doc, as_json, render)


@features_app.command("list")
def list_(storage: StorageOption = None, as_json: bool = JSON_OPTION) -> None:
    """List feature sets with their latest version.

    Example: rayops features list --json
    """
    with handle_errors(as_json):
        store = _store(storage)
        rows = [_summary(store.get(name)) for name in store.list()]
    emit(rows, as_json, lambda r: _version_table("feature sets (latest versions)", r))


@features_app.command("versions")
def versions(
    name: Annotated[str, typer.Argument(help="Feature set name.")],
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """List every version of a feature set with its hash, size and quality.

    With --json each version also carries its per-column statistics.

    Example: rayops features versions churn
    """
    with handle_errors(as_json):
        rows = [
            {
                **_summary(v),
                "stats": {c: s.model_dump(exclude_none=True) for c, s in v.stats.items()},
            }
            for v in _store(storage).versions(name)
        ]
    emit(rows, as_json, lambda r: _version_table(f"versions of {name}", r))


@features_app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help="NAME or NAME@VERSION (default: latest).")],
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Show a version's manifest: schema, roles, statistics, quality, metadata.

    Example: rayops features show churn@2 --json
    """
    with handle_errors(as_json):
        v = _store(storage).get(ref)

    def render(d: dict[str, Any]) -> None:
        console.print(f"[bold]{v.ref}[/] created {d['created_at']} sha256 {v.sha256}")
        console.print(f"rows {v.row_count}, parent {v.parent_version}, roles {d['roles']}")
        if v.description:
            console.print(v.description)
        rows = []
        for col in v.schema:
            s = v.stats.get(col.name)
            summary = ""
            if s is not None and s.kind in ("numeric", "temporal"):
                summary = f"min={s.min} max={s.max}" + (
                    f" mean={s.mean:.4g} std={s.std:.4g}" if s.mean is not None else ""
                )
            elif s is not None and s.kind == "categorical":
                top = ", ".join(f"{t.value}:{t.count}" for t in (s.top_values or [])[:3])
                summary = f"distinct={s.distinct_count} top {top}"
            rows.append((col.name, col.type, s.null_count if s else "", summary))
        console.print(table("columns", ["name", "type", "nulls", "stats"], rows))
        for violation in v.quality.violations:
            console.print(f"[red]violation[/] {violation.message}", highlight=False)

    emit(v.to_json(), as_json, render)


@features_app.command("search")
def search(
    name: Annotated[str | None, typer.Option("--name", help="Name glob, e.g. 'churn*'.")] = None,
    meta: MetaOption = None,
    since: Annotated[str | None, typer.Option(help="Created at or after (ISO date/time).")] = None,
    until: Annotated[
        str | None, typer.Option(help="Created at or before (ISO; a date includes that day).")
    ] = None,
    storage: StorageOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Find versions by name glob, metadata key=value and creation date range.

    Example: rayops features search --name 'churn*' --meta team=growth --since 2026-01-01
    """
    with handle_errors(as_json):
        found = _store(storage).search(name, _pairs(meta) or None, since=since, until=until)
        rows = [_summary(v) for v in found]
    emit(rows, as_json, lambda r: _version_table("matching versions", r))
