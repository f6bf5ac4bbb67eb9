"""Bounded JSON parsing of request bodies: a hostile shape is a 400 before it costs anything.

Every JSON body the gateway reads (predict, feedback, the JSON part of an OIP
inference request) goes through :func:`loads`, which first **scans the raw
bytes** and refuses, with a sentence naming the limit and its setting:

* nesting deeper than ``max_depth`` (``serving_max_json_depth``): a few thousand
  ``[`` made the recursive parser, and code that walks a body, overflow (issue 18);
* more than ``max_values`` values in the whole body (``serving_max_json_values``):
  every parsed value is a Python object of 24 to 64 bytes, so a body of tiny
  values (``[[],[],...]``) would cost about 20 times its size;
* a string longer than ``max_string_bytes`` bytes as sent, escapes included
  (``serving_max_json_string_bytes``): keys and categorical values end up in
  error messages and in the buffered prediction log;
* an object with more than ``max_keys`` keys (``serving_max_json_keys``): the
  request checks sort or loop over the keys of one object.

The scan runs at memory speed: ``bytes.translate`` keeps only quotes, brackets
and commas (about a sixth of a predict body), ``find``/``count`` measure strings,
and numpy counts depth and members over what is left, a megabyte of brackets at a
time. It is exact for valid JSON; for invalid JSON it may count wrongly, but the
parser then refuses the body anyway. It costs about a third of orjson's parse on
a 10,000-row predict body and a few microseconds on one row
(``bench/json_body.py``). The body byte limit (``serving_max_body_bytes``) is
checked before, while the body is read.

Parsing is orjson's (in C, itself bounded at 1024 levels, and strict: no lone
surrogates, no invalid UTF-8, no trailing content, no byte order mark). The one
thing it refuses that the serving contract accepts is the ``NaN`` / ``Infinity``
/ ``-Infinity`` tokens sloppy clients send (Python's ``json.dumps`` writes them):
``NaN`` is a missing value and ``Infinity`` a 422 naming the feature
(:mod:`rayops.serving.inputs`). A body orjson refuses that holds such a token
is parsed again by the standard library, which the scan has already made safe,
under orjson's rules otherwise. Duplicate keys keep the last value, as in both
parsers.

Example:
    >>> limits = JsonLimits(max_depth=3, max_values=100, max_string_bytes=16, max_keys=8)
    >>> loads(b'{"instances": [{"x": 1.5, "y": NaN}]}', limits)
    {'instances': [{'x': 1.5, 'y': nan}]}
    >>> loads(b"[" * 5000 + b"]" * 5000, limits)
    Traceback (most recent call last):
    ...
    rayops.errors.InvalidInputError: The JSON body nests 5000 levels deep; this gateway accepts at most 3 (serving_max_json_depth).
"""  # noqa: E501

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from rayops.errors import InvalidInputError

if TYPE_CHECKING:
    from rayops.config import Settings

__all__ = ["JsonLimits", "loads"]

# Every byte but these is deleted to leave a body's structure: brackets and commas,
# and the quotes that say which of them are inside strings.
_NOT_STRUCTURE = bytes(c for c in range(256) if c not in b'"[]{},')
_CHUNK = 1 << 20  # brackets per step of the depth scan: its memory stays small
# A \u escape of a UTF-16 surrogate: the only way the standard library's parser
# produces a lone surrogate from strictly decoded UTF-8.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


@dataclass(frozen=True)
class JsonLimits:
    """The bounds :func:`loads` enforces (see the module docstring for why each exists)."""

    max_depth: int
    max_values: int
    max_string_bytes: int
    max_keys: int

    @classmethod
    def from_settings(cls, settings: Settings) -> JsonLimits:
        """The limits a gateway's settings configure."""
        return cls(
            max_depth=settings.serving.max_json_depth,
            max_values=settings.serving.max_json_values,
            max_string_bytes=settings.serving.max_json_string_bytes,
            max_keys=settings.serving.max_json_keys,
        )


def loads(raw: bytes, limits: JsonLimits) -> Any:
    """The JSON value of ``raw``, or an :class:`InvalidInputError` (400) saying what is wrong."""
    _scan(raw, limits)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        if b"NaN" in raw or b"Infinity" in raw:
            return _loads_with_nonfinite(raw)
        if "not valid UTF-8" in e.msg:
            raise _not_utf8(raw) from None
        raise InvalidInputError(f"The request body is not valid JSON: {e}.") from None


def _too_many(what: str, limit: int, setting: str) -> InvalidInputError:
    return InvalidInputError(
        f"The JSON body has {what}; this gateway accepts at most {limit} ({setting})."
    )


def _scan(raw: bytes, limits: JsonLimits) -> None:
    import numpy as np

    text = raw
    if b"\\" in raw:
        # Escapes masked, same length: every quote left opens or closes a string
        # (backslashes pair off first, so \\" ends a string and \\\" does not).
        text = raw.replace(b"\\\\", b"__").replace(b'\\"', b"__")
    longest = _longest_string(text, limits.max_string_bytes)
    if longest > limits.max_string_bytes:
        raise InvalidInputError(
            f"The JSON body has a string of {longest} bytes; this gateway accepts at most "
            f"{limits.max_string_bytes} (serving_max_json_string_bytes)."
        )
    # The structure outside strings: brackets and commas in order.
    marks = text.translate(None, _NOT_STRUCTURE)
    if marks.count(b'"') == 2 * marks.count(b'""'):
        shape = marks.translate(None, b'"')  # no string holds a bracket or a comma
    else:
        a = np.frombuffer(marks, dtype=np.uint8)
        quote = a == ord('"')
        inside = np.bitwise_xor.accumulate(quote.view(np.uint8)).view(bool)
        shape = a[~inside & ~quote].tobytes()
    brackets = shape.translate(None, b",")
    opens = brackets.count(b"[") + brackets.count(b"{")
    # Each level opens a bracket: a body with few of them needs no depth count (one row).
    deepest = _deepest(brackets) if opens > limits.max_depth else 0
    if deepest > limits.max_depth:
        raise InvalidInputError(
            f"The JSON body nests {deepest} levels deep; this gateway accepts at most "
            f"{limits.max_depth} (serving_max_json_depth)."
        )
    commas = len(shape) - len(brackets)
    # Every value but the top one follows a comma or opens its container (an empty
    # [] or {} counts twice, which only a body of empty containers would notice).
    values = 1 + commas + opens
    if values > limits.max_values:
        raise _too_many(f"{values} values", limits.max_values, "serving_max_json_values")
    if commas + 1 > limits.max_keys and b"{" in brackets:
        widest = _widest_object(shape)
        if widest > limits.max_keys:
            raise _too_many(
                f"an object with {widest} keys", limits.max_keys, "serving_max_json_keys"
            )


def _longest_string(text: bytes, limit: int) -> int:
    """The length of the longest string of ``text`` (escaped quotes masked) if it is
    above ``limit``, else a number at most ``limit``.

    A string longer than ``limit`` contains a whole aligned block of ``limit // 2 + 1``
    bytes without a quote; a body of short strings has none, and finding that out
    costs a few ``find`` calls. Only quote-free blocks inside a string are measured.
    """
    size = limit // 2 + 1
    quotes, counted, end = 0, 0, -1  # quotes before `counted`; end of the last string measured
    for start in range(0, len(text) - size + 1, size):
        if start < end or text.find(b'"', start, start + size) >= 0:
            continue
        quotes += text.count(b'"', counted, start)
        counted = start
        if quotes % 2:  # inside a string
            opened, end = text.rfind(b'"', 0, start), text.find(b'"', start + size)
            if end < 0:
                return 0  # the string never ends: not JSON, the parser says so
            if end - opened - 1 > limit:
                return end - opened - 1
    return 0


def _steps(a: Any) -> Any:
    """+1 for an opening bracket, -1 for a closing one, 0 for a comma ([ { are 0x5B 0x7B)."""
    import numpy as np

    low = a | 0x20
    return (low == ord("{")).view(np.int8) - (low == ord("}")).view(np.int8)


def _deepest(brackets: bytes) -> int:
    """The deepest nesting of a sequence of brackets, a chunk at a time (bounded memory)."""
    import numpy as np

    deepest, level = 0, 0
    for start in range(0, len(brackets), _CHUNK):
        chunk = np.frombuffer(brackets, dtype=np.uint8, count=min(_CHUNK, len(brackets) - start),
                              offset=start)  # fmt: skip
        depth = np.cumsum(_steps(chunk), dtype=np.int64) + level
        deepest, level = max(deepest, int(depth.max())), int(depth[-1])
    return deepest


def _widest_object(shape: bytes) -> int:
    """Most members of one object in a sequence of brackets and commas of bounded depth.

    Each bracket is followed by a run of commas (maybe none) that belongs to the
    container open after it. Containers at one depth do not overlap, so once the
    brackets are sorted (stably) by the depth after them, each opening bracket is
    followed by the runs of its own container, then the next container's.
    """
    import numpy as np

    a = np.frombuffer(shape, dtype=np.uint8)
    steps = _steps(a)
    where = np.flatnonzero(steps)
    runs = np.diff(where, append=len(a)) - 1
    steps = steps[where]
    order = np.argsort(np.cumsum(steps, dtype=np.int64).astype(np.uint8), kind="stable")
    opening = steps[order] > 0
    container = np.maximum(np.cumsum(opening) - 1, 0)
    members = np.bincount(container, weights=runs[order], minlength=int(opening.sum())) + 1
    objects = a[where][order][opening] == ord("{")
    return int(members[: len(objects)][objects].max()) if objects.any() else 0


def _not_utf8(raw: bytes) -> InvalidInputError:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return InvalidInputError(
            f"The request body is not UTF-8 (byte {e.start} is not valid); send JSON as UTF-8."
        )
    return _lone_surrogate()  # orjson's other UTF-8 complaint: an escaped lone surrogate


def _lone_surrogate() -> InvalidInputError:
    return InvalidInputError(
        "The request body holds a lone UTF-16 surrogate escape (\\ud800-\\udfff); send text "
        "as UTF-8, or a surrogate escape as a high-low pair."
    )


def _loads_with_nonfinite(raw: bytes) -> Any:
    """The standard library's parse, for the NaN/Infinity tokens orjson refuses, with
    orjson's rules for everything else (the scan has bounded its recursion)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _not_utf8(raw) from None
    try:
        value = json.loads(text, parse_int=_int, parse_float=_float)
    except ValueError as e:  # JSONDecodeError, or a number parse_int/parse_float refused
        raise InvalidInputError(f"The request body is not valid JSON: {e}.") from None
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(value):
        raise _lone_surrogate()
    return value


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text[:40]} is too large for a double")
    return value


def _int(text: str) -> int | float:
    # Like orjson: integers beyond 64 bits become doubles (never a 4,000-digit int).
    if len(text) <= 19:
        return int(text)
    value = int(text) if len(text) <= 21 else None
    if value is not None and -(2**63) <= value < 2**64:
        return value
    return _float(text)


def _has_lone_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    return True
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
    return False
