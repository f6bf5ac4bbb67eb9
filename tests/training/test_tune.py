"""Tune with k-fold CV on the shared Ray cluster, checked against independent scikit-learn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn import metrics as skm
from sklearn.model_selection import KFold

from rayops.config import Settings
from rayops.datasets import make_regression
from rayops.storage import open_storage
from rayops.training import get_run, list_runs, parse_space, read_trials, run_tune

SEED = 3
GRID = """
description: tiny grid for tests
params: {learning_rate: 0.3}
space:
  max_depth: {grid: [2, 4]}
  n_estimators: {grid: [8, 16]}
cv: {folds: 5}
"""


def _data(n: int = 500, seed: int = 11) -> pd.DataFrame:
    df = make_regression(n, seed=seed)
    df.loc[df.index[::9], "num_3"] = np.nan  # missing values go to XGBoost as missing
    return df


def test_grid_fold_metrics_match_independent_sklearn(ray_cluster: Any, tmp_path: Path) -> None:
    """Acceptance 1: every configuration's 5 fold metrics, recomputed independently."""
    df = _data()
    storage = open_storage(str(tmp_path))
    settings = Settings(storage=storage.uri, cv_seed=SEED, accuracy_tolerance=4.0)
    result = run_tune(
        df, target="target", space=parse_space(GRID), storage=storage,
        exclude=("entity_id",), settings=settings,
    )  # fmt: skip
    features = [c for c in df.columns if c.startswith(("num_", "cat_"))]
    assert result.run["features"] == features
    trials = result.trials
    assert len(trials) == 4 and set(trials["status"]) == {"completed"}
    assert trials["shared_rounds"].sum() == 2  # the 8-round rows come from 16-round models

    X, y = df[features], df["target"].to_numpy()
    splits = list(KFold(5, shuffle=True, random_state=SEED).split(X))
    for _, row in trials.iterrows():
        depth, rounds = int(row["param_max_depth"]), int(row["param_n_estimators"])
        model = xgb.XGBRegressor(
            n_estimators=rounds, max_depth=depth, learning_rate=0.3, tree_method="hist",
            enable_categorical=True, n_jobs=1, random_state=SEED,
        )  # fmt: skip
        for i, (train, test) in enumerate(splits):
            pred = model.fit(X.iloc[train], y[train]).predict(X.iloc[test])
            assert row["rmse_folds"][i] == pytest.approx(
                skm.root_mean_squared_error(y[test], pred), rel=1e-5
            )
            assert row["mae_folds"][i] == pytest.approx(
                skm.mean_absolute_error(y[test], pred), rel=1e-5
            )
            assert row["r2_folds"][i] == pytest.approx(skm.r2_score(y[test], pred), rel=1e-5)
            assert row["accuracy_folds"][i] == pytest.approx(np.mean(np.abs(y[test] - pred) <= 4.0))
        assert row["rmse_mean"] == pytest.approx(np.mean(row["rmse_folds"]))
        assert row["rmse_std"] == pytest.approx(np.std(row["rmse_folds"]))

    # the best is the completed row with the lowest mean RMSE, refit and stored
    assert result.best["score"] == pytest.approx(trials["rmse_mean"].min())
    run = get_run(storage, result.run_id)
    assert run["best"]["params"] == result.best["params"]
    assert run["cv"] == {"strategy": "kfold", "seed": SEED, "folds": 5,
                         "test_sizes": [100] * 5}  # fmt: skip
    assert run["data"]["rows"] == 500
    stored = read_trials(storage, result.run_id)
    assert list(stored["rmse_mean"]) == pytest.approx(list(trials["rmse_mean"]))
    booster = xgb.Booster(model_file=bytearray(storage.read_bytes(run["refit"]["model_key"])))
    assert booster.num_boosted_rounds() == result.best["params"]["n_estimators"]

    # Acceptance 3 (baseline): scored on the same folds, beside the best config
    base = run["baseline"]
    assert len(base["folds"]) == 5 and base["score"] == pytest.approx(base["metrics"]["rmse_mean"])
    assert [r["run_id"] for r in list_runs(storage)] == [result.run_id]


def test_feature_selection_records_choice_and_both_scores(ray_cluster: Any, tmp_path: Path) -> None:
    """Acceptance 3 (selection): the chosen features and the score with and without them."""
    df = _data(400, seed=5)
    storage = open_storage(str(tmp_path))
    space = parse_space("space: {max_depth: {grid: [3]}, n_estimators: {grid: [20]}}\n"
                        "cv: {folds: 3}")  # fmt: skip
    result = run_tune(
        df, target="target", space=space, storage=storage, exclude=("entity_id",),
        select_features=True, selection_method="permutation", top_k=4,
        settings=Settings(storage=str(tmp_path)),
    )  # fmt: skip
    sel = get_run(storage, result.run_id)["selection"]
    assert sel["method"] == "permutation"
    assert len(sel["selected"]) == 4 and set(sel["selected"]) <= set(result.run["features"])
    assert sum(sel["importances"].values()) == pytest.approx(1.0)
    ranked = sorted(sel["importances"], key=lambda c: -sel["importances"][c])
    assert set(sel["selected"]) == set(ranked[:4])
    assert sel["score_without"]["rmse_mean"] == pytest.approx(result.best["score"])
    assert sel["score_with"]["rmse_mean"] != sel["score_without"]["rmse_mean"]
    refit = result.run["refit"]["features"]
    assert refit == (sel["selected"] if sel["used_for_refit"] else result.run["features"])


def test_asha_scores_every_completed_config_on_all_folds(ray_cluster: Any, tmp_path: Path) -> None:
    space = parse_space(
        "search: random\nnum_samples: 6\n"
        "space:\n  max_depth: {randint: [1, 6]}\n  learning_rate: {loguniform: [0.01, 0.5]}\n"
        "  n_estimators: {choice: [5, 20]}\n"
        "scheduler: {kind: asha, grace_period: 1, reduction_factor: 2}\ncv: {folds: 4}\n"
    )
    storage = open_storage(str(tmp_path))
    result = run_tune(_data(300, seed=8), target="target", space=space, storage=storage,
                      exclude=("entity_id",))  # fmt: skip
    trials = result.trials
    assert len(trials) == 6
    done = trials[trials["status"] == "completed"]
    assert (done["folds_scored"] == 4).all() and done["rank"].notna().all()
    stopped = trials[trials["status"] == "stopped"]
    assert (stopped["folds_scored"] < 4).all() and stopped["rank"].isna().all()
    assert len(result.best["folds"]) == 4
    assert result.best["score"] == pytest.approx(done["rmse_mean"].min())


def test_the_s3_secret_key_never_reaches_a_trials_runtime_env(
    ray_cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ray Tune copies AWS_* credentials into every trial's runtime_env, and Ray's
    runtime-env agent logs runtime envs ("Creating runtime env: ..."): run_tune hides them
    while trials start, and puts them back afterwards."""
    import time
    import uuid

    secret = f"tune-secret-{uuid.uuid4().hex}"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    space = parse_space(
        "space: {max_depth: {grid: [2]}, n_estimators: {grid: [4]}}\ncv: {folds: 2}"
    )
    run_tune(_data(200, seed=2), target="target", space=space,
             storage=open_storage(str(tmp_path)), exclude=("entity_id",),
             settings=Settings(storage=str(tmp_path)))  # fmt: skip
    import os

    assert os.environ["AWS_SECRET_ACCESS_KEY"] == secret  # restored for the caller
    logs = Path(ray_cluster._private.worker._global_node.get_session_dir_path()) / "logs"
    agent = logs / "runtime_env_agent.log"
    deadline = time.monotonic() + 10
    while b"Creating runtime env" not in agent.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.5)  # the trials' runtime envs were logged (the check below is live)
    assert b"Creating runtime env" in agent.read_bytes()
    for p in logs.rglob("*"):
        if p.is_file():
            assert secret.encode() not in p.read_bytes(), f"the secret key is in {p}"
