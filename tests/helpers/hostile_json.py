"""Hostile JSON bodies for the HTTP fuzz tests (issue 18): deep, wide, long and odd.

``hostile_bodies(features)`` are fixed cases, each with the limit setting its error must
name (or None when any 4xx, or a 2xx, is fine); ``odd_json`` is a hypothesis strategy of
raw bodies built from the same ingredients: nesting of random depth (arrays, objects,
both, unclosed), literals orjson and the standard library disagree on, bad bytes.
"""

from __future__ import annotations

from hypothesis import strategies as st

#: Tokens a JSON body can hold that some parser refuses, or reads differently.
ODD_TOKENS = [
    b"NaN", b"-NaN", b"Infinity", b"-Infinity", b"nan", b"1e999", b"-1e999", b"-0", b"-0.0",
    b"1" + b"0" * 400, b"1" + b"0" * 5000, b"18446744073709551616", b"1e-400", b"0x10", b"01",
    b'"\\ud800"', b'"\\udc00\\ud800"', b'"\\ud83d\\ude00"', b'"\xff"', b'"\xed\xa0\x80"',
    b'"\\\\"', b'"\\""', b'"[[[[{{{{"', b'"]]]]}}}}"', b'"\\\\\\"[["', b'"\x00"', b"true",
    b"null", b"[]", b"{}", b'"' + b"x" * 70_000 + b'"',
]  # fmt: skip


def nested(depth: int, *, kind: str = "[", inner: bytes = b"1") -> bytes:
    """``depth`` levels of ``[`` or ``{"a":`` around ``inner``."""
    if kind == "[":
        return b"[" * depth + inner + b"]" * depth
    return b'{"a":' * depth + inner + b"}" * depth


def hostile_bodies(features: list[str]) -> dict[str, tuple[bytes, str | None]]:
    """Fixed hostile bodies: name -> (raw body, the setting a 400 must name, or None)."""
    row = b"{" + b", ".join(b'"%s": 1.0' % f.encode() for f in features) + b"}"
    keys = b"{" + b",".join(b'"k%d":0' % i for i in range(10_001)) + b"}"
    cases: dict[str, tuple[bytes, str | None]] = {
        f"brackets {n} deep": (nested(n), "serving_max_json_depth") for n in (100, 5_000, 100_000)
    }
    cases |= {
        "brackets 10 deep": (nested(10), "serving_max_json_depth"),
        "objects 1,000 deep": (nested(1_000, kind="{"), "serving_max_json_depth"),
        "unclosed brackets": (b"[" * 100_000, "serving_max_json_depth"),
        "deep inside a valid body": (
            b'{"instances": [' + nested(20, inner=row) + b"]}",
            "serving_max_json_depth",
        ),
        "closing brackets only": (b"]" * 100_000, None),
        "many empty arrays": (b"[" + b"[]," * 300_000 + b"[]]", "serving_max_json_values"),
        "many empty objects": (b"[" + b"{}," * 300_000 + b"{}]", "serving_max_json_values"),
        "many zeros": (b"[" + b"0," * 400_000 + b"0]", "serving_max_json_values"),
        "a long string": (
            b'{"instances": [{"x0": "' + b"a" * 70_000 + b'"}]}',
            "serving_max_json_string_bytes",
        ),
        "a long escaped string": (
            b'["' + b"\\\\" * 40_000 + b'"]',
            "serving_max_json_string_bytes",
        ),
        "a long key": (b'{"' + b"k" * 70_000 + b'": 1}', "serving_max_json_string_bytes"),
        "many keys": (keys, "serving_max_json_keys"),
        "many keys in a row": (b'{"instances": [' + keys + b"]}", "serving_max_json_keys"),
        "brackets in strings": (
            b'{"instances": [' + row + b'], "key": "[[[[[[[[[[[[{{{{{{{{\\"[[[[[[["}',
            None,
        ),
        "duplicate keys": (b'{"instances": [], "instances": [' + row + b"]}", None),
        "bom": (b"\xef\xbb\xbf" + b'{"instances": [' + row + b"]}", None),
        "trailing garbage": (b'{"instances": [' + row + b"]} x", None),
        "two documents": (b'{"instances": [' + row + b"]}{}", None),
        "invalid utf-8": (b'{"instances": [' + row + b'], "key": "\xff\xfe"}', None),
        "lone surrogate": (b'{"instances": [' + row + b'], "key": "\\ud800"}', None),
        "lone surrogate with NaN": (
            b'{"instances": [' + row.replace(b"1.0", b"NaN", 1) + b'], "key": "\\udfff"}',
            None,
        ),
        "1e999": (b'{"instances": [' + row.replace(b"1.0", b"1e999", 1) + b"]}", None),
        "a 5,000-digit number": (b"[1" + b"0" * 5_000 + b"]", None),
        "minus zero": (b'{"instances": [' + row.replace(b"1.0", b"-0", 1) + b"]}", None),
        "nul byte": (b'{"instances": [' + row + b"]}\x00", None),
        "only whitespace": (b" \n\t ", None),
    }
    return cases


_scalar = st.sampled_from(ODD_TOKENS) | st.sampled_from([b"1", b'"x"', b"0.5", b"false"])


@st.composite
def odd_json(draw: st.DrawFn) -> bytes:
    """A raw body: random nesting (up to 40 levels, sometimes unclosed) around odd tokens."""
    depth = draw(st.integers(min_value=0, max_value=40))
    opens = draw(st.lists(st.sampled_from([b"[", b'{"k":', b'{"instances":']), min_size=depth,
                          max_size=depth))  # fmt: skip
    items = draw(st.lists(_scalar, min_size=1, max_size=4))
    closes = [b"]" if o == b"[" else b"}" for o in reversed(opens)]
    if draw(st.booleans()):
        closes = closes[: draw(st.integers(min_value=0, max_value=len(closes)))]
    body = b"".join(opens) + b", ".join(items) + b"".join(closes)
    prefix = draw(st.sampled_from([b"", b"", b"\xef\xbb\xbf", b" ", b"\x00"]))
    suffix = draw(st.sampled_from([b"", b"", b" ", b"x", b"]", b"}", b",", b"\xff"]))
    return prefix + body + suffix
