"""Train a stacked ensemble: members, their out-of-fold predictions, a meta-learner.

1. Every member configuration is scored on the same k folds; each row's
   prediction comes from the fold model that did not see it (out-of-fold).
2. Each member is refit on all rows and registered (``<name>-m<i>``).
3. The meta-learner — non-negative least squares over the out-of-fold
   predictions (one column per member, named by its ``name@version``), written as
   an XGBoost linear booster (``gblinear``) so it is stored and loaded like every
   rayops model, never pickled — is registered as ``<name>-meta``.
4. The ensemble is registered as ``<name>``: an
   :class:`~rayops.registry.EnsembleSpec` of kind ``stacked``. Serving evaluates
   the small members in one process.

The stack's own CV score is measured honestly with a second level of the same
folds over the out-of-fold matrix.

Example:
    >>> result = train_stacked(storage, frame, "target", name="demand-stack",  # doctest: +SKIP
    ...                        members=[{"max_depth": 2}, {"max_depth": 6}], folds=5)
    >>> result.ensemble  # doctest: +SKIP
    'demand-stack@1.0.0'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rayops.errors import InvalidInputError
from rayops.storage import Storage
from rayops.training.cv import FoldPlan, regression_metrics

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import xgboost as xgb

__all__ = ["StackedResult", "fit_meta", "out_of_fold", "train_stacked"]


@dataclass(frozen=True)
class StackedResult:
    """The registered ensemble, its parts and their CV scores."""

    ensemble: str
    members: list[str]
    meta: str
    member_cv: dict[str, dict[str, float]]
    stack_cv: dict[str, float]
    meta_weights: list[float]


def out_of_fold(
    X: pd.DataFrame, y: np.ndarray, params: dict[str, Any], plan: FoldPlan, *, seed: int = 0
) -> np.ndarray:
    """Each row's prediction by the fold model that did not train on it."""
    import numpy as np
    import xgboost as xgb

    from rayops.training.scoring import fit_booster

    oof = np.full(len(X), np.nan)
    for train, test in plan.splits:
        booster = fit_booster(X.iloc[train], y[train], params, seed=seed)
        oof[test] = booster.predict(xgb.DMatrix(X.iloc[test], enable_categorical=True))
    return oof


def fit_meta(preds: pd.DataFrame, y: np.ndarray, *, seed: int = 0) -> xgb.Booster:
    """The meta-learner: non-negative least squares over the member predictions.

    Solved exactly (``scipy.optimize.nnls`` on centred data, then the intercept),
    and returned as an XGBoost linear booster (``gblinear``) with those weights,
    so it is stored, verified and served like every other rayops model. Columns
    keep their names (the members' ``name@version``). Non-negative weights are
    the classic choice for stacking: they cannot cancel members against each other.
    """
    import json

    import numpy as np
    import xgboost as xgb
    from scipy.optimize import nnls

    X = preds.to_numpy(dtype=np.float64)
    x_mean, y_mean = X.mean(axis=0), float(np.mean(y))
    weights, _ = nnls(X - x_mean, np.asarray(y, dtype=np.float64) - y_mean)
    intercept = y_mean - float(x_mean @ weights)

    params = {"booster": "gblinear", "objective": "reg:squarederror", "nthread": 1, "seed": seed}
    skeleton = xgb.train(params, xgb.DMatrix(preds, y), num_boost_round=1)
    doc = json.loads(skeleton.save_raw("json").decode())
    base = float(doc["learner"]["learner_model_param"]["base_score"].strip("[]"))
    # gblinear predicts sum(w_i * x_i) + bias + base_score.
    doc["learner"]["gradient_booster"]["model"]["weights"] = [
        *map(float, weights),
        intercept - base,
    ]
    meta = xgb.Booster()
    meta.load_model(bytearray(json.dumps(doc).encode()))
    return meta


def train_stacked(
    storage: Storage,
    frame: pd.DataFrame,
    target: str,
    *,
    name: str,
    members: list[dict[str, Any]],
    features: list[str] | None = None,
    folds: int = 5,
    seed: int = 0,
    tolerance: float = 5.0,
    lineage: dict[str, Any] | None = None,
) -> StackedResult:
    """Train, register and return a stacked ensemble of XGBoost ``members`` (see module doc).

    Args:
        members: one parameter dict per member (``n_estimators`` = rounds, default 100).
        features: feature columns; default every column but the target and date/time ones.
    """
    import numpy as np
    import pandas as pd
    import xgboost as xgb

    from rayops.registry import EnsembleSpec, Registry, baseline_from_frame
    from rayops.training.scoring import fit_booster, prepare_frame
    from rayops.training.sources import registry_lineage
    from rayops.training.tune import infer_features

    if len(members) < 2:
        raise InvalidInputError("A stacked ensemble needs at least two member configurations.")
    if target not in frame.columns:
        raise InvalidInputError(f"Target column {target!r} is not in the data.")
    cols = features or infer_features(frame, target)
    X = prepare_frame(frame, cols)
    y = frame[target].to_numpy(dtype="float64")
    plan = FoldPlan.kfold(len(frame), folds=folds, seed=seed)
    registry = Registry(storage)
    reg_lineage = registry_lineage(lineage)
    baseline = baseline_from_frame(frame, cols)

    refs: list[str] = []
    oof_columns: list[np.ndarray] = []
    member_cv: dict[str, dict[str, float]] = {}
    for i, params in enumerate(members):
        oof = out_of_fold(X, y, params, plan, seed=seed)
        booster = fit_booster(X, y, params, seed=seed)
        metrics = regression_metrics(y, oof, tolerance=tolerance)
        mv = registry.register(
            f"{name}-m{i}", booster, params=params, metrics={"cv_oof": metrics},
            features=cols, lineage=reg_lineage, baseline=baseline,
            description=f"member {i} of stacked ensemble {name}",
        )  # fmt: skip
        refs.append(mv.ref)
        oof_columns.append(oof)
        member_cv[mv.ref] = metrics

    stacked = pd.DataFrame(dict(zip(refs, oof_columns, strict=True)))
    # Honest score of the stack: the meta-learner itself evaluated out of fold.
    stack_oof = np.full(len(frame), np.nan)
    for train, test in plan.splits:
        meta_fold = fit_meta(stacked.iloc[train], y[train], seed=seed)
        stack_oof[test] = meta_fold.predict(xgb.DMatrix(stacked.iloc[test]))
    stack_cv = regression_metrics(y, stack_oof, tolerance=tolerance)

    meta = fit_meta(stacked, y, seed=seed)
    meta_mv = registry.register(
        f"{name}-meta", meta, params={"booster": "gblinear"}, metrics={"cv_oof": stack_cv},
        features=refs, description=f"meta-learner of stacked ensemble {name}",
    )  # fmt: skip
    ensemble = registry.register(
        name,
        EnsembleSpec(kind="stacked", members=refs, meta=meta_mv.ref),
        metrics={"cv_oof": stack_cv},
        lineage=reg_lineage,
        baseline=baseline,
        description=f"stacked ensemble of {len(refs)} members",
    )
    weights = _linear_weights(meta)
    return StackedResult(
        ensemble=ensemble.ref,
        members=refs,
        meta=meta_mv.ref,
        member_cv=member_cv,
        stack_cv=stack_cv,
        meta_weights=weights,
    )


def _linear_weights(meta: xgb.Booster) -> list[float]:
    """The gblinear model's per-member weights (bias excluded)."""
    import json

    dump = json.loads(meta.save_raw("json").decode())
    weights = dump["learner"]["gradient_booster"]["model"]["weights"]
    return [float(w) for w in weights[:-1]]
