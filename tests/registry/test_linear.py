"""Linear boosters (a stacking meta-learner) evaluated with numpy, equal to XGBoost."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from rayops.registry.linear import LinearBooster
from rayops.registry.predictor import Predictor


def _data(n: int = 400, features: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, features)).astype(np.float32)
    x[rng.random(x.shape) < 0.05] = np.nan  # missing values count as 0 in gblinear
    return x, np.nan_to_num(x) @ np.linspace(-1.0, 2.0, features)


@pytest.mark.parametrize(
    ("objective", "label", "extra"),
    [
        ("reg:squarederror", lambda s: s + 10.0, {}),
        ("reg:squarederror", lambda s: 1e6 * np.exp(s / 3), {}),  # skewed, units far from 1
        ("count:poisson", lambda s: np.round(np.exp(s / 4)), {}),
        ("binary:logistic", lambda s: (s > 0.3).astype(float), {}),
        ("multi:softprob", lambda s: np.digitize(s, [-1.0, 1.0]).astype(float), {"num_class": 3}),
    ],
)
def test_numpy_evaluation_equals_xgboost(objective: str, label: object, extra: dict) -> None:
    x, score = _data()
    params = {"booster": "gblinear", "objective": objective, "nthread": 1, **extra}
    booster = xgb.train(params, xgb.DMatrix(x, label(score)), 30)  # type: ignore[operator]
    linear = LinearBooster.of(booster)
    assert linear is not None
    expected = booster.predict(xgb.DMatrix(x))
    got = linear.predict(x)
    assert got.shape == expected.shape
    # XGBoost sums in float32: at price scale its rounding is about 1e-7 of the largest
    # values, whatever a row's own size (numpy's float64 sum is the more exact one).
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())


def test_tree_boosters_and_unlisted_objectives_keep_xgboost() -> None:
    x, score = _data()
    trees = xgb.train({"nthread": 1}, xgb.DMatrix(x, score), 5)
    assert LinearBooster.of(trees) is None
    quantile = xgb.train({"booster": "gblinear", "objective": "reg:quantileerror",
                        "quantile_alpha": 0.5, "nthread": 1}, xgb.DMatrix(x, score), 5)  # fmt: skip
    assert LinearBooster.of(quantile) is None


def test_a_linear_predictor_answers_like_xgboost_and_refuses_a_wrong_width() -> None:
    x, score = _data()
    names = ["a@1.0.0", "b@1.0.0", "c@1.0.0", "d@1.0.0"]
    booster = xgb.train({"booster": "gblinear", "nthread": 1},
                        xgb.DMatrix(x, score, feature_names=names), 30)  # fmt: skip
    predictor = Predictor("meta@1.0.0", booster, names, task="regression")
    frame = pd.DataFrame(x, columns=names)
    out = predictor.raw(x, lambda: frame)
    expected = booster.predict(xgb.DMatrix(frame))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    # A matrix of the wrong width is not evaluated with numpy: XGBoost says what is wrong.
    with pytest.raises((xgb.core.XGBoostError, ValueError)):
        predictor.raw(x[:, :3], lambda: frame.iloc[:, :3])
