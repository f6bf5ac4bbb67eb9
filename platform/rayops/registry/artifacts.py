"""Model files: XGBoost UBJSON (or JSON) and ensemble JSON, checked before loading.

Nothing here ever unpickles. Loading a model file goes through two gates before
its bytes reach XGBoost:

1. its SHA-256 must equal the one recorded in the card (tampering, corruption or
   a truncated upload all fail here), and
2. its first bytes must be a UBJSON or JSON object (``{``); a pickle (``\\x80``
   protocol header) or anything else is refused without being interpreted.

Example:
    >>> sniff_format(b'{"learner": {}}')
    'json'
    >>> sniff_format(b'\\x80\\x04\\x95...')
    Traceback (most recent call last):
    ...
    rayops.errors.UnsafeArtifactError: ... looks like a Python pickle; rayops never unpickles...
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from rayops.errors import InvalidInputError, UnsafeArtifactError
from rayops.registry.card import EnsembleSpec
from rayops.storage.base import dumps

if TYPE_CHECKING:
    import xgboost as xgb

__all__ = [
    "PreparedModel",
    "booster_bytes",
    "load_booster",
    "prepare_booster",
    "prepare_ensemble",
    "sha256_hex",
    "sniff_format",
    "verify_sha256",
]

# Type markers that may follow the opening '{' of a UBJSON object: a key length
# (int8/uint8/int16/int32/int64), an optimized container ('$' type / '#' count)
# or the end of an empty object.
_UBJ_AFTER_BRACE = frozenset(b"iUIlL$#}")


# First opcodes of protocol 0/1 pickles (which have no header); they end with STOP '.'.
_PICKLE_FIRST_OPCODES = frozenset(b"(c]})NIFSVLdltKJMGXUTqhj")


def _looks_like_pickle(data: bytes) -> bool:
    if data[:1] == b"\x80":  # PROTO opcode: every pickle of protocol 2 and later
        return True
    return bool(data) and data[0] in _PICKLE_FIRST_OPCODES and data.rstrip()[-1:] == b"."


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def booster_bytes(booster: xgb.Booster) -> bytes:
    """A booster serialized in XGBoost's UBJSON model format."""
    return bytes(booster.save_raw(raw_format="ubj"))


def verify_sha256(data: bytes, expected: str, what: str) -> None:
    """Raise UnsafeArtifactError unless ``data`` hashes to ``expected``."""
    actual = sha256_hex(data)
    if actual != expected:
        raise UnsafeArtifactError(
            f"{what} failed its integrity check: SHA-256 is {actual[:12]}..., the card "
            f"records {expected[:12]}...; the file was modified or corrupted. Do not use it; "
            "re-register the model from its training run."
        )


def sniff_format(data: bytes, what: str = "The model file") -> Literal["ubj", "json"]:
    """Tell UBJSON from JSON; refuse pickles and anything else without parsing them."""
    if _looks_like_pickle(data):
        raise UnsafeArtifactError(
            f"{what} looks like a Python pickle; rayops never unpickles. Save models with "
            "Booster.save_model('model.ubj') and register the booster instead."
        )
    stripped = data.lstrip()
    if data[:1] == b"{" and len(data) > 1 and data[1] in _UBJ_AFTER_BRACE:
        return "ubj"
    if stripped[:1] == b"{":
        try:
            json.loads(stripped)
        except ValueError:
            pass
        else:
            return "json"
    raise UnsafeArtifactError(
        f"{what} is neither XGBoost UBJSON nor JSON (starts with {data[:8]!r}); "
        "only those formats are loaded."
    )


def load_booster(data: bytes, *, expected_sha256: str, what: str) -> xgb.Booster:
    """Verify then load a booster from UBJSON/JSON bytes."""
    verify_sha256(data, expected_sha256, what)
    sniff_format(data, what)
    import xgboost as xgb

    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(data))
    except xgb.core.XGBoostError as e:
        raise UnsafeArtifactError(f"{what} could not be read by XGBoost: {e}") from None
    return booster


@dataclass(frozen=True)
class PreparedModel:
    """A model turned into the bytes the registry stores, with what the card says about it."""

    data: bytes
    file: Literal["model.ubj", "model.json", "ensemble.json"]
    format: Literal["xgboost-ubj", "xgboost-json", "ensemble-json"]
    kind: Literal["booster", "ensemble"]
    features: list[str]
    feature_types: list[str] | None
    libraries: dict[str, str]

    def artifact(self) -> dict[str, Any]:
        """The card's ``artifact`` entry."""
        return {
            "file": self.file,
            "format": self.format,
            "size": len(self.data),
            "sha256": sha256_hex(self.data),
        }


def prepare_ensemble(spec: EnsembleSpec, features: Sequence[str]) -> PreparedModel:
    """An ensemble definition as the JSON document the registry stores.

    The context columns of a dynamic or voting ensemble must be model inputs:
    serving reads a row's segment from its features.
    """
    unknown = [c for c in spec.context if c not in features]
    if unknown:
        raise InvalidInputError(
            f"Context column {unknown[0]!r} is not an input of the members ({list(features)}); "
            "segment by one of their features."
        )
    return PreparedModel(
        data=dumps(spec.model_dump(mode="json")),
        file="ensemble.json",
        format="ensemble-json",
        kind="ensemble",
        features=list(features),
        feature_types=None,
        libraries={},
    )


def prepare_booster(
    model: Any, features: Sequence[str] | None, feature_types: Sequence[str] | None
) -> PreparedModel:
    """Serialize an ``xgboost.Booster``, or check the bytes of a saved UBJSON/JSON model.

    Bytes (e.g. the ``model.ubj`` of a Ray Train checkpoint) are stored as given,
    after the same format check as loading (a pickle is refused); they need
    ``features=`` because the registry does not parse them.
    """
    if isinstance(model, bytes | bytearray | memoryview):
        data = bytes(model)
        kind = sniff_format(data, "The model to register")
        if features is None:
            raise InvalidInputError(
                "Registering a saved model file needs features=[...] (its input columns)."
            )
        return PreparedModel(
            data=data,
            file="model.ubj" if kind == "ubj" else "model.json",
            format="xgboost-ubj" if kind == "ubj" else "xgboost-json",
            features=list(features),
            kind="booster",
            feature_types=list(feature_types) if feature_types is not None else None,
            libraries={},
        )
    import xgboost as xgb

    if not isinstance(model, xgb.Booster):
        raise InvalidInputError(
            f"Cannot register a {type(model).__name__}: pass an xgboost.Booster "
            "(e.g. XGBRegressor().get_booster()), the bytes of a saved .ubj/.json model, "
            "or an EnsembleSpec."
        )
    own = list(model.feature_names or [])
    if features is not None and own and list(features) != own:
        raise InvalidInputError(
            f"features={list(features)} differ from the booster's feature names {own}."
        )
    types = feature_types if feature_types is not None else model.feature_types
    return PreparedModel(
        data=booster_bytes(model),
        file="model.ubj",
        format="xgboost-ubj",
        features=list(features) if features is not None else own,
        kind="booster",
        feature_types=list(types) if types is not None else None,
        libraries={"xgboost": str(xgb.__version__)},
    )


def booster_objective(model: Any) -> tuple[str | None, int]:
    """The objective and class count an ``xgboost.Booster`` (or its saved bytes) says.

    Saved bytes are parsed by XGBoost itself (UBJSON/JSON, never a pickle; the format
    was checked before). ``(None, 0)`` when the model does not say.
    """
    import json

    import xgboost as xgb

    booster = model
    if isinstance(model, bytes | bytearray | memoryview):
        booster = xgb.Booster()
        booster.load_model(bytearray(model))
    try:
        learner = json.loads(booster.save_config())["learner"]
    except (KeyError, ValueError, xgb.core.XGBoostError):
        return None, 0
    objective = learner.get("objective", {}).get("name")
    num_class = int(learner.get("learner_model_param", {}).get("num_class", 0) or 0)
    return objective, num_class
