"""score_table: every model kind's output columns, on the registry's one evaluation path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import xgboost as xgb
from batch_models import FEATURES, register_all, rows

from rayops.batch.scorer import check_explainable, output_columns, score_table
from rayops.errors import InvalidInputError
from rayops.registry import Registry
from rayops.storage import open_storage
from rayops.training.scoring import prepare_frame


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, boosters: Any) -> tuple[Registry, dict]:  # type: ignore[type-arg]
    storage = open_storage(str(tmp_path_factory.mktemp("scorer")))
    return Registry(storage), register_all(storage, boosters)


@pytest.fixture(scope="module")
def table() -> pa.Table:
    frame = rows(300, seed=11)
    return pa.Table.from_pandas(frame, preserve_index=False)


@pytest.mark.parametrize("kind", ["booster", "weighted", "stacked", "dynamic", "voting"])
def test_regression_models_predict_what_the_registry_predicts(
    models: Any, table: pa.Table, kind: str
) -> None:
    reg, refs = models
    predictor = reg.load(refs[kind])
    out = score_table(predictor, table, id_columns=["entity_id"], actuals={None: "target"})
    assert out.column_names == ["entity_id", "prediction", "actual"]
    expected = predictor.predict(table.to_pandas())
    np.testing.assert_allclose(out.column("prediction").to_numpy(), expected, rtol=1e-6)
    assert out.column("entity_id").equals(table.column("entity_id"))
    assert out.column("actual").equals(table.column("target"))


def test_binary_labels_use_the_models_threshold(models: Any, table: pa.Table) -> None:
    reg, refs = models
    predictor = reg.load(refs["binary"])
    assert predictor.threshold == 0.4
    out = score_table(predictor, table, id_columns=[], actuals={None: "churned"})
    assert out.column_names == ["label", "p_no", "p_yes", "actual_label"]
    p_yes = out.column("p_yes").to_numpy()
    np.testing.assert_allclose(p_yes + out.column("p_no").to_numpy(), 1.0)
    labels = out.column("label").to_pylist()
    assert labels == ["yes" if p >= 0.4 else "no" for p in p_yes]
    # The threshold matters on these rows: 0.5 would give other labels.
    assert any(0.4 <= p < 0.5 for p in p_yes)
    assert labels == predictor.predict_labels(table.to_pandas())


@pytest.mark.parametrize("kind", ["multiclass", "weighted_binary"])
def test_classifiers_give_a_label_and_a_probability_per_class(
    models: Any, table: pa.Table, kind: str
) -> None:
    reg, refs = models
    predictor = reg.load(refs[kind])
    out = score_table(predictor, table, id_columns=["entity_id"], actuals={})
    classes = predictor.labels.classes
    assert out.column_names == ["entity_id", "label", *[f"p_{c}" for c in classes]]
    proba = np.column_stack([out.column(f"p_{c}").to_numpy() for c in classes])
    np.testing.assert_allclose(proba, predictor.predict(table.to_pandas()), rtol=1e-6)
    assert out.column("label").to_pylist() == predictor.predict_labels(table.to_pandas())


def test_multi_target_ensembles_give_every_target(models: Any, table: pa.Table) -> None:
    reg, refs = models
    predictor = reg.load(refs["multi_target"])
    actuals = {"target": "target", "churned": "churned"}
    out = score_table(predictor, table, id_columns=["entity_id"], actuals=actuals)
    assert out.column_names == [
        "entity_id", "prediction_target", "label_churned", "p_churned_no", "p_churned_yes",
        "actual_target", "actual_label_churned",
    ]  # fmt: skip
    assert out.column_names == output_columns(predictor, ["entity_id"], list(actuals), False)
    frame = table.to_pandas()
    np.testing.assert_allclose(
        out.column("prediction_target").to_numpy(), reg.load(refs["booster"]).predict(frame)
    )
    assert out.column("label_churned").to_pylist() == reg.load(refs["binary"]).predict_labels(frame)


@pytest.mark.parametrize("kind", ["booster", "binary"])
def test_explanations_sum_to_the_margin(models: Any, table: pa.Table, kind: str) -> None:
    reg, refs = models
    predictor = reg.load(refs[kind])
    out = score_table(predictor, table, id_columns=[], actuals={}, explain=True)
    names = [f"c_{f}" for f in FEATURES] + ["c_bias"]
    assert out.column_names[-len(names) :] == names
    total = np.sum([out.column(n).to_numpy() for n in names], axis=0)
    dm = xgb.DMatrix(prepare_frame(table.to_pandas(), FEATURES), enable_categorical=True)
    margin = predictor.booster.predict(dm, output_margin=True)
    np.testing.assert_allclose(total, margin, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", ["weighted", "multiclass"])
def test_explain_is_refused_where_issue_22_is_needed(models: Any, kind: str) -> None:
    reg, refs = models
    with pytest.raises(InvalidInputError, match="issue 22"):
        check_explainable(reg.load(refs[kind]))


def test_string_features_become_categoricals(models: Any, tmp_path: Path) -> None:
    reg, refs = models
    frame = rows(50, seed=2)
    plain = frame.astype({"cat_0": str, "cat_1": str})  # as Parquet without a dictionary
    out = score_table(
        reg.load(refs["booster"]), pa.Table.from_pandas(plain), id_columns=[], actuals={}
    )
    np.testing.assert_allclose(
        out.column("prediction").to_numpy(), reg.load(refs["booster"]).predict(frame), rtol=1e-6
    )
