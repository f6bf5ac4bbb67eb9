"""Train one XGBoost model: a fast path for small data, Ray Train for large data.

:func:`train_model` trains a regressor or a classifier (the task comes from
``task``, the objective in ``params``, or the target: see
:mod:`rayops.training.targets`; labels are encoded as class indices and the
multiclass ``num_class`` is set from them). It picks the path by itself and
records the choice:

* **fast** — fewer rows than ``train_fast_path_max_rows`` and at most one
  worker asked for: one Ray task (``num_cpus=1``) trains the booster, skipping
  Ray Train's worker-group start-up (about 10 s here).
* **ray_train** — ``XGBoostTrainer`` with the rows sharded across workers (each
  shard goes to the object store once), XGBoost's collective communication
  between them, checkpoints under the storage root every
  ``train_checkpoint_every`` rounds, and ``FailureConfig(max_failures)``: a failed
  worker group restarts from the last checkpoint and continues boosting from
  that round. Train is told about progress only at those checkpoints, because
  each report costs about 2 s; Ray's stock ``RayTrainReportCallback`` reports
  every round, which turned a 2 s training into 220 s here.

Library code: callers start Ray (``ray.init``) first.

Example:
    >>> from rayops.datasets import make_regression
    >>> frame = make_regression(2_000, seed=0)
    >>> result = train_model(frame, "target", num_boost_round=20)  # doctest: +SKIP
    >>> result.path, result.rounds  # doctest: +SKIP
    (<TrainPath.FAST: 'fast'>, 20)
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from rayops.config import Settings
from rayops.errors import InvalidInputError
from rayops.storage import Storage
from rayops.tasks import Labels, Task
from rayops.training.cv import Scoring
from rayops.training.scoring import native_params, prepare_frame
from rayops.training.targets import Target, prepare_target

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import xgboost as xgb

__all__ = ["TrainPath", "TrainResult", "evaluate", "split_holdout", "train_model"]

_MODEL_FILE = "model.ubj"


class TrainPath(StrEnum):
    """Where a model was trained."""

    FAST = "fast"
    RAY_TRAIN = "ray_train"


@dataclass
class TrainResult:
    """A trained booster and how it came to be."""

    booster: xgb.Booster
    path: TrainPath
    workers: int
    rounds: int
    seconds: float
    features: list[str]
    feature_types: list[str]
    params: dict[str, Any]
    target: Target | None = None
    resumed_from_round: int | None = None
    checkpoint_uri: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def task(self) -> Task:
        return self.target.task if self.target is not None else Task.of("regression")

    @property
    def labels(self) -> Labels | None:
        return self.target.labels if self.target is not None else None

    def card(self) -> dict[str, Any]:
        """The registry's task fields: task, classes, objective, threshold, target."""
        if self.target is None:
            return {}
        return self.target.card()

    def summary(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "workers": self.workers,
            "rounds": self.rounds,
            "seconds": round(self.seconds, 3),
            "resumed_from_round": self.resumed_from_round,
            "checkpoint_uri": self.checkpoint_uri,
        }


def split_holdout(
    frame: pd.DataFrame,
    *,
    fraction: float,
    seed: int = 0,
    time_column: str | None = None,
    stratify: np.ndarray | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split rows into (train, holdout).

    With ``time_column`` the holdout is the latest ``fraction`` of rows (no peeking
    at the future); otherwise a seeded random sample, stratified by ``stratify``
    (a classifier's class indices, one per row) so both sides keep the class
    shares: scikit-learn's ``StratifiedShuffleSplit(test_size=n, random_state=seed)``.
    Rows keep their order on both sides.
    """
    import numpy as np

    if not 0 < fraction < 1:
        raise InvalidInputError(f"The holdout fraction must be between 0 and 1, got {fraction}.")
    n_hold = max(1, int(round(len(frame) * fraction)))
    if len(frame) - n_hold < 2:
        raise InvalidInputError(f"{len(frame)} rows are too few to hold out {fraction:.0%}.")
    if time_column is not None:
        ordered = frame.sort_values(time_column, kind="stable")
        return ordered.iloc[:-n_hold], ordered.iloc[-n_hold:]
    if stratify is not None:
        from sklearn.model_selection import StratifiedShuffleSplit

        labels = np.asarray(stratify)
        values, counts = np.unique(labels, return_counts=True)
        if counts.min() < 2:
            raise InvalidInputError(
                f"A stratified holdout needs at least two rows of every class; class index "
                f"{values[counts.argmin()]} has {counts.min()}."
            )
        if n_hold < len(values) or len(frame) - n_hold < len(values):
            raise InvalidInputError(
                f"{len(frame)} rows are too few to hold out {fraction:.0%} with every one of "
                f"the {len(values)} classes on both sides."
            )
        splitter = StratifiedShuffleSplit(n_splits=1, test_size=n_hold, random_state=seed)
        train_idx, hold_idx = next(splitter.split(np.zeros(len(labels)), labels))
        return frame.iloc[np.sort(train_idx)], frame.iloc[np.sort(hold_idx)]
    order = np.random.default_rng(seed).permutation(len(frame))
    return frame.iloc[np.sort(order[n_hold:])], frame.iloc[np.sort(order[:n_hold])]


def evaluate(
    booster: xgb.Booster,
    frame: pd.DataFrame,
    target: str,
    *,
    features: list[str] | None = None,
    tolerance: float = 5.0,
    labels: Labels | None = None,
) -> dict[str, float]:
    """Holdout metrics of ``booster`` on ``frame``: RMSE, MAE, R² and accuracy within
    ±tolerance for a regressor; the task's metrics (log loss, AUC...) for a classifier
    with ``labels`` (its classes, which encode ``frame[target]``)."""
    import math

    import xgboost as xgb

    cols = features or list(booster.feature_names or [])
    X = prepare_frame(frame, cols)
    pred = booster.predict(xgb.DMatrix(X, enable_categorical=True))
    if labels is None:
        return Scoring(tolerance=tolerance).score(frame[target].to_numpy(dtype="float64"), pred)
    y = labels.encode_series(frame[target], where=f"target {target!r}")
    scores = Scoring(Task.of(labels.kind), len(labels), tolerance).score(y, pred)
    return {k: v for k, v in scores.items() if not math.isnan(v)}


def _feature_types(X: pd.DataFrame) -> list[str]:
    import pandas as pd

    return ["c" if isinstance(t, pd.CategoricalDtype) else "float" for t in X.dtypes]


def train_model(
    frame: pd.DataFrame,
    target: str,
    *,
    params: dict[str, Any] | None = None,
    num_boost_round: int = 100,
    features: list[str] | None = None,
    workers: int | None = None,
    path: TrainPath | None = None,
    storage: Storage | None = None,
    run_id: str | None = None,
    xgb_model: xgb.Booster | None = None,
    settings: Settings | None = None,
    seed: int = 0,
    placement_strategy: str = "PACK",
    inject_failure: dict[str, Any] | None = None,
    task: str | Task = "auto",
    labels: Labels | None = None,
) -> TrainResult:
    """Train an XGBoost regressor or classifier on ``frame``; the booster and its record.

    Args:
        frame: rows with the feature columns and ``target``.
        target: the label column.
        params: XGBoost parameters (``n_estimators`` is read as rounds and
            ``objective`` as the objective, if given).
        task: ``auto``, ``regression``, ``binary`` or ``multiclass``.
        labels: the classes to encode the target with (continuing a registered
            classifier); default: the target's own classes.
        num_boost_round: boosting rounds (added to ``xgb_model``'s when continuing).
        features: feature columns; default: every column but the target and
            date/time columns.
        workers: Ray Train workers; default 1 below the fast-path size, else
            ``settings.training.workers``.
        path: force a path (benchmarks and tests); default: automatic.
        storage: where Ray Train checkpoints go (``train/checkpoints/<run_id>``);
            default: ``settings.storage``.
        xgb_model: continue boosting from this booster (fine-tuning).
        placement_strategy: Ray placement of Train workers: ``PACK`` (default),
            ``SPREAD`` or ``STRICT_SPREAD`` (one worker per node).
        inject_failure: for reliability tests only: ``{"marker": path,
            "after_round": n}`` makes rank 0 fail once after round ``n``.

    Raises:
        InvalidInputError: unknown target/feature columns, no rows, a target or
            objective that does not fit the task.
    """
    import ray

    settings = settings or Settings()
    params = dict(params or {})
    rounds = int(params.pop("n_estimators", num_boost_round))
    objective = params.pop("objective", None)
    params.pop("num_class", None)  # the labels decide it
    if target not in frame.columns:
        raise InvalidInputError(f"Target column {target!r} is not in the data.")
    if features is None:
        from rayops.training.tune import infer_features

        features = infer_features(frame, target)
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise InvalidInputError(f"Feature columns {missing} are not in the data.")
    if len(frame) == 0 or rounds < 1:
        raise InvalidInputError("Training needs at least one row and one boosting round.")
    labelled = prepare_target(frame, target, task=task, objective=objective, labels=labels)

    if path is None:
        small = len(frame) < settings.training.fast_path_max_rows
        path = TrainPath.FAST if small and (workers or 1) == 1 else TrainPath.RAY_TRAIN
    n_workers = 1 if path is TrainPath.FAST else (workers or settings.training.workers)
    X = prepare_frame(frame, features)
    y = labelled.y
    base = bytes(xgb_model.save_raw("ubj")) if xgb_model is not None else None
    started = time.perf_counter()
    native = native_params(
        params,
        objective=labelled.objective,
        seed=seed,
        nthread=1,
        num_class=labelled.scoring().num_class,
    )
    # What the card records: the parameters to train this model again from scratch.
    recorded = {**native, "n_estimators": rounds}

    if path is TrainPath.FAST:
        raw = ray.get(_train_task.remote(ray.put(X), ray.put(y), native, rounds, base))
        booster = _load(raw)
        return TrainResult(
            booster=booster,
            path=path,
            workers=1,
            rounds=booster.num_boosted_rounds(),
            seconds=time.perf_counter() - started,
            features=list(features),
            feature_types=_feature_types(X),
            params=recorded,
            target=labelled,
        )

    run_id = run_id or f"train-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    booster, resumed, ckpt_uri = _ray_train(
        X,
        y,
        native,
        rounds,
        n_workers,
        base,
        storage or _default_storage(settings),
        run_id,
        settings,
        inject_failure,
        placement_strategy,
    )
    return TrainResult(
        booster=booster,
        path=path,
        workers=n_workers,
        rounds=booster.num_boosted_rounds(),
        seconds=time.perf_counter() - started,
        features=list(features),
        feature_types=_feature_types(X),
        params=recorded,
        target=labelled,
        resumed_from_round=resumed,
        checkpoint_uri=ckpt_uri,
    )


def _default_storage(settings: Settings) -> Storage:
    from rayops.storage import open_storage

    return open_storage(settings=settings)


def _load(raw: bytes | bytearray) -> xgb.Booster:
    import xgboost as xgb

    booster = xgb.Booster()
    booster.load_model(bytearray(raw))
    return booster


def _remote_train_task() -> Any:
    import ray

    @ray.remote(num_cpus=1)
    def train_task(
        X: pd.DataFrame, y: np.ndarray, native: dict[str, Any], rounds: int, base: bytes | None
    ) -> bytes:
        import xgboost as xgb

        dtrain = xgb.DMatrix(X, y, enable_categorical=True, nthread=1)
        start = _load(base) if base is not None else None
        # UBJSON bytes, not a pickled booster: the same format the registry stores.
        return bytes(xgb.train(native, dtrain, rounds, xgb_model=start).save_raw("ubj"))

    return train_task


class _LazyRemote:
    """Defines the Ray remote function on first use, so importing this module is cheap."""

    def __init__(self) -> None:
        self._fn: Any = None

    def remote(self, *args: Any) -> Any:
        if self._fn is None:
            self._fn = _remote_train_task()
        return self._fn.remote(*args)


_train_task = _LazyRemote()


def _ray_train(
    X: pd.DataFrame,
    y: np.ndarray,
    native: dict[str, Any],
    rounds: int,
    n_workers: int,
    base: bytes | None,
    storage: Storage,
    run_id: str,
    settings: Settings,
    inject_failure: dict[str, Any] | None,
    placement_strategy: str,
) -> tuple[xgb.Booster, int | None, str]:
    import ray
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.xgboost import XGBoostTrainer

    # One object per worker shard, put once; workers fetch only their own.
    shards = [(ray.put(X.iloc[i::n_workers]), ray.put(y[i::n_workers])) for i in range(n_workers)]
    fs, root = storage.arrow_filesystem()
    storage_path = f"{root}/train/checkpoints"
    trainer = XGBoostTrainer(
        _train_loop,
        train_loop_config={
            "shards": shards,
            "params": native,
            "rounds": rounds,
            "every": settings.training.checkpoint_every,
            "base": base,
            "inject_failure": inject_failure,
        },
        scaling_config=ScalingConfig(
            num_workers=n_workers,
            resources_per_worker={"CPU": 1},
            placement_strategy=placement_strategy,
        ),
        run_config=RunConfig(
            name=run_id,
            storage_path=storage_path,
            storage_filesystem=fs,
            failure_config=FailureConfig(max_failures=settings.training.max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=2),
        ),
    )
    result = trainer.fit()
    if result.checkpoint is None:
        raise RuntimeError(f"Ray Train run {run_id} finished without a checkpoint.")
    with result.checkpoint.as_directory() as d, open(os.path.join(d, _MODEL_FILE), "rb") as f:
        booster = _load(f.read())
    resumed = (result.metrics or {}).get("resumed_from_round")
    uri = f"{storage.uri}/train/checkpoints/{run_id}"
    return booster, (int(resumed) if resumed is not None else None), uri


def _train_loop(config: dict[str, Any]) -> None:
    """Runs on each Ray Train worker (inside XGBoost's collective context)."""
    import ray
    import ray.train
    import xgboost as xgb

    rank = ray.train.get_context().get_world_rank()
    X_ref, y_ref = config["shards"][rank]
    dtrain = xgb.DMatrix(ray.get(X_ref), ray.get(y_ref), enable_categorical=True, nthread=1)
    total, every = int(config["rounds"]), int(config["every"])

    start: xgb.Booster | None = _load(config["base"]) if config["base"] is not None else None
    base_rounds = start.num_boosted_rounds() if start is not None else 0
    resumed_from: int | None = None
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as d, open(os.path.join(d, _MODEL_FILE), "rb") as f:
            start = _load(f.read())
        resumed_from = start.num_boosted_rounds() - base_rounds
    done = resumed_from or 0
    fault = config.get("inject_failure")

    class Checkpointer(xgb.callback.TrainingCallback):
        def after_iteration(self, model: xgb.Booster, epoch: int, evals_log: Any) -> bool:
            n = done + epoch + 1
            if (
                fault
                and rank == 0
                and n == fault["after_round"]
                and not os.path.exists(fault["marker"])
            ):
                open(fault["marker"], "w").close()
                raise RuntimeError(f"injected failure after round {n}")
            if n % every == 0 or n == total:
                metrics = {"round": n, "resumed_from_round": resumed_from}
                if rank == 0:
                    with tempfile.TemporaryDirectory() as tmp:
                        model.save_model(os.path.join(tmp, _MODEL_FILE))
                        ray.train.report(
                            metrics, checkpoint=ray.train.Checkpoint.from_directory(tmp)
                        )
                else:
                    ray.train.report(metrics)
            return False

    if total - done > 0:
        xgb.train(
            config["params"],
            dtrain,
            num_boost_round=total - done,
            xgb_model=start,
            callbacks=[Checkpointer()],
        )
