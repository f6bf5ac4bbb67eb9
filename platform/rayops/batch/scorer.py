"""Scoring one part: read its row groups, run the model, write its output file.

:func:`score_table` is the pure computation (an Arrow table in, the output
table out), on the one evaluation path every model kind takes
(:func:`rayops.registry.predictor.evaluate`). :class:`PartScorer` is the Ray
Data callable class around it: each scoring actor loads the model once, from
the registry (SHA-256 checked, UBJSON/JSON only, never unpickled), and then
reads, scores and writes one part per call. Its arguments are settings and
URIs, never rows: each actor reads its own part's row groups straight from the
input's filesystem, so input rows never cross the object store.

Output columns (:func:`output_columns`), in order:

* the id columns, as they are in the input;
* regression: ``prediction``; classification: ``label`` (the predicted class,
  decoded to the training labels with the model's threshold) and ``p_<class>``
  per class (the log's naming, :mod:`rayops.telemetry.schema`); a multi-target
  ensemble: the same per target, suffixed ``_<target>``;
* with true values in the input: ``actual`` (regression) or ``actual_label``
  (classification), suffixed per target, for the job's metrics;
* with ``explain``: ``c_<feature>`` per feature and ``c_bias``, XGBoost's
  ``pred_contribs`` (SHAP values in the margin: log-odds for a binary model).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rayops.batch.inputs import input_filesystem
from rayops.batch.spec import BatchDefinition, Part, PartResult, done_key, job_dir, job_key
from rayops.clock import utc_now
from rayops.config import Settings
from rayops.errors import InvalidInputError
from rayops.registry import Registry
from rayops.registry.card import ADAPTIVE_KINDS
from rayops.registry.predictor import EnsemblePredictor, Predictor, evaluate, evaluate_targets
from rayops.serving.ensembles import EnsembleStats, combiner_for
from rayops.storage import open_storage
from rayops.telemetry.schema import CONTRIBUTION_PREFIX, probability_column

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

__all__ = [
    "Output",
    "PartScorer",
    "check_explainable",
    "combiners_for",
    "context_columns",
    "output_columns",
    "outputs_of",
    "score_table",
]


@dataclass(frozen=True)
class Output:
    """One output of a model: its target (None: the model's only output) and predictor."""

    target: str | None
    predictor: Any

    @property
    def suffix(self) -> str:
        return f"_{self.target}" if self.target is not None else ""

    def columns(self) -> list[str]:
        p = self.predictor
        if p.labels is None:
            return [f"prediction{self.suffix}"]
        if self.target is None:
            probs = [probability_column(c) for c in p.labels.classes]
        else:
            probs = [probability_column(f"{self.target}_{c}") for c in p.labels.classes]
        return [f"label{self.suffix}", *probs]

    def actual_column(self) -> str:
        return ("actual_label" if self.predictor.labels is not None else "actual") + self.suffix


def outputs_of(predictor: Any) -> list[Output]:
    """A multi-target ensemble's outputs (one per target), else the model's one output."""
    if isinstance(predictor, EnsemblePredictor) and predictor.targets:
        return [Output(t, m) for t, m in zip(predictor.targets, predictor.members, strict=True)]
    return [Output(None, predictor)]


def check_explainable(predictor: Any) -> None:
    """``--explain`` works on one tree booster for regression or a binary classifier."""
    if isinstance(predictor, EnsemblePredictor):
        raise InvalidInputError(
            f"--explain is not available for {predictor.ref}, a {predictor.spec.kind} "
            "ensemble: explanations of ensembles come with issue 22 (explanations); "
            "score it without --explain, or explain its members one by one."
        )
    if predictor.task.kind.value == "multiclass":
        raise InvalidInputError(
            f"--explain is not available for {predictor.ref}, a multiclass model: per-class "
            "explanations come with issue 22 (explanations)."
        )


def output_columns(
    predictor: Any, id_columns: Sequence[str], labelled: Sequence[str | None], explain: bool
) -> list[str]:
    """The output table's columns (see the module docstring); ``labelled`` lists the
    outputs (targets, None for a single-output model) whose true values are given."""
    cols = list(id_columns)
    outputs = outputs_of(predictor)
    for out in outputs:
        cols += out.columns()
    cols += [o.actual_column() for o in outputs if o.target in labelled]
    if explain:
        features = list(predictor.features)
        cols += [f"{CONTRIBUTION_PREFIX}{f}" for f in features] + [f"{CONTRIBUTION_PREFIX}bias"]
    return cols


def context_columns(predictor: Any, stats: Mapping[str, Any]) -> list[str]:
    """Columns the dynamic/voting combiners need: the context of every adaptive
    ensemble in the tree that has stats."""
    out: dict[str, None] = {}

    def visit(p: Any) -> None:
        if isinstance(p, EnsemblePredictor):
            if p.spec.kind in ADAPTIVE_KINDS and p.ref in stats:
                out.update(dict.fromkeys(stats[p.ref].get("context", [])))
            for m in p.members:
                visit(m)

    visit(predictor)
    return list(out)


def combiners_for(predictor: Any, stats: Mapping[str, Any]) -> dict[str, Any]:
    """The serving combiners of every adaptive ensemble in the tree, from ``stats``
    (``{ref: stats document}``; an ensemble without one uses its spec's weights)."""

    out: dict[str, Any] = {}

    def visit(p: Any) -> None:
        if isinstance(p, EnsemblePredictor):
            if p.spec.kind in ADAPTIVE_KINDS:
                doc = stats.get(p.ref)
                parsed = EnsembleStats.model_validate(doc) if doc is not None else None
                out[p.ref] = combiner_for(p.spec, parsed)
            for m in p.members:
                visit(m)

    visit(predictor)
    return out


def _frame(table: pa.Table, columns: Sequence[str]) -> pd.DataFrame:
    """The model's input columns as pandas, strings as categoricals (as in training)."""
    import pandas as pd

    frame = table.select(list(columns)).to_pandas()
    for col in frame.columns:
        dtype = frame[col].dtype
        if not isinstance(dtype, pd.CategoricalDtype) and not pd.api.types.is_numeric_dtype(dtype):
            frame[col] = frame[col].astype("category")
    return frame


def score_table(
    predictor: Any,
    table: pa.Table,
    *,
    id_columns: Sequence[str],
    actuals: Mapping[str | None, str],
    explain: bool = False,
    combiners: Mapping[str, Any] | None = None,
    extra_columns: Sequence[str] = (),
) -> pa.Table:
    """The output table of ``predictor`` on ``table`` (see the module docstring).

    ``actuals`` maps an output (target, None for a single-output model) to the
    input column with its true values; ``extra_columns`` are other inputs the
    model needs (the combiners' context).
    """
    import numpy as np
    import pyarrow as pa

    needed = list(dict.fromkeys([*predictor.features, *extra_columns]))
    frame = _frame(table, needed)
    outputs = outputs_of(predictor)
    values: dict[str | None, np.ndarray]
    if outputs[0].target is None:
        values = {None: evaluate(predictor, frame, combiners)}
    else:
        values = {t: v for t, v in evaluate_targets(predictor, frame, combiners).items()}
    columns: dict[str, Any] = {c: table.column(c) for c in id_columns}
    for out in outputs:
        p, value = out.predictor, values[out.target]
        if p.labels is None:
            columns[f"prediction{out.suffix}"] = pa.array(value, type=pa.float64())
            continue
        index = p.task.predicted_index(value, threshold=p.threshold)
        columns[f"label{out.suffix}"] = pa.array(p.labels.classes).take(pa.array(index))
        for j, name in enumerate(out.columns()[1:]):
            columns[name] = pa.array(np.ascontiguousarray(value[:, j]), type=pa.float64())
    for out in outputs:
        if out.target in actuals:
            columns[out.actual_column()] = table.column(actuals[out.target])
    if explain:
        contribs = _contributions(predictor, frame)
        for j, f in enumerate([*predictor.features, "bias"]):
            columns[f"{CONTRIBUTION_PREFIX}{f}"] = pa.array(
                np.ascontiguousarray(contribs[:, j]), type=pa.float64()
            )
    return pa.table(columns)


def _contributions(predictor: Predictor, frame: pd.DataFrame) -> np.ndarray:
    import numpy as np
    import xgboost as xgb

    matrix = xgb.DMatrix(
        frame[predictor.features], enable_categorical=True, nthread=predictor.nthread or 0
    )
    out = predictor.booster.predict(matrix, pred_contribs=True)
    return np.asarray(out, dtype=np.float64).reshape(len(frame), -1)


class PartScorer:
    """Ray Data callable class: one instance per scoring actor, one part per call.

    Args:
        settings_json: the driver's settings (endpoint, retries), as JSON.
        storage_uri: the storage root the model is loaded from.
        output_uri: the output root; parts go to ``batch/<job_id>/``.
        job_id: the job; its definition is read from ``batch/<job_id>/job.json``, so the
            actor's arguments stay small (they are kept to restart it after a node death).
        nthread: XGBoost threads of this actor.
    """

    def __init__(
        self,
        *,
        settings_json: str,
        storage_uri: str,
        output_uri: str,
        job_id: str,
        nthread: int,
    ) -> None:
        import ray

        settings = Settings.model_validate_json(settings_json)
        self.job_id = job_id
        self.output = open_storage(output_uri, settings)
        job = self.output.read_json(job_key(job_id))
        self.definition = BatchDefinition.model_validate(job["definition"])
        storage = open_storage(storage_uri, settings)
        self.predictor = Registry(storage, settings=settings).load(self.definition.model)
        self.predictor.set_threads(nthread)
        stats = self.definition.ensemble_stats
        self.combiners = combiners_for(self.predictor, stats)
        self.context = context_columns(self.predictor, stats)
        self.fs, _ = input_filesystem(self.definition.input.uri, settings)
        self.node_id = ray.get_runtime_context().get_node_id()
        d = self.definition
        self.actuals: dict[str | None, str] = {t: c for t, c in d.target_labels.items()}
        if d.label_column is not None:
            self.actuals[None] = d.label_column
        self.read_columns = list(
            dict.fromkeys([*d.id_columns, *self.predictor.features, *self.context,
                           *self.actuals.values()])
        )  # fmt: skip

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        return {"result": [self.score(Part.model_validate_json(str(raw))) for raw in batch["part"]]}

    def score(self, part: Any) -> str:
        """Score ``part``, write its file and its completion record; the record as JSON."""
        import pyarrow.parquet as pq

        started = time.perf_counter()
        file = self.definition.input.files[part.file]
        with self.fs.open_input_file(file.path) as f:
            table = pq.ParquetFile(f).read_row_groups(part.row_groups, columns=self.read_columns)
        out = score_table(
            self.predictor, table, id_columns=self.definition.id_columns, actuals=self.actuals,
            explain=self.definition.explain, combiners=self.combiners, extra_columns=self.context,
        )  # fmt: skip
        # Whole file or nothing (both backends), then the record that says it is complete.
        self.output.write_parquet(job_dir(self.job_id) + part.name, out)
        result = PartResult(
            name=part.name, rows=out.num_rows, node_id=self.node_id,
            seconds=round(time.perf_counter() - started, 4), scored_at=utc_now(),
        )  # fmt: skip
        self.output.write_json(done_key(self.job_id, part.name), result.model_dump(mode="json"))
        return result.model_dump_json()
