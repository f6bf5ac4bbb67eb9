"""Feature contributions add up to the margin for boosters and for every exact ensemble kind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.datasets import load_breast_cancer, load_iris

from rayops.errors import InvalidInputError
from rayops.registry import EnsembleSpec, Registry
from rayops.registry.explain import NotExplainableError, contributions, importance, shares, top_k
from rayops.registry.predictor import evaluate
from rayops.storage import open_storage

FEATURES = ["a", "b", "c", "d"]


def _regression(seed: int, depth: int = 3) -> tuple[xgb.Booster, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.normal(size=(400, 4)), columns=FEATURES)
    y = 3 * x["a"] - 2 * x["b"] * x["c"] + rng.normal(0, 0.1, 400)
    params = {"max_depth": depth, "eta": 0.3, "seed": seed, "nthread": 1}
    return xgb.train(params, xgb.DMatrix(x, label=y), 20), x


def test_a_booster_s_contributions_add_up_to_its_margin(tmp_path: Path) -> None:
    reg = Registry(open_storage(str(tmp_path)))
    booster, x = _regression(0)
    p = reg.load(reg.register("m", booster).ref)
    for approx in (False, True):
        c = contributions(p, x, approx=approx)
        assert c.exact and c.values.shape == (400, 5)
        np.testing.assert_allclose(c.values.sum(-1), evaluate(p, x), atol=1e-4)
    cancer = load_breast_cancer(as_frame=True)
    bx = cancer.data.set_axis([f"f{i}" for i in range(30)], axis=1)
    binary = xgb.train({"objective": "binary:logistic", "max_depth": 2},
                       xgb.DMatrix(bx, label=cancer.target), 10)  # fmt: skip
    bp = reg.load(reg.register("b", binary, classes=["m", "b"]).ref)
    c = contributions(bp, bx)
    prob = 1 / (1 + np.exp(-c.values.sum(-1)))  # the link function: log-odds -> probability
    np.testing.assert_allclose(prob, evaluate(bp, bx)[:, 1], rtol=1e-4)
    iris = load_iris(as_frame=True)
    ix = iris.data.set_axis(FEATURES, axis=1)
    multi = xgb.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 2},
                      xgb.DMatrix(ix, label=iris.target), 8)  # fmt: skip
    mp = reg.load(reg.register("i", multi, classes=["s", "ve", "vi"]).ref)
    c = contributions(mp, ix)
    assert c.values.shape == (150, 3, 5)  # one set per class
    z = c.values.sum(-1)
    soft = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(soft, evaluate(mp, ix), rtol=1e-4)


def test_exact_ensembles_add_up_to_their_prediction(tmp_path: Path) -> None:
    reg = Registry(open_storage(str(tmp_path)))
    b1, x = _regression(1, depth=2)
    b2, _ = _regression(2, depth=4)
    r1, r2 = reg.register("m", b1).ref, reg.register("m", b2).ref
    weighted = reg.load(reg.register("w", EnsembleSpec(kind="weighted", members=[r1, r2],
                                                        weights=[1, 3])).ref)  # fmt: skip
    preds = pd.DataFrame({r1: evaluate(reg.load(r1), x), r2: evaluate(reg.load(r2), x)})
    meta = xgb.train({"booster": "gblinear", "updater": "coord_descent", "lambda": 0.0},
                     xgb.DMatrix(preds, label=x["a"] * 3), 50)  # fmt: skip
    ref_meta = reg.register("meta", meta).ref
    stacked = reg.load(reg.register("s", EnsembleSpec(kind="stacked", members=[r1, r2],
                                                       meta=ref_meta)).ref)  # fmt: skip
    voting = reg.load(reg.register("v", EnsembleSpec(kind="voting", members=[r1, r2])).ref)
    dynamic = reg.load(reg.register("d", EnsembleSpec(kind="dynamic", members=[r1, r2])).ref)
    for ensemble in (weighted, stacked, voting, dynamic):
        c = contributions(ensemble, x)
        assert c.exact, ensemble.ref
        np.testing.assert_allclose(c.values.sum(-1), evaluate(ensemble, x), atol=1e-3)


def test_classifier_ensembles_say_they_approximate(tmp_path: Path) -> None:
    reg = Registry(open_storage(str(tmp_path)))
    cancer = load_breast_cancer(as_frame=True)
    bx = cancer.data.set_axis([f"f{i}" for i in range(30)], axis=1)
    refs = []
    for seed in (0, 1):
        booster = xgb.train({"objective": "binary:logistic", "max_depth": 2, "seed": seed},
                            xgb.DMatrix(bx, label=cancer.target), 5 + seed)  # fmt: skip
        refs.append(reg.register("b", booster, classes=[0, 1]).ref)
    ens = reg.load(reg.register("e", EnsembleSpec(kind="weighted", members=refs)).ref)
    c = contributions(ens, bx)
    assert not c.exact and "approximation" in (c.note or "")


def test_top_k_and_importance(tmp_path: Path) -> None:
    reg = Registry(open_storage(str(tmp_path)))
    booster, x = _regression(3)
    p = reg.load(reg.register("m", booster).ref)
    c = contributions(p, x.head(5))
    best = top_k(c, 2)
    assert len(best) == 5 and len(best[0]) == 2
    assert abs(best[0][0]["contribution"]) >= abs(best[0][1]["contribution"])
    with pytest.raises(InvalidInputError, match="between 1 and the 4"):
        top_k(c, 0)
    with pytest.raises(InvalidInputError, match="between 1 and the 4"):
        top_k(c, 5)
    found = importance(p, x)
    assert set(found) == {"mean_abs_contribution", "gain", "weight"}
    share = shares(found["mean_abs_contribution"])
    assert max(share, key=share.get) == "a" and sum(share.values()) == pytest.approx(1.0)  # type: ignore[arg-type]


def test_a_linear_booster_cannot_explain(tmp_path: Path) -> None:
    reg = Registry(open_storage(str(tmp_path)))
    _, x = _regression(4)
    linear = xgb.train({"booster": "gblinear"}, xgb.DMatrix(x, label=x["a"]), 5)
    p = reg.load(reg.register("lin", linear).ref)
    with pytest.raises(NotExplainableError, match="linear booster"):
        contributions(p, x)


def test_models_explain_from_the_cli(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from rayops.cli import app

    root = str(tmp_path / "root")
    booster, x = _regression(5)
    ref = Registry(open_storage(root)).register("m", booster).ref
    rows = tmp_path / "rows.parquet"
    x.head(3).to_parquet(rows)
    runner = CliRunner()
    env = {"RAYOPS_STORAGE": root}
    res = runner.invoke(app, ["models", "explain", ref, "--data", str(rows), "--top-k", "2",
                              "--json"], env=env)  # fmt: skip
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["exact"] and len(doc["top"]) == 3 and len(doc["top"][0]) == 2
    x.head(3).drop(columns=["a"]).to_parquet(rows)
    bad = runner.invoke(app, ["models", "explain", ref, "--data", str(rows)], env=env)
    assert bad.exit_code == 2 and "lacks the features ['a']" in bad.output
