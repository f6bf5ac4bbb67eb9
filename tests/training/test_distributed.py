"""Training on Ray Data: the feature set is split on the cluster, never read whole by the driver."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rayops.config import Settings
from rayops.datasets import make_regression
from rayops.features import FeatureStore
from rayops.storage import open_storage
from rayops.training import sources
from rayops.training.distributed import split_feature_set
from rayops.training.fit import worker_resources
from rayops.training.pipeline import run_training

FEATURES = [f"num_{i}" for i in range(8)] + ["cat_0", "cat_1"]
SMALL = {"features_rows_per_file": 1_000, "features_batch_rows": 500}


@pytest.fixture
def store(tmp_path: Path) -> FeatureStore:
    settings = Settings(storage=str(tmp_path / "root"), **SMALL)
    return FeatureStore(open_storage(settings.storage), settings=settings)


def _split(store: FeatureStore, ref: str, time_column: str | None, **over: Any) -> Any:
    settings = store.settings.override(**over)
    version = store.get(ref)
    return split_feature_set(store, version, "target", FEATURES, time_column=time_column,
                             settings=settings, seed=3)  # fmt: skip


def test_the_hash_split_is_seeded_complete_and_bounded(
    store: FeatureStore, ray_cluster: Any
) -> None:
    frame = make_regression(4_000, seed=1)
    store.write("rows", frame, entity="entity_id", target="target")
    split = _split(store, "rows", None)
    train_ids = set(split.train.to_pandas()["target"])
    held = set(split.holdout["target"])
    assert not train_ids & held and train_ids | held == set(frame["target"])  # every row, once
    assert 600 < len(split.holdout) < 1_000 and split.train_rows == 4_000 - len(split.holdout)
    assert set(_split(store, "rows", None).holdout["target"]) == held  # the seed decides
    every = {c: sorted(frame[c].astype(str).unique()) for c in ("cat_0", "cat_1")}
    assert split.categories == every  # from the manifest's statistics
    assert len(split.sample) == len(frame) - len(split.holdout)  # fewer rows than the sample size
    capped = _split(store, "rows", None, train_holdout_max_rows=100, train_baseline_rows=500)
    assert 50 < len(capped.holdout) < 150 and 300 < len(capped.sample) < 700
    store.write("few-top", frame, target="target")  # statistics list only 2 values per column
    version = store.get("few-top").model_copy()
    for c in ("cat_0", "cat_1"):
        stats = version.stats[c]
        version.stats[c] = stats.model_copy(update={"top_values": stats.top_values[:2]})
    from rayops.training.distributed import categories_of

    ds = store.to_ray_dataset(version.ref)
    assert categories_of(store, version, ds, FEATURES) == every  # from a pass over the data


def test_with_an_event_time_the_latest_rows_are_held_out(
    store: FeatureStore, ray_cluster: Any
) -> None:
    frame = make_regression(3_000, seed=2).sample(frac=1.0, random_state=0)  # shuffled files
    store.write("timed", frame, entity="entity_id", event_time="event_time", target="target")
    split = _split(store, "timed", "event_time")
    assert len(split.holdout) == 600
    train = split.train.to_pandas()
    latest = frame.sort_values("event_time")["target"].iloc[-600:]
    assert set(split.holdout["target"]) == set(latest) and set(train["target"]).isdisjoint(latest)


@pytest.mark.slow
def test_run_training_never_reads_the_feature_set_into_the_driver(
    store: FeatureStore, ray_cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = make_regression(6_000, seed=4)
    v = store.write("big", frame, entity="entity_id", event_time="event_time", target="target")

    def whole_table(*_: Any, **__: Any) -> Any:
        raise AssertionError("the driver read the whole feature set")

    monkeypatch.setattr(FeatureStore, "read", whole_table)
    monkeypatch.setattr(sources, "from_feature_set", whole_table)
    said: list[str] = []
    settings = store.settings.override(train_checkpoint_every=20)
    record = run_training(store.storage, target=None, features="big", params={"max_depth": 4},
                          num_boost_round=40, workers=2, register="big-xgb",
                          settings=settings, progress=said.append)  # fmt: skip
    assert record["training"]["path"] == "ray_train" and record["training"]["workers"] == 2
    assert record["rows"] == {"train": 4_800, "holdout": 1_200}
    assert record["lineage"]["sha256"] == v.sha256 and record["features"] == FEATURES
    assert record["holdout"]["rmse"] < frame["target"].std() * 0.6
    assert any("waiting for 2 worker(s)" in s for s in said)
    from rayops.registry import Registry

    card = Registry(store.storage).get(record["model"]["ref"]).card
    assert card.feature_types == ["float"] * 8 + ["c", "c"] and card.lineage is not None
    assert card.baseline is not None and card.baseline["num_0"]["count"] == 4_800


def test_workers_share_each_nodes_cpus(ray_cluster: Any) -> None:
    total = int(ray_cluster.cluster_resources()["CPU"])  # one node in the session cluster
    assert worker_resources(1, Settings()) == (total, total)
    assert worker_resources(2, Settings()) == (total // 2, max(1, total // 2))
    assert worker_resources(2, Settings(train_cpus_per_worker=0.5, train_nthread=3)) == (0.5, 3)
    assert np.isclose(worker_resources(5, Settings())[0], 1)  # more workers than CPUs: 1 each


@pytest.mark.slow
def test_a_classifier_trains_on_the_ray_data_path_with_labels_encoded_by_the_workers(
    store: FeatureStore, ray_cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sklearn.metrics import roc_auc_score

    from rayops.datasets import make_classification
    from rayops.registry import Registry

    frame = make_classification(5_000, seed=6)  # string labels "no"/"yes", 20% positive
    store.write("churn", frame, entity="entity_id", target="target")
    monkeypatch.setattr(sources, "from_feature_set", lambda *_, **__: pytest.fail("read whole"))
    record = run_training(store.storage, target=None, features="churn", params={"max_depth": 3},
                          num_boost_round=30, workers=2, register="churn-xgb",
                          settings=store.settings.override(train_checkpoint_every=30))  # fmt: skip
    assert record["training"]["path"] == "ray_train"
    assert (record["task"], record["classes"]) == ("binary", ["no", "yes"])
    assert record["params"]["objective"] == "binary:logistic"
    assert record["params"]["n_estimators"] == 30
    card = Registry(store.storage).get(record["model"]["ref"]).card
    assert card.task == "binary" and card.classes == ["no", "yes"] and card.threshold == 0.5
    # The workers encoded the labels in the card's class order: the model's "yes"
    # probability ranks the "yes" rows first (a flipped encoding would give AUC < 0.5).
    model = Registry(store.storage).load(record["model"]["ref"])
    p_yes = np.asarray(model.predict(frame[FEATURES]))
    p_yes = p_yes[:, 1] if p_yes.ndim == 2 else p_yes
    assert roc_auc_score(frame["target"] == "yes", p_yes) > 0.8
    assert 0.75 < record["holdout"]["auc"] <= 1.0
