"""One grammar for every duration a user writes: rollout intervals, monitoring
windows, retrain schedules and policy ages.

A duration is a number and a unit: ``ms``, ``s``, ``m``, ``h``, ``d`` or ``w``
(``500ms``, ``90s``, ``1.5h``, ``7d``, ``2w``); a bare number, or a number
given as int/float, is seconds. It must be positive.

Example:
    >>> parse_duration("1.5h")
    datetime.timedelta(seconds=5400)
    >>> seconds("500ms"), seconds(30), seconds("1d")
    (0.5, 30.0, 86400.0)
    >>> parse_duration("-1h", what="window")
    Traceback (most recent call last):
    ...
    rayops.errors.InvalidInputError: The window must be positive, got '-1h'.
"""

from __future__ import annotations

import re
from datetime import timedelta

from rayops.errors import InvalidInputError

__all__ = ["DURATION_PATTERN", "parse_duration", "seconds"]

#: The grammar as a regular expression (settings validate their duration strings with it).
DURATION_PATTERN = r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d|w)?\s*$"

_DURATION = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(value: str | float | timedelta, *, what: str = "duration") -> timedelta:
    """A positive timedelta from a duration string, a number of seconds or a timedelta.

    Raises:
        InvalidInputError: not a duration, or not positive; the message names ``what``.
    """
    if isinstance(value, timedelta):
        span = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        span = timedelta(seconds=float(value))
    else:
        m = _DURATION.match(str(value))
        if m is None:
            raise InvalidInputError(
                f"The {what} {value!r} is not a duration; use a number and a unit "
                "(ms, s, m, h, d, w), e.g. '90s', '5m', '1h' or '7d'."
            )
        span = timedelta(seconds=float(m.group(1)) * _SECONDS[m.group(2) or "s"])
    if span <= timedelta(0):
        raise InvalidInputError(f"The {what} must be positive, got {value!r}.")
    return span


def seconds(value: str | float | timedelta, *, what: str = "duration") -> float:
    """:func:`parse_duration` in seconds."""
    return parse_duration(value, what=what).total_seconds()
