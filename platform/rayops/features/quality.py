"""Write-time data quality: schema changes against the parent version and expectations.

Row-level expectations (ranges, allowed values) are counted batch by batch while
the data streams; null expectations are decided from the final null counts.

Example:
    >>> diff_schema([Column(name="a", type="int64")],
    ...             [Column(name="a", type="double"), Column(name="b", type="string")]).retyped
    [Retyped(name='a', old='int64', new='double')]
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from rayops.errors import InvalidInputError
from rayops.features.manifest import (
    Column,
    ColumnStats,
    ExpectationKind,
    Expectations,
    Retyped,
    SchemaChanges,
    Violation,
)

__all__ = ["ColumnChecker", "diff_schema", "null_violations", "validate_expectations"]

_EXAMPLES = 5


def diff_schema(old: list[Column] | None, new: list[Column]) -> SchemaChanges:
    """Columns added, removed or retyped going from ``old`` to ``new``."""
    if old is None:
        return SchemaChanges()
    before = {c.name: c.type for c in old}
    after = {c.name: c.type for c in new}
    return SchemaChanges(
        added=[c for c in new if c.name not in before],
        removed=[c for c in old if c.name not in after],
        retyped=[
            Retyped(name=n, old=before[n], new=t)
            for n, t in after.items()
            if n in before and before[n] != t
        ],
    )


def validate_expectations(exp: Expectations, schema: pa.Schema) -> None:
    """Reject expectations that cannot apply to a column's type (a caller mistake)."""
    for col in exp.ranges:
        if col in schema.names:
            t = schema.field(col).type
            if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)):
                raise InvalidInputError(
                    f"A range expectation needs a numeric column, but {col!r} is {t}; "
                    "remove it or use allowed_values."
                )


class ColumnChecker:
    """Counts the rows of one column that break its range or allowed-values expectation."""

    def __init__(self, name: str, exp: Expectations) -> None:
        self.name = name
        rng = exp.ranges.get(name)
        self.lo = rng.min if rng else None
        self.hi = rng.max if rng else None
        allowed = exp.allowed_values.get(name)
        self.allowed = allowed
        self.out_of_range = 0
        self.not_allowed = 0
        self.examples: list[object] = []

    @property
    def active(self) -> bool:
        return self.lo is not None or self.hi is not None or self.allowed is not None

    def update(self, arr: pa.Array) -> None:
        if self.lo is not None or self.hi is not None:
            bad = None
            if self.lo is not None:
                bad = pc.less(arr, self.lo)
            if self.hi is not None:
                above = pc.greater(arr, self.hi)
                bad = above if bad is None else pc.or_(bad, above)
            self.out_of_range += pc.sum(bad).as_py() or 0
        if self.allowed is not None:
            try:
                value_set = pa.array(self.allowed, type=arr.type)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
                raise InvalidInputError(
                    f"Allowed values for {self.name!r} do not fit its type {arr.type}: {e}"
                ) from e
            bad_mask = pc.and_(pc.is_valid(arr), pc.invert(pc.is_in(arr, value_set=value_set)))
            n_bad = pc.sum(bad_mask).as_py() or 0
            if n_bad:
                self.not_allowed += n_bad
                if len(self.examples) < _EXAMPLES:
                    for v in pc.unique(pc.filter(arr, bad_mask)).to_pylist():
                        if v not in self.examples and len(self.examples) < _EXAMPLES:
                            self.examples.append(v)

    def violations(self) -> list[Violation]:
        out = []
        if self.out_of_range:
            out.append(
                Violation(
                    expectation=ExpectationKind.RANGE,
                    column=self.name,
                    count=self.out_of_range,
                    message=(
                        f"{self.out_of_range} value(s) of {self.name!r} outside "
                        f"[{self.lo}, {self.hi}]"
                    ),
                )
            )
        if self.not_allowed:
            shown = ", ".join(repr(v) for v in self.examples)
            out.append(
                Violation(
                    expectation=ExpectationKind.ALLOWED_VALUES,
                    column=self.name,
                    count=self.not_allowed,
                    message=(
                        f"{self.not_allowed} value(s) of {self.name!r} not in the allowed "
                        f"values (e.g. {shown})"
                    ),
                )
            )
        return out


def null_violations(
    exp: Expectations, columns: list[str], stats: dict[str, ColumnStats]
) -> list[Violation]:
    """Missing columns, nulls in not-null columns and too-high null ratios."""
    out: list[Violation] = []
    for col in sorted(exp.columns() - set(columns)):
        out.append(
            Violation(
                expectation=ExpectationKind.COLUMN_PRESENT,
                column=col,
                count=0,
                message=f"column {col!r} is expected but missing",
            )
        )
    for col in exp.not_null:
        s = stats.get(col)
        if s is not None and s.null_count:
            out.append(
                Violation(
                    expectation=ExpectationKind.NOT_NULL,
                    column=col,
                    count=s.null_count,
                    message=f"{s.null_count} null value(s) in not-null column {col!r}",
                )
            )
    default = exp.max_null_ratio.get("*")
    for col in columns:
        limit = exp.max_null_ratio.get(col, default)
        s = stats.get(col)
        if limit is not None and s is not None and s.null_ratio > limit:
            out.append(
                Violation(
                    expectation=ExpectationKind.MAX_NULL_RATIO,
                    column=col,
                    count=s.null_count,
                    message=(
                        f"null ratio of {col!r} is {s.null_ratio:.4f}, above the maximum {limit}"
                    ),
                )
            )
    return out
