"""Acceptance 3: tampered, corrupt, missing or pickled artifacts are refused on load."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import pytest
from registry_workers import FEATURES

from rayops.errors import UnsafeArtifactError
from rayops.registry import Registry
from rayops.registry.artifacts import sha256_hex, sniff_format
from rayops.storage import Storage

KEY = "models/churn/1.0.0/model.ubj"
CARD = "models/churn/1.0.0/card.json"


class Boom:
    """Unpickling this creates a marker directory: proof that a pickle was executed."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (os.mkdir, (self.marker,))


def test_tampered_artifact_is_refused_on_load(
    reg: Registry, storage: Storage, booster: Any
) -> None:
    reg.register("churn", booster)
    raw = bytearray(storage.read_bytes(KEY))
    raw[len(raw) // 2] ^= 0x01  # one flipped bit
    storage.write_bytes(KEY, bytes(raw))
    with pytest.raises(UnsafeArtifactError, match="churn@1.0.0 failed its integrity check"):
        reg.load("churn@1.0.0")


def test_truncated_and_missing_artifacts_are_clear_errors(
    reg: Registry, storage: Storage, booster: Any
) -> None:
    reg.register("churn", booster)
    storage.write_bytes(KEY, storage.read_bytes(KEY)[:100])
    with pytest.raises(UnsafeArtifactError, match="integrity check"):
        reg.load("churn")
    storage.delete(KEY)
    with pytest.raises(UnsafeArtifactError, match=r"model.ubj\) is missing"):
        reg.load("churn")


def test_pickle_is_refused_without_being_executed(
    reg: Registry, storage: Storage, booster: Any, tmp_path: Path
) -> None:
    """Even with a card forged to match its hash, a pickle never reaches pickle.loads."""
    reg.register("churn", booster)
    marker = tmp_path / "pwned"
    payload = pickle.dumps(Boom(str(marker)))
    storage.write_bytes(KEY, payload)
    card = storage.read_json(CARD)
    card["artifact"]["sha256"] = sha256_hex(payload)
    storage.write_json(CARD, card)
    with pytest.raises(UnsafeArtifactError, match="looks like a Python pickle; rayops never"):
        reg.load("churn@1.0.0")
    assert not marker.exists()


def test_pickle_is_refused_at_registration(reg: Registry, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for protocol in (0, 2, 5):
        with pytest.raises(UnsafeArtifactError, match="pickle"):
            reg.register(
                "churn", pickle.dumps(Boom(str(marker)), protocol=protocol), features=FEATURES
            )
    assert not marker.exists()
    assert reg.list() == []  # no version number was claimed either


def test_forged_non_model_bytes_with_matching_hash_are_refused(
    reg: Registry, storage: Storage, booster: Any
) -> None:
    reg.register("churn", booster)
    for junk in (b"PK\x03\x04zipfile", b"{not json and not ubjson"):
        storage.write_bytes(KEY, junk)
        card = storage.read_json(CARD)
        card["artifact"]["sha256"] = sha256_hex(junk)
        storage.write_json(CARD, card)
        with pytest.raises(UnsafeArtifactError, match="neither XGBoost UBJSON nor JSON"):
            reg.load("churn@1.0.0")


def test_saved_model_files_register_and_load(reg: Registry, booster: Any, frame: Any) -> None:
    """A saved .ubj or .json model (e.g. from a Ray Train checkpoint) registers as bytes."""
    ubj = bytes(booster.save_raw("ubj"))
    js = bytes(booster.save_raw("json"))
    assert sniff_format(ubj) == "ubj" and sniff_format(js) == "json"
    a = reg.register("churn", ubj, features=FEATURES)
    b = reg.register("churn", js, features=FEATURES)
    assert (a.card.artifact.file, b.card.artifact.file) == ("model.ubj", "model.json")
    pa, pb = reg.load(a.ref), reg.load(b.ref)
    assert (pa.predict(frame) == pb.predict(frame)).all()
