"""A batch scoring job on Ray Data: check everything, score the missing parts, publish.

:func:`run_batch` (the driver; needs a Ray session started by the caller):

1. pins the model (``name@alias`` -> ``name@version``), loads it once to learn
   its features and outputs, reads every input footer and refuses bad input
   (unknown model, missing column, unreadable file, a job id that holds another
   job) before anything is written;
2. writes the definition (``job.json``) with put-if-absent, or finds the same
   definition there (a rerun) and the parts already complete;
3. scores the other parts with ``ray.data.from_items(parts).map_batches(PartScorer,
   concurrency=N)``: N actors (one per ``batch_cpus_per_actor`` CPUs of the
   cluster), each loads the model once and reads, scores and writes a part per
   call. Ray Data restarts an actor that died (with its node) and retries its part;
   a part is written whole or not at all, so a retried part just writes it again;
4. computes the task's metrics over the outputs when the input had true values,
   and writes ``manifest.json`` last.

Example:
    >>> m = run_batch(storage, "churn@production", features="churn-fs@3",  # doctest: +SKIP
    ...               id_columns=["user_id"])
    >>> m.rows, m.output, m.metrics["logloss"]  # doctest: +SKIP
    (1000000, 's3://bucket/rayops', 0.31)
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from rayops.batch import spec
from rayops.batch.inputs import check_columns, feature_set_input, files_input, plan_parts
from rayops.batch.scorer import (
    PartScorer,
    check_explainable,
    context_columns,
    output_columns,
    outputs_of,
)
from rayops.batch.spec import BatchDefinition, BatchManifest, Part, PartResult
from rayops.clock import utc_now
from rayops.config import Settings, settings_of
from rayops.errors import AlreadyExistsError, InvalidInputError, NotFoundError, RayopsError
from rayops.names import validate_name
from rayops.registry import Registry
from rayops.registry.card import ADAPTIVE_KINDS
from rayops.registry.predictor import EnsemblePredictor
from rayops.serving.ensembles import read_stats
from rayops.storage import Storage, open_storage

__all__ = ["BatchProgress", "get_job", "list_jobs", "run_batch"]


@dataclass(frozen=True)
class BatchProgress:
    """Where a job is: its stage, what it waits for, and parts/rows done of the total."""

    stage: str
    message: str
    parts_done: int = 0
    parts: int = 0
    rows_done: int = 0
    rows: int = 0


ProgressFn = Callable[[BatchProgress], None]


def run_batch(
    storage: Storage,
    model: str,
    *,
    features: str | None = None,
    data: str | None = None,
    output: str | None = None,
    id_columns: Sequence[str] = (),
    label: str | None = None,
    explain: bool = False,
    job_id: str | None = None,
    settings: Settings | None = None,
    progress: ProgressFn | None = None,
    quiet: bool = False,
) -> BatchManifest:
    """Score ``model`` on a feature set (``features="name@3"``) or Parquet files
    (``data="s3://bucket/day=*/*.parquet"``); outputs under ``output`` (default: the
    storage root) in ``batch/<job_id>/``. Returns the manifest.

    ``label`` names the column with true values (default: the model card's target
    or the feature set's target role, if the input has it). ``job_id`` defaults to
    one derived from the job's definition, so the same command resumes the same job.
    ``quiet`` silences Ray Data's own progress output (the CLI draws its own).

    Raises:
        NotFoundError: unknown model, feature set or input path.
        InvalidInputError: a missing or clashing column, an unreadable file, a job id
            that already holds another job, or ``explain`` on a model it cannot explain.
    """
    import ray

    settings = settings_of(storage, settings)
    say = progress or (lambda _: None)
    if (features is None) == (data is None):
        raise InvalidInputError("Give exactly one of --features NAME[@VERSION] or --data URI.")
    if not ray.is_initialized():
        raise RayopsError("Batch scoring runs on Ray: start a session (ray.init()) first.")
    started = time.perf_counter()
    say(BatchProgress("checking", f"loading {model} and reading the input's footers"))
    definition, predictor = _define(
        storage, model, features=features, data=data, id_columns=id_columns, label=label,
        explain=explain, settings=settings,
    )  # fmt: skip
    job_id = validate_name(job_id or definition.default_job_id(), "batch job id")
    out = open_storage(output or storage.uri, settings)
    existing = _claim(out, job_id, definition)
    if existing is not None:
        say(BatchProgress("done", "already complete", len(existing.parts), len(existing.parts),
                          existing.rows, existing.rows))  # fmt: skip
        return existing
    parts = plan_parts(definition.input, definition.rows_per_part)
    done = _done_parts(out, job_id, parts)
    pending = [p for p in parts if p.name not in done]
    total_rows = sum(p.rows for p in parts)
    results = dict(done)
    if pending:
        _score(storage, out, job_id, definition, pending, results, parts, total_rows, settings,
               say, quiet)  # fmt: skip
    rows = sum(results[p.name].rows for p in parts)
    if rows != definition.input.rows:
        raise RayopsError(
            f"Batch job {job_id} wrote {rows} rows for {definition.input.rows} input rows; "
            "rerun it to rescore the parts."
        )
    metrics = None
    if definition.label_column or definition.target_labels:
        say(BatchProgress("metrics", "computing metrics over the outputs", len(parts),
                          len(parts), rows, rows))  # fmt: skip
        metrics = _metrics(out, job_id, parts, predictor, definition, settings)
    manifest = BatchManifest(
        job_id=job_id,
        output=out.uri,
        definition=definition,
        definition_sha256=definition.sha256(),
        columns=output_columns(
            predictor, definition.id_columns, _labelled(definition), definition.explain
        ),
        rows=rows,
        parts=[results[p.name] for p in parts],
        metrics=metrics,
        created_at=_created_at(out, job_id),
        finished_at=utc_now(),
        seconds=round(time.perf_counter() - started, 3),
        resumed_parts=len(done),
    )
    try:  # written last: a reader that finds it finds every part
        out.put_json_if_absent(spec.manifest_key(job_id), manifest.model_dump(mode="json"))
    except AlreadyExistsError:  # a concurrent run of the same job finished first
        manifest = BatchManifest.model_validate(out.read_json(spec.manifest_key(job_id)))
    say(BatchProgress("done", "manifest written", len(parts), len(parts), rows, rows))
    return manifest


# --- defining the job ------------------------------------------------------------------
def _define(
    storage: Storage,
    model: str,
    *,
    features: str | None,
    data: str | None,
    id_columns: Sequence[str],
    label: str | None,
    explain: bool,
    settings: Settings,
) -> tuple[BatchDefinition, Any]:
    registry = Registry(storage, settings=settings)
    mv = registry.get(model)
    predictor = registry.load(mv.ref)
    if explain:
        check_explainable(predictor)
    target_role: str | None = None
    if features is not None:
        batch_input, schemas, version = feature_set_input(storage, features, settings)
        targets = list(version.roles.target)
        target_role = targets[0] if len(targets) == 1 else None
    else:
        batch_input, schemas = files_input(str(data), settings)
    everywhere = set.intersection(*(set(s.names) for s in schemas))
    outputs = outputs_of(predictor)
    label_column: str | None = None
    target_labels: dict[str, str] = {}
    if outputs[0].target is not None:
        if label is not None:
            raise InvalidInputError(
                f"{mv.ref} predicts several targets; their true values are read from the "
                "columns named like the targets, so --label does not apply."
            )
        target_labels = {o.target: o.target for o in outputs if o.target in everywhere}  # type: ignore[misc]
    elif label is not None:
        label_column = label
    else:
        label_column = next((c for c in (mv.card.target, target_role) if c in everywhere), None)
    stats = _ensemble_stats(predictor, storage, read_stats)
    needed = {f: f"a feature of {mv.ref}" for f in predictor.features}
    needed.update(
        {c: "context of a dynamic/voting ensemble" for c in context_columns(predictor, stats)}
    )
    needed.update({c: "an id column" for c in id_columns})
    if label_column is not None:
        needed[label_column] = "the label column"
    check_columns(batch_input, schemas, needed)
    definition = BatchDefinition(
        model=mv.ref, input=batch_input, id_columns=list(id_columns), label_column=label_column,
        target_labels=target_labels, explain=explain,
        rows_per_part=settings.batch.rows_per_part, ensemble_stats=stats,
    )  # fmt: skip
    names = output_columns(predictor, definition.id_columns, _labelled(definition), explain)
    clashes = sorted({c for c in names if names.count(c) > 1})
    if clashes:
        raise InvalidInputError(
            f"Output column(s) {clashes} would appear twice: rename the id column(s) or leave "
            "them out of --id-columns."
        )
    return definition, predictor


def _labelled(definition: BatchDefinition) -> list[str | None]:
    out: list[str | None] = list(definition.target_labels)
    if definition.label_column is not None:
        out.append(None)
    return out


def _ensemble_stats(predictor: Any, storage: Storage, read_stats: Any) -> dict[str, Any]:
    """The stats documents of the adaptive ensembles in the tree, as read now (pinned in
    the definition, so a rerun combines the members exactly as the first run did)."""

    out: dict[str, Any] = {}

    def visit(p: Any) -> None:
        if isinstance(p, EnsemblePredictor):
            if p.spec.kind in ADAPTIVE_KINDS:
                stats = read_stats(storage, p.ref)
                if stats is not None:
                    out[p.ref] = stats.model_dump(mode="json")
            for m in p.members:
                visit(m)

    visit(predictor)
    return out


def _claim(out: Storage, job_id: str, definition: BatchDefinition) -> BatchManifest | None:
    """Write the job's definition, or check that the one there is this job's; the
    manifest if the job is already complete."""
    sha = definition.sha256()
    try:
        found = BatchManifest.model_validate(out.read_json(spec.manifest_key(job_id)))
    except NotFoundError:
        found = None
    if found is not None:
        if found.definition_sha256 != sha:
            raise _another_job(out, job_id, found.definition)
        return found
    record = {"job_id": job_id, "definition": definition.model_dump(mode="json"),
              "definition_sha256": sha, "created_at": utc_now().isoformat()}  # fmt: skip
    try:
        out.put_json_if_absent(spec.job_key(job_id), record)
    except AlreadyExistsError:
        doc = out.read_json(spec.job_key(job_id))
        if doc.get("definition_sha256") != sha:
            other = BatchDefinition.model_validate(doc["definition"])
            raise _another_job(out, job_id, other) from None
    return None


def _another_job(out: Storage, job_id: str, other: BatchDefinition) -> InvalidInputError:
    return InvalidInputError(
        f"{out.uri}/{spec.job_dir(job_id)} already holds another batch job ({other.model} on "
        f"{_describe(other)}); give another --job-id or --output, or leave --job-id out."
    )


def _describe(d: BatchDefinition) -> str:
    i = d.input
    if i.kind == "feature_set":
        return f"{i.feature_set}@{i.version}"
    return f"{len(i.files)} file(s) at {i.uri}"


def _created_at(out: Storage, job_id: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(out.read_json(spec.job_key(job_id))["created_at"])


def _done_parts(out: Storage, job_id: str, parts: Sequence[Part]) -> dict[str, PartResult]:
    """The parts a previous run completed (their record exists; the file was written first)."""
    wanted = {spec.done_key(job_id, p.name): p.name for p in parts}
    keys = [k for k in out.list_keys(spec.job_dir(job_id) + "_parts/") if k in wanted]
    if not keys:
        return {}
    with ThreadPoolExecutor(min(16, len(keys))) as pool:
        docs = list(pool.map(out.read_json, keys))
    return {wanted[k]: PartResult.model_validate(d) for k, d in zip(keys, docs, strict=True)}


# --- scoring -----------------------------------------------------------------------------
def _score(
    storage: Storage,
    out: Storage,
    job_id: str,
    definition: BatchDefinition,
    pending: Sequence[Part],
    results: dict[str, PartResult],
    parts: Sequence[Part],
    total_rows: int,
    settings: Settings,
    say: ProgressFn,
    quiet: bool,
) -> None:
    import ray
    import ray.data

    if quiet:
        _quiet_ray_data()
    cpus = settings.batch.cpus_per_actor
    free = ray.available_resources().get("CPU", 0)  # type: ignore[no-untyped-call]
    actors = settings.batch.actors or max(1, int(free // cpus))
    actors = min(actors, len(pending))
    nthread = settings.batch.nthread or max(1, int(cpus))
    kwargs = {
        "settings_json": settings.model_dump_json(exclude={"api_token"}),
        "storage_uri": storage.uri,
        "output_uri": out.uri,
        "job_id": job_id,
        "nthread": nthread,
    }
    rows_done = sum(r.rows for r in results.values())
    say(BatchProgress(
        "starting",
        f"waiting for {actors} scoring actor(s) to start and load {definition.model}"
        + (f" ({len(results)} part(s) done by an earlier run)" if results else ""),
        len(results), len(parts), rows_done, total_rows,
    ))  # fmt: skip
    try:
        with _actors_ready_first(settings.batch.actors_ready_timeout_s):  # before the Dataset
            ds = ray.data.from_items(
                [{"part": p.model_dump_json()} for p in pending], override_num_blocks=len(pending)
            )
            scored = ds.map_batches(
                PartScorer,
                fn_constructor_kwargs=kwargs,
                batch_size=1,
                compute=ray.data.ActorPoolStrategy(size=actors),
                num_cpus=cpus,
            )
            for row in scored.iter_rows():
                result = PartResult.model_validate_json(row["result"])
                results[result.name] = result
                rows_done += result.rows
                say(BatchProgress("scoring", f"scoring on {actors} actor(s)", len(results),
                                  len(parts), rows_done, total_rows))  # fmt: skip
    except Exception as e:  # Ray Data wraps what a scorer raised
        cause = _cause(e, RayopsError)
        if cause is not None:
            raise cause from None
        if _cause(e, ray.exceptions.GetTimeoutError) is None:
            raise RayopsError(f"Batch job {job_id} failed while scoring: {e}") from e
        raise RayopsError(
            f"Batch job {job_id}: {actors} scoring actor(s) of {cpus:g} CPU each were not all "
            f"ready within batch_actors_ready_timeout_s={settings.batch.actors_ready_timeout_s:g}"
            " s; the cluster may have fewer free CPUs than that now, or the model is slow to "
            "load. Set batch_actors to fewer actors or raise the timeout."
        ) from e


_E = TypeVar("_E", bound=BaseException)


@contextlib.contextmanager
def _actors_ready_first(timeout_s: float) -> Iterator[None]:
    """Ray Data waits for the whole actor pool before it hands out parts.

    Without it (Ray's default) parts go to the first actor that is ready, and a
    short job on a cluster whose other nodes start their actors a few seconds
    later runs on one node only. The setting lives on the driver's DataContext;
    it is restored afterwards, since the driver may be a user's process.
    """
    import ray.data

    ctx = ray.data.DataContext.get_current()
    before = ctx.wait_for_min_actors_s
    ctx.wait_for_min_actors_s = math.ceil(timeout_s) if timeout_s > 0 else -1
    try:
        yield
    finally:
        ctx.wait_for_min_actors_s = before


def _cause(error: BaseException, kind: type[_E]) -> _E | None:
    """The first exception of ``kind`` in ``error``'s chain (Ray wraps what a task raised)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, kind):
            return current
        current = getattr(current, "cause", None) or current.__cause__ or current.__context__
    return None


def _quiet_ray_data() -> None:
    """No Ray Data progress bars or INFO lines on the console (the caller draws progress)."""
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    for handler in logging.getLogger("ray.data").handlers:
        if not hasattr(handler, "baseFilename"):  # the console handler, not the log file
            handler.setLevel(logging.WARNING)


# --- metrics -----------------------------------------------------------------------------
def _metrics(
    out: Storage,
    job_id: str,
    parts: Sequence[Part],
    predictor: Any,
    definition: BatchDefinition,
    settings: Settings,
) -> dict[str, Any] | None:
    """The task's metrics per output with true values (a single output: flat)."""
    import numpy as np

    if not parts:
        return None
    keys = [spec.job_dir(job_id) + p.name for p in parts]
    labelled = _labelled(definition)
    found: dict[str, Any] = {}
    for o in outputs_of(predictor):
        if o.target not in labelled:
            continue
        p = o.predictor
        cols = o.columns() if p.labels is not None else o.columns()[:1]
        table = out.read_parquet(keys, columns=[*cols, o.actual_column()])
        actual = table.column(o.actual_column()).to_pandas()
        keep = actual.notna().to_numpy()
        try:
            if p.labels is None:
                y = actual[keep].to_numpy(dtype=np.float64)
                pred = table.column(cols[0]).to_numpy()[keep]
                m = p.task.metrics(y, pred, tolerance=settings.training.accuracy_tolerance)
            else:
                y = p.labels.encode_series(actual[keep], where=f"column {o.actual_column()!r}")
                proba = np.column_stack([table.column(c).to_numpy() for c in cols[1:]])[keep]
                m = p.task.metrics(y, proba, labels=p.labels, threshold=p.threshold)
        except InvalidInputError as e:
            m = {"error": str(e)}
        found[o.target or ""] = {"rows": int(keep.sum()), **m}
    if list(found) == [""]:
        return dict(found[""])
    return found


# --- reading jobs back ---------------------------------------------------------------------
def list_jobs(out: Storage) -> builtins.list[dict[str, Any]]:
    """Every batch job under ``out``'s ``batch/``: finished ones (their manifest's summary)
    and incomplete ones (definition and parts done), oldest first."""
    jobs = []
    for child in out.list_children(spec.ROOT):
        try:
            jobs.append(get_job(out, child))
        except (NotFoundError, InvalidInputError):
            continue
    return sorted(jobs, key=lambda j: str(j.get("created_at") or j.get("finished_at")))


def get_job(out: Storage, job_id: str) -> dict[str, Any]:
    """One job: ``{"state": "complete", "manifest": ...}`` or ``{"state": "incomplete",
    ...}`` with the parts a run completed so far."""
    validate_name(job_id, "batch job id")
    try:
        manifest = BatchManifest.model_validate(out.read_json(spec.manifest_key(job_id)))
    except NotFoundError:
        manifest = None
    if manifest is not None:
        return {"state": "complete", "created_at": manifest.created_at.isoformat(),
                **manifest.summary(), "manifest": manifest.model_dump(mode="json")}  # fmt: skip
    try:
        doc = out.read_json(spec.job_key(job_id))
    except NotFoundError:
        raise NotFoundError(
            f"No batch job {job_id!r} under {out.uri}/{spec.ROOT}/; `rayops batch list` shows "
            "the jobs there."
        ) from None
    definition = BatchDefinition.model_validate(doc["definition"])
    parts = plan_parts(definition.input, definition.rows_per_part)
    done = _done_parts(out, job_id, parts)
    return {
        "state": "incomplete", "job_id": job_id, "model": definition.model,
        "input": definition.input.lineage(), "created_at": doc["created_at"],
        "parts_done": len(done), "parts": len(parts),
        "rows_done": sum(r.rows for r in done.values()), "rows": definition.input.rows,
        "output": f"{out.uri}/{spec.job_dir(job_id)}",
    }  # fmt: skip
