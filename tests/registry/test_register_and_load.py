"""Registration, model cards, version resolution and loading, on disk and on S3."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from registry_workers import FEATURES

from rayops.errors import InvalidInputError, NotFoundError
from rayops.registry import ModelCard, Predictor, Registry, Stage, baseline_from_frame
from rayops.storage import Storage

LINEAGE = {"feature_set": "churn-fs", "version": 3, "sha256": "ab" * 32, "rows": 400}


def test_register_writes_a_complete_card_and_loads_an_equal_predictor(
    reg: Registry, storage: Storage, booster: Any, frame: Any
) -> None:
    mv = reg.register(
        "churn",
        booster,
        params={"max_depth": np.int64(3), "eta": 0.3},
        metrics={"train": {"rmse": np.float32(1.5)}, "cv": {"rmse": 2.0}, "holdout_mae": 1.7},
        lineage=LINEAGE,
        baseline=baseline_from_frame(frame, FEATURES),
        run_id="run-1",
        author="ann",
        description="first",
    )
    assert (mv.name, mv.version, mv.stage, mv.ref) == (
        "churn",
        "1.0.0",
        Stage.TRAINED,
        "churn@1.0.0",
    )
    card = reg.get("churn@1.0.0").card
    assert isinstance(card, ModelCard)
    assert card.features == FEATURES and card.feature_types == ["float"] * 8 + ["c", "c"]
    assert card.params == {"max_depth": 3, "eta": 0.3}
    assert card.metrics["cv"] == {"rmse": 2.0}
    assert card.lineage is not None and card.lineage.version == 3
    assert card.baseline is not None and card.baseline["cat_0"]["kind"] == "categorical"
    assert (
        card.baseline["num_0"]["histogram"]["counts"]
        and "0.5" in card.baseline["num_0"]["quantiles"]
    )
    assert card.run_id == "run-1" and card.author == "ann" and card.created_at.tzinfo is not None
    assert card.artifact.format == "xgboost-ubj" and card.artifact.size > 0
    raw = storage.read_bytes("models/churn/1.0.0/model.ubj")
    assert len(raw) == card.artifact.size and raw[:1] == b"{"
    assert "xgboost" in card.library_versions

    predictor = reg.load("churn@1.0.0")
    assert isinstance(predictor, Predictor) and predictor.features == FEATURES
    import xgboost as xgb

    expected = booster.predict(xgb.DMatrix(frame[FEATURES], enable_categorical=True))
    np.testing.assert_allclose(predictor.predict(frame), expected, rtol=1e-6)


def test_versions_bumps_and_resolution(reg: Registry, booster: Any) -> None:
    assert reg.register("churn", booster).version == "1.0.0"
    assert reg.register("churn", booster).version == "1.1.0"
    fine = reg.register("churn", booster, bump="patch", parent="churn@1.0.0")
    assert fine.version == "1.0.1" and fine.card.parent == "churn@1.0.0"
    assert reg.register("churn", booster, bump="major").version == "2.0.0"
    assert reg.register("churn", booster, bump="patch", parent="churn@1.0.0").version == "1.0.2"
    assert [m.version for m in reg.versions("churn")] == [
        "1.0.0",
        "1.0.1",
        "1.0.2",
        "1.1.0",
        "2.0.0",
    ]
    assert reg.get("churn").version == "2.0.0"  # bare name: the highest version
    assert reg.get("churn@latest").version == "2.0.0"
    reg.register("fraud", booster, stage=Stage.DRAFT)
    assert reg.list() == ["churn", "fraud"]
    assert reg.get("fraud").stage is Stage.DRAFT


def test_clear_errors_for_unknown_names_versions_and_inputs(reg: Registry, booster: Any) -> None:
    with pytest.raises(NotFoundError, match="No model named 'churn'; the registry is empty"):
        reg.get("churn")
    reg.register("churn", booster)
    with pytest.raises(NotFoundError, match="no version 9.9.9; registered: 1.0.0"):
        reg.get("churn@9.9.9")
    with pytest.raises(NotFoundError, match="no alias 'production'; it has no aliases"):
        reg.load("churn@production")
    with pytest.raises(InvalidInputError, match="not a valid model name"):
        reg.register("../etc", booster)
    with pytest.raises(InvalidInputError, match="Cannot register a dict"):
        reg.register("churn", {"weights": [1, 2]})  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="start as draft or trained"):
        reg.register("churn", booster, stage="production")
    with pytest.raises(InvalidInputError, match="Invalid lineage: sha256"):
        reg.register("churn", booster, lineage={**LINEAGE, "sha256": "nope"})
    with pytest.raises(InvalidInputError, match="differ from the booster's feature names"):
        reg.register("churn", booster, features=["a", "b"])
    with pytest.raises(InvalidInputError, match="needs columns"):
        reg.load("churn").predict(__import__("pandas").DataFrame({"num_0": [1.0]}))
    assert [m.version for m in reg.versions("churn")] == ["1.0.0"]


def test_half_written_registration_is_invisible_and_its_number_skipped(
    reg: Registry, storage: Storage, booster: Any
) -> None:
    """A writer that died after its claim and artifact, before its card, leaves no version."""
    reg.register("churn", booster)
    storage.put_json_if_absent("models/churn/claims/1.1.0", {"run_id": "crashed"})
    storage.write_bytes("models/churn/1.1.0/model.ubj", b"{partial")
    assert [m.version for m in reg.versions("churn")] == ["1.0.0"]
    assert reg.get("churn").version == "1.0.0"
    with pytest.raises(NotFoundError, match="no version 1.1.0"):
        reg.load("churn@1.1.0")
    assert reg.register("churn", booster).version == "1.2.0"
