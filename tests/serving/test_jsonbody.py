"""The bounded JSON parser (rayops.serving.jsonbody): its scan counts exactly what a
parsed body holds, every limit is a 400 naming its setting, and odd input never
escapes as anything but an InvalidInputError."""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
import pytest
from hostile_json import ODD_TOKENS, hostile_bodies, odd_json
from hypothesis import given, settings
from hypothesis import strategies as st

from rayops.config import Settings
from rayops.errors import InvalidInputError
from rayops.serving.jsonbody import JsonLimits, loads

DEFAULTS = JsonLimits.from_settings(Settings())
HUGE = JsonLimits(max_depth=64, max_values=10**9, max_string_bytes=10**9, max_keys=10**9)

# Strings full of what the scan must see through: quotes, backslashes, brackets, commas.
tricky = st.text(alphabet=st.sampled_from('ab"\\[]{},:é\u2028'), max_size=12)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
                    st.floats(allow_nan=False, allow_infinity=False), tricky)  # fmt: skip
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(tricky, inner, max_size=5),
    max_leaves=40,
)


def depth(v: Any) -> int:
    if isinstance(v, list):
        return 1 + max(map(depth, v), default=0)
    if isinstance(v, dict):
        return 1 + max(map(depth, v.values()), default=0)
    return 0


def count(v: Any) -> int:
    """Values as the scan counts them: each one, and each empty container once more."""
    if isinstance(v, list | dict):
        children = list(v.values()) if isinstance(v, dict) else v
        return 1 + (0 if children else 1) + sum(map(count, children))
    return 1


def widest(v: Any) -> int:
    children = list(v.values()) if isinstance(v, dict) else v if isinstance(v, list) else []
    own = max(len(v), 1) if isinstance(v, dict) else 0
    return max([own, *map(widest, children)])


def longest(v: Any) -> int:
    """Longest string (key or value) in bytes as orjson writes it, without the quotes."""
    if isinstance(v, str):
        return len(orjson.dumps(v)) - 2
    if isinstance(v, dict):
        return max([0, *(len(orjson.dumps(k)) - 2 for k in v), *map(longest, v.values())])
    if isinstance(v, list):
        return max([0, *map(longest, v)])
    return 0


def limited(**bounds: int) -> JsonLimits:
    return JsonLimits(**{**HUGE.__dict__, **bounds})


@settings(max_examples=300, deadline=None)
@given(value=values, indent=st.booleans())
def test_the_scan_counts_exactly_what_the_parser_builds(value: Any, indent: bool) -> None:
    raw = orjson.dumps(value, option=orjson.OPT_INDENT_2 if indent else 0)
    if not indent:  # the standard library escapes differently: the scan sees through both
        raw = json.dumps(value, ensure_ascii=bool(len(raw) % 2)).encode()
    measured = {
        "max_depth": (depth(value), "serving_max_json_depth"),
        "max_values": (count(value), "serving_max_json_values"),
        "max_keys": (widest(value), "serving_max_json_keys"),
        "max_string_bytes": (
            longest(json.loads(raw)) if indent else _sent_longest(raw),
            "serving_max_json_string_bytes",
        ),
    }
    for name, (exact, setting) in measured.items():
        assert loads(raw, limited(**{name: exact})) == value  # at the limit: accepted
        if exact > 0:
            with pytest.raises(InvalidInputError, match=setting):
                loads(raw, limited(**{name: exact - 1}))


def _sent_longest(raw: bytes) -> int:
    """Longest string as it appears in ``raw`` (escapes included), found by the decoder."""
    best, text = 0, raw.decode()
    i = text.find('"')
    while i >= 0:
        _, end = json.decoder.scanstring(text, i + 1)  # type: ignore[attr-defined]
        best = max(best, len(text[i + 1 : end - 1].encode()))
        i = text.find('"', end)
    return best


@settings(max_examples=300, deadline=None)
@given(raw=odd_json() | st.binary(max_size=64) | st.sampled_from(ODD_TOKENS))
def test_odd_bodies_parse_or_raise_invalid_input(raw: bytes) -> None:
    try:
        loads(raw, DEFAULTS)
    except InvalidInputError as e:
        assert str(e).endswith(".") and "Traceback" not in str(e)


@pytest.mark.parametrize("case", list(hostile_bodies(["x0", "x1", "x2"])))
def test_hostile_bodies_are_refused_by_their_limit(case: str) -> None:
    raw, setting = hostile_bodies(["x0", "x1", "x2"])[case]
    limits = JsonLimits(**{**DEFAULTS.__dict__, "max_values": 200_000})
    if setting is None:
        try:
            loads(raw, limits)
        except InvalidInputError:
            pass
        return
    with pytest.raises(InvalidInputError, match=setting):
        loads(raw, limits)


def test_nonfinite_tokens_follow_the_serving_contract() -> None:
    value = loads(b'[NaN, Infinity, -Infinity, 1, 18446744073709551616, "\\ud83d\\ude00"]',
                  DEFAULTS)  # fmt: skip
    assert math.isnan(value[0]) and value[1:4] == [math.inf, -math.inf, 1]
    assert value[4] == 18446744073709551616.0 and isinstance(value[4], float)  # as orjson does
    assert value[5] == "\U0001f600"
    for raw, words in [
        (b'[NaN, "\\ud800"]', "lone UTF-16 surrogate"),
        (b'[NaN, "\xff"]', "not UTF-8"),
        (b"[NaN, 1e999]", "too large"),
        (b"[NaN, 1" + b"0" * 400 + b"]", "too large"),
        (b"[NaN] x", "not valid JSON"),
    ]:
        with pytest.raises(InvalidInputError, match=words):
            loads(raw, DEFAULTS)


def test_errors_read_like_sentences() -> None:
    with pytest.raises(InvalidInputError) as e:
        loads(b"[" * 5_000 + b"]" * 5_000, DEFAULTS)
    assert str(e.value) == (
        "The JSON body nests 5000 levels deep; this gateway accepts at most 8 "
        "(serving_max_json_depth)."
    )
    with pytest.raises(InvalidInputError, match=r"not UTF-8 \(byte 9 is not valid\)"):
        loads(b'{"key": "\xff"}', DEFAULTS)
    with pytest.raises(InvalidInputError, match="byte order mark"):
        loads(b"\xef\xbb\xbf{}", DEFAULTS)
