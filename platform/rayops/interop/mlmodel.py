"""Reading an MLflow model directory without MLflow and without running any of it.

An MLflow model is a directory with an ``MLmodel`` YAML file naming its
*flavors*; the ``xgboost`` flavor's ``data`` is the booster file and its
``model_format`` says how it was saved (``ubj``, ``json`` or the legacy ``xgb``).
rayops never hands such a directory to MLflow's loaders: they import the class
named in the YAML and may unpickle. Instead:

1. ``MLmodel`` is parsed with ``yaml.safe_load`` (no Python tags, no objects);
2. only the ``xgboost`` flavor is accepted; a model without one (scikit-learn,
   pyfunc, ...: pickles) is refused with the flavors and files that were found;
3. the data file must lie inside the directory, and its *bytes* must be XGBoost
   UBJSON or JSON: :func:`rayops.registry.artifacts.sniff_format` decides, whatever
   the file is called or the YAML claims. A pickle, or a legacy binary model that
   cannot be told apart from arbitrary bytes, is refused before it is read by
   anything but that check.

Example:
    >>> import pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "MLmodel").write_text(
    ...     "flavors:\\n  xgboost: {data: model.ubj, model_format: ubj}\\n")
    >>> _ = (d / "model.ubj").write_bytes(b'{"learner": {}}')
    >>> found = read_xgboost_model(d)
    >>> found.file, found.format, found.declared_format
    ('model.ubj', 'json', 'ubj')
    >>> _ = (d / "model.ubj").write_bytes(b"\\x80\\x04\\x95 a pickle")
    >>> read_xgboost_model(d)
    Traceback (most recent call last):
    ...
    rayops.interop.mlmodel.RefusedModelError: ... looks like a Python pickle; ...
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rayops.errors import InvalidInputError, UnsafeArtifactError
from rayops.registry.artifacts import sniff_format

__all__ = [
    "MLMODEL",
    "MLmodel",
    "RefusedModelError",
    "XGBoostModelFile",
    "read_mlmodel",
    "read_xgboost_model",
]

MLMODEL = "MLmodel"

#: An MLmodel file is a few kilobytes; anything far larger is not one.
_MAX_MLMODEL_BYTES = 4 * 1024 * 1024

_RESAVE = (
    "Re-save it from the training code as UBJSON: "
    "mlflow.xgboost.log_model(booster, name='model', model_format='ubj') "
    "(or booster.save_model('model.ubj') and import that directory)."
)


class RefusedModelError(UnsafeArtifactError, InvalidInputError):
    """An MLflow model holds something rayops will not load: a pickle, a legacy binary
    booster, no xgboost flavor at all. Also an :class:`InvalidInputError` (exit code 2):
    the fix is on the caller's side, re-saving the model as UBJSON or JSON."""


@dataclass(frozen=True)
class MLmodel:
    """The parts of an ``MLmodel`` file rayops reads."""

    path: Path
    flavors: dict[str, dict[str, Any]]
    metadata: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    model_id: str | None = None
    mlflow_version: str | None = None
    inputs: list[str] | None = None  # column names of the input signature, if any

    def flavor_summary(self) -> str:
        """Each flavor with the file and serialization it names, for messages."""
        out = []
        for name, conf in self.flavors.items():
            details = [
                f"{k}={conf[k]}"
                for k in ("data", "pickled_model", "python_model", "serialization_format",
                          "model_format", "loader_module")
                if isinstance(conf.get(k), str | int | float)
            ]  # fmt: skip
            out.append(f"{name} ({', '.join(details)})" if details else name)
        return "; ".join(out) or "none"


@dataclass(frozen=True)
class XGBoostModelFile:
    """The xgboost flavor's booster file, checked: its bytes are UBJSON or JSON."""

    mlmodel: MLmodel
    file: str  # relative to the model directory
    data: bytes
    format: Literal["ubj", "json"]  # what the bytes are
    declared_format: str | None  # what the MLmodel says (ubj, json, xgb, or nothing)
    model_class: str | None


def model_directory(path: str | Path) -> Path:
    """The MLflow model directory ``path`` names (the directory, or its MLmodel file)."""
    p = Path(path).expanduser()
    if p.is_file() and p.name == MLMODEL:
        p = p.parent
    if not (p / MLMODEL).is_file():
        raise InvalidInputError(
            f"{p} is not an MLflow model directory: it has no {MLMODEL} file. Give the "
            "directory mlflow.xgboost.save_model wrote, or models:/NAME/VERSION."
        )
    return p.resolve()


def read_mlmodel(path: str | Path) -> MLmodel:
    """Parse the ``MLmodel`` file of the model directory ``path`` (safe YAML only)."""
    import yaml

    directory = model_directory(path)
    raw = (directory / MLMODEL).read_bytes()
    if len(raw) > _MAX_MLMODEL_BYTES:
        raise InvalidInputError(f"{directory / MLMODEL} is {len(raw)} bytes; not an MLmodel file.")
    try:
        doc = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        raise InvalidInputError(f"{directory / MLMODEL} is not valid YAML: {e}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("flavors"), dict):
        raise InvalidInputError(f"{directory / MLMODEL} has no 'flavors' mapping.")
    flavors = {str(k): v if isinstance(v, dict) else {} for k, v in doc["flavors"].items()}
    raw_metadata = doc.get("metadata")
    metadata: dict[str, Any] = raw_metadata if isinstance(raw_metadata, dict) else {}
    return MLmodel(
        path=directory,
        flavors=flavors,
        metadata=metadata,
        run_id=_text(doc.get("run_id")),
        model_id=_text(doc.get("model_id")),
        mlflow_version=_text(doc.get("mlflow_version")),
        inputs=_signature_inputs(doc.get("signature")),
    )


def read_xgboost_model(path: str | Path) -> XGBoostModelFile:
    """The xgboost flavor's booster file of the model at ``path``, refused unless safe.

    Raises:
        RefusedModelError: no xgboost flavor (the flavors found are named), or a data
            file that is a pickle or neither UBJSON nor JSON (legacy binary, ...).
        InvalidInputError: not an MLflow model directory, or a data path that leaves it.
    """
    mlmodel = read_mlmodel(path)
    conf = mlmodel.flavors.get("xgboost")
    if conf is None:
        raise RefusedModelError(
            f"The MLflow model at {mlmodel.path} has no xgboost flavor (found: "
            f"{mlmodel.flavor_summary()}). rayops imports only XGBoost boosters saved as "
            "UBJSON or JSON and never unpickles (scikit-learn and pyfunc flavors are "
            f"pickles). {_RESAVE}"
        )
    rel = conf.get("data")
    if not isinstance(rel, str) or not rel:
        raise InvalidInputError(
            f"The xgboost flavor of {mlmodel.path / MLMODEL} names no data file."
        )
    file = _inside(mlmodel.path, rel)
    declared = _text(conf.get("model_format"))
    what = (
        f"The xgboost flavor's data file {rel} (model_format {declared or 'not given'}) of "
        f"{mlmodel.path}"
    )
    data = file.read_bytes()
    try:
        fmt = sniff_format(data, what)
    except UnsafeArtifactError as e:
        raise RefusedModelError(f"{e} {_RESAVE}") from None
    return XGBoostModelFile(
        mlmodel=mlmodel,
        file=rel,
        data=data,
        format=fmt,
        declared_format=declared,
        model_class=_text(conf.get("model_class")),
    )


def read_json_inside(directory: Path, rel: str, what: str) -> dict[str, Any]:
    """A JSON object stored in the model directory (e.g. rayops' card), or an error."""
    try:
        doc = json.loads(_inside(directory, rel).read_bytes())
    except ValueError as e:
        raise InvalidInputError(f"{what} ({rel}) is not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise InvalidInputError(f"{what} ({rel}) is not a JSON object.")
    return doc


def _inside(directory: Path, rel: str) -> Path:
    """``directory / rel`` if it is a regular file inside ``directory`` (symlinks resolved)."""
    candidate = (directory / rel).resolve()
    if Path(rel).is_absolute() or not candidate.is_relative_to(directory):
        raise InvalidInputError(
            f"The MLflow model at {directory} names {rel!r}, which lies outside it; refused."
        )
    if not candidate.is_file():
        raise InvalidInputError(f"The MLflow model at {directory} names {rel!r}, which is missing.")
    return candidate


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _signature_inputs(signature: Any) -> list[str] | None:
    """Column names of a column-based input signature (None for tensors or none)."""
    if not isinstance(signature, dict) or not isinstance(signature.get("inputs"), str):
        return None
    try:
        cols = json.loads(signature["inputs"])
    except ValueError:
        return None
    if not isinstance(cols, list):
        return None
    names = [c.get("name") for c in cols if isinstance(c, dict)]
    if not names or not all(isinstance(n, str) for n in names):
        return None
    return [str(n) for n in names]
