"""Ensemble members predicted in one XGBoost call equal the members predicted one by one."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from rayops.registry import EnsemblePredictor, EnsembleSpec, Registry
from rayops.registry.fused import FusedTrees
from rayops.registry.predictor import Predictor, evaluate
from rayops.storage import Storage

NAMES = [f"x{i}" for i in range(6)]


def _x(n: int = 500, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, len(NAMES))).astype(np.float32)
    x[np.random.default_rng(seed + 1).random(x.shape) < 0.05] = np.nan
    return x


def _train(params: dict[str, Any], label: np.ndarray, rounds: int) -> xgb.Booster:
    d = xgb.DMatrix(_x(), label, feature_names=NAMES)
    return xgb.train({"nthread": 1, **params}, d, rounds)


def _score() -> np.ndarray:
    x = np.nan_to_num(_x())
    return x[:, 0] - 2 * x[:, 1] + x[:, 2] * x[:, 3]


@pytest.mark.parametrize(
    ("params", "label"),
    [
        ({}, lambda s: s + 30.0),  # a base score far from 0
        ({}, lambda s: 1e6 * np.exp(s)),  # skewed, in units far from 1 (prices)
        ({"objective": "count:poisson"}, lambda s: np.round(np.exp(s / 3))),
        ({"objective": "binary:logistic"}, lambda s: (s > 0.5).astype(float)),
        ({"objective": "multi:softprob", "num_class": 3}, lambda s: np.digitize(s, [-1, 1])),
    ],
)
def test_fused_members_equal_their_own_predictions(params: dict[str, Any], label: Any) -> None:
    y = label(_score())
    members = [
        _train({**params, "max_depth": 2}, y, 7),
        _train({**params, "max_depth": 5, "eta": 0.1}, y, 30),
        _train({**params, "max_depth": 3, "subsample": 0.7, "seed": 3}, y, 12),
    ]
    fused = FusedTrees.of(members)
    assert fused is not None
    rows = _x(200, seed=7)
    for booster, got in zip(members, fused.predict(rows), strict=True):
        own = booster.inplace_predict(rows)
        np.testing.assert_allclose(got, own, rtol=1e-6, atol=1e-7)
    # The margins are the very same float32 sums (a tree meta-learner's splits see equal
    # inputs): base score first, then the member's trees in its order.
    margins = fused.booster.inplace_predict(rows, predict_type="margin").reshape(len(rows), -1)
    for booster, member in zip(members, fused.members, strict=True):
        own = booster.inplace_predict(rows, predict_type="margin").reshape(len(rows), -1)
        assert np.array_equal(own, margins[:, member.groups])


def test_members_that_cannot_share_a_call_are_not_fused() -> None:
    y = _score()
    tree = _train({}, y, 5)
    other = xgb.train({"nthread": 1}, xgb.DMatrix(_x()[:, :5], y, feature_names=NAMES[:5]), 5)
    dart = _train({"booster": "dart", "rate_drop": 0.3}, y, 5)
    linear = _train({"booster": "gblinear"}, y, 5)
    assert FusedTrees.of([tree]) is None  # nothing to fuse
    assert FusedTrees.of([tree, other]) is None  # other features
    assert FusedTrees.of([tree, dart]) is None
    assert FusedTrees.of([tree, linear]) is None
    # Categorical features: the input is a DataFrame, never the fused call's matrix.
    frame = pd.DataFrame(_x(), columns=NAMES).assign(x5=pd.Categorical(
        np.where(_x()[:, 5] > 0, "a", "b")))  # fmt: skip
    cats = [xgb.train({"nthread": 1, "max_depth": d}, xgb.DMatrix(frame, y,
                      enable_categorical=True), 5) for d in (2, 3)]  # fmt: skip
    assert FusedTrees.of(cats) is None


def test_a_stacked_ensemble_predicts_through_one_fused_call(storage: Storage) -> None:
    reg = Registry(storage)
    y = _score() + 5.0
    refs = [reg.register(f"m{i}", _train({"max_depth": 2 + i, "seed": i}, y, 10 + 5 * i),
                         features=NAMES).ref for i in range(3)]  # fmt: skip
    rows = pd.DataFrame(_x(300, seed=11), columns=NAMES)
    preds = pd.DataFrame({r: reg.load(r).predict(rows) for r in refs})
    meta = xgb.train({"booster": "gblinear", "nthread": 1}, xgb.DMatrix(preds, y[:300]), 20)
    reg.register("meta", meta, features=refs)
    reg.register("stack", EnsembleSpec(kind="stacked", members=refs, meta="meta"))
    ens = reg.load("stack")
    assert isinstance(ens, EnsemblePredictor) and ens.fused() is not None
    expected = meta.predict(xgb.DMatrix(preds))
    np.testing.assert_allclose(ens.predict(rows), expected, rtol=1e-5, atol=1e-5)
    # One row, as a gateway request: the same answer as the members one by one.
    one = rows.iloc[:1]
    members = [evaluate(m, one) for m in ens.members]
    assert isinstance(ens.meta, Predictor)
    np.testing.assert_allclose(
        ens.predict(one),
        ens.meta.raw(np.column_stack(members).astype(np.float32), lambda: one),
        rtol=1e-5,
    )
    # New thread counts rebuild the fused booster with them.
    ens.set_threads(2)
    fused = ens.fused()
    assert fused is not None
    config = json.loads(fused.booster.save_config())
    assert config["learner"]["generic_param"]["nthread"] == "2"
    assert all(m.nthread == 2 for m in ens.members if isinstance(m, Predictor))
    np.testing.assert_allclose(ens.predict(rows), expected, rtol=1e-5, atol=1e-5)
