"""What the registry stores about a model version, as validated pydantic documents.

* :class:`ModelCard` -- the immutable description written once per version
  (``models/<name>/<semver>/card.json``, the last object of a registration).
* :class:`EnsembleSpec` -- the definition of an ensemble registered as a model.
* :class:`Lineage`, :class:`Artifact` -- parts of the card.
* :class:`ModelVersion` -- a card together with its current stage and aliases.

Example:
    >>> spec = EnsembleSpec(kind="weighted", members=["a@1.0.0", "b@1.0.0"], weights=[3, 1])
    >>> spec.normalized_weights()
    [0.75, 0.25]
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rayops.errors import InvalidInputError
from rayops.registry.lifecycle import Stage
from rayops.tasks import Labels, TaskKind

__all__ = [
    "ADAPTIVE_KINDS",
    "AdaptiveSettings",
    "Artifact",
    "EnsembleSpec",
    "Lineage",
    "ModelCard",
    "ModelVersion",
    "UncertaintyRef",
    "jsonable",
    "validated",
]

M = TypeVar("M", bound=BaseModel)

_STRICT = ConfigDict(extra="forbid")


class Lineage(BaseModel):
    """The data a model was trained on: a feature set version and its content hash."""

    model_config = _STRICT

    feature_set: str = Field(description="Feature set name.")
    version: int = Field(ge=0, description="Feature set version.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="Content hash of that version.")
    rows: int = Field(ge=0, description="Rows used for training.")


class UncertaintyRef(BaseModel):
    """What the version's uncertainty artifact (``uncertainty.json``) holds, and its hash.

    Regression: conformal ``intervals`` (split or Mondrian over ``context``).
    Classification: the probability ``calibration`` (method, log loss and ECE before and
    after, reliability curves) and conformal prediction ``sets``.
    """

    model_config = _STRICT

    file: Literal["uncertainty.json"] = "uncertainty.json"
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    source: str = Field(description="Where the calibration rows came from: holdout, cv.")
    rows: int = Field(ge=0)
    intervals: str | None = Field(default=None, description="split or mondrian (regression).")
    context: list[str] = Field(default_factory=list, description="Mondrian context columns.")
    calibration: dict[str, Any] | None = Field(
        default=None, description="Method, logloss/ece before and after, reliability curves."
    )
    sets: bool = Field(default=False, description="Conformal prediction sets available.")


class Artifact(BaseModel):
    """The stored model file: where it is, its format, size and SHA-256."""

    model_config = _STRICT

    file: Literal["model.ubj", "model.json", "ensemble.json"]
    format: Literal["xgboost-ubj", "xgboost-json", "ensemble-json"]
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


#: Ensemble kinds whose combination follows the members' recent errors.
ADAPTIVE_KINDS = ("dynamic", "voting")

_TARGET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class AdaptiveSettings(BaseModel):
    """Per-ensemble overrides of the stats settings of dynamic and voting ensembles.

    Unset fields take the ``serving_ensemble_*`` settings; ``bins`` gives the
    edges of numeric context columns (default: the quartiles of the members'
    training baseline, else of the logged rows).
    """

    model_config = _STRICT

    half_life_s: float | None = Field(default=None, gt=0)
    window_s: float | None = Field(default=None, gt=0)
    min_rows: int | None = Field(default=None, ge=1)
    bins: dict[str, list[float]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _sorted(self) -> AdaptiveSettings:
        for column, edges in self.bins.items():
            if not edges or any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
                raise ValueError(f"bins of {column!r} must be a non-empty increasing list")
        return self


class EnsembleSpec(BaseModel):
    """An ensemble of registered versions, registered and served like any model.

    * ``weighted``: the weighted mean of the members' predictions (``weights``,
      equal when omitted).
    * ``stacked``: ``meta`` is a registered booster trained on the members'
      out-of-fold predictions, one column per member named by its ``name@version``.
    * ``dynamic``: per row, the member with the lowest recent error (decayed mean
      squared error, from feedback) in the row's ``context`` segment. Serving
      does the selection from the stats :mod:`rayops.serving.ensembles` keeps;
      without stats (and in the registry's predictor) it is the weighted mean.
    * ``voting``: confidence-weighted voting: the members' mean weighted by
      1 / recent mean squared error, per ``context`` segment (one segment when
      ``context`` is empty); without stats, the weighted mean (``weights``).
    * ``multi_target``: one member per target (``targets[i]`` is predicted by
      ``members[i]``); a request gets every target. ``targets[0]`` is the
      primary target, the one single-valued readers (``predict``, the
      ``prediction`` log column) see.

    ``settings`` of a dynamic or voting ensemble override the stats defaults:
    ``half_life_s``, ``window_s``, ``min_rows`` and ``bins`` (``{column: [edges]}``
    for numeric context columns).

    Members are ``name@version`` references; aliases are resolved to fixed
    versions at registration so an ensemble never changes under its users.
    """

    model_config = _STRICT

    kind: Literal["stacked", "dynamic", "weighted", "voting", "multi_target"]
    members: list[str] = Field(min_length=1)
    weights: list[float] | None = Field(default=None, description="One weight >= 0 per member.")
    meta: str | None = Field(default=None, description="stacked: name@version of the meta model.")
    context: list[str] = Field(
        default_factory=list, description="dynamic, voting: context columns (segments)."
    )
    targets: list[str] | None = Field(
        default=None, description="multi_target: the target each member predicts, in order."
    )
    settings: dict[str, Any] = Field(
        default_factory=dict, description="dynamic, voting: overrides of the stats settings."
    )

    @model_validator(mode="after")
    def _consistent(self) -> EnsembleSpec:
        if len(set(self.members)) != len(self.members):
            raise ValueError("ensemble members must be distinct")
        if self.weights is not None:
            if len(self.weights) != len(self.members):
                raise ValueError(
                    f"{len(self.weights)} weights for {len(self.members)} members; give one each"
                )
            if any(w < 0 for w in self.weights) or sum(self.weights) <= 0:
                raise ValueError("weights must be >= 0 and not all zero")
        if self.kind == "stacked" and not self.meta:
            raise ValueError("a stacked ensemble needs meta='name@version' of its meta model")
        if self.kind != "stacked" and self.meta:
            raise ValueError(f"meta is only used by stacked ensembles, not {self.kind}")
        if self.context and self.kind not in ADAPTIVE_KINDS:
            raise ValueError(
                f"context is only used by dynamic and voting ensembles, not {self.kind}"
            )
        if len(set(self.context)) != len(self.context):
            raise ValueError("context columns must be distinct")
        if self.kind == "multi_target":
            if self.targets is None or len(self.targets) != len(self.members):
                raise ValueError("a multi_target ensemble needs one target name per member")
            if len(set(self.targets)) != len(self.targets):
                raise ValueError("target names must be distinct")
            bad = [t for t in self.targets if not _TARGET.fullmatch(t)]
            if bad:
                raise ValueError(f"target {bad[0]!r} must be letters, digits, '_', '.' or '-'")
            if self.weights is not None:
                raise ValueError("a multi_target ensemble has no weights")
        elif self.targets is not None:
            raise ValueError(f"targets are only used by multi_target ensembles, not {self.kind}")
        if self.settings and self.kind not in ADAPTIVE_KINDS:
            raise ValueError("settings are only used by dynamic and voting ensembles")
        AdaptiveSettings.model_validate(self.settings)
        return self

    @property
    def primary_target(self) -> str | None:
        """The target single-valued readers see (multi_target), else None."""
        return self.targets[0] if self.targets else None

    def adaptive_settings(self) -> AdaptiveSettings:
        """``settings`` parsed (dynamic and voting ensembles)."""
        return AdaptiveSettings.model_validate(self.settings)

    def normalized_weights(self) -> list[float]:
        """Weights that sum to 1 (equal when none were given)."""
        raw = self.weights or [1.0] * len(self.members)
        total = float(sum(raw))
        return [w / total for w in raw]


class ModelCard(BaseModel):
    """Everything known about one registered version; written once, never edited.

    The current stage lives beside it (it changes); ``stage`` here is the stage
    the version was registered in.
    """

    model_config = _STRICT

    name: str
    version: str
    kind: Literal["booster", "ensemble"]
    task: TaskKind = Field(
        default=TaskKind.REGRESSION, description="regression, binary or multiclass."
    )
    classes: list[str | bool | int] | None = Field(
        default=None,
        description="A classifier's classes as in training; their order is the output order.",
    )
    objective: str | None = Field(default=None, description="The XGBoost objective.")
    threshold: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description=(
            "binary: the decision threshold on the second class's probability at "
            "registration (default 0.5); `rayops models set-threshold` changes it later."
        ),
    )
    target: str | None = Field(default=None, description="The target column it was trained on.")
    params: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, float | None | dict[str, float | None]] = Field(
        default_factory=dict,
        description="Flat ({'rmse': 1.2}) or per split ({'cv': {'rmse': 1.2}, 'holdout': ...}).",
    )
    features: list[str] = Field(default_factory=list)
    feature_types: list[str] | None = None
    lineage: Lineage | None = None
    baseline: dict[str, Any] | None = Field(
        default=None, description="Training statistics per feature (baseline_from_frame)."
    )
    uncertainty: UncertaintyRef | None = Field(
        default=None, description="Conformal intervals / calibration and sets, if fitted."
    )
    importance: dict[str, dict[str, float]] | None = Field(
        default=None,
        description=(
            "Global feature importance: mean_abs_contribution (on the holdout), gain, weight; "
            "each a {feature: score}."
        ),
    )
    run_id: str | None = None
    parent: str | None = Field(default=None, description="name@version this one derives from.")
    bump: Literal["major", "minor", "patch"]
    stage: Stage = Field(description="Stage at registration.")
    created_at: datetime
    author: str | None = None
    description: str = ""
    artifact: Artifact
    ensemble: EnsembleSpec | None = None
    library_versions: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _task(self) -> ModelCard:
        classification = self.task is not TaskKind.REGRESSION
        if classification and not self.classes:
            raise ValueError(f"a {self.task.value} model needs its classes")
        if not classification and self.classes:
            raise ValueError("a regression model has no classes")
        if self.classes is not None:
            Labels(self.classes)  # distinct, one type, at least two
            if self.task is TaskKind.BINARY and len(self.classes) != 2:
                raise ValueError(f"a binary model has two classes, not {len(self.classes)}")
            if self.task is TaskKind.MULTICLASS and len(self.classes) < 3:
                raise ValueError("a multiclass model has at least three classes")
        if self.threshold is not None and self.task is not TaskKind.BINARY:
            raise ValueError("only a binary model has a decision threshold")
        return self

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def labels(self) -> Labels | None:
        """The classes as :class:`~rayops.tasks.Labels` (None for regression)."""
        return Labels(self.classes) if self.classes else None


class ModelVersion(BaseModel):
    """A registered version as callers see it: its card, current stage and aliases."""

    model_config = _STRICT

    name: str
    version: str
    stage: Stage
    aliases: list[str] = Field(default_factory=list)
    card: ModelCard
    threshold: float | None = Field(
        default=None, description="binary: the decision threshold in force now."
    )

    @property
    def ref(self) -> str:
        """``name@version``, the string every registry call accepts."""
        return f"{self.name}@{self.version}"


def jsonable(value: Any) -> Any:
    """Plain JSON values from numpy scalars/arrays and nested containers."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalar or array
        return jsonable(value.tolist())
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def validated(model: type[M], data: Any, what: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or what
        raise InvalidInputError(f"Invalid {what}: {where}: {first['msg']}.") from None
