"""Turning a registered version into a predictor, through the artifact checks.

A missing artifact, a SHA-256 that differs from the card, or a file that is not
UBJSON/JSON all raise :class:`~rayops.errors.UnsafeArtifactError` before any
bytes reach XGBoost. Ensembles load their members the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from pydantic import ValidationError

from rayops.errors import InvalidInputError, NotFoundError, UnsafeArtifactError
from rayops.registry import layout
from rayops.registry.artifacts import load_booster, verify_sha256
from rayops.registry.card import EnsembleSpec, ModelVersion
from rayops.registry.predictor import EnsemblePredictor, Predictor
from rayops.storage.base import Storage

__all__ = ["MAX_ENSEMBLE_DEPTH", "load_predictor"]

MAX_ENSEMBLE_DEPTH = 8


def load_predictor(
    storage: Storage, get: Callable[[str], ModelVersion], ref: str, depth: int = 0
) -> Predictor | EnsemblePredictor:
    """Load ``ref`` (resolved by ``get``) into a Predictor or EnsemblePredictor."""
    if depth > MAX_ENSEMBLE_DEPTH:
        raise InvalidInputError(f"Ensembles nest deeper than {MAX_ENSEMBLE_DEPTH} levels.")
    mv = get(ref)
    card = mv.card
    what = f"The artifact of {mv.ref}"
    try:
        data = storage.read_bytes(layout.artifact_key(mv.name, mv.version, card.artifact.file))
    except NotFoundError:
        raise UnsafeArtifactError(
            f"{what} ({card.artifact.file}) is missing from {storage.uri}; the version cannot "
            "be loaded. Archive it and register the model again."
        ) from None
    if card.kind == "booster":
        booster = load_booster(data, expected_sha256=card.artifact.sha256, what=what)
        return Predictor(
            mv.ref,
            booster,
            card.features,
            card.feature_types,
            task=card.task,
            labels=card.classes,
            threshold=mv.threshold or 0.5,
        )
    verify_sha256(data, card.artifact.sha256, what)
    try:
        spec = EnsembleSpec.model_validate(json.loads(data))
    except (ValueError, ValidationError) as e:
        raise UnsafeArtifactError(f"{what} is not a valid ensemble definition: {e}") from None
    members = [load_predictor(storage, get, m, depth + 1) for m in spec.members]
    nested = [m.ref for m in members if isinstance(m, EnsemblePredictor) and m.targets]
    if nested:
        raise InvalidInputError(
            f"{mv.ref} has the multi-target ensemble {nested[0]} as a member; members "
            "predict one target each."
        )
    meta = load_predictor(storage, get, spec.meta, depth + 1) if spec.meta else None
    if meta is not None and not isinstance(meta, Predictor):
        raise InvalidInputError(f"The meta model of {mv.ref} must be a booster, not an ensemble.")
    return EnsemblePredictor(mv.ref, spec, members, meta, threshold=mv.threshold)
