"""Validation of user-given names that become parts of storage keys.

Feature sets, models, endpoints, aliases and runs all end up as path segments on
a local disk or in an S3 key. A name is accepted only if it cannot escape its
folder or confuse a listing: 1-128 characters from ``[A-Za-z0-9._-]``, starting
with a letter or digit, and never containing ``..``.

Example:
    >>> validate_name("churn-features_v2")
    'churn-features_v2'
    >>> validate_name("../etc/passwd")
    Traceback (most recent call last):
    ...
    rayops.errors.InvalidNameError: '../etc/passwd' is not a valid name: ...
"""

from __future__ import annotations

import re

from rayops.errors import InvalidInputError, InvalidNameError

__all__ = ["validate_key", "validate_name"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_RULE = "use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit, without '..'"


def validate_name(name: object, kind: str = "name") -> str:
    """Return ``name`` unchanged if it is safe as a path segment, else raise.

    Args:
        name: the candidate name.
        kind: what the name names ("feature set", "model"...), used in the message.

    Raises:
        InvalidNameError: with a sentence that says which rule the name breaks.
    """
    if not isinstance(name, str):
        raise InvalidNameError(f"A {kind} must be a string, got {type(name).__name__}.")
    if not _NAME.fullmatch(name) or ".." in name:
        shown = name if len(name) <= 80 else name[:77] + "..."
        raise InvalidNameError(f"{shown!r} is not a valid {kind}: {_RULE}.")
    return name


def validate_key(key: str) -> str:
    """Check a storage key built by rayops itself: relative, '/'-separated, no '..'.

    Keys are composed from validated names, so a failure here is a bug or an
    attack; either way nothing is read or written.
    """
    if (
        not key
        or key.startswith("/")
        or "\\" in key
        or any(ord(c) < 32 for c in key)
        or any(part in ("", ".", "..") for part in key.rstrip("/").split("/"))
    ):
        raise InvalidInputError(f"{key!r} is not a valid storage key.")
    return key
