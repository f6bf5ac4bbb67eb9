"""Bad-input fuzzing of every HTTP route of the real gateway: only 4xx, never a 5xx.

Hypothesis generates malformed JSON, wrong/missing/extra features, wrong types,
NaN, ±inf, 1e39, huge numbers and strings, nested junk, wrong content types and
broken OIP tensors. More than 1,000 cases run per session (the counts are the
``max_examples`` below); afterwards the gateway must still pass its health check
and answer a valid request.

Hostile JSON (issue 18, ``tests/helpers/hostile_json.py``): brackets and objects
nested up to 100,000 deep, bodies of empty arrays, long strings, many keys and the
literals parsers disagree on, on predict, feedback and OIP infer (JSON and with the
binary extension's header), fixed and generated: each is a 2xx or a 4xx with the
error shape, a limit's 400 names its setting.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from harness import wait_until
from hostile_json import hostile_bodies, odd_json
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serving_support import FEATURES, deploy, ready

from rayops.storage import Storage

ALLOWED = {200, 201, 400, 404, 405, 413, 415, 422}
FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e39, -1e39, 1e308, 5e-324]),
    st.text(max_size=40),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
feature_names = st.sampled_from([*FEATURES, "x9", "", "colour", "é", "x0 "])
rows = st.dictionaries(feature_names, json_values, max_size=5)
predict_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries({"instances": st.lists(rows, max_size=4)}),
    st.fixed_dictionaries({"instances": json_values, "key": json_values}),
)
feedback_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"request_id": json_values, "actuals": st.lists(scalars, max_size=5) | json_values}
    ),
)


def _dumps(body: Any) -> str:
    # allow_nan: NaN/Infinity tokens are exactly what a sloppy client sends.
    return json.dumps(body, allow_nan=True)


#: Low enough that a body under the test gateway's 1 MB limit can exceed it.
MAX_VALUES = 200_000


@pytest.fixture(scope="module")
def gateway(serve_url: str, root: Storage, models: dict[str, str]) -> str:
    deploy(root, serving_max_json_values=MAX_VALUES)
    assert wait_until(ready(serve_url), timeout=30)
    return serve_url


@pytest.fixture(scope="module")
def endpoint(gateway: str, root: Storage, models: dict[str, str]) -> str:
    from rayops.serving import Endpoints

    Endpoints(root).create("fuzz", models["v1"])
    url = f"{gateway}/endpoints/fuzz/predict"
    import time

    deadline = time.monotonic() + 10
    while requests.post(url, json={"instances": [dict.fromkeys(FEATURES, 1.0)]}).status_code != 200:
        assert time.monotonic() < deadline, "the fuzz endpoint never became ready"
        time.sleep(0.2)
    return gateway


def _check(response: requests.Response) -> None:
    assert response.status_code in ALLOWED, (response.status_code, response.text[:500])
    if response.status_code >= 400:
        doc = response.json()  # a sentence and the error class, not a stack trace
        assert isinstance(doc["error"], str) and isinstance(doc["type"], str), doc


JSON_ROUTES = ["/endpoints/fuzz/predict", "/endpoints/fuzz/feedback", "/v2/models/fuzz/infer"]


def _post_everywhere(url: str, raw: bytes) -> list[requests.Response]:
    """``raw`` as the JSON body of every route that parses one, and as the JSON header of
    an OIP request with the binary extension (8 bytes of tensor data after it)."""
    out = [
        requests.post(url + path, data=raw, headers={"Content-Type": "application/json"},
                      timeout=30)
        for path in JSON_ROUTES
    ]  # fmt: skip
    binary = {
        "Content-Type": "application/octet-stream",
        "Inference-Header-Content-Length": str(len(raw)),
    }
    out.append(
        requests.post(f"{url}/v2/models/fuzz/infer", data=raw + bytes(8), headers=binary,
                      timeout=30)
    )  # fmt: skip
    return out


HOSTILE = hostile_bodies(FEATURES)


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_json_is_a_4xx_naming_the_limit(endpoint: str, case: str) -> None:
    raw, setting = HOSTILE[case]
    for r in _post_everywhere(endpoint, raw):
        _check(r)
        if setting is not None:
            assert r.status_code == 400 and setting in r.json()["error"], (r.url, r.text[:300])


def test_nan_and_infinity_tokens_keep_their_meaning(endpoint: str) -> None:
    row = '{"x0": NaN, "x1": 1.0, "x2": 2.0}'
    ok = requests.post(f"{endpoint}/endpoints/fuzz/predict", data=f'{{"instances": [{row}]}}',
                       headers={"Content-Type": "application/json"}, timeout=10)  # fmt: skip
    assert ok.status_code == 200, ok.text  # NaN is a missing value
    inf = row.replace("NaN", "-Infinity")
    r = requests.post(f"{endpoint}/endpoints/fuzz/predict", data=f'{{"instances": [{inf}]}}',
                      headers={"Content-Type": "application/json"}, timeout=10)  # fmt: skip
    assert r.status_code == 422 and "'x0' is infinite" in r.json()["error"], r.text
    request_id = ok.json()["request_id"]
    for token in ("NaN", "Infinity", "-Infinity"):
        r = requests.post(
            f"{endpoint}/endpoints/fuzz/feedback",
            data=f'{{"request_id": "{request_id}", "actuals": [{token}]}}',
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        assert r.status_code == 400, r.text
        assert "actuals[0]" in r.json()["error"] and "finite number" in r.json()["error"]


@settings(FUZZ, max_examples=100)
@given(raw=odd_json(), route=st.integers(min_value=0, max_value=3))
def test_fuzz_deep_and_odd_json(endpoint: str, raw: bytes, route: int) -> None:
    if route < len(JSON_ROUTES):
        r = requests.post(endpoint + JSON_ROUTES[route], data=raw,
                          headers={"Content-Type": "application/json"}, timeout=30)  # fmt: skip
    else:
        headers = {"Content-Type": "application/octet-stream",
                   "Inference-Header-Content-Length": str(len(raw))}  # fmt: skip
        r = requests.post(f"{endpoint}/v2/models/fuzz/infer", data=raw + bytes(8),
                          headers=headers, timeout=30)  # fmt: skip
    _check(r)


@settings(FUZZ, max_examples=250)
@given(body=predict_bodies)
def test_fuzz_predict_json(endpoint: str, body: Any) -> None:
    _check(
        requests.post(
            f"{endpoint}/endpoints/fuzz/predict",
            data=_dumps(body),
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
    )


@settings(FUZZ, max_examples=200)
@given(raw=st.binary(max_size=200), ctype=st.sampled_from([
    "application/json", "text/plain", "application/x-www-form-urlencoded", "", "application/xml",
    "multipart/form-data; boundary=x"]),
    path=st.sampled_from(["/endpoints/fuzz/predict", "/endpoints/fuzz/feedback",
                          "/v2/models/fuzz/infer", "/endpoints/nope/predict"]))  # fmt: skip
def test_fuzz_raw_bytes_and_content_types(endpoint: str, raw: bytes, ctype: str, path: str) -> None:
    _check(
        requests.post(f"{endpoint}{path}", data=raw, headers={"Content-Type": ctype}, timeout=10)
    )


tensor = st.fixed_dictionaries(
    {
        "name": feature_names | st.just("input"),
        "shape": st.lists(st.integers(min_value=-2, max_value=5), max_size=3),
        "datatype": st.sampled_from(["FP32", "FP64", "INT64", "BYTES", "BOOL", "FP16", "nope"]),
        "data": json_values,
    }
)


@settings(FUZZ, max_examples=200)
@given(body=st.one_of(st.fixed_dictionaries({"inputs": st.lists(tensor, max_size=4)}), json_values),
       version=st.sampled_from(["", "/versions/1.0.0", "/versions/9.9.9", "/versions/..%2F..",
                                "/versions/x"]))  # fmt: skip
def test_fuzz_oip_infer(endpoint: str, body: Any, version: str) -> None:
    _check(
        requests.post(
            f"{endpoint}/v2/models/fuzz{version}/infer",
            data=_dumps(body),
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
    )


@settings(FUZZ, max_examples=150)
@given(body=feedback_bodies)
def test_fuzz_feedback(endpoint: str, body: Any) -> None:
    _check(
        requests.post(
            f"{endpoint}/endpoints/fuzz/feedback",
            data=_dumps(body),
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
    )


def test_huge_requests_get_413_and_the_gateway_stays_healthy(endpoint: str) -> None:
    big = {"instances": [dict.fromkeys(FEATURES, 1.0)] * 200_000}  # above the row limit
    assert (
        requests.post(f"{endpoint}/endpoints/fuzz/predict", json=big, timeout=30).status_code == 413
    )
    blob = b"{" + b" " * 2_000_000 + b"}"  # above the body limit
    r = requests.post(
        f"{endpoint}/endpoints/fuzz/predict",
        data=blob,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert r.status_code == 413
    # After everything above, the replica is still healthy and answers valid requests.
    assert requests.get(f"{endpoint}/v2/health/ready", timeout=5).status_code == 200
    ok = requests.post(
        f"{endpoint}/endpoints/fuzz/predict",
        json={"instances": [dict.fromkeys(FEATURES, 0.5)]},
        timeout=10,
    )
    assert ok.status_code == 200 and len(ok.json()["predictions"]) == 1
