"""Fine-tuning: helps after concept drift, is rejected when there is nothing new to learn."""

from __future__ import annotations

import pytest

from rayops.datasets import ConceptDrift, make_regression
from rayops.errors import InvalidInputError
from rayops.registry import Registry
from rayops.storage import Storage
from rayops.training.finetune import FineTuneMode, fine_tune, fine_tune_history
from rayops.training.fit import evaluate, train_model

AT = 3_000
PARAMS = {"max_depth": 4, "eta": 0.2}


@pytest.fixture(scope="module")
def drifted():  # type: ignore[no-untyped-def]
    return make_regression(6_000, seed=9, concept_drift=ConceptDrift(at_row=AT))


def _register_parent(storage: Storage, frame) -> tuple[Registry, str]:  # type: ignore[no-untyped-def]
    result = train_model(frame, "target", params=PARAMS, num_boost_round=150)
    reg = Registry(storage)
    mv = reg.register(
        "demand",
        result.booster,
        params=result.params,
        features=result.features,
        feature_types=result.feature_types,
    )
    return reg, mv.ref


@pytest.mark.parametrize("mode", ["continue", "refresh"])
def test_finetune_after_concept_drift_improves_and_registers_a_patch(  # type: ignore[no-untyped-def]
    ray_cluster, storage: Storage, drifted, mode: str
) -> None:
    reg, parent = _register_parent(storage, drifted.iloc[:AT])
    post = drifted.iloc[AT:]
    result = fine_tune(storage, parent, post, "target", mode=mode, rounds=60)
    assert result.accepted, result.reason
    assert result.after["rmse"] < 0.8 * result.before["rmse"]
    assert result.version == "1.0.1" and result.parent == parent
    child = reg.get(f"demand@{result.version}")
    assert child.card.parent == parent
    assert child.card.metrics["holdout"]["rmse"] == pytest.approx(result.after["rmse"])
    # The registered artifact is the candidate that was judged.
    booster = reg.load(child.ref).booster  # type: ignore[union-attr]
    assert (
        evaluate(booster, post, "target")["rmse"]
        < evaluate(
            reg.load(parent).booster,
            post,
            "target",  # type: ignore[union-attr]
        )["rmse"]
    )
    (record,) = fine_tune_history(storage, "demand")
    assert record["accepted"] and record["mode"] == mode and record["version"] == "1.0.1"


def test_finetune_without_new_signal_is_rejected_and_registers_nothing(  # type: ignore[no-untyped-def]
    ray_cluster, storage: Storage
) -> None:
    stable = make_regression(8_000, seed=4, noise=3.0)
    reg, parent = _register_parent(storage, stable.iloc[:6_000])
    result = fine_tune(
        storage,
        parent,
        stable.iloc[6_000:],
        "target",
        mode=FineTuneMode.CONTINUE,
        rounds=30,
        min_improvement=0.02,
    )
    assert not result.accepted, result.reason
    assert result.version is None
    assert [v.version for v in reg.versions("demand")] == ["1.0.0"]
    (record,) = fine_tune_history(storage, "demand")
    assert record["accepted"] is False and record["reason"].startswith("rejected")


def test_finetune_bad_input(ray_cluster, storage: Storage, drifted) -> None:  # type: ignore[no-untyped-def]
    _, parent = _register_parent(storage, drifted.iloc[:500])
    with pytest.raises(InvalidInputError, match="mode"):
        fine_tune(storage, parent, drifted, "target", mode="sideways")
    with pytest.raises(InvalidInputError, match="lacks columns"):
        fine_tune(storage, parent, drifted.drop(columns=["num_3"]), "target")
