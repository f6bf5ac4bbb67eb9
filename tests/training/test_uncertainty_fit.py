"""Training registers each version's uncertainty and importance, fitted on its holdout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer

from rayops.registry import Registry
from rayops.storage import open_storage
from rayops.training.pipeline import run_training
from rayops.uncertainty.calibration import Calibrator
from rayops.uncertainty.intervals import IntervalModel


def test_a_regression_card_gets_mondrian_intervals_and_importance(
    ray_cluster: Any, tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)
    n = 3000
    frame = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
    frame["region"] = rng.choice(["north", "south"], n)
    noise = np.where(frame["region"] == "north", 0.2, 2.0)
    frame["y"] = 3 * frame["a"] + rng.normal(0, 1, n) * noise
    path = tmp_path / "data.parquet"
    frame.to_parquet(path)
    storage = open_storage(str(tmp_path / "root"))
    record = run_training(storage, target="y", data=str(path), register="demand",
                          interval_context=["region"], num_boost_round=30)  # fmt: skip
    reg = Registry(storage)
    card = reg.get(record["model"]["ref"]).card
    assert card.uncertainty is not None and card.uncertainty.intervals == "mondrian"
    assert card.uncertainty.context == ["region"] and card.uncertainty.rows == 600
    doc = reg.uncertainty(record["model"]["ref"])
    assert doc is not None
    model = IntervalModel.from_json(doc["intervals"])
    assert model.half_width(0.9, "south") > 3 * model.half_width(0.9, "north")
    imp = card.importance or {}
    top = max(imp["mean_abs_contribution"], key=imp["mean_abs_contribution"].get)  # type: ignore[arg-type]
    assert top == "a" and set(imp) >= {"gain", "weight"}


def test_a_classifier_card_records_calibration_and_sets(ray_cluster: Any, tmp_path: Path) -> None:
    cancer = load_breast_cancer(as_frame=True)
    frame = cancer.data.set_axis([f"f{i}" for i in range(30)], axis=1)
    frame["diagnosis"] = np.where(cancer.target == 1, "benign", "malignant")
    path = tmp_path / "cancer.parquet"
    frame.to_parquet(path)
    storage = open_storage(str(tmp_path / "root"))
    record = run_training(storage, target="diagnosis", data=str(path), register="cancer",
                          num_boost_round=30)  # fmt: skip
    reg = Registry(storage)
    card = reg.get(record["model"]["ref"]).card
    assert card.task.value == "binary" and card.uncertainty is not None
    assert card.uncertainty.sets and card.uncertainty.calibration is not None
    cal = card.uncertainty.calibration
    assert {"method", "ece_before", "ece_after", "logloss_before"} <= set(cal)
    doc = reg.uncertainty(record["model"]["ref"])
    assert doc is not None and Calibrator.from_json(doc["calibration"]).method == cal["method"]
