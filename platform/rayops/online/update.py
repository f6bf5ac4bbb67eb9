"""One incremental update of a serving booster, in this process, and its validation gate.

An online batch is small (tens to thousands of rows), so the update runs here —
no Ray task, no trainer — with ``online_nthread`` XGBoost threads:

* ``continue``: ``rounds`` more trees on the training rows (the buffer plus a
  replay sample of older ones);
* ``refresh``: every leaf value recomputed on them (XGBoost's refresh updater);
* ``both``: refresh, then the extra trees.

Rows come as the gateway logged them (one JSON object of feature values per
row) and go to XGBoost without pandas: numeric columns as float arrays,
categorical ones as Arrow dictionary arrays over **the booster's own category
list**, so codes mean what they meant in training (XGBoost refuses to continue
training on a different category set). Unknown categories become missing values.

Classifiers update the same way: the labels are class indices (in the card's
class order), the objective stays the card's (``binary:logistic``,
``multi:softprob``), and XGBoost's refresh updater and continued boosting work
with both.

The gate is the promotion gate (:func:`rayops.gate.compare`), paired: parent and
candidate are scored on the same holdout rows, and the candidate wins only if
its primary metric (RMSE for regression, log loss for classifiers, from the
mean per-row loss) is at least ``min_improvement`` lower *and* a one-sided
paired t-test on the per-row losses says so at level ``alpha`` — on a holdout
of twenty rows a lucky draw can look like a 5% gain.

Example:
    >>> from rayops.gate import compare
    >>> g = compare([1.0, 4.0, 2.25, 1.0], [16.0, 25.0, 36.0, 25.0], min_improvement=0.01,
    ...             alpha=0.05)
    >>> g.accepted, round(g.improvement, 3)
    (True, 0.716)
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rayops.gate import GateResult, compare
from rayops.online.config import UpdateMode
from rayops.tasks import Task
from rayops.training.finetune import boost_more, refresh_leaves

if TYPE_CHECKING:
    import numpy as np
    import xgboost as xgb

__all__ = ["Batch", "ModelSchema", "UpdateOutcome", "incremental_update"]

#: Up to this many rows, a float matrix is built in Python; above, through Arrow's
#: JSON reader (C++), which costs more to start and less per row.
_PYTHON_ROWS = 1_000


@dataclass(frozen=True)
class ModelSchema:
    """The inputs a booster takes: features in order, and the categories of each
    categorical feature in the booster's order."""

    features: list[str]
    categories: dict[str, list[str]]

    @classmethod
    def of(
        cls, booster: xgb.Booster, features: Sequence[str], feature_types: Sequence[str] | None
    ) -> ModelSchema:
        """The schema of ``booster`` (categories read from the model itself)."""
        types = list(feature_types or [])
        wanted = {f for f, t in zip(features, types, strict=False) if t == "c"}
        stored: dict[str, list[str]] = {}
        if wanted:
            for name, values in booster.get_categories(export_to_arrow=True).to_arrow():
                if values is not None:
                    stored[name] = [str(v) for v in values.to_pylist()]
        return cls(list(features), {f: stored.get(f, []) for f in features if f in wanted})

    def matrix(
        self,
        rows: Sequence[str | dict[str, Any]],
        label: np.ndarray | None = None,
        weight: np.ndarray | None = None,
        *,
        nthread: int = 1,
        training: bool = True,
    ) -> xgb.DMatrix:
        """A DMatrix of logged rows (JSON objects or dicts of feature values).

        With ``training=False`` (prediction only) categories go in as their codes in a
        float matrix, XGBoost's cheapest input; training needs them as Arrow
        dictionaries, since XGBoost checks the category set of new training data.
        """
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc
        import xgboost as xgb

        if (not training or not self.categories) and len(rows) <= _PYTHON_ROWS:
            return self._float_matrix(rows, label, weight, nthread=nthread)
        schema = pa.schema(
            [(f, pa.string() if f in self.categories else pa.float64()) for f in self.features]
        )
        table = _parse(rows, schema)
        columns = []
        for f in self.features:
            col = (
                table.column(f).combine_chunks() if f in table.column_names else pa.nulls(len(rows))
            )
            if f in self.categories:
                names = col.cast(pa.string())
                cats = pa.array(
                    self.categories[f] or sorted(v for v in pc.unique(names).to_pylist() if v),
                    pa.string(),
                )
                columns.append(pa.DictionaryArray.from_arrays(pc.index_in(names, cats), cats))
            else:
                columns.append(col.cast(pa.float64()))
        if training and self.categories:
            arrow = pa.Table.from_arrays(columns, names=self.features)
            return xgb.DMatrix(
                arrow, label, weight=weight, enable_categorical=True, nthread=nthread
            )
        values = np.column_stack(
            [
                (c.indices if isinstance(c, pa.DictionaryArray) else c)
                .cast(pa.float64())
                .to_numpy(zero_copy_only=False)
                for c in columns
            ]
        ).reshape(len(rows), len(self.features))
        return self._dmatrix(values, label, weight, nthread=nthread)

    def _float_matrix(
        self,
        rows: Sequence[str | dict[str, Any]],
        label: np.ndarray | None,
        weight: np.ndarray | None,
        *,
        nthread: int,
    ) -> xgb.DMatrix:
        """Numbers as floats, categories as their codes in the booster's list (unknown or
        missing: NaN); built in Python, which beats Arrow's set-up for small batches."""
        import numpy as np

        codes = {
            f: {c: float(i) for i, c in enumerate(cats)} for f, cats in self.categories.items()
        }
        nan = float("nan")
        values = np.empty((len(rows), len(self.features)), dtype=np.float64)
        for i, raw in enumerate(rows):
            record = json.loads(raw) if isinstance(raw, str) else raw
            for j, f in enumerate(self.features):
                v = record.get(f)
                if f in codes:
                    values[i, j] = codes[f].get(v if isinstance(v, str) else str(v), nan)
                elif v is None:
                    values[i, j] = nan
                else:
                    try:
                        values[i, j] = float(v)
                    except (TypeError, ValueError):
                        values[i, j] = nan  # not a number: missing, as XGBoost would treat it
        return self._dmatrix(values, label, weight, nthread=nthread)

    def _dmatrix(self, values: np.ndarray, label: Any, weight: Any, *, nthread: int) -> xgb.DMatrix:
        import xgboost as xgb

        types = ["c" if f in self.categories else "float" for f in self.features]
        return xgb.DMatrix(
            values,
            label,
            weight=weight,
            feature_names=self.features,
            feature_types=types,
            enable_categorical=bool(self.categories),
            nthread=nthread,
        )


def _parse(rows: Sequence[str | dict[str, Any]], schema: Any) -> Any:
    """An Arrow table of ``rows`` with ``schema``'s columns: JSON text through Arrow's
    JSON reader (C++, no type guessing), dicts or odd text through Python."""
    import io

    import pyarrow as pa
    import pyarrow.json as pj

    if rows and all(isinstance(r, str) for r in rows):
        options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
        reading = pj.ReadOptions(use_threads=False)  # batches are small; no pool hand-offs
        try:
            text = "\n".join(rows).encode()  # type: ignore[arg-type]
            return pj.read_json(io.BytesIO(text), read_options=reading, parse_options=options)
        except pa.ArrowInvalid:
            pass  # e.g. a number sent as a string: let Python convert what it can
    records = [json.loads(r) if isinstance(r, str) else r for r in rows]
    columns = {}
    for column in schema:
        values = [r.get(column.name) for r in records]
        if pa.types.is_string(column.type):
            columns[column.name] = pa.array([None if v is None else str(v) for v in values])
        else:
            columns[column.name] = pa.array(_floats(values), pa.float64())
    return pa.table(columns) if records else schema.empty_table()


def _floats(values: list[Any]) -> list[float | None]:
    out: list[float | None] = []
    for v in values:
        try:
            out.append(None if v is None else float(v))
        except (TypeError, ValueError):
            out.append(None)  # not a number: a missing value, as XGBoost would treat it
    return out


@dataclass(frozen=True)
class Batch:
    """Rows for an update: logged feature objects, labels, optional weights."""

    rows: Sequence[str | dict[str, Any]]
    label: np.ndarray
    weight: np.ndarray | None = None
    #: The request id of each row (holdout): the gate tests per request, since rows of
    #: one request are not independent draws.
    groups: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.rows)


@dataclass
class UpdateOutcome:
    """A candidate booster and how it compared with its parent on the holdout."""

    booster: xgb.Booster
    before: dict[str, float | None]
    after: dict[str, float | None]
    gate: GateResult
    timings_ms: dict[str, float] = field(default_factory=dict)


def incremental_update(
    booster: xgb.Booster,
    schema: ModelSchema,
    train: Batch,
    holdout: Batch,
    *,
    mode: UpdateMode,
    rounds: int,
    params: dict[str, Any],
    min_improvement: float,
    alpha: float,
    tolerance: float = 5.0,
    nthread: int = 1,
    task: Task | str | None = None,
    n_classes: int = 0,
    threshold: float = 0.5,
) -> UpdateOutcome:
    """Adapt ``booster`` **in place** to ``train`` and judge it against itself as it was.

    ``task`` (default regression) decides the labels (values, or class indices
    ``0..n_classes-1``), the holdout metrics and the per-row loss the gate tests.
    The parent's holdout predictions are taken before it changes; pass a copy
    (``booster.copy()``) to keep the parent.
    """
    import numpy as np
    import xgboost as xgb

    task = Task.of(task)
    # One thread, set before XGBoost's first use: on a busy machine an idle OpenMP
    # pool turns a 1 ms predict into 50 ms, and loading a model from 2 ms into 20 ms.
    with xgb.config_context(nthread=nthread):
        started = time.perf_counter()
        native = {**params, "nthread": nthread}
        booster.set_param({"nthread": nthread})
        dtrain = schema.matrix(train.rows, train.label, train.weight, nthread=nthread)
        dhold = schema.matrix(holdout.rows, holdout.label, nthread=nthread, training=False)
        built = time.perf_counter()
        before_pred = task.probabilities(booster.predict(dhold), n_classes)
        if mode in (UpdateMode.REFRESH, UpdateMode.BOTH):
            refresh_leaves(booster, dtrain, native, in_place=True)
        if mode in (UpdateMode.CONTINUE, UpdateMode.BOTH):
            boost_more(booster, dtrain, native, rounds, in_place=True)
        adapted = time.perf_counter()
        after_pred = task.probabilities(booster.predict(dhold), n_classes)
        y = np.asarray(holdout.label, dtype=np.float64)
        if task.is_classification:
            y = y.astype(np.int64)
        before = task.metrics(y, before_pred, tolerance=tolerance, threshold=threshold)
        after = task.metrics(y, after_pred, tolerance=tolerance, threshold=threshold)
        # Parent and candidate on the same holdout rows: the gate's paired design.
        gate = compare(
            task.row_loss(y, after_pred),
            task.row_loss(y, before_pred),
            task=task,
            min_improvement=min_improvement,
            alpha=alpha,
            paired=True,
            groups=holdout.groups,
            metric_name=f"holdout {task.primary_metric}",
        )
        done = time.perf_counter()
        timings = {
            "matrix_ms": (built - started) * 1000,
            "adapt_ms": (adapted - built) * 1000,
            "gate_ms": (done - adapted) * 1000,
            "total_ms": (done - started) * 1000,
        }
        return UpdateOutcome(
            booster, before, after, gate, {k: round(v, 3) for k, v in timings.items()}
        )
