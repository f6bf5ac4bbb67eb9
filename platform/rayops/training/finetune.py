"""Fine-tune a registered model on new data, behind a validation gate.

Two ways to adapt a booster, both XGBoost-native:

* ``continue`` — keep every tree and boost ``rounds`` more on the new rows
  (``xgb_model=``); fits a changed relation.
* ``refresh`` — keep the trees' structure and recompute their leaf values on the
  new rows (``process_type="update"``, ``updater="refresh"``); cheap, and cannot
  grow the model.

The candidate and its parent are scored on the same holdout of the new data; the
candidate is accepted only if its RMSE is at least ``min_improvement`` (a
fraction, default ``Settings.finetune_min_improvement``) lower. An accepted model
is registered as a **patch** version with the parent as lineage; a rejected one
is discarded. Every attempt is recorded under
``training/finetune/<model>/<time>-<id>.json``.

Example:
    >>> result = fine_tune(storage, "demand@production", new_rows, "target")  # doctest: +SKIP
    >>> result.accepted, result.version  # doctest: +SKIP
    (True, '1.3.1')
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from rayops.config import Settings
from rayops.errors import InvalidInputError
from rayops.storage import Storage
from rayops.training.fit import evaluate, split_holdout, train_model

if TYPE_CHECKING:
    import pandas as pd
    import xgboost as xgb

__all__ = ["FineTuneMode", "FineTuneResult", "fine_tune", "fine_tune_history"]


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
    before: dict[str, float]
    after: dict[str, float]
    improvement: float
    min_improvement: float
    rows: int
    seconds: float
    version: str | None
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "mode": str(self.mode)}


def _refresh(booster: xgb.Booster, X: pd.DataFrame, y: Any, params: dict[str, Any]) -> xgb.Booster:
    import xgboost as xgb

    refreshed = {**params, "process_type": "update", "updater": "refresh", "refresh_leaf": True}
    dtrain = xgb.DMatrix(X, y, enable_categorical=True)
    return xgb.train(
        refreshed, dtrain, num_boost_round=booster.num_boosted_rounds(), xgb_model=booster.copy()
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
        min_improvement: required relative RMSE drop; default from settings.
        register: register an accepted candidate as a patch version.

    Raises:
        InvalidInputError: unknown mode, missing columns, too few rows.
        NotFoundError: ``ref`` is not registered.
    """
    from rayops.registry import Registry
    from rayops.training.scoring import prepare_frame

    settings = settings or Settings()
    try:
        mode = FineTuneMode(mode)
    except ValueError:
        raise InvalidInputError(
            f"Unknown fine-tune mode {mode!r}; use one of {[m.value for m in FineTuneMode]}."
        ) from None
    gate = settings.finetune_min_improvement if min_improvement is None else min_improvement
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
    train, hold = split_holdout(
        frame,
        fraction=holdout_fraction or settings.holdout_fraction,
        time_column=time_column,
    )
    params = {k: v for k, v in dict(card.params).items() if k != "n_estimators"}
    if mode is FineTuneMode.CONTINUE:
        candidate = train_model(
            train,
            target,
            params=params,
            num_boost_round=rounds,
            features=features,
            xgb_model=booster,
            settings=settings,
        ).booster
    else:
        X = prepare_frame(train, features)
        candidate = _refresh(booster, X, train[target].to_numpy(dtype="float64"), params)

    tol = settings.accuracy_tolerance
    before = evaluate(booster, hold, target, features=features, tolerance=tol)
    after = evaluate(candidate, hold, target, features=features, tolerance=tol)
    improvement = (before["rmse"] - after["rmse"]) / before["rmse"] if before["rmse"] > 0 else 0.0
    accepted = improvement >= gate
    reason = (
        f"holdout RMSE {before['rmse']:.4g} -> {after['rmse']:.4g} "
        f"({improvement:+.1%}, gate {gate:.1%})"
    )
    version = None
    attempt_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    if accepted and register:
        mv = registry.register(
            parent.name,
            candidate,
            params=params,
            metrics={"holdout": after, "parent_holdout": before},
            features=features,
            feature_types=list(card.feature_types or []) or None,
            lineage=card.lineage,
            baseline=card.baseline,
            run_id=f"finetune-{attempt_id}",
            parent=parent_ref,
            bump="patch",
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
        before=before,
        after=after,
        improvement=improvement,
        min_improvement=gate,
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
    from rayops.names import validate_name

    validate_name(model, "model name")
    return [storage.read_json(k) for k in storage.list_keys(f"training/finetune/{model}/")]
