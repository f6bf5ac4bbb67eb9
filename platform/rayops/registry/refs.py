"""Parsing of model references: ``name``, ``name@1.2.0``, ``name@alias``, ``name@latest``.

Example:
    >>> parse_ref("churn@1.2.0")
    ('churn', '1.2.0')
    >>> parse_ref("churn")
    ('churn', None)
    >>> validate_alias("1.0.0")
    Traceback (most recent call last):
    ...
    rayops.errors.InvalidNameError: '1.0.0' is not a valid alias: ...
"""

from __future__ import annotations

from rayops.errors import InvalidInputError, InvalidNameError
from rayops.names import validate_name
from rayops.registry.versions import is_semver

__all__ = ["LATEST", "parse_ref", "validate_alias"]

#: Selector meaning "the highest registered version".
LATEST = "latest"


def parse_ref(ref: str) -> tuple[str, str | None]:
    """Split ``name@selector`` into the validated name and the selector (None if bare)."""
    if not isinstance(ref, str) or ref.count("@") > 1:
        raise InvalidInputError(
            f"{ref!r} is not a model reference: use NAME, NAME@VERSION or NAME@ALIAS."
        )
    name, _, selector = ref.partition("@")
    validate_name(name, "model name")
    if "@" in ref:
        if not selector:
            raise InvalidInputError(f"{ref!r} has nothing after '@': add a version or an alias.")
        if not is_semver(selector):
            validate_name(selector, "alias")
        return name, selector
    return name, None


def validate_alias(alias: str) -> str:
    """An alias is a name that cannot be mistaken for a version or for ``latest``."""
    validate_name(alias, "alias")
    if is_semver(alias) or alias == LATEST:
        raise InvalidNameError(
            f"{alias!r} is not a valid alias: it reads as a version; pick a word such as "
            "'production' or 'champion'."
        )
    return alias
