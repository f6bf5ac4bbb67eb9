"""Request bodies to frames: JSON instances and Open Inference Protocol tensors."""

from __future__ import annotations

import struct

import pytest

from rayops.errors import InvalidInputError
from rayops.serving.errors import InvalidFeatureError
from rayops.serving.inputs import FeatureSchema
from rayops.serving.oip import columns_from_request, split_binary_body

SCHEMA = FeatureSchema(["a", "b", "c"], ["float", "int", "c"])


def test_instances_become_typed_columns() -> None:
    frame = SCHEMA.frame_from_instances(
        [{"a": 1, "b": 2, "c": "x"}, {"a": None, "b": 3.5, "c": None}]
    )
    assert frame["a"].dtype == "float64" and frame["a"].isna().tolist() == [False, True]
    assert str(frame["c"].dtype) == "category"


def test_missing_values_can_be_rejected() -> None:
    strict = FeatureSchema(["a"], reject_missing=True)
    with pytest.raises(InvalidFeatureError, match="'a' is missing"):
        strict.frame_from_instances([{"a": None}])
    with pytest.raises(InvalidFeatureError, match="'a' is missing"):
        strict.frame_from_instances([{"a": float("nan")}])


@pytest.mark.parametrize(
    ("row", "error", "words"),
    [
        ({"a": 1, "b": 2}, InvalidInputError, "lacks feature 'c'"),
        ({"a": 1, "b": 2, "c": "x", "d": 0}, InvalidInputError, "unknown feature 'd'"),
        ({"a": "1", "b": 2, "c": "x"}, InvalidFeatureError, "'a' must be a number"),
        ({"a": [1], "b": 2, "c": "x"}, InvalidFeatureError, "'a' must be a number"),
        ({"a": float("inf"), "b": 2, "c": "x"}, InvalidFeatureError, "'a' is infinite"),
        ({"a": 1, "b": 2, "c": 7}, InvalidFeatureError, "'c' is categorical"),
    ],
)
def test_bad_rows_name_the_feature(row: dict[str, object], error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        SCHEMA.frame_from_instances([row])


def test_oip_binary_tensors() -> None:
    schema = FeatureSchema(["x", "c"], ["float", "c"])
    xs = struct.pack("<2d", 1.5, 2.5)
    cs = b"".join(struct.pack("<I", len(s)) + s for s in (b"red", b"blue"))
    header = {
        "inputs": [
            {"name": "x", "shape": [2], "datatype": "FP64", "parameters": {"binary_data_size": 16}},
            {
                "name": "c",
                "shape": [2],
                "datatype": "BYTES",
                "parameters": {"binary_data_size": len(cs)},
            },
        ]
    }
    import json

    head = json.dumps(header).encode()
    body, binary = split_binary_body(head + xs + cs, str(len(head)))
    assert columns_from_request(body, binary, schema) == {"x": [1.5, 2.5], "c": ["red", "blue"]}


@pytest.mark.parametrize(
    ("inputs", "words"),
    [
        ([{"name": "a", "shape": [2], "datatype": "FP64", "data": [1.0]}], r"shape \[2\] needs 2"),
        (
            [{"name": "input", "shape": [1, 3], "datatype": "INT64", "data": [1, 2, 3]}],
            "FP32 or FP64",
        ),
        ([{"name": "a", "shape": [1], "datatype": "BYTES", "data": ["x"]}], "numeric"),
        ([{"name": "a", "shape": [1], "datatype": "FP64"}], "no 'data'"),
    ],
)
def test_oip_bad_tensors(inputs: list[dict[str, object]], words: str) -> None:
    with pytest.raises(InvalidInputError, match=words):
        columns_from_request({"inputs": inputs}, b"", FeatureSchema(["a"]))


@pytest.mark.parametrize(
    "module",
    [
        "rayops.serving",
        "rayops.serving.routing",
        "rayops.serving.endpoints",
        "rayops.serving.inputs",
        "rayops.serving.oip",
        "rayops.serving.models",
        "rayops.serving.log",
        "rayops.serving.service",
        "rayops.serving.batching",
    ],
)
def test_docstring_examples(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(
        importlib.import_module(module), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    assert result.failed == 0
