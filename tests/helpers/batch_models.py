"""Batch-scoring test data: rows with regression and class targets, boosters, and one
registered model of every kind on a storage root (boosters, every ensemble kind, classifiers)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from rayops.registry import EnsembleSpec, Registry
from rayops.storage import Storage
from rayops.training.scoring import prepare_frame

FEATURES = [f"num_{i}" for i in range(8)] + ["cat_0", "cat_1"]


def rows(n: int, seed: int) -> pd.DataFrame:
    """make_regression's rows plus a binary (``churned``) and a 3-class (``tier``) target."""
    from rayops.datasets import make_regression

    frame = make_regression(n, seed=seed)
    frame["churned"] = np.where(frame["target"] > frame["target"].median(), "yes", "no")
    frame["tier"] = pd.cut(frame["target"], 3, labels=["lo", "mid", "hi"]).astype(str)
    return frame


def fit(frame: pd.DataFrame, target: str, objective: str, *, rounds: int = 15,
        seed: int = 0, classes: list[Any] | None = None) -> xgb.Booster:  # fmt: skip
    y = frame[target]
    if classes is not None:
        y = y.map({c: i for i, c in enumerate(classes)})
    params: dict[str, Any] = {"objective": objective, "max_depth": 3, "nthread": 1, "seed": seed}
    if objective.startswith("multi:"):
        params["num_class"] = len(classes or [])
    dtrain = xgb.DMatrix(prepare_frame(frame, FEATURES), y, enable_categorical=True)
    return xgb.train(params, dtrain, rounds)


def register_all(storage: Storage, boosters: dict[str, xgb.Booster]) -> dict[str, str]:
    """Every model kind on ``storage``; returns kind -> ref."""
    reg = Registry(storage)
    types = ["float"] * 8 + ["c", "c"]
    a = reg.register("reg-a", boosters["reg_a"], features=FEATURES, feature_types=types).ref
    b = reg.register("reg-b", boosters["reg_b"], features=FEATURES, feature_types=types).ref
    binary = reg.register("churn", boosters["bin"], features=FEATURES, feature_types=types,
                          task="binary", classes=["no", "yes"], threshold=0.4).ref  # fmt: skip
    multi = reg.register("tier", boosters["multi"], features=FEATURES, feature_types=types,
                         task="multiclass", classes=["lo", "mid", "hi"]).ref  # fmt: skip
    meta = xgb.train(
        {"booster": "gblinear", "objective": "reg:squarederror", "nthread": 1},
        xgb.DMatrix(np.array([[1.0, 2.0], [2.0, 1.0], [3.0, 3.0]]), [1.5, 1.5, 3.0],
                    feature_names=[a, b]),
        5,
    )  # fmt: skip
    meta_ref = reg.register("stack-meta", meta, features=[a, b]).ref
    refs = {"booster": a, "binary": binary, "multiclass": multi}
    refs["weighted"] = reg.register(
        "blend", EnsembleSpec(kind="weighted", members=[a, b], weights=[3, 1])
    ).ref
    refs["stacked"] = reg.register(
        "stack", EnsembleSpec(kind="stacked", members=[a, b], meta=meta_ref)
    ).ref
    refs["dynamic"] = reg.register(
        "pick", EnsembleSpec(kind="dynamic", members=[a, b], context=["cat_0"])
    ).ref
    refs["voting"] = reg.register("vote", EnsembleSpec(kind="voting", members=[a, b])).ref
    refs["multi_target"] = reg.register(
        "both",
        EnsembleSpec(kind="multi_target", members=[a, binary], targets=["target", "churned"]),
    ).ref
    binary_b = reg.register("churn-b", boosters["bin_b"], features=FEATURES, feature_types=types,
                            task="binary", classes=["no", "yes"]).ref  # fmt: skip
    refs["weighted_binary"] = reg.register(
        "churn-blend", EnsembleSpec(kind="weighted", members=[binary, binary_b])
    ).ref
    return refs
