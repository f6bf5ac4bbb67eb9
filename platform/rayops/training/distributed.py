"""The Ray Data path of training: a feature set split into train and holdout on the cluster.

Above ``train_fast_path_max_rows`` rows, or with two workers or more,
:func:`rayops.training.pipeline.run_training` never loads the feature set into the
driver. :func:`split_feature_set` reads the version as a Ray Dataset
(:meth:`FeatureStore.to_ray_dataset`) and decides each row's side where the row
is, in Ray Data tasks:

* with an event time, the holdout is the latest rows: the cut-off time comes from
  the event-time column alone (the one column the driver reads), and every row at
  or after it is held out (ties at the cut-off all go to the holdout);
* otherwise a row is held out when a seeded hash of its values falls below the
  holdout share, so the split does not depend on how the files are cut into
  blocks, and equal rows land on the same side.

The holdout share is ``holdout_fraction``, made smaller when needed so that at
most ``train_holdout_max_rows`` rows are held out: the held-out rows (and a seeded
sample of about ``train_baseline_rows`` training rows, for the model card's drift
baseline) are the only rows that come to the driver. The training rows stay a
Dataset for :func:`rayops.training.fit.train_on_dataset`.

Example:
    >>> use_ray_data(1_000_000, None, Settings())
    True
    >>> use_ray_data(5_000, None, Settings()), use_ray_data(5_000, 2, Settings())
    (False, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rayops.config import Settings
from rayops.errors import InvalidInputError
from rayops.features import layout
from rayops.training.fit import train_on_dataset, worker_resources
from rayops.training.sources import feature_set_lineage, feature_set_roles
from rayops.training.targets import prepare_target
from rayops.training.tune import infer_features

if TYPE_CHECKING:
    import pandas as pd

    from rayops.features import FeatureSetVersion, FeatureStore
    from rayops.training.targets import Target

__all__ = ["DatasetSplit", "ScaledRun", "split_feature_set", "train_feature_set", "use_ray_data"]

#: Hash values are 64-bit: the low 32 bits decide the holdout, the high 32 the sample.
_SPAN = 1 << 32


def use_ray_data(rows: int, workers: int | None, settings: Settings) -> bool:
    """Whether a feature set of ``rows`` rows trains on the Ray Data path."""
    return rows >= settings.training.fast_path_max_rows or (workers or 1) >= 2


@dataclass(frozen=True)
class DatasetSplit:
    """A feature set's training rows (a Dataset) and what the driver needs of the rest."""

    train: Any  # ray.data.Dataset: the training rows, features and target
    holdout: pd.DataFrame
    sample: pd.DataFrame  # training rows for the drift baseline
    train_rows: int
    features: list[str]
    categories: dict[str, list[Any]]


def split_feature_set(
    store: FeatureStore,
    version: FeatureSetVersion,
    target: str,
    features: list[str],
    *,
    time_column: str | None,
    settings: Settings,
    seed: int = 0,
) -> DatasetSplit:
    """Split ``version`` into train (a Dataset) and holdout (a DataFrame) on the cluster."""
    import math

    import pyarrow as pa

    rows = int(version.row_count)
    t = settings.training
    n_hold = min(max(1, int(round(rows * t.holdout_fraction))), t.holdout_max_rows)
    if rows - n_hold < 2:
        raise InvalidInputError(f"{rows} rows are too few to hold out {n_hold} of them.")
    columns = [*features, target, *([time_column] if time_column else [])]
    ds = store.to_ray_dataset(version.ref, columns=columns)
    cutoff = None
    if time_column is not None:
        import numpy as np

        times = store.read_arrow(version.ref, columns=[time_column]).column(0)
        unit = pa.timestamp("us", tz=getattr(times.type, "tz", None))
        values = times.cast(unit).cast(pa.int64()).fill_null(-(2**63)).to_numpy()
        cutoff = int(np.partition(values, rows - n_hold)[rows - n_hold])
    kwargs = {
        "columns": [*features, target],
        "key": f"rayops{seed:010d}"[:16],
        "time_column": time_column,
        "cutoff": cutoff,
        "hold_below": math.ceil(_SPAN * n_hold / rows),
        "sample_below": math.ceil(_SPAN * min(1.0, t.baseline_rows / max(1, rows - n_hold))),
    }
    side = ds.map_batches(_held_and_sampled, fn_kwargs=kwargs, batch_format="pandas")
    both = side.to_pandas()
    held = both.pop("__hold").to_numpy(dtype=bool)
    holdout = both[held]
    sample = both[~held]
    train = ds.map_batches(_training_rows, fn_kwargs=kwargs, batch_format="pandas")
    return DatasetSplit(
        train=train,
        holdout=holdout.reset_index(drop=True),
        sample=sample.reset_index(drop=True),
        train_rows=rows - len(holdout),
        features=list(features),
        categories=categories_of(store, version, ds, features),
    )


def categories_of(
    store: FeatureStore, version: FeatureSetVersion, ds: Any, features: list[str]
) -> dict[str, list[Any]]:
    """Every value of each string feature: from the manifest's statistics when they
    list them all, else from one Ray Data pass over the other string columns together
    (each block sends back its distinct values; no shuffle)."""
    out: dict[str, list[Any]] = {}
    scan: list[str] = []
    types = {c.name: c.type for c in version.schema}
    for f in features:
        kind = types.get(f, "")
        if not (kind.startswith(("string", "large_string", "dictionary"))):
            continue
        stats = version.stats.get(f)
        top = stats.top_values if stats is not None else None
        complete = (
            stats is not None
            and top is not None
            and not stats.distinct_is_lower_bound
            and stats.distinct_count is not None
            and stats.distinct_count <= len(top)
        )
        if complete and top is not None:
            out[f] = sorted(str(v.value) for v in top)
        else:
            scan.append(f)
    if scan:
        found = ds.select_columns(scan).map_batches(
            _distinct_values, fn_kwargs={"columns": scan}, batch_format="pyarrow"
        )
        pairs = found.to_pandas()
        for f in scan:  # an empty feature set has no blocks, hence no columns
            seen = pairs.loc[pairs["column"] == f, "value"] if len(pairs) else []
            out[f] = sorted(set(seen))
    return {f: out[f] for f in features if f in out}


def _distinct_values(batch: Any, *, columns: list[str]) -> Any:
    """One block's distinct non-null values of ``columns``, as (column, value) strings."""
    import pyarrow as pa
    import pyarrow.compute as pc

    names: list[str] = []
    values: list[Any] = []
    for c in columns:
        col = batch.column(c)
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        distinct = pc.drop_null(pc.unique(col)).cast(pa.string())
        names += [c] * len(distinct)
        values.append(distinct)
    chunks = [a for v in values for a in getattr(v, "chunks", [v])]
    value = pa.concat_arrays(chunks) if chunks else pa.array([], pa.string())
    return pa.table({"column": pa.array(names, pa.string()), "value": value})


def _sides(
    batch: pd.DataFrame,
    *,
    columns: list[str],
    key: str,
    time_column: str | None,
    cutoff: int | None,
    hold_below: int,
    sample_below: int,
) -> tuple[Any, Any]:
    import numpy as np
    import pandas as pd

    h = pd.util.hash_pandas_object(batch[columns], index=False, hash_key=key).to_numpy()
    h = h.astype(np.uint64)
    if time_column is not None:
        stamps = batch[time_column].to_numpy(dtype="datetime64[us]").astype(np.int64)
        hold = stamps >= cutoff
    else:
        hold = (h & np.uint64(_SPAN - 1)) < np.uint64(hold_below)
    sample = ~hold & ((h >> np.uint64(32)) < np.uint64(sample_below))
    return hold, sample


def _held_and_sampled(batch: pd.DataFrame, **kwargs: Any) -> pd.DataFrame:
    """The held-out rows and the baseline sample of this block, marked by ``__hold``."""
    hold, sample = _sides(batch, **kwargs)
    keep = hold | sample
    return batch[keep].assign(__hold=hold[keep])


def _training_rows(batch: pd.DataFrame, **kwargs: Any) -> pd.DataFrame:
    hold, _ = _sides(batch, **kwargs)
    return batch[~hold][kwargs["columns"]]


@dataclass(frozen=True)
class ScaledRun:
    """What :func:`train_feature_set` hands back to the pipeline."""

    result: Any  # TrainResult
    holdout: pd.DataFrame
    baseline_rows: pd.DataFrame
    train_rows: int
    features: list[str]
    target: str
    lineage: dict[str, Any]
    labelled: Target  # the task, classes and objective decided from the target column


def train_feature_set(
    store: FeatureStore,
    version: FeatureSetVersion,
    target: str | None,
    *,
    params: dict[str, Any] | None,
    num_boost_round: int,
    workers: int | None,
    run_id: str,
    settings: Settings,
    say: Any = None,
    task: str = "auto",
) -> ScaledRun:
    """Split ``version`` on the cluster and train on Ray Train from its Dataset.

    The target column alone is read into the driver to decide the task and, for a
    classifier, its classes (:func:`~rayops.training.targets.prepare_target`); the
    workers encode their rows' labels with those classes.
    """

    say = say or (lambda _: None)
    role_target, exclude = feature_set_roles(version)
    target = target or role_target
    if not target:
        raise InvalidInputError("Say which column to predict with --target.")
    if target not in version.columns:
        raise InvalidInputError(f"Target column {target!r} is not in {version.ref}.")
    keys = [layout.version_dir(version.name, version.version) + f for f in version.files]
    empty = store.storage.parquet_dataset(keys).schema.empty_table().to_pandas()
    features = infer_features(empty, target, exclude)
    params = dict(params or {})
    rounds = int(params.pop("n_estimators", num_boost_round))
    column = store.read_arrow(version.ref, columns=[target]).to_pandas()
    labelled = prepare_target(column, target, task=task, objective=params.pop("objective", None))
    del column
    time_column = version.roles.event_time
    seed = settings.training.cv_seed
    say(f"splitting {version.row_count:,} rows of {version.ref} on the cluster (Ray Data)")
    split = split_feature_set(store, version, target, features, time_column=time_column,
                              settings=settings, seed=seed)  # fmt: skip
    n_workers = workers or settings.training.workers
    cpus, nthread = worker_resources(n_workers, settings)
    say(
        f"training {split.train_rows:,} rows on Ray Train: waiting for {n_workers} worker(s) "
        f"of {cpus:g} CPU(s), {nthread} thread(s) each, then {rounds} rounds"
    )
    result = train_on_dataset(
        split.train, target, features=features, categories=split.categories,
        params={**params, **labelled.native()}, num_boost_round=rounds, workers=n_workers,
        storage=store.storage, run_id=run_id, settings=settings, seed=seed,
        labels=labelled.labels,
    )  # fmt: skip
    result.target = labelled
    result.params = {**result.params, "n_estimators": rounds}
    return ScaledRun(
        result=result, holdout=split.holdout, baseline_rows=split.sample,
        train_rows=split.train_rows, features=features, target=target,
        lineage=feature_set_lineage(version), labelled=labelled,
    )  # fmt: skip
