"""The Open Inference Protocol v2 (KServe / Triton REST) on top of a feature schema.

Inputs are either one tensor per feature (``name`` = feature, ``shape`` ``[N]``,
``BYTES`` for categoricals) or one 2-D ``FP32``/``FP64`` tensor named ``input``
of shape ``[N, F]`` whose columns follow the feature order of the model
metadata. The binary tensor extension (``Inference-Header-Content-Length``,
used by ``tritonclient`` by default) is accepted for inputs (numeric binary
tensors become arrays without a per-value step) and used for outputs when the
request asks (``parameters.binary_data_output`` or an output's
``parameters.binary_data``); otherwise outputs are JSON. A multi-target model
has one output per target, named by the target.

Request ``parameters`` ``explain``, ``top_k``, ``approx``, ``interval``,
``prediction_set`` and ``calibrate`` (:mod:`rayops.serving.options`) add the
outputs ``contributions`` (FP32 ``[N, F + 1]``, the last column the bias, the
columns in ``parameters.features`` order of the model metadata; multiclass
``[N, K, F + 1]``), ``top_features`` (INT32 indices of the ``top_k`` largest),
``lower`` / ``upper`` (FP64 ``[N]``) and ``prediction_set`` (BYTES ``[N]``, each
element the set's JSON list text such as ``["setosa", "versicolor"]``).

Example:
    >>> from rayops.serving.inputs import FeatureSchema
    >>> schema = FeatureSchema(["a", "b"])
    >>> body = {"inputs": [{"name": "input", "shape": [1, 2], "datatype": "FP64",
    ...                     "data": [1.0, 2.0]}]}
    >>> columns_from_request(body, b"", schema)
    {'a': [1.0], 'b': [2.0]}
"""

from __future__ import annotations

import struct
from typing import Any

import orjson

from rayops.errors import InvalidInputError
from rayops.serving.answers import CLASSIFIER_OUTPUTS
from rayops.serving.errors import InvalidFeatureError
from rayops.serving.extras import EXTRA_OUTPUTS, unknown_output
from rayops.serving.inputs import FeatureSchema
from rayops.serving.jsonbody import JsonLimits, loads

__all__ = [
    "OUTPUT",
    "binary_outputs",
    "binary_response",
    "columns_from_request",
    "extra_outputs",
    "infer_response",
    "model_metadata",
    "requested_outputs",
    "split_binary_body",
]

#: Name of the output tensor.
OUTPUT = "prediction"

_NUMERIC = {
    "BOOL": "?",
    "UINT8": "B",
    "UINT16": "H",
    "UINT32": "I",
    "UINT64": "Q",
    "INT8": "b",
    "INT16": "h",
    "INT32": "i",
    "INT64": "q",
    "FP32": "f",
    "FP64": "d",
}


def split_binary_body(
    body: bytes, header_length: str | None, limits: JsonLimits
) -> tuple[Any, bytes]:
    """The JSON part (parsed within ``limits``) and the binary part of a request body."""
    if header_length is None:
        return loads(body, limits), b""
    try:
        n = int(header_length)
    except ValueError:
        raise InvalidInputError("Inference-Header-Content-Length must be an integer.") from None
    if n < 0 or n > len(body):
        raise InvalidInputError(
            f"Inference-Header-Content-Length is {n} but the body has {len(body)} bytes."
        )
    return loads(body[:n], limits), body[n:]


def _flatten(data: Any) -> list[Any]:
    if not isinstance(data, list):
        return [data]
    if data and isinstance(data[0], list):
        return [x for part in data for x in _flatten(part)]
    return data


def _binary_values(datatype: str, raw: bytes, name: str) -> list[Any]:
    if datatype == "BYTES":
        out, i = [], 0
        while i < len(raw):
            if i + 4 > len(raw):
                raise InvalidInputError(f"Tensor {name!r}: truncated BYTES element.")
            (n,) = struct.unpack_from("<I", raw, i)
            i += 4
            out.append(raw[i : i + n].decode("utf-8", errors="strict"))
            i += n
        return out
    code = _NUMERIC.get(datatype)
    if code is None:
        raise InvalidInputError(f"Tensor {name!r}: unsupported datatype {datatype!r}.")
    size = struct.calcsize(code)
    if len(raw) % size:
        raise InvalidInputError(
            f"Tensor {name!r}: {len(raw)} bytes is not a whole {datatype} array."
        )
    if datatype == "BOOL":
        return list(struct.unpack(f"<{len(raw) // size}{code}", raw))
    import numpy as np

    # A zero-copy little-endian view: checked and converted column-wise, never per value.
    return np.frombuffer(raw, dtype=np.dtype(code).newbyteorder("<"))  # type: ignore[return-value]


def _tensors(body: Any, binary: bytes) -> list[tuple[str, str, list[int], list[Any]]]:
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list) or not body["inputs"]:
        raise InvalidInputError("An inference request needs a non-empty 'inputs' list of tensors.")
    out, offset = [], 0
    for t in body["inputs"]:
        if not isinstance(t, dict) or not isinstance(t.get("name"), str):
            raise InvalidInputError(
                "Each input tensor needs a 'name', 'shape', 'datatype' and 'data'."
            )
        name, datatype, shape = t["name"], t.get("datatype"), t.get("shape")
        if (
            not isinstance(datatype, str)
            or not isinstance(shape, list)
            or not all(isinstance(s, int) and s >= 0 for s in shape)
        ):
            raise InvalidInputError(f"Tensor {name!r} needs a 'datatype' and a 'shape' of sizes.")
        size = (t.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            if not isinstance(size, int) or size < 0 or offset + size > len(binary):
                raise InvalidInputError(f"Tensor {name!r}: binary_data_size exceeds the body.")
            values = _binary_values(datatype, binary[offset : offset + size], name)
            offset += size
        elif "data" in t:
            values = _flatten(t["data"])
        else:
            raise InvalidInputError(f"Tensor {name!r} has no 'data'.")
        expected = 1
        for s in shape:
            expected *= s
        if len(values) != expected:
            raise InvalidInputError(
                f"Tensor {name!r} has {len(values)} values but its shape {shape} needs {expected}."
            )
        out.append((name, datatype, shape, values))
    return out


def _cast(datatype: str, values: list[Any]) -> list[Any]:
    if datatype in ("FP32", "FP64"):
        if not isinstance(values, list):  # a binary tensor's array
            return values
        return [float(v) if type(v) is int else v for v in values]
    if datatype == "BOOL":
        raise InvalidFeatureError("BOOL tensors are not accepted; send 0/1 as an integer tensor.")
    return values


def columns_from_request(body: Any, binary: bytes, schema: FeatureSchema) -> dict[str, list[Any]]:
    """One list of values per feature, from either input layout; raises 4xx errors."""
    tensors = _tensors(body, binary)
    if len(tensors) == 1 and tensors[0][0] == "input" and "input" not in schema.features:
        _, datatype, shape, values = tensors[0]
        if datatype not in ("FP32", "FP64"):
            raise InvalidFeatureError(
                f"The 2-D 'input' tensor must be FP32 or FP64, not {datatype}."
            )
        if schema.categorical:
            raise InvalidInputError(
                f"This model has categorical features {sorted(schema.categorical)}; send one "
                "tensor per feature (BYTES for categoricals) instead of a 2-D 'input'."
            )
        f = len(schema.features)
        if len(shape) != 2 or shape[1] != f:
            raise InvalidInputError(
                f"The 'input' tensor must have shape [N, {f}] (features {schema.features}); "
                f"got {shape}."
            )
        rows = shape[0]
        return {name: values[j : rows * f : f] for j, name in enumerate(schema.features)}
    wanted = set(schema.features)
    given = {name for name, *_ in tensors}
    missing = [f for f in schema.features if f not in given]
    if missing:
        raise InvalidInputError(
            f"Input tensor for feature {missing[0]!r} is missing; the model takes "
            f"{schema.features} (or one 2-D 'input')."
        )
    extra = sorted(given - wanted)
    if extra:
        raise InvalidInputError(
            f"Input tensor {extra[0]!r} is not a feature of this model; it takes {schema.features}."
        )
    lengths = set()
    columns: dict[str, list[Any]] = {}
    for name, datatype, shape, values in tensors:
        if len(shape) != 1 and not (len(shape) == 2 and shape[1] == 1):
            raise InvalidInputError(f"Tensor {name!r} must have shape [N]; got {shape}.")
        if schema.is_categorical(name) and datatype != "BYTES":
            raise InvalidFeatureError(f"Feature {name!r} is categorical: send it as BYTES.")
        if not schema.is_categorical(name) and datatype == "BYTES":
            raise InvalidFeatureError(f"Feature {name!r} is numeric: send it as FP32/FP64/INT.")
        columns[name] = _cast(datatype, values)
        lengths.add(len(values))
    if len(lengths) != 1:
        raise InvalidInputError("Every input tensor must have the same number of rows.")
    return columns


def _outputs_of(model: Any) -> list[str]:
    """The output names of a loaded model: its targets, the classifier outputs, or one."""
    if model.targets:
        return list(model.targets)
    if model.predictor.task.is_classification:
        return list(CLASSIFIER_OUTPUTS)
    return [OUTPUT]


def extra_outputs(body: Any, options: Any) -> list[str]:
    """The extra outputs (:data:`~rayops.serving.extras.EXTRA_OUTPUTS`) a request may
    name in ``outputs``; naming one its parameters do not produce is a 422 saying which."""
    outputs = body.get("outputs") if isinstance(body, dict) else None
    for o in outputs if isinstance(outputs, list) else []:
        name = o.get("name") if isinstance(o, dict) else None
        why = unknown_output(name, options) if isinstance(name, str) else None
        if why is not None:
            from rayops.serving.options import InvalidOptionError

            raise InvalidOptionError(why)
    return [n for n in EXTRA_OUTPUTS if unknown_output(n, options) is None]


def requested_outputs(body: Any, model: Any, extra: list[str] | None = None) -> list[str] | None:
    """Outputs a request's ``outputs`` asks for (None: all); 400 for unknown names.

    A regression model has one output, ``prediction``; a classifier ``label`` and
    ``probabilities``; a multi-target model one per target, named by the target;
    ``extra`` are the ones the request's parameters add.
    """
    outputs = body.get("outputs") if isinstance(body, dict) else None
    if outputs is None:
        return None
    if not isinstance(outputs, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs
    ):
        raise InvalidInputError("'outputs' must be a list of {\"name\": ...} objects.")
    names = [o["name"] for o in outputs]
    known = _outputs_of(model) + list(extra or ())
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InvalidInputError(f"Unknown output {unknown[0]!r}; this model has outputs {known}.")
    return list(dict.fromkeys(names)) or None


def infer_response(endpoint: str, result: Any, wanted: list[str] | None = None) -> dict[str, Any]:
    """An OIP inference response for a :class:`~rayops.serving.service.ServedPrediction`:
    ``prediction`` (FP64), or ``label`` (BYTES) and ``probabilities`` (FP32 ``[N, K]``),
    or one FP64 tensor per target; only the ``wanted`` ones when the request named some."""
    answer = result.answer
    tensors: list[dict[str, Any]] = []
    if result.outputs is not None:  # multi-target: one FP64 tensor per asked-for target
        for name, values in result.outputs.items():
            tensors.append({"name": name, "shape": [len(values)], "datatype": "FP64",
                            "data": values})  # fmt: skip
    elif answer.task.is_classification:
        n, k = answer.probabilities.shape
        tensors = [
            {"name": "label", "shape": [n], "datatype": "BYTES",
             "data": [str(v) for v in answer.labels]},
            {"name": "probabilities", "shape": [n, k], "datatype": "FP32",
             "data": answer.probabilities.astype("float32").ravel().tolist()},
        ]  # fmt: skip
    else:
        values = answer.values.tolist()
        tensors = [{"name": OUTPUT, "shape": [len(values)], "datatype": "FP64", "data": values}]
    extras = getattr(result, "extras", None)
    if extras is not None:
        tensors += extras.tensors()
    if wanted is not None and result.outputs is None:
        tensors = [t for t in tensors if t["name"] in wanted]
    params: dict[str, Any] = {"model": result.route.model, "request_id": result.request_id}
    if answer.task.is_classification:
        params["classes"] = list(answer.classes)
    if extras is not None:
        if extras.calibration is not None:
            params["calibration"] = extras.calibration
        if extras.explained and extras.contributions is not None:
            c = extras.contributions
            params.update(contributions_exact=c.exact, link=extras.link,
                          contributions_features=[*c.features, "bias"])  # fmt: skip
    return {
        "model_name": endpoint,
        "model_version": result.route.version,
        "id": result.request_id,
        "parameters": params,
        "outputs": tensors,
    }


def binary_outputs(body: Any) -> set[str] | bool:
    """Outputs to answer as binary tensors: True for all (request parameter
    ``binary_data_output``, tritonclient's default), else the names whose output
    entry has ``parameters.binary_data``."""
    if not isinstance(body, dict):
        return False
    params = body.get("parameters")
    if isinstance(params, dict) and params.get("binary_data_output") is True:
        return True
    names = set()
    for o in body.get("outputs") or []:
        if isinstance(o, dict) and isinstance(o.get("parameters"), dict):
            if o["parameters"].get("binary_data") is True and isinstance(o.get("name"), str):
                names.add(o["name"])
    return names


def _encode(datatype: str, data: list[Any]) -> bytes:
    import numpy as np

    if datatype == "BYTES":  # each element: a 4-byte little-endian length, then the bytes
        parts = []
        for item in data:
            raw = str(item).encode()
            parts.append(struct.pack("<I", len(raw)) + raw)
        return b"".join(parts)
    dtype = {"FP32": "<f4", "INT32": "<i4"}.get(datatype, "<f8")
    return np.asarray(data, dtype=dtype).tobytes()


def binary_response(response: dict[str, Any], binary: set[str] | bool) -> tuple[bytes, int]:
    """The body of an OIP response with the chosen outputs as little-endian bytes after
    the JSON header, and the header's length (``Inference-Header-Content-Length``)."""
    parts = []
    for out in response["outputs"]:
        if binary is True or out["name"] in binary:  # type: ignore[operator]
            raw = _encode(out["datatype"], out.pop("data"))
            out["parameters"] = {"binary_data_size": len(raw)}
            parts.append(raw)
    header = orjson.dumps(response)
    return header + b"".join(parts), len(header)


def model_metadata(endpoint: str, versions: list[str], model: Any) -> dict[str, Any]:
    """OIP model metadata: inputs in feature order (the layout of a 2-D ``input``) and
    outputs; a classifier's ``parameters.classes`` is its probabilities' column order."""
    schema: FeatureSchema = model.schema
    task = model.predictor.task
    if model.targets:
        outputs = [{"name": t, "datatype": "FP64", "shape": [-1]} for t in model.targets]
    elif task.is_classification:
        k = len(model.predictor.labels)
        outputs = [
            {"name": "label", "datatype": "BYTES", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, k]},
        ]
    else:
        outputs = [{"name": OUTPUT, "datatype": "FP64", "shape": [-1]}]
    out: dict[str, Any] = {
        "name": endpoint,
        "versions": versions,
        "platform": "xgboost",
        "inputs": [
            {"name": f, "datatype": "BYTES" if schema.is_categorical(f) else "FP64", "shape": [-1]}
            for f in schema.features
        ],
        "outputs": outputs,
        "parameters": {"task": str(task), "features": list(schema.features)},
    }
    if task.is_classification and not model.targets:
        out["parameters"]["classes"] = list(model.predictor.labels.classes)
    confidence = getattr(model, "confidence", None)
    if confidence is not None and not model.targets:
        out["parameters"]["uncertainty"] = confidence.describe()
    return out
