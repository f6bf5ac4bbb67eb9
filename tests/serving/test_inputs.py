"""Request bodies to frames: JSON instances and Open Inference Protocol tensors."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from rayops.config import Settings
from rayops.errors import InvalidInputError
from rayops.serving.errors import InvalidFeatureError
from rayops.serving.inputs import FeatureSchema
from rayops.serving.jsonbody import JsonLimits
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
    limits = JsonLimits.from_settings(Settings())
    body, binary = split_binary_body(head + xs + cs, str(len(head)), limits)
    columns = columns_from_request(body, binary, schema)
    assert list(columns["x"]) == [1.5, 2.5] and columns["c"] == ["red", "blue"]
    frame = schema.frame_from_columns(columns)  # binary numbers are checked as one array
    assert frame["x"].tolist() == [1.5, 2.5] and frame["c"].tolist() == ["red", "blue"]


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
        "rayops.telemetry.writers",
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


def test_binary_tensors_are_checked_as_arrays_and_answers_can_be_binary() -> None:
    import json
    import struct

    import numpy as np

    from rayops.serving.errors import InvalidFeatureError
    from rayops.serving.oip import binary_outputs, binary_response, infer_response

    raw = struct.pack("<3d", 1.0, float("inf"), 2.0)
    head = {"inputs": [{"name": "x", "shape": [3], "datatype": "FP64",
                        "parameters": {"binary_data_size": len(raw)}}]}  # fmt: skip
    strict = FeatureSchema(["x"], reject_missing=True)
    columns = columns_from_request(head, raw, strict)
    with pytest.raises(InvalidFeatureError, match="'x' is infinite in row 1"):
        strict.frame_from_columns(columns)
    nan = struct.pack("<2d", 1.0, float("nan"))
    head["inputs"][0].update(shape=[2], parameters={"binary_data_size": 16})
    with pytest.raises(InvalidFeatureError, match="missing .* in row 1"):
        strict.frame_from_columns(columns_from_request(head, nan, strict))
    assert np.isnan(FeatureSchema(["x"]).frame_from_columns({"x": [1.0, None]})["x"][1])
    # Binary outputs: tritonclient's default request parameter.
    assert binary_outputs({"parameters": {"binary_data_output": True}}) is True
    picked = {"outputs": [{"name": "cost", "parameters": {"binary_data": True}}, {"name": "x"}]}
    assert binary_outputs(picked) == {"cost"}
    from rayops.serving.answers import Answer
    from rayops.serving.routing import Route
    from rayops.serving.service import ServedPrediction
    from rayops.tasks import Task

    route = Route(ref="m@1.0.0", weight=100)
    served = ServedPrediction("r", "e", route, Answer.regression(np.array([0.5, 1.5])), 1.0)
    data, n = binary_response(infer_response("e", served), True)
    header = json.loads(data[:n])
    assert header["outputs"][0]["parameters"] == {"binary_data_size": 16}
    assert np.frombuffer(data[n:], dtype="<f8").tolist() == [0.5, 1.5]
    # A classifier: BYTES labels (4-byte length + text each) and FP32 [N, K] probabilities.
    proba = np.array([[0.25, 0.75], [0.5, 0.5]])
    answer = Answer.classified(Task.of("binary"), proba, ["no", "yes"], threshold=0.6)
    data, n = binary_response(infer_response("e", ServedPrediction("r", "e", route, answer, 1.0)),
                              True)  # fmt: skip
    header = json.loads(data[:n])
    (label, probs) = header["outputs"]
    assert label["datatype"] == "BYTES" and probs["shape"] == [2, 2]
    assert header["parameters"]["classes"] == ["no", "yes"]
    size = label["parameters"]["binary_data_size"]
    assert data[n : n + size] == struct.pack("<I", 3) + b"yes" + struct.pack("<I", 2) + b"no"
    got = np.frombuffer(data[n + size :], dtype="<f4").reshape(2, 2)
    np.testing.assert_allclose(got, proba)


NUMERIC = FeatureSchema(["x", "y", "z"])


@pytest.mark.parametrize(
    "rows",
    [
        [{"x": 1.5, "y": 2, "z": -3.25}, {"z": 0, "y": 1e300, "x": -0.0}],  # keys in any order
        [{"x": None, "y": 1, "z": 2.0}, {"x": 3, "y": None, "z": None}],  # nulls are missing
        [{"x": 2**63, "y": -(2**40), "z": 7}],  # big integers
    ],
)
def test_the_numeric_fast_path_builds_what_the_checked_path_builds(rows: list) -> None:
    fast = NUMERIC.rows_from_instances(rows)
    checked = NUMERIC._rows_checked(rows)
    assert fast.matrix is not None and checked.matrix is not None
    np.testing.assert_array_equal(fast.matrix, checked.matrix)
    assert fast.matrix.dtype == np.float64 and fast.matrix.shape == (len(rows), 3)


@pytest.mark.parametrize(
    ("rows", "error", "words"),
    [
        ([{"x": 1, "y": 2, "z": 3}, {"x": 1, "y": 2}], InvalidInputError, "lacks feature .z."),
        ([{"x": 1, "y": 2, "z": 3, "w": 4}], InvalidInputError, "unknown feature 'w'"),
        ([{"x": 1, "y": 2, "z": 3}, [1, 2, 3]], InvalidInputError, "Row 1 of 'instances' is list"),
        ([{"x": True, "y": 2, "z": 3}], InvalidFeatureError, "'x' must be a number; row 0 has T"),
        ([{"x": 1, "y": "2", "z": 3}], InvalidFeatureError, "'y' must be a number; row 0 has '2'"),
        ([{"x": 1, "y": 2, "z": 3}, {"x": 1, "y": 2, "z": float("inf")}], InvalidFeatureError,
         "'z' is infinite in row 1"),
    ],
)  # fmt: skip
def test_the_numeric_fast_path_leaves_bad_rows_to_the_checked_path(
    rows: list, error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words):
        NUMERIC.rows_from_instances(rows)


def test_the_numeric_fast_path_keeps_rejecting_missing_values() -> None:
    strict = FeatureSchema(["x", "y"], reject_missing=True)
    with pytest.raises(InvalidFeatureError, match="'y' is missing"):
        strict.rows_from_instances([{"x": 1.0, "y": None}])
    with pytest.raises(InvalidFeatureError, match="'x' is missing"):
        strict.rows_from_instances([{"x": float("nan"), "y": 1.0}])
    one = FeatureSchema(["only"])
    assert one.rows_from_instances([{"only": 2}, {"only": None}]).matrix.ravel().tolist()[0] == 2
