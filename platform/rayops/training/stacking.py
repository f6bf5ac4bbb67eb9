"""Train a stacked ensemble: members, their out-of-fold predictions, a meta-learner.

1. Every member configuration is scored on the same k folds (stratified for a
   classifier); each row's prediction comes from the fold model that did not see
   it (out-of-fold).
2. Each member is refit on all rows and registered (``<name>-m<i>``).
3. The meta-learner, an XGBoost linear booster (``gblinear``) so it is stored and
   loaded like every rayops model, never pickled, is registered as
   ``<name>-meta``. For regression it is non-negative least squares over the
   out-of-fold predictions (one column per member, named by its
   ``name@version``), solved exactly. For a classifier it is a logistic
   regression (``binary:logistic`` or ``multi:softprob``) over the members'
   out-of-fold probabilities, in the columns
   :func:`rayops.registry.predictor.meta_columns` names (binary: the
   probability of the second class per member; multiclass: ``ref[class]``).
4. The ensemble is registered as ``<name>``: an
   :class:`~rayops.registry.EnsembleSpec` of kind ``stacked``. Serving evaluates
   the small members in one process.

The stack's own CV score is measured honestly with a second level of the same
folds over the out-of-fold matrix, with the task's metrics.

A logistic meta-learner sees probabilities, not log-odds (that is what serving
feeds it), so it cannot always reproduce one confident, well-calibrated member
exactly; the second-level CV score says whether the stack helps.

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
from rayops.registry import EnsembleSpec, Registry, baseline_from_frame
from rayops.registry.predictor import meta_columns
from rayops.storage import Storage
from rayops.tasks import Task
from rayops.training.cv import FoldPlan, Scoring, regression_metrics
from rayops.training.scoring import fit_booster, prepare_frame
from rayops.training.sources import registry_lineage
from rayops.training.targets import prepare_target
from rayops.training.tune import infer_features

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import xgboost as xgb

__all__ = ["StackedResult", "fit_logistic_meta", "fit_meta", "out_of_fold", "train_stacked"]

#: The logistic meta-learner: coordinate descent (exact per coordinate) with a
#: small L2 penalty, because member probabilities near 0 and 1 make the classes
#: separable and the unpenalised weights grow without bound (overfitting the
#: second-level CV badly on small sets).
LOGISTIC_META = {"booster": "gblinear", "updater": "coord_descent", "lambda": 1e-3,
                 "alpha": 0.0, "eta": 1.0}  # fmt: skip
LOGISTIC_META_ROUNDS = 100


@dataclass(frozen=True)
class StackedResult:
    """The registered ensemble, its parts and their CV scores."""

    ensemble: str
    members: list[str]
    meta: str
    member_cv: dict[str, dict[str, Any]]
    stack_cv: dict[str, Any]
    meta_weights: list[float]
    task: str = "regression"
    classes: list[Any] | None = None


def out_of_fold(
    X: pd.DataFrame,
    y: np.ndarray,
    params: dict[str, Any],
    plan: FoldPlan,
    *,
    seed: int = 0,
    scoring: Scoring | None = None,
    objective: str = "reg:squarederror",
) -> np.ndarray:
    """Each row's prediction by the fold model that did not train on it: ``[N]`` values,
    or ``[N, K]`` class probabilities for a classifier (``scoring``'s task)."""
    import numpy as np
    import xgboost as xgb

    scoring = scoring or Scoring()
    k = scoring.n_classes if scoring.task.is_classification else 0
    oof = np.full((len(X), k) if k else len(X), np.nan)
    for train, test in plan.splits:
        booster = fit_booster(
            X.iloc[train], y[train], params, seed=seed, objective=objective,
            num_class=scoring.num_class,
        )  # fmt: skip
        raw = booster.predict(xgb.DMatrix(X.iloc[test], enable_categorical=True))
        oof[test] = scoring.probabilities(raw)
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


def fit_logistic_meta(
    preds: pd.DataFrame, y: np.ndarray, task: Task, n_classes: int, *, seed: int = 0
) -> xgb.Booster:
    """The classifiers' meta-learner: logistic regression (``binary:logistic`` or
    ``multi:softprob``) on the member probabilities in ``preds``, as a ``gblinear``
    booster whose feature names are ``preds``' columns.

    Example:
        >>> import numpy as np, pandas as pd
        >>> p = pd.DataFrame({"a@1.0.0": [0.1, 0.2, 0.8, 0.9], "b@1.0.0": [0.3, 0.1, 0.7, 0.6]})
        >>> meta = fit_logistic_meta(p, np.array([0, 0, 1, 1]), Task.of("binary"), 2)
        >>> meta.feature_names
        ['a@1.0.0', 'b@1.0.0']
    """
    import xgboost as xgb

    params: dict[str, Any] = {
        **LOGISTIC_META, "objective": task.default_objective, "nthread": 1, "seed": seed,
    }  # fmt: skip
    if task.kind.value == "multiclass":
        params["num_class"] = n_classes
    names = [str(c) for c in preds.columns]
    # Multiclass columns are named ref[class], which XGBoost refuses as feature names:
    # such a meta-learner is trained on the bare matrix; its card keeps the names.
    valid = not any(ch in n for n in names for ch in "[]<")
    matrix = xgb.DMatrix(preds.to_numpy(dtype="float64"), y, feature_names=names if valid else None)
    return xgb.train(params, matrix, num_boost_round=LOGISTIC_META_ROUNDS)


def _meta_frame(refs: list[str], oofs: list[np.ndarray], task: Task, labels: Any) -> pd.DataFrame:
    """The out-of-fold matrix in the columns serving will feed the meta-learner."""
    import pandas as pd

    columns: dict[str, Any] = {}
    for ref, oof in zip(refs, oofs, strict=True):
        names = meta_columns([ref], task, labels)
        if not task.is_classification:
            columns[ref] = oof
        elif task.kind.value == "binary":
            columns[ref] = oof[:, 1]
        else:
            columns.update({name: oof[:, j] for j, name in enumerate(names)})
    return pd.DataFrame(columns)


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
    task: str = "auto",
) -> StackedResult:
    """Train, register and return a stacked ensemble of XGBoost ``members`` (see module doc).

    Args:
        members: one parameter dict per member (``n_estimators`` = rounds, default 100;
            an ``objective``, if given, must be the same for all and fit the task).
        features: feature columns; default every column but the target and date/time ones.
        task: ``auto``, ``regression``, ``binary`` or ``multiclass``.
    """
    import numpy as np
    import xgboost as xgb

    if len(members) < 2:
        raise InvalidInputError("A stacked ensemble needs at least two member configurations.")
    if target not in frame.columns:
        raise InvalidInputError(f"Target column {target!r} is not in the data.")
    objectives = {str(m["objective"]) for m in members if m.get("objective")}
    if len(objectives) > 1:
        raise InvalidInputError(
            f"Stacked members must share one objective; got {sorted(objectives)}."
        )
    labelled = prepare_target(frame, target, task=task, objective=next(iter(objectives), None))
    kind, labels, objective = labelled.task, labelled.labels, labelled.objective
    scoring = labelled.scoring(tolerance)
    cols = features or infer_features(frame, target)
    X = prepare_frame(frame, cols)
    y = labelled.y
    plan = FoldPlan.for_frame(
        frame, folds=folds, seed=seed, stratify=y if kind.is_classification else None
    )
    registry = Registry(storage)
    reg_lineage = registry_lineage(lineage)
    baseline = baseline_from_frame(frame, cols)
    card = labelled.card()

    def score(out: np.ndarray) -> dict[str, Any]:
        if kind.is_classification:
            return kind.metrics(y, out, labels=labels, tolerance=tolerance)
        return regression_metrics(y, out, tolerance=tolerance)

    refs: list[str] = []
    oof_columns: list[np.ndarray] = []
    member_cv: dict[str, dict[str, Any]] = {}
    for i, params in enumerate(members):
        params = {**params, "objective": objective}
        oof = out_of_fold(X, y, params, plan, seed=seed, scoring=scoring, objective=objective)
        booster = fit_booster(
            X, y, params, seed=seed, objective=objective, num_class=scoring.num_class
        )
        metrics = score(oof)
        mv = registry.register(
            f"{name}-m{i}", booster, params=params, metrics={"cv_oof": metrics},
            features=cols, lineage=reg_lineage, baseline=baseline,
            description=f"member {i} of stacked ensemble {name}", **card,
        )  # fmt: skip
        refs.append(mv.ref)
        oof_columns.append(oof)
        member_cv[mv.ref] = metrics

    stacked = _meta_frame(refs, oof_columns, kind, labels)

    def meta_of(rows: Any) -> xgb.Booster:
        if kind.is_classification:
            return fit_logistic_meta(
                stacked.iloc[rows], y[rows], kind, labelled.n_classes, seed=seed
            )
        return fit_meta(stacked.iloc[rows], y[rows], seed=seed)

    # Honest score of the stack: the meta-learner itself evaluated out of fold.
    k = labelled.n_classes if kind.is_classification else 0
    stack_oof = np.full((len(frame), k) if k else len(frame), np.nan)
    for train, test in plan.splits:
        fold_meta = meta_of(train)
        test_rows = stacked.iloc[test]
        data = test_rows if fold_meta.feature_names else test_rows.to_numpy(dtype="float64")
        raw = fold_meta.predict(xgb.DMatrix(data))
        stack_oof[test] = scoring.probabilities(raw)
    stack_cv = score(stack_oof)

    meta = meta_of(np.arange(len(frame)))
    meta_params: dict[str, Any] = (
        {**LOGISTIC_META, "objective": objective, "n_estimators": LOGISTIC_META_ROUNDS}
        if kind.is_classification
        else {"booster": "gblinear"}
    )
    meta_mv = registry.register(
        f"{name}-meta", meta, params=meta_params, metrics={"cv_oof": stack_cv},
        features=list(stacked.columns), description=f"meta-learner of stacked ensemble {name}",
        **card,
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
        task=kind.kind.value,
        classes=labelled.classes,
    )


def _linear_weights(meta: xgb.Booster) -> list[float]:
    """The gblinear model's per-column weights (biases excluded; multiclass: column-major,
    one weight per column and class)."""
    import json

    dump = json.loads(meta.save_raw("json").decode())
    weights = dump["learner"]["gradient_booster"]["model"]["weights"]
    groups = int(dump["learner"]["learner_model_param"].get("num_class", "0") or 0) or 1
    return [float(w) for w in weights[:-groups]]
