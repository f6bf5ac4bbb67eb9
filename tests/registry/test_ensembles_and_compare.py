"""Ensembles as registered models, comparisons (metrics + latency), training baselines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from registry_workers import FEATURES

from rayops.errors import InvalidInputError, NotFoundError
from rayops.registry import EnsemblePredictor, EnsembleSpec, Registry, baseline_from_frame
from rayops.registry.compare import regression_metrics


def test_weighted_ensemble_pins_members_and_averages(
    reg: Registry, booster: Any, booster_b: Any, frame: Any
) -> None:
    a = reg.register("a", booster).ref
    reg.register("b", booster_b)
    reg.set_alias("b", "production", "1.0.0")
    spec = EnsembleSpec(kind="weighted", members=[a, "b@production"], weights=[3, 1])
    mv = reg.register("blend", spec, description="3:1 blend")
    assert mv.card.kind == "ensemble" and mv.card.artifact.file == "ensemble.json"
    assert mv.card.ensemble is not None
    assert mv.card.ensemble.members == ["a@1.0.0", "b@1.0.0"]  # aliases pinned
    assert mv.card.features == FEATURES
    ens = reg.load("blend")
    assert isinstance(ens, EnsemblePredictor)
    expected = 0.75 * reg.load(a).predict(frame) + 0.25 * reg.load("b@1.0.0").predict(frame)
    np.testing.assert_allclose(ens.predict(frame), expected, rtol=1e-9)


def test_stacked_ensemble_uses_its_meta_model(
    reg: Registry, booster: Any, booster_b: Any, frame: Any
) -> None:
    import xgboost as xgb

    a, b = reg.register("a", booster).ref, reg.register("b", booster_b).ref
    preds = pd.DataFrame({a: reg.load(a).predict(frame), b: reg.load(b).predict(frame)})
    meta = xgb.train({"nthread": 1, "max_depth": 2}, xgb.DMatrix(preds, label=frame["target"]), 5)
    reg.register("meta", meta)
    mv = reg.register("stack", EnsembleSpec(kind="stacked", members=[a, b], meta="meta"))
    assert mv.card.ensemble is not None and mv.card.ensemble.meta == "meta@1.0.0"
    got = reg.load("stack").predict(frame)
    np.testing.assert_allclose(got, meta.predict(xgb.DMatrix(preds)), rtol=1e-6)


def test_ensemble_definitions_are_validated(reg: Registry, booster: Any) -> None:
    with pytest.raises(ValueError, match="needs meta"):
        EnsembleSpec(kind="stacked", members=["a@1.0.0"])
    with pytest.raises(ValueError, match="2 weights for 1 members"):
        EnsembleSpec(kind="weighted", members=["a@1.0.0"], weights=[1, 2])
    with pytest.raises(NotFoundError, match="No model named 'ghost'"):
        reg.register("blend", EnsembleSpec(kind="dynamic", members=["ghost@1.0.0"]))


def test_compare_two_versions_stores_metrics_and_latency(
    reg: Registry, booster: Any, booster_b: Any, frame: Any
) -> None:
    reg.register("churn", booster)
    reg.register("churn", booster_b)
    result = reg.compare(["churn@1.0.0", "churn@1.1.0"], frame, "target", dataset="fs@1")
    assert [r.ref for r in result.results] == ["churn@1.0.0", "churn@1.1.0"]
    for r in result.results:
        assert r.rmse >= r.mae >= 0 and r.r2 <= 1 and 0 <= r.accuracy_within <= 1
        assert r.latency_ms_per_1k > 0
    assert result.tolerance == 5.0 and result.rows == len(frame)
    assert result.best == min(result.results, key=lambda r: r.rmse).ref
    assert result.result("churn@1.1.0").rmse < result.result("churn@1.0.0").rmse  # deeper, longer
    assert [c.id for c in reg.comparisons("churn")] == [result.id]
    assert reg.comparisons("churn")[0].dataset == "fs@1"
    with pytest.raises(InvalidInputError, match="Target column 'nope' is not in the data"):
        reg.compare(["churn@1.0.0"], frame, "nope")


def test_regression_metrics_and_tolerance() -> None:
    y = np.array([10.0, 20.0, 30.0, 40.0])
    m = regression_metrics(y, y + np.array([0.0, 4.0, -6.0, 5.0]), tolerance=5.0)
    assert m["mae"] == pytest.approx(3.75)
    assert m["rmse"] == pytest.approx(np.sqrt((16 + 36 + 25) / 4))
    assert m["accuracy_within"] == 0.75  # |err| <= 5 counts
    assert regression_metrics(y, y, 1.0)["r2"] == 1.0


def test_baseline_from_frame_numeric_and_categorical(frame: Any) -> None:
    b = baseline_from_frame(frame, ["num_0", "cat_0"], bins=5, quantiles=[0.1, 0.9])
    num = b["num_0"]
    assert num["kind"] == "numeric" and num["count"] == len(frame) and num["missing"] == 0
    assert sum(num["histogram"]["counts"]) == len(frame) and len(num["histogram"]["edges"]) == 6
    assert num["min"] <= num["quantiles"]["0.1"] <= num["quantiles"]["0.9"] <= num["max"]
    cat = b["cat_0"]
    assert cat["kind"] == "categorical" and sum(cat["frequencies"].values()) == pytest.approx(1)
    with_nan = pd.DataFrame({"x": [1.0, None, 3.0], "s": ["a", None, "b"]})
    nb = baseline_from_frame(with_nan, ["x", "s"], max_categories=1)
    assert nb["x"]["missing"] == 1 and nb["s"]["missing"] == 1
    assert set(nb["s"]["frequencies"]) == {"a", "__other__"}
    with pytest.raises(InvalidInputError, match=r"columns \['zz'\]"):
        baseline_from_frame(frame, ["zz"])


def test_classifiers_are_compared_on_their_task_s_metrics(tmp_path: Path) -> None:
    import xgboost as xgb
    from sklearn.datasets import load_breast_cancer
    from sklearn.metrics import roc_auc_score

    from rayops.storage import open_storage

    reg = Registry(open_storage(str(tmp_path)))
    cancer = load_breast_cancer(as_frame=True)
    x = cancer.data.set_axis([f"f{i}" for i in range(30)], axis=1)
    labels = np.where(cancer.target == 1, "benign", "malignant")
    refs = []
    for rounds in (2, 20):
        booster = xgb.train({"objective": "binary:logistic", "max_depth": 2},
                            xgb.DMatrix(x, label=cancer.target), rounds)  # fmt: skip
        refs.append(reg.register("cancer", booster, classes=["malignant", "benign"]).ref)
    frame = x.assign(y=labels)
    result = reg.compare(refs, frame, "y")
    assert result.task == "binary" and result.metric == "logloss" and result.best == refs[1]
    proba = reg.load(refs[1]).predict(x)[:, 1]
    assert result.result(refs[1]).metrics["auc"] == pytest.approx(
        roc_auc_score(cancer.target, proba)
    )
    assert result.result(refs[1]).top_features  # from the card's importance
    regressor = reg.register("other", xgb.train({}, xgb.DMatrix(x, label=cancer.target), 2)).ref
    with pytest.raises(InvalidInputError, match="not comparable"):
        reg.compare([refs[0], regressor], frame, "y")
