"""Fine-tune a registered model on new data, behind a validation gate.

Two ways to adapt a booster, both XGBoost-native:

* ``continue`` — keep every tree and boost ``rounds`` more on the new rows
  (``xgb_model=``); fits a changed relation.
* ``refresh`` — keep the trees' structure and recompute their leaf values on the
  new rows (``process_type="update"``, ``updater="refresh"``); cheap, and cannot
  grow the model.

The candidate and its parent are scored on the same holdout of the new data (a
stratified sample for a classifier, the latest rows with ``time_column``) and
judged by the promotion gate (:func:`rayops.gate.compare`, paired, on the
task's per-row loss): the candidate is accepted only if its primary metric
(RMSE, or log loss for a classifier) is at least ``min_improvement`` (a
fraction, default ``finetune_min_improvement``) lower and the paired test is
significant at ``train_gate_alpha``. A classifier keeps its parent's classes:
the new rows are encoded with them. An accepted model is registered as a
**patch** version with the parent as lineage; a rejected one is discarded.
Every attempt, with the gate's result, is recorded under
``training/finetune/<model>/<time>-<id>.json``.

Example:
    >>> result = fine_tune(storage, "demand@production", new_rows, "target")  # doctest: +SKIP
    >>> result.accepted, result.version  # doctest: +SKIP
    (True, '1.3.1')
"""

from __future__ import annotations

import ctypes
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from rayops.config import Settings, settings_of
from rayops.errors import InvalidInputError
from rayops.gate import compare
from rayops.names import validate_name
from rayops.registry import Registry
from rayops.registry.predictor import Predictor
from rayops.storage import Storage
from rayops.training.fit import split_holdout, train_model
from rayops.training.pipeline import holdout_scores
from rayops.training.scoring import native_params, prepare_frame
from rayops.training.targets import prepare_target

if TYPE_CHECKING:
    import pandas as pd
    import xgboost as xgb

    from rayops.registry import ModelVersion, Registry

__all__ = [
    "FineTuneMode",
    "FineTuneResult",
    "boost_more",
    "fine_tune",
    "fine_tune_history",
    "refresh_leaves",
    "register_patch",
    "relative_improvement",
]


class FineTuneMode(StrEnum):
    CONTINUE = "continue"
    REFRESH = "refresh"


@dataclass(frozen=True)
class FineTuneResult:
    """What one fine-tune attempt did and why."""

    id: str
    model: str
    parent: str
    mode: FineTuneMode
    accepted: bool
    reason: str
    before: dict[str, Any]
    after: dict[str, Any]
    improvement: float
    min_improvement: float
    rows: int
    seconds: float
    version: str | None
    created_at: str
    gate: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "mode": str(self.mode)}


@contextmanager
def _updater_named() -> Iterator[None]:
    """Silence XGBoost's warning about a named ``updater``: naming it is the documented
    way to refresh leaves, and a refreshed booster keeps the name when boosted further."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=".*manually specified the `updater` parameter.*", category=UserWarning
        )
        yield


def _iterate(booster: xgb.Booster, dtrain: xgb.DMatrix, iterations: range) -> None:
    """``booster.update(dtrain, i)`` for each ``i``, checking the features only once.

    ``Booster.update`` re-reads the feature names and types of the booster and the
    matrix from C on every call — five string round trips, up to 0.7 ms each
    iteration on a busy machine, which was most of a 10-tree online update and
    two thirds of a 150-tree refresh. After the first (checked) iteration the rest
    go straight to XGBoost's C update call, the one ``Booster.update`` ends in.
    """
    import xgboost.core as core

    lib, check = getattr(core, "_LIB", None), getattr(core, "_check_call", None)
    for n, i in enumerate(iterations):
        if n == 0 or lib is None or check is None:
            booster.update(dtrain, i)
        else:
            check(lib.XGBoosterUpdateOneIter(booster.handle, ctypes.c_int(i), dtrain.handle))


def refresh_leaves(
    booster: xgb.Booster, dtrain: xgb.DMatrix, params: dict[str, Any], *, in_place: bool = False
) -> xgb.Booster:
    """Recompute every leaf value of ``booster`` on ``dtrain`` (XGBoost's refresh updater).

    The trees keep their structure; each leaf gets the value the rows of
    ``dtrain`` (with their weights) reaching it imply. A leaf that no row reaches
    gets 0, so refresh wants far more rows than the model has leaves. Without
    ``in_place`` the booster is copied first.
    """
    target = booster if in_place else booster.copy()
    # A booster that already predicted is configured for growing trees and would
    # ignore the switch to "update"; reset() drops that state (and its caches).
    target.reset()
    # Count the trees first: once process_type is "update" the booster reports none.
    trees = target.num_boosted_rounds()
    target.set_param({**params, "process_type": "update", "updater": "refresh", "refresh_leaf": 1})
    with _updater_named():
        _iterate(target, dtrain, range(trees))
        # Back to growing trees, so the booster can be boosted further.
        target.set_param({"process_type": "default", "updater": "grow_quantile_histmaker"})
    return target


def boost_more(
    booster: xgb.Booster,
    dtrain: xgb.DMatrix,
    params: dict[str, Any],
    rounds: int,
    *,
    in_place: bool = False,
) -> xgb.Booster:
    """Add ``rounds`` trees to ``booster`` fitted on ``dtrain``, in this process.

    The same as ``xgb.train(params, dtrain, rounds, xgb_model=booster)`` without
    the callback machinery, for small online batches where milliseconds count.
    """
    target = booster if in_place else booster.copy()
    target.set_param(params)
    start = target.num_boosted_rounds()
    with _updater_named():
        _iterate(target, dtrain, range(start, start + rounds))
    return target


def relative_improvement(before: dict[str, float], after: dict[str, float], metric: str) -> float:
    """``(before - after) / before`` of an error metric; 0 when ``before`` is 0.

    Example:
        >>> relative_improvement({"mae": 4.0}, {"mae": 3.0}, "mae")
        0.25
    """
    b, a = before[metric], after[metric]
    return (b - a) / b if b > 0 else 0.0


def register_patch(
    registry: Registry,
    parent: ModelVersion,
    candidate: xgb.Booster,
    *,
    params: dict[str, Any],
    metrics: dict[str, Any],
    run_id: str,
    author: str | None,
    description: str,
) -> ModelVersion:
    """Register ``candidate`` as the next patch of ``parent``, keeping its features,
    lineage and drift baseline, with ``parent`` recorded as its parent."""
    card = parent.card
    return registry.register(
        parent.name,
        candidate,
        task=card.task,
        classes=card.classes,
        objective=card.objective,
        threshold=parent.threshold if parent.threshold is not None else card.threshold,
        target=card.target,
        params=params,
        metrics=metrics,
        features=list(card.features),
        feature_types=list(card.feature_types or []) or None,
        lineage=card.lineage,
        baseline=card.baseline,
        run_id=run_id,
        parent=parent.ref,
        bump="patch",
        author=author,
        description=description,
    )


def fine_tune(
    storage: Storage,
    ref: str,
    frame: pd.DataFrame,
    target: str,
    *,
    mode: FineTuneMode | str = FineTuneMode.CONTINUE,
    rounds: int = 20,
    holdout_fraction: float | None = None,
    time_column: str | None = None,
    min_improvement: float | None = None,
    register: bool = True,
    actor: str | None = None,
    settings: Settings | None = None,
) -> FineTuneResult:
    """Adapt the model at ``ref`` (``name@version`` or ``name@alias``) to ``frame``.

    Args:
        frame: new labeled rows (features of the model plus ``target``).
        mode: ``continue`` (more trees) or ``refresh`` (new leaf values).
        rounds: extra boosting rounds for ``continue``.
        holdout_fraction: share of ``frame`` kept to judge; default from settings.
        time_column: hold out the latest rows instead of a random sample.
        min_improvement: required relative drop of the primary metric (RMSE or log
            loss); default from settings.
        register: register an accepted candidate as a patch version.

    Raises:
        InvalidInputError: unknown mode, missing columns, too few rows.
        NotFoundError: ``ref`` is not registered.
    """

    settings = settings_of(storage, settings)
    try:
        mode = FineTuneMode(mode)
    except ValueError:
        raise InvalidInputError(
            f"Unknown fine-tune mode {mode!r}; use one of {[m.value for m in FineTuneMode]}."
        ) from None
    needed = (
        settings.training.finetune_min_improvement if min_improvement is None else min_improvement
    )
    registry = Registry(storage)
    parent = registry.get(ref)
    card = parent.card
    parent_ref = f"{parent.name}@{parent.version}"
    predictor = registry.load(parent_ref)
    booster = getattr(predictor, "booster", None)
    if booster is None:
        raise InvalidInputError(f"{parent_ref} is an ensemble; fine-tune its members instead.")
    features = list(card.features)
    missing = [c for c in [*features, target] if c not in frame.columns]
    if missing:
        raise InvalidInputError(f"The new data lacks columns {missing} that {parent_ref} needs.")

    started = time.perf_counter()
    objective = card.objective or card.params.get("objective")
    labelled = prepare_target(
        frame, target, task=predictor.task, objective=objective, labels=predictor.labels
    )
    train, hold = split_holdout(
        frame,
        fraction=holdout_fraction or settings.training.holdout_fraction,
        time_column=time_column,
        stratify=labelled.y if labelled.task.is_classification and not time_column else None,
    )
    # The parent's configuration (rounds included) stays the card's: it is what a
    # retrain from scratch uses; the extra rounds are this attempt's, recorded with it.
    recorded = dict(card.params)
    params = {k: v for k, v in recorded.items() if k not in ("n_estimators", "num_class")}
    if mode is FineTuneMode.CONTINUE:
        candidate = train_model(
            train,
            target,
            params=params,
            num_boost_round=rounds,
            features=features,
            xgb_model=booster,
            settings=settings,
            task=labelled.task,
            labels=labelled.labels,
        ).booster
    else:
        import xgboost as xgb

        X = prepare_frame(train, features)
        y = labelled.encode(train)
        native = native_params(
            params, objective=labelled.objective, seed=0, nthread=1,
            num_class=labelled.scoring().num_class,
        )  # fmt: skip
        candidate = refresh_leaves(booster, xgb.DMatrix(X, y, enable_categorical=True), native)

    tol = settings.training.accuracy_tolerance
    judged = Predictor(
        "candidate", candidate, features, card.feature_types,
        task=labelled.task, labels=labelled.labels,
    )  # fmt: skip
    before, parent_losses = holdout_scores(predictor, hold, labelled, tolerance=tol)
    after, losses = holdout_scores(judged, hold, labelled, tolerance=tol)
    verdict = compare(
        losses, parent_losses, task=labelled.task, min_improvement=needed,
        alpha=settings.training.gate_alpha, paired=True,
    )  # fmt: skip
    improvement = verdict.improvement
    accepted = verdict.accepted
    reason = f"holdout {verdict.reason}"
    version = None
    attempt_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    if accepted and register:
        mv = register_patch(
            registry,
            parent,
            candidate,
            params=recorded,
            metrics={"holdout": after, "parent_holdout": before},
            run_id=f"finetune-{attempt_id}",
            author=actor,
            description=f"fine-tune ({mode.value}) of {parent_ref}: {reason}",
        )
        version = mv.version
    result = FineTuneResult(
        id=attempt_id,
        model=parent.name,
        parent=parent_ref,
        mode=mode,
        accepted=accepted,
        reason=("accepted: " if accepted else "rejected: ") + reason,
        gate=verdict.as_dict(),
        before=before,
        after=after,
        improvement=improvement,
        min_improvement=needed,
        rows=len(frame),
        seconds=time.perf_counter() - started,
        version=version,
        created_at=datetime.now(UTC).isoformat(),
    )
    storage.put_json_if_absent(
        f"training/finetune/{parent.name}/{attempt_id}.json", result.to_dict()
    )
    return result


def fine_tune_history(storage: Storage, model: str) -> list[dict[str, Any]]:
    """Every recorded fine-tune attempt of ``model``, oldest first."""

    validate_name(model, "model name")
    return [storage.read_json(k) for k in storage.list_keys(f"training/finetune/{model}/")]
