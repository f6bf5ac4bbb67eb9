"""Training through the fast path and Ray Train matches plain XGBoost; faults resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

from rayops.config import Settings
from rayops.datasets import make_regression
from rayops.errors import InvalidInputError
from rayops.storage import Storage
from rayops.training.fit import TrainPath, evaluate, split_holdout, train_model
from rayops.training.scoring import prepare_frame

PARAMS = {"max_depth": 4, "eta": 0.3}
FEATURES = [f"num_{i}" for i in range(8)] + ["cat_0", "cat_1"]


@pytest.fixture(scope="module")
def data():  # type: ignore[no-untyped-def]
    frame = make_regression(4_000, seed=21)
    return split_holdout(frame, fraction=0.25, seed=0)


def _plain_xgboost_rmse(train, hold) -> float:  # type: ignore[no-untyped-def]
    dtrain = xgb.DMatrix(prepare_frame(train, FEATURES), train["target"], enable_categorical=True)
    booster = xgb.train(
        {"objective": "reg:squarederror", "tree_method": "hist", "nthread": 1, "seed": 0, **PARAMS},
        dtrain,
        40,
    )
    return evaluate(booster, hold, "target", features=FEATURES)["rmse"]


def test_fast_path_matches_plain_xgboost(ray_cluster, data) -> None:  # type: ignore[no-untyped-def]
    train, hold = data
    result = train_model(train, "target", params=PARAMS, num_boost_round=40, features=FEATURES)
    assert result.path is TrainPath.FAST and result.workers == 1 and result.rounds == 40
    assert result.feature_types.count("c") == 2
    rmse = evaluate(result.booster, hold, "target")["rmse"]
    # Same data, same parameters, one thread: the very same trees.
    assert rmse == pytest.approx(_plain_xgboost_rmse(train, hold), rel=1e-6)


def test_ray_train_two_workers_matches_plain_xgboost(  # type: ignore[no-untyped-def]
    ray_cluster, data, tmp_path: Path
) -> None:
    train, hold = data
    storage_root = tmp_path / "root"
    from rayops.storage import open_storage

    result = train_model(
        train,
        "target",
        params=PARAMS,
        num_boost_round=40,
        features=FEATURES,
        workers=2,
        storage=open_storage(str(storage_root)),
        settings=Settings(train_checkpoint_every=20),
    )
    assert result.path is TrainPath.RAY_TRAIN and result.workers == 2 and result.rounds == 40
    rmse = evaluate(result.booster, hold, "target")["rmse"]
    # Data-parallel hist sketches quantiles per shard: close, not bit-identical.
    assert rmse == pytest.approx(_plain_xgboost_rmse(train, hold), rel=0.05)
    assert result.checkpoint_uri and any(storage_root.rglob("model.ubj"))


def test_automatic_choice_is_recorded(ray_cluster, data) -> None:  # type: ignore[no-untyped-def]
    train, _ = data
    small = train_model(
        train.iloc[:500],
        "target",
        num_boost_round=5,
        settings=Settings(train_fast_path_max_rows=1000),
    )
    assert small.summary()["path"] == "fast"


# Checkpoints go through the same pyarrow filesystem on both backends; S3 is the one that
# matters on a cluster (and the slower one), so this 30 s test runs there only.
@pytest.mark.slow
@pytest.mark.parametrize("storage", ["s3"], indirect=True)
def test_worker_failure_resumes_from_checkpoint(  # type: ignore[no-untyped-def]
    ray_cluster, data, storage: Storage, tmp_path: Path
) -> None:
    """Rank 0 dies once after round 15; with max_failures=1 the run resumes at round 10."""
    train, hold = data
    marker = tmp_path / "failed-once"
    result = train_model(
        train,
        "target",
        params=PARAMS,
        num_boost_round=30,
        features=FEATURES,
        workers=1,
        path=TrainPath.RAY_TRAIN,
        storage=storage,
        settings=Settings(train_checkpoint_every=10, train_max_failures=1),
        inject_failure={"marker": str(marker), "after_round": 15},
    )
    assert marker.exists(), "the failure was injected"
    assert result.resumed_from_round == 10
    assert result.rounds == 30
    assert result.checkpoint_uri is not None and result.checkpoint_uri.startswith(storage.uri)
    assert any(k.endswith("model.ubj") for k in storage.list_keys("train/checkpoints/"))
    assert evaluate(result.booster, hold, "target")["rmse"] < hold["target"].std()


def test_continue_boosting_from_a_model(ray_cluster, data) -> None:  # type: ignore[no-untyped-def]
    train, _ = data
    first = train_model(train, "target", params=PARAMS, num_boost_round=10, features=FEATURES)
    more = train_model(
        train,
        "target",
        params=PARAMS,
        num_boost_round=5,
        features=FEATURES,
        xgb_model=first.booster,
    )
    assert more.rounds == 15


def test_bad_columns_are_clear(ray_cluster, data) -> None:  # type: ignore[no-untyped-def]
    train, _ = data
    with pytest.raises(InvalidInputError, match="Target column 'nope'"):
        train_model(train, "nope")
    with pytest.raises(InvalidInputError, match="not in the data"):
        train_model(train, "target", features=["num_0", "ghost"])


def test_time_ordered_holdout_takes_the_latest_rows() -> None:
    frame = make_regression(100, seed=1)
    shuffled = frame.sample(frac=1.0, random_state=0)
    train, hold = split_holdout(shuffled, fraction=0.2, time_column="event_time")
    assert len(hold) == 20 and hold["event_time"].min() > train["event_time"].max()
    assert np.array_equal(np.sort(hold.index), np.arange(80, 100))
