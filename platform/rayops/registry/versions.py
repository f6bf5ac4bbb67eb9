"""Semantic versions for registered models and the rules that pick the next one.

Default bump rules (the ``bump`` argument of :meth:`Registry.register`):

* ``"minor"`` (default): a new training run. ``1.3.2`` is followed by ``1.4.0``.
* ``"patch"``: a fine-tune or online update of an existing version, usually with
  ``parent=``. The patch goes on the parent's ``major.minor`` line: a fine-tune of
  ``1.2.0`` becomes ``1.2.1`` (or the next free patch on that line).
* ``"major"``: asked for explicitly (new features, new target, breaking change).
  ``1.4.0`` is followed by ``2.0.0``.

The first version of a name is always ``1.0.0``, whatever the bump.

Example:
    >>> SemVer.parse("1.2.3").bump("minor")
    SemVer(major=1, minor=3, patch=0)
    >>> str(next_version([SemVer.parse("1.2.0"), SemVer.parse("1.3.0")], "patch",
    ...                  parent=SemVer.parse("1.2.0")))
    '1.2.1'
    >>> str(next_version([], "patch"))
    '1.0.0'
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum
from typing import NamedTuple

from rayops.errors import InvalidInputError

__all__ = ["FIRST_VERSION", "Bump", "SemVer", "is_semver", "next_version", "parse_bump"]

_SEMVER = re.compile(r"(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})")


class Bump(StrEnum):
    """Which part of the version a registration increments."""

    MAJOR = "major"
    MINOR = "minor"
    PATCH = "patch"


class SemVer(NamedTuple):
    """``major.minor.patch``; compares numerically (``1.10.0 > 1.9.0``)."""

    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> SemVer:
        """Parse ``"1.2.3"``; raise InvalidInputError for anything else."""
        m = _SEMVER.fullmatch(text.strip()) if isinstance(text, str) else None
        if m is None:
            raise InvalidInputError(
                f"{text!r} is not a semantic version: use MAJOR.MINOR.PATCH, e.g. 1.2.0."
            )
        return cls(int(m[1]), int(m[2]), int(m[3]))

    def bump(self, bump: Bump | str) -> SemVer:
        """The version one ``bump`` step after this one."""
        kind = Bump(bump)
        if kind is Bump.MAJOR:
            return SemVer(self.major + 1, 0, 0)
        if kind is Bump.MINOR:
            return SemVer(self.major, self.minor + 1, 0)
        return SemVer(self.major, self.minor, self.patch + 1)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


FIRST_VERSION = SemVer(1, 0, 0)


def is_semver(text: str) -> bool:
    """Whether ``text`` looks like ``MAJOR.MINOR.PATCH`` (used to tell versions from aliases)."""
    return _SEMVER.fullmatch(text) is not None


def parse_bump(bump: Bump | str) -> Bump:
    """Validate a bump name with a message that lists the choices."""
    try:
        return Bump(bump)
    except ValueError:
        raise InvalidInputError(
            f"Unknown bump {bump!r}: use one of {', '.join(b.value for b in Bump)}."
        ) from None


def next_version(
    taken: Iterable[SemVer], bump: Bump | str, *, parent: SemVer | None = None
) -> SemVer:
    """The version a new registration should try to claim, given versions already taken.

    ``taken`` includes every claimed number (even one whose registration never
    finished), so a number is never handed out twice.
    """
    kind = parse_bump(bump)
    versions = sorted(taken)
    if not versions:
        return FIRST_VERSION
    latest = versions[-1]
    if kind is Bump.PATCH:
        line = parent or latest
        on_line = [v for v in versions if (v.major, v.minor) == (line.major, line.minor)]
        return max(on_line, default=line).bump(Bump.PATCH)
    return latest.bump(kind)
