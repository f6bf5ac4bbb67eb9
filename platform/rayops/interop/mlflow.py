"""Registered models to and from MLflow: the xgboost flavor, UBJSON both ways, no pickles.

**Export** (:func:`export_model`) writes a version as an MLflow model of the
``xgboost`` flavor (``model.ubj``, the very bytes the registry verified) inside
one MLflow run of the experiment ``registry_mlflow_experiment`` ("rayops"):

* params: the card's ``params`` (non-strings as JSON);
* metrics: the card's ``metrics``, nested ones flattened (``cv.rmse_mean``);
* tags (on the run, the logged model and a registered version): ``rayops.ref``,
  ``rayops.task``, ``rayops.classes`` (JSON), ``rayops.objective``,
  ``rayops.threshold`` (in force), ``rayops.target``, ``rayops.features`` (JSON),
  ``rayops.lineage.*``, ``rayops.run_id``, ``rayops.rayops_version``, ``rayops.sha256``;
* the MLmodel's ``metadata.rayops``: the same summary, the booster's SHA-256 and
  the path of the whole card (``extra_files/rayops_card.json``, baseline and
  importance included), so an import restores the card exactly;
* an input signature (one ``double`` column per feature) unless a feature is
  categorical.

``register_as=NAME`` also creates a version in the MLflow model registry (file
stores and tracking servers both have one). **Ensembles are refused**, naming the
boosters that can be exported: MLflow's xgboost flavor holds one booster, and a
pyfunc wrapper would be a pickle (or code that imports rayops) -- exactly what an
import here refuses.

**Import** (:func:`import_model`) takes ``models:/NAME/VERSION``,
``models:/NAME@ALIAS``, ``runs:/RUN_ID/PATH`` (downloaded from the tracking
store: files only, nothing loaded) or a local model directory, checks it with
:mod:`rayops.interop.mlmodel` (xgboost flavor, UBJSON or JSON bytes, never a
pickle) and registers the booster as the next version. A rayops export brings
its card back; any other model gets MLflow's params, metrics and ``rayops.*``
tags, and the registry infers the task from the objective.

Example:
    >>> from rayops.interop.mlflow import metric_key, param_value
    >>> metric_key("recall[churned]"), param_value(0.1), param_value("hist")
    ('recall_churned_', '0.1', 'hist')
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from rayops._version import __version__
from rayops.errors import InvalidInputError, UnsafeArtifactError
from rayops.interop._session import (
    experiment_id_for,
    mlflow_session,
    quiet_stdout,
    shown_uri,
    tracking_uri,
)
from rayops.interop.mlmodel import (
    XGBoostModelFile,
    read_json_inside,
    read_xgboost_model,
)
from rayops.registry.artifacts import booster_bytes, sha256_hex, verify_sha256
from rayops.registry.card import Lineage, ModelCard, ModelVersion, validated

if TYPE_CHECKING:
    import xgboost as xgb

    from rayops.registry import Registry

__all__ = [
    "CARD_FILE",
    "MlflowModelExport",
    "MlflowModelImport",
    "export_model",
    "import_model",
    "metric_key",
    "param_value",
]

#: Where an export keeps the whole card, relative to the MLflow model directory.
CARD_FILE = "extra_files/rayops_card.json"

_STRICT = ConfigDict(extra="forbid")
_MAX_PARAM = 6000  # MLflow's limits on a param value and a tag value
_MAX_TAG = 8000
_MAX_KEY = 250


class MlflowModelExport(BaseModel):
    """Where :func:`export_model` put a version."""

    model_config = _STRICT

    ref: str
    tracking_uri: str
    experiment_id: str
    run_id: str
    model_id: str | None
    model_uri: str
    registered_name: str | None = None
    registered_version: str | None = None
    sha256: str


class MlflowModelImport(BaseModel):
    """What :func:`import_model` registered, and from what."""

    model_config = _STRICT

    ref: str
    source: str
    file: str
    format: str
    declared_format: str | None
    from_rayops: bool
    mlflow_run_id: str | None
    mlflow_model_id: str | None
    task: str
    classes: list[str | bool | int] | None
    features: int


# --- names and values in MLflow's rules ------------------------------------------------
def metric_key(name: str) -> str:
    """``name`` as an MLflow param/metric key: other characters than letters, digits,
    ``_ - . / :`` and spaces become ``_``."""
    key = re.sub(r"[^\w./\- :]", "_", name).strip("/") or "_"
    return re.sub(r"/+", "/", key)[:_MAX_KEY]


def param_value(value: Any) -> str:
    """A param value as MLflow stores it: strings as they are, the rest as JSON."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text[:_MAX_PARAM]


def _flat_metrics(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in metrics.items():
        if isinstance(v, Mapping):
            out.update(_flat_metrics(v, f"{prefix}{k}."))
        elif isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
            out[metric_key(f"{prefix}{k}")] = float(v)
    return out


def _summary(mv: ModelVersion, sha256: str) -> dict[str, Any]:
    """The card's facts an MLflow user searches by (tags) and an import restores."""
    card = mv.card
    lineage = card.lineage.model_dump() if card.lineage else None
    return {
        "ref": mv.ref,
        "name": mv.name,
        "version": mv.version,
        "rayops_version": __version__,
        "task": card.task.value,
        "classes": card.classes,
        "objective": card.objective,
        "threshold": mv.threshold,
        "target": card.target,
        "features": card.features,
        "feature_types": card.feature_types,
        "lineage": lineage,
        "run_id": card.run_id,
        "sha256": sha256,
        "card": CARD_FILE,
    }


def _tags(summary: Mapping[str, Any], mv: ModelVersion) -> dict[str, str]:
    tags = {
        "rayops.ref": summary["ref"],
        "rayops.model": summary["name"],
        "rayops.model_version": summary["version"],
        "rayops.rayops_version": summary["rayops_version"],
        "rayops.task": summary["task"],
        "rayops.stage": mv.stage.value,
        "rayops.sha256": summary["sha256"],
        "rayops.n_features": str(len(summary["features"])),
    }
    optional = {
        "rayops.classes": summary["classes"],
        "rayops.objective": summary["objective"],
        "rayops.threshold": summary["threshold"],
        "rayops.target": summary["target"],
        "rayops.run_id": summary["run_id"],
        "rayops.features": summary["features"],
        **{f"rayops.lineage.{k}": v for k, v in (summary["lineage"] or {}).items()},
    }
    for key, value in optional.items():
        text = None if value is None else param_value(value)
        if text is not None and len(text) < _MAX_TAG:  # long feature lists: in the card only
            tags[key] = text
    return tags


def _signature(card: ModelCard) -> Any:
    """One ``double`` input column per feature; None when a feature is categorical."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    if not card.features or "c" in (card.feature_types or []):
        return None
    return ModelSignature(inputs=Schema([ColSpec("double", f) for f in card.features]))


def _ensemble_refusal(mv: ModelVersion) -> InvalidInputError:
    spec = mv.card.ensemble
    members = list(spec.members) if spec else []
    if spec is not None and spec.meta:
        members.append(spec.meta)
    kind = spec.kind if spec else "ensemble"
    return InvalidInputError(
        f"{mv.ref} is a {kind} ensemble; MLflow's xgboost flavor holds one booster, and "
        "rayops exports no pyfunc wrapper (it would be a pickle, or code that needs rayops "
        f"to load). Export its boosters instead: "
        + ", ".join(f"rayops models export {m} --mlflow URI" for m in members)
        + f". The ensemble's definition is in `rayops models show {mv.ref}`."
    )


# --- export ----------------------------------------------------------------------------
def export_model(
    registry: Registry,
    ref: str,
    uri: str,
    *,
    register_as: str | None = None,
    experiment: str | None = None,
) -> MlflowModelExport:
    """Write ``ref`` to the MLflow tracking store at ``uri`` as an xgboost-flavor model.

    ``uri`` is a directory or ``file:///path`` (a local file store) or a tracking
    server's URL. The booster goes through the registry's checks (SHA-256, format)
    before it is written.

    Raises:
        InvalidInputError: ``ref`` is an ensemble (the members are named), or MLflow
            refused a value.
        NotFoundError: no such model or version.

    Example:
        >>> export_model(reg, "churn@production", "/tmp/mlruns",  # doctest: +SKIP
        ...              register_as="churn").registered_version
        '1'
    """
    mv = registry.get(ref)
    if mv.card.kind != "booster":
        raise _ensemble_refusal(mv)
    predictor = registry.load(mv.ref)  # verified against the card's SHA-256
    booster = getattr(predictor, "booster")  # noqa: B009 (a Predictor: kind is booster)
    data = booster_bytes(booster)
    summary = _summary(mv, sha256_hex(data))
    tags = _tags(summary, mv)
    settings = registry.settings.registry
    store = tracking_uri(uri)
    with mlflow_session(store), tempfile.TemporaryDirectory() as tmp, quiet_stdout():
        import mlflow
        import mlflow.xgboost
        import xgboost as xgb

        card_file = Path(tmp) / Path(CARD_FILE).name
        card_file.write_text(json.dumps(mv.card.model_dump(mode="json"), sort_keys=True))
        client = mlflow.MlflowClient()
        experiment_id = experiment_id_for(client, experiment or settings.mlflow_experiment)
        with mlflow.start_run(experiment_id=experiment_id, run_name=mv.ref, tags=tags) as run:
            mlflow.log_params({metric_key(k): param_value(v) for k, v in mv.card.params.items()})
            mlflow.log_metrics(_flat_metrics(mv.card.metrics))
            info = mlflow.xgboost.log_model(
                booster,
                name="model",
                model_format="ubj",
                signature=_signature(mv.card),
                metadata={"rayops": summary},
                extra_files=[str(card_file)],
                pip_requirements=[f"xgboost=={xgb.__version__}"],
                registered_model_name=register_as,
                await_registration_for=settings.mlflow_await_registration_s,
                tags=tags,
            )
        version = getattr(info, "registered_model_version", None)
        return MlflowModelExport(
            ref=mv.ref,
            tracking_uri=shown_uri(store),
            experiment_id=experiment_id,
            run_id=run.info.run_id,
            model_id=getattr(info, "model_id", None),
            model_uri=f"models:/{register_as}/{version}" if version else info.model_uri,
            registered_name=register_as if version else None,
            registered_version=str(version) if version else None,
            sha256=summary["sha256"],
        )


# --- import ----------------------------------------------------------------------------
@dataclass
class _Origin:
    """What the tracking store says about an imported model (empty for a local directory)."""

    run_id: str | None = None
    model_id: str | None = None
    registered: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


def _is_remote(source: str) -> bool:
    return ":/" in source and not source.startswith("file:")


def _local_path(source: str) -> Path:
    if source.startswith("file:"):
        from urllib.parse import unquote, urlsplit

        return Path(unquote(urlsplit(source).path))
    return Path(source)


def _registered_version(client: Any, rest: str) -> Any | None:
    """The registry's model version for the part of ``models:/`` after the slash."""
    if "@" in rest:
        name, alias = rest.split("@", 1)
        return client.get_model_version_by_alias(name, alias)
    if "/" not in rest:
        return None  # models:/<model_id>: a logged model, not a registered version
    name, version = rest.rsplit("/", 1)
    if version.lower() == "latest":
        versions = client.search_model_versions(f"name='{name}'")
        if not versions:
            return None
        return max(versions, key=lambda v: int(v.version))
    return client.get_model_version(name, version)


def _origin(client: Any, source: str) -> _Origin:
    """Run, logged model and registered version behind ``models:/...`` or ``runs:/...``."""
    out = _Origin()
    if source.startswith("models:/"):
        rest = source.removeprefix("models:/").strip("/")
        mv = _registered_version(client, rest)
        if mv is not None:
            out.run_id, out.model_id = mv.run_id, getattr(mv, "model_id", None)
            out.registered = f"{mv.name}/{mv.version}"
            version_tags = dict(mv.tags or {})
        else:
            out.model_id, version_tags = (rest if "/" not in rest else None), {}
    elif source.startswith("runs:/"):
        out.run_id, version_tags = source.removeprefix("runs:/").split("/", 1)[0], {}
    else:
        return out
    if out.run_id:
        data = client.get_run(out.run_id).data
        out.params, out.metrics, out.tags = dict(data.params), dict(data.metrics), dict(data.tags)
    if out.model_id:
        logged = client.get_logged_model(out.model_id)
        out.run_id = out.run_id or logged.source_run_id
        out.params.update(logged.params or {})
        out.metrics.update({m.key: m.value for m in logged.metrics or []})
        out.tags.update(logged.tags or {})
    out.tags.update(version_tags)
    return out


@contextlib.contextmanager
def _materialized(source: str, uri: str | None) -> Iterator[tuple[Path, _Origin]]:
    """The model directory ``source`` names (downloaded if remote) and its origin."""
    if not _is_remote(source):
        yield _local_path(source), _Origin()
        return
    store = uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not store:
        raise InvalidInputError(
            f"{source} lives in an MLflow tracking store: give --tracking-uri URI "
            "(a directory or server URL) or set MLFLOW_TRACKING_URI."
        )
    with mlflow_session(tracking_uri(store)) as mlflow, tempfile.TemporaryDirectory() as tmp:
        from mlflow.artifacts import download_artifacts

        client = mlflow.MlflowClient()
        origin = _origin(client, source)
        with quiet_stdout():
            local = download_artifacts(artifact_uri=source, dst_path=tmp)
        yield Path(local), origin


def _parsed(value: str) -> Any:
    """An MLflow param (always a string) as the JSON value it spells, else the string."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def _booster(found: XGBoostModelFile) -> xgb.Booster:
    """The checked UBJSON/JSON bytes as a booster (XGBoost's own parser, no pickle)."""
    import xgboost as xgb

    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(found.data))
    except xgb.core.XGBoostError as e:
        raise UnsafeArtifactError(
            f"{found.file} of {found.mlmodel.path} could not be read by XGBoost: {e}"
        ) from None
    return booster


def _rayops_card(found: XGBoostModelFile) -> tuple[dict[str, Any], ModelCard | None]:
    """The summary and card a rayops export left in the model (empty, None otherwise)."""
    exported = found.mlmodel.metadata.get("rayops")
    if not isinstance(exported, dict):
        return {}, None
    if isinstance(exported.get("sha256"), str):
        verify_sha256(found.data, exported["sha256"], f"{found.file} of {found.mlmodel.path}")
    rel = exported.get("card")
    if not isinstance(rel, str):
        return exported, None
    doc = read_json_inside(found.mlmodel.path, rel, "The rayops card of this MLflow model")
    return exported, validated(ModelCard, doc, "rayops card in the MLflow model")


def _from_tags(tags: Mapping[str, str]) -> dict[str, Any]:
    """Card fields that ``rayops.*`` tags carry (a rayops export without its card file)."""
    out: dict[str, Any] = {}
    if "rayops.task" in tags:
        out["task"] = tags["rayops.task"]
    if "rayops.classes" in tags:
        out["classes"] = _parsed(tags["rayops.classes"])
    if "rayops.threshold" in tags:
        out["threshold"] = float(tags["rayops.threshold"])
    if "rayops.target" in tags:
        out["target"] = tags["rayops.target"]
    lineage = {k.removeprefix("rayops.lineage."): v for k, v in tags.items()
               if k.startswith("rayops.lineage.")}  # fmt: skip
    if lineage:
        out["lineage"] = validated(Lineage, lineage, "rayops.lineage.* tags")
    return out


def import_model(
    registry: Registry,
    source: str,
    *,
    name: str | None = None,
    uri: str | None = None,
    author: str | None = None,
) -> MlflowModelImport:
    """Register the MLflow xgboost model at ``source`` as the next version of ``name``.

    ``source`` is ``models:/NAME/VERSION`` (or ``@ALIAS``, ``/latest``, a logged
    model id), ``runs:/RUN_ID/PATH`` -- both resolved in the tracking store ``uri``
    (default ``$MLFLOW_TRACKING_URI``) -- or a local MLflow model directory. ``name``
    defaults to the exported rayops model's name, else the MLflow registered name.

    Raises:
        RefusedModelError: not an xgboost flavor, or its file is a pickle or neither
            UBJSON nor JSON (nothing is unpickled or executed).
        UnsafeArtifactError: a rayops export's booster no longer matches its SHA-256.
        InvalidInputError: no name to register under, or a card field that does not fit.

    Example:
        >>> import_model(reg, "models:/churn/3", uri="http://127.0.0.1:5000").ref  # doctest: +SKIP
        'churn@1.4.0'
    """
    with _materialized(source, uri) as (directory, origin):
        found = read_xgboost_model(directory)
        summary, card = _rayops_card(found)
        booster = _booster(found)
    target_name = name or summary.get("name") or (origin.registered or "").split("/")[0]
    if not target_name:
        raise InvalidInputError(
            f"Give --name NAME to import {source}: it is neither a rayops export nor a "
            "registered MLflow model."
        )
    features = list(booster.feature_names or [])
    if not features:
        n = booster.num_features()
        given = (card.features if card else None) or found.mlmodel.inputs or []
        features = list(given) if len(given) == n else [f"f{i}" for i in range(n)]
        booster.feature_names = features
    provenance = f"Imported from MLflow {source}" + (
        f" (run {origin.run_id or found.mlmodel.run_id})"
        if origin.run_id or found.mlmodel.run_id else ""
    )  # fmt: skip
    if card is not None:
        fields: dict[str, Any] = {
            "task": card.task,
            "classes": card.classes,
            "objective": card.objective,
            "threshold": summary.get("threshold", card.threshold),
            "target": card.target,
            "params": card.params,
            "metrics": card.metrics,
            "lineage": card.lineage,
            "baseline": card.baseline,
            "importance": card.importance,
            "feature_types": card.feature_types,
            "run_id": card.run_id,
            "description": f"{provenance}; exported from {card.ref}."
            + (f" {card.description}" if card.description else ""),
        }
    else:
        fields = {
            "params": {k: _parsed(v) for k, v in origin.params.items()},
            "metrics": {k: v for k, v in origin.metrics.items() if math.isfinite(v)},
            "description": provenance + ".",
            **_from_tags(origin.tags),
        }
    mv = registry.register(target_name, booster, features=features, author=author, **fields)
    return MlflowModelImport(
        ref=mv.ref,
        source=source,
        file=found.file,
        format=found.format,
        declared_format=found.declared_format,
        from_rayops=card is not None,
        mlflow_run_id=origin.run_id or found.mlmodel.run_id,
        mlflow_model_id=origin.model_id or found.mlmodel.model_id,
        task=mv.card.task.value,
        classes=mv.card.classes,
        features=len(mv.card.features),
    )
