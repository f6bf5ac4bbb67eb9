"""Stacked ensembles: out-of-fold members, a linear meta-learner, served as one model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from rayops.datasets import make_regression
from rayops.errors import InvalidInputError
from rayops.registry import Registry
from rayops.storage import Storage
from rayops.training.cv import FoldPlan
from rayops.training.scoring import fit_booster, prepare_frame
from rayops.training.stacking import out_of_fold, train_stacked

FEATURES = [f"num_{i}" for i in range(8)] + ["cat_0", "cat_1"]
MEMBERS = [{"max_depth": 1, "n_estimators": 30}, {"max_depth": 4, "n_estimators": 40}]


def test_out_of_fold_rows_come_from_models_that_did_not_see_them() -> None:
    frame = make_regression(400, seed=2)
    X, y = prepare_frame(frame, FEATURES), frame["target"].to_numpy()
    plan = FoldPlan.kfold(len(frame), folds=4, seed=0)
    oof = out_of_fold(X, y, MEMBERS[1], plan)
    train, test = plan.splits[2]
    independent = fit_booster(X.iloc[train], y[train], MEMBERS[1]).predict(
        xgb.DMatrix(X.iloc[test], enable_categorical=True)
    )
    np.testing.assert_allclose(oof[test], independent, rtol=1e-6)
    assert not np.isnan(oof).any()


def test_stacked_ensemble_registers_and_predicts_as_computed(storage: Storage) -> None:
    frame = make_regression(1_500, seed=5)
    train, hold = frame.iloc[:1_200], frame.iloc[1_200:]
    result = train_stacked(storage, train, "target", name="stack", members=MEMBERS, folds=4)
    reg = Registry(storage)
    assert result.ensemble == "stack@1.0.0"
    assert (
        result.members == ["stack-m0@1.0.0", "stack-m1@1.0.0"] and result.meta == "stack-meta@1.0.0"
    )
    assert reg.get(result.ensemble).card.ensemble is not None

    # Independent computation: members' predictions, then meta weights + bias by hand.
    X = prepare_frame(hold, FEATURES)
    cols = {ref: reg.load(ref).predict(hold) for ref in result.members}
    meta = reg.load(result.meta).booster  # type: ignore[union-attr]
    by_hand = meta.predict(xgb.DMatrix(pd.DataFrame(cols)))
    served = reg.load(result.ensemble).predict(hold)
    np.testing.assert_allclose(served, by_hand, rtol=1e-6)
    # The gateway's evaluation path (inplace_predict where it can) gives the same numbers.
    from rayops.serving.models import evaluate

    np.testing.assert_allclose(evaluate(reg.load(result.ensemble), hold), served, rtol=1e-5)
    bias = served - np.column_stack(list(cols.values())) @ np.asarray(result.meta_weights)
    assert np.ptp(bias) < 1e-3  # a linear meta-learner: the same bias on every row
    assert len(X) == len(served)

    # The stack's out-of-fold score is no worse than its best member's (linear blend of both).
    best_member = min(m["rmse"] for m in result.member_cv.values())
    assert result.stack_cv["rmse"] <= best_member * 1.02
    assert all(w >= 0 for w in result.meta_weights)


def test_meta_learner_is_exact_non_negative_least_squares() -> None:
    from scipy.optimize import nnls

    from rayops.training.stacking import fit_meta

    rng = np.random.default_rng(0)
    preds = pd.DataFrame({"a@1.0.0": rng.normal(50, 5, 500), "b@1.0.0": rng.normal(50, 5, 500)})
    y = 0.7 * preds["a@1.0.0"] + 0.3 * preds["b@1.0.0"] + 2.0 + rng.normal(0, 0.1, 500)
    meta = fit_meta(preds, y.to_numpy())
    X = preds.to_numpy()
    w, _ = nnls(X - X.mean(0), y.to_numpy() - y.mean())
    expected = X @ w + (y.mean() - X.mean(0) @ w)
    np.testing.assert_allclose(meta.predict(xgb.DMatrix(preds)), expected, rtol=1e-5)
    assert w == pytest.approx([0.7, 0.3], abs=0.01)


def test_stacking_needs_two_members(storage: Storage) -> None:
    with pytest.raises(InvalidInputError, match="at least two"):
        train_stacked(storage, make_regression(100), "target", name="s", members=[{}])


# --- classifiers ---------------------------------------------------------------------------
# Under-confident members (few, small trees): the logistic meta-learner over their
# probabilities has something to add, and must not do worse than the best of them.
CLASSIFIERS = [
    {"max_depth": 1, "learning_rate": 0.1, "n_estimators": 20},
    {"max_depth": 3, "learning_rate": 0.05, "n_estimators": 30},
]


@pytest.mark.parametrize("dataset", ["breast_cancer", "iris"])
def test_stacked_classifiers_give_probabilities_and_beat_their_members(
    storage: Storage, dataset: str
) -> None:
    import classdata
    from sklearn.metrics import log_loss

    from rayops.registry.predictor import meta_columns
    from rayops.tasks import Labels, Task

    frame = getattr(classdata, dataset)()
    task = "binary" if dataset == "breast_cancer" else "auto"
    result = train_stacked(storage, frame, "label", name="cls", members=CLASSIFIERS, folds=4,
                           task=task)  # fmt: skip
    reg = Registry(storage)
    kind = Task.of("binary" if dataset == "breast_cancer" else "multiclass")
    assert result.task == kind.kind.value
    labels = Labels(result.classes or [])
    meta = reg.get(result.meta).card
    assert meta.features == meta_columns(result.members, kind, labels)
    assert meta.task == kind.kind and meta.classes == result.classes
    assert meta.objective == kind.default_objective and meta.params["booster"] == "gblinear"
    ensemble = reg.load(result.ensemble)
    assert ensemble.task == kind and ensemble.labels == labels

    proba = ensemble.predict(frame)
    assert proba.shape == (len(frame), len(labels))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    # Independent computation: member probabilities, then the meta-learner by hand.
    cols: dict[str, np.ndarray] = {}
    for ref in result.members:
        out = reg.load(ref).predict(frame)
        if kind.kind.value == "binary":
            cols[ref] = out[:, 1]
        else:
            cols.update({f"{ref}[{c}]": out[:, j] for j, c in enumerate(labels.classes)})
    meta_booster = reg.load(result.meta).booster  # type: ignore[union-attr]
    inputs = pd.DataFrame(cols)[meta.features]
    # (multiclass names like ref[class] are not XGBoost feature names: a bare matrix)
    assert bool(meta_booster.feature_names) is (kind.kind.value == "binary")
    by_hand = meta_booster.predict(
        xgb.DMatrix(inputs if meta_booster.feature_names else inputs.to_numpy())
    )
    expected = by_hand if by_hand.ndim == 2 else np.column_stack([1 - by_hand, by_hand])
    np.testing.assert_allclose(proba, expected, rtol=1e-5, atol=1e-6)

    # The honest second-level CV log loss beats (or matches) every member's out-of-fold one.
    members = [m["logloss"] for m in result.member_cv.values()]
    assert result.stack_cv["logloss"] <= min(members) + 1e-9, (result.stack_cv, members)
    y = labels.encode(frame["label"])
    assert result.stack_cv["logloss"] < log_loss(y, np.full((len(y), len(labels)),
                                                            1 / len(labels)))  # fmt: skip


def test_stacking_members_must_share_an_objective(storage: Storage) -> None:
    from classdata import iris

    with pytest.raises(InvalidInputError, match="share one objective"):
        train_stacked(storage, iris(), "label", name="s", members=[
            {"objective": "multi:softprob"}, {"objective": "reg:squarederror"}])  # fmt: skip
