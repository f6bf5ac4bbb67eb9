"""The manifest of one feature-set version, and the small models inside it.

A manifest is ``features/<name>/<version>/manifest.json``. It is written last, with
put-if-absent, so its presence is what makes a version exist: a reader that finds
it can trust every file it lists.

Example:
    >>> ref = parse_ref("churn@3")
    >>> ref.name, ref.version
    ('churn', 3)
    >>> parse_ref("churn").version is None
    True
"""

from __future__ import annotations

import enum
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from rayops.errors import InvalidInputError
from rayops.names import validate_name

__all__ = [
    "MANIFEST_FORMAT",
    "CategoryCount",
    "Column",
    "ColumnStats",
    "Expectations",
    "ExpectationKind",
    "FeatureRef",
    "FeatureSetVersion",
    "Quality",
    "Range",
    "Retyped",
    "Roles",
    "SchemaChanges",
    "Violation",
    "parse_ref",
]

#: Bumped when the manifest layout changes incompatibly.
MANIFEST_FORMAT = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Column(_Model):
    """One column of a feature set: its name and Arrow type (as ``str(pa.DataType)``)."""

    name: str
    type: str


class TargetTask(_Model):
    """What a target column is for: its learning task and, for a classifier, its classes.

    ``task`` is ``regression``, ``binary`` or ``multiclass``; ``None`` when the data
    cannot tell (integers with few distinct values may be labels or counts: name the
    task at ingest or at training). ``classes`` are the sorted distinct labels, the
    order a classifier's outputs take (:class:`rayops.tasks.Labels`).
    """

    task: str | None = None
    classes: list[str | int | float | bool] | None = None
    note: str | None = None


class Roles(_Model):
    """Which columns play which part: entity keys, the event time, the targets, and
    what each target is for (``target_tasks``; empty in versions written before it)."""

    entity: list[str] = Field(default_factory=list)
    event_time: str | None = None
    target: list[str] = Field(default_factory=list)
    target_tasks: dict[str, TargetTask] = Field(default_factory=dict)

    def columns(self) -> list[str]:
        return [*self.entity, *([self.event_time] if self.event_time else []), *self.target]


class CategoryCount(_Model):
    value: str | int | float | bool
    count: int


class ColumnStats(_Model):
    """Statistics of one column over the whole version.

    ``kind`` is ``numeric`` (min/max/mean/std), ``categorical`` (distinct count and
    top values), ``temporal`` (min/max as ISO strings) or ``other`` (nulls only).
    """

    kind: str
    count: int
    null_count: int
    null_ratio: float
    nan_count: int | None = None
    min: float | int | str | None = None
    max: float | int | str | None = None
    mean: float | None = None
    std: float | None = None
    distinct_count: int | None = None
    distinct_is_lower_bound: bool = False
    top_values: list[CategoryCount] | None = None


class Range(_Model):
    """Inclusive bounds for a numeric column; either end may be open."""

    min: float | None = None
    max: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_pair(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            if len(value) != 2:
                raise ValueError("a range is [min, max]")
            return {"min": value[0], "max": value[1]}
        return value


class Expectations(_Model):
    """Declared data-quality expectations, checked on every write.

    Example:
        >>> Expectations(not_null=["id"], ranges={"age": [0, 120]},
        ...              allowed_values={"country": ["FR", "DE"]},
        ...              max_null_ratio={"*": 0.5}).ranges["age"].max
        120.0
    """

    not_null: list[str] = Field(default_factory=list)
    ranges: dict[str, Range] = Field(default_factory=dict)
    allowed_values: dict[str, list[str | int | float | bool]] = Field(default_factory=dict)
    #: Per column; the key ``"*"`` applies to every column not named.
    max_null_ratio: dict[str, float] = Field(default_factory=dict)

    @field_validator("max_null_ratio")
    @classmethod
    def _ratios(cls, value: dict[str, float]) -> dict[str, float]:
        for col, ratio in value.items():
            if not 0.0 <= ratio <= 1.0:
                raise ValueError(f"max_null_ratio for {col!r} must be within [0, 1]")
        return value

    def columns(self) -> set[str]:
        names = set(self.not_null) | set(self.ranges) | set(self.allowed_values)
        return names | {c for c in self.max_null_ratio if c != "*"}


class ExpectationKind(enum.StrEnum):
    COLUMN_PRESENT = "column_present"
    NOT_NULL = "not_null"
    RANGE = "range"
    ALLOWED_VALUES = "allowed_values"
    MAX_NULL_RATIO = "max_null_ratio"


class Violation(_Model):
    """One expectation the data breaks, with how many rows break it."""

    expectation: ExpectationKind
    column: str
    count: int
    message: str


class Retyped(_Model):
    name: str
    old: str
    new: str


class SchemaChanges(_Model):
    """How this version's columns differ from its parent version's."""

    added: list[Column] = Field(default_factory=list)
    removed: list[Column] = Field(default_factory=list)
    retyped: list[Retyped] = Field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.retyped)


class Quality(_Model):
    """What the write-time checks found. Violations never block a non-strict write."""

    schema_changes: SchemaChanges = Field(default_factory=SchemaChanges)
    expectations: Expectations | None = None
    violations: list[Violation] = Field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.violations


# ``schema`` is the natural name of a field here, though BaseModel has a deprecated
# ``schema()`` classmethod: the instance attribute wins, and the warning is noise.
warnings.filterwarnings("ignore", message='Field name "schema"', category=UserWarning)


class FeatureSetVersion(_Model):
    """One immutable version of a feature set: what ``manifest.json`` holds.

    ``ref`` (``"name@3"``) is what :meth:`FeatureStore.read` and friends take.
    ``reused`` is True when the write that returned it found identical content
    already stored (it is not saved in the manifest).
    """

    format: int = MANIFEST_FORMAT
    name: str
    version: int = Field(ge=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    created_at: datetime
    row_count: int = Field(ge=0)
    schema: list[Column]  # type: ignore[assignment]
    roles: Roles = Field(default_factory=Roles)
    stats: dict[str, ColumnStats] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    description: str = ""
    parent_version: int | None = None
    quality: Quality = Field(default_factory=Quality)
    #: Part files, relative to the version folder, in row order.
    files: list[str] = Field(default_factory=list)

    _reused: bool = PrivateAttr(default=False)

    @field_validator("created_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def columns(self) -> list[str]:
        return [c.name for c in self.schema]

    @property
    def reused(self) -> bool:
        return self._reused

    def to_json(self) -> dict[str, Any]:
        """The manifest as a JSON-ready dict."""
        return self.model_dump(mode="json", exclude_none=True)


@dataclass(frozen=True)
class FeatureRef:
    """A parsed ``name`` or ``name@version`` reference."""

    name: str
    version: int | None = None

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name}@{self.version}"


def parse_ref(ref: str) -> FeatureRef:
    """Split ``"name"``, ``"name@3"`` or ``"name@latest"``; raise InvalidInputError if malformed."""
    if not isinstance(ref, str):
        raise InvalidInputError(
            f"A feature-set reference must be a string, got {type(ref).__name__}."
        )
    name, sep, version = ref.partition("@")
    validate_name(name, "feature set name")
    if not sep or version == "latest":
        return FeatureRef(name)
    if not version.isdigit() or int(version) < 1:
        raise InvalidInputError(
            f"{ref!r} is not a valid feature-set reference: use 'name' or 'name@N' with N >= 1."
        )
    return FeatureRef(name, int(version))
