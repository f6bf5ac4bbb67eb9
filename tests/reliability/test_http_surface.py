"""Every HTTP route of the gateway, found by enumerating the FastAPI app's routes (so a new
route cannot be forgotten): with ``RAYOPS_API_TOKEN`` set each one but the health checks
answers 401 without the token, and hypothesis-generated bad input on each one (path
segments, query strings, bodies, content types) gets only 2xx/4xx, never a 5xx.

``tests/serving/test_fuzz_http.py`` fuzzes the prediction and feedback bodies in depth
(1,050 cases); this module adds every other route, the dashboard and its JSON API, with
the token in force. At the end the replica is healthy, and neither the token nor the S3
secret key appears in any answer or in any log of this Ray cluster.
"""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from gateway import deploy_gateway_app, serve_http, tiny_endpoint
from hostile_json import odd_json
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rayops.config import Settings
from rayops.storage import Storage, open_storage

TOKEN = f"rayops-token-{uuid.uuid4().hex}"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ALLOWED = {200, 201, 303, 307, 400, 401, 404, 405, 409, 413, 415, 422}
FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
CASES: Counter[str] = Counter()  # fuzz requests sent, by test


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Storage:
    storage = open_storage(str(tmp_path_factory.mktemp("surface") / "root"))
    tiny_endpoint(storage, "acl", seed=2)
    return storage


@pytest.fixture(scope="module")
def url(ray_cluster: Any, root: Storage) -> Iterator[str]:
    with serve_http() as base:
        deploy_gateway_app(base, root.uri, api_token=TOKEN)
        yield base


def _routes(root: Storage) -> list[tuple[str, str]]:
    """(method, path template) of every route of the app the gateway serves."""
    from rayops.apps.gateway import gateway_api
    from rayops.serving.service import GatewayService

    service = GatewayService(Settings(storage=root.uri, api_token=TOKEN))
    try:
        app = gateway_api(service)
    finally:
        service.close()
    out = []
    for route in app.routes:
        for method in sorted(getattr(route, "methods", None) or ()):
            if method != "HEAD":
                out.append((method, str(route.path)))
    return sorted(out)


def _fill(path: str, values: dict[str, str] | None = None) -> str:
    values = values or {"endpoint": "acl", "version": "1.0.0"}
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, path
    return path


def _call(url: str, method: str, path: str, headers: dict[str, str], **kw: Any) -> Any:
    if method == "POST" and "data" not in kw:
        kw["json"] = {"instances": [{"a": 1.0, "b": 2.0}]}
    return requests.request(
        method, url + path, headers=headers, timeout=30, allow_redirects=False, **kw
    )


def _secret_free(response: requests.Response) -> None:
    for secret in (TOKEN, os.environ.get("AWS_SECRET_ACCESS_KEY") or TOKEN):
        assert secret not in response.text and secret not in str(response.headers)


def test_every_route_but_health_needs_the_token(url: str, root: Storage) -> None:
    routes = _routes(root)
    paths = {p for _, p in routes}
    # The enumeration sees the routes added since serving (a sanity check, not the list).
    assert {"/endpoints/{endpoint}/predict", "/dashboard", "/dashboard/api/report"} <= paths
    checked = []
    for method, template in routes:
        path = _fill(template)
        if template.startswith("/v2/health/"):
            assert _call(url, method, path, {}).status_code == 200, path
            continue
        wrong = [
            {},
            {"Authorization": "Bearer nope"},
            {"Authorization": f"Basic {TOKEN}"},
            {"Authorization": f"Bearer {TOKEN}x"},
            {"Cookie": "rayops_token=nope"},
        ]
        for headers in wrong:
            r = _call(url, method, path, headers)
            assert r.status_code == 401, (method, path, headers, r.status_code, r.text[:200])
            _secret_free(r)
        r = _call(url, method, path + "?token=nope", {})
        assert r.status_code == 401, (method, path, "?token=nope", r.status_code)
        ok = _call(url, method, path, AUTH)  # the route works with the token
        assert ok.status_code not in (401, 403) and ok.status_code < 500, (method, path, ok.text)
        _secret_free(ok)
        checked.append(f"{method} {template}")
    print(f"\n{len(checked)} routes need the token: {checked}")
    assert len(checked) >= 14


def test_the_dashboard_token_moves_to_a_cookie_and_leaves_the_url(url: str) -> None:
    r = requests.get(f"{url}/dashboard?token={TOKEN}&range=7d", allow_redirects=False, timeout=30)
    assert r.status_code == 303 and TOKEN not in r.headers["location"]
    assert r.headers["location"] == "/dashboard?range=7d"
    cookie = r.cookies.get("rayops_token")
    assert cookie == TOKEN and "httponly" in r.headers["set-cookie"].lower()
    jar = {"rayops_token": cookie}
    assert requests.get(f"{url}/dashboard", cookies=jar, timeout=30).status_code == 200
    api = requests.get(f"{url}/dashboard/api/endpoints", cookies=jar, timeout=30)
    assert api.status_code == 200 and api.json()["endpoints"] == ["acl"]


# --- fuzzing ---------------------------------------------------------------------------------
segments = st.one_of(
    st.sampled_from(
        ["acl", "nope", "..", ".", "%2e%2e", "a..b", "-x", "1.0.0", "9.9.9", "acl@1.0.0", "x" * 300]
    ),
    st.text(min_size=1, max_size=30),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
queries = st.dictionaries(
    st.sampled_from(["endpoint", "range", "token", "start", "end", "x", ""]),
    st.one_of(
        st.sampled_from(
            [
                "acl",
                "24h",
                "1h",
                "7d",
                "90m",
                "0h",
                "-1h",
                "1y",
                "",
                "..",
                "acl/../x",
                "nope",
                "1e400h",
                "9" * 40 + "d",
            ]
        ),
        st.text(max_size=20),
    ),
    max_size=3,
)
bodies = st.one_of(
    json_values.map(lambda v: (json.dumps(v, allow_nan=True).encode(), "application/json")),
    odd_json().map(lambda raw: (raw, "application/json")),  # deep and odd JSON (issue 18)
    st.tuples(
        st.binary(max_size=200),
        st.sampled_from(
            [
                "application/json",
                "text/plain",
                "",
                "application/xml",
                "application/octet-stream",
                "multipart/form-data; boundary=x",
            ]
        ),
    ),
)


def _check(response: requests.Response) -> None:
    assert response.status_code in ALLOWED, (response.status_code, response.text[:500])
    assert "Traceback" not in response.text
    kind = response.headers.get("content-type", "")
    if response.status_code >= 400 and "json" in kind:
        doc = response.json()  # a sentence and the error class, not a stack trace
        assert isinstance(doc["error"], str) and isinstance(doc["type"], str), doc
    _secret_free(response)


@pytest.fixture(scope="module")
def routes(root: Storage) -> list[tuple[str, str]]:
    return _routes(root)


@settings(FUZZ, max_examples=300)
@given(
    data=st.data(), params=st.lists(segments, min_size=2, max_size=2), query=queries, body=bodies
)
def test_fuzz_every_route(
    url: str,
    routes: list[tuple[str, str]],
    data: Any,
    params: list[str],
    query: dict[str, str],
    body: tuple[bytes, str],
) -> None:
    method, template = data.draw(st.sampled_from(routes))
    path = _fill(
        template, {"endpoint": quote(params[0], safe=""), "version": quote(params[1], safe="")}
    )
    raw, kind = body
    headers = {**AUTH, "Content-Type": kind} if kind else dict(AUTH)
    r = requests.request(
        method,
        url + path,
        params=query,
        data=raw if method == "POST" else None,
        headers=headers,
        timeout=60,
        allow_redirects=False,
    )
    CASES["every route"] += 1
    _check(r)


@settings(FUZZ, max_examples=150)
@given(
    query=queries,
    path=st.sampled_from(["/dashboard", "/dashboard/api/endpoints", "/dashboard/api/report"]),
)
def test_fuzz_dashboard_queries(url: str, query: dict[str, str], path: str) -> None:
    r = requests.get(url + path, params=query, headers=AUTH, timeout=60, allow_redirects=False)
    CASES["dashboard"] += 1
    _check(r)


@settings(FUZZ, max_examples=150)
@given(endpoint=segments, query=queries)
def test_fuzz_dashboard_report_endpoints(url: str, endpoint: str, query: dict[str, str]) -> None:
    r = requests.get(
        f"{url}/dashboard/api/report",
        params={**query, "endpoint": endpoint},
        headers=AUTH,
        timeout=60,
    )
    CASES["dashboard report"] += 1
    _check(r)


def test_the_gateway_is_healthy_and_no_secret_reached_a_log(url: str) -> None:
    import ray

    print(f"\nfuzz cases sent: {dict(CASES)}, total {sum(CASES.values())}")
    # The three fuzz tests above ran (Hypothesis may stop short of max_examples on its own).
    assert sum(CASES.values()) >= 450
    assert requests.get(f"{url}/v2/health/ready", timeout=10).status_code == 200
    ok = requests.post(
        f"{url}/endpoints/acl/predict",
        headers=AUTH,
        json={"instances": [{"a": 0.1, "b": 0.2}]},
        timeout=30,
    )
    assert ok.status_code == 200 and len(ok.json()["predictions"]) == 1
    # Every log file of this cluster (Serve's controller, proxy, replicas, workers).
    session = Path(ray._private.worker._global_node.get_session_dir_path())  # type: ignore[attr-defined]
    secrets = [TOKEN] + [os.environ[k] for k in ("AWS_SECRET_ACCESS_KEY",) if os.environ.get(k)]
    files = [p for p in (session / "logs").rglob("*") if p.is_file()]
    assert files
    for p in files:
        text = p.read_bytes()
        for secret in secrets:
            at = text.find(secret.encode())
            assert at < 0, f"a secret is in {p}: ...{text[max(0, at - 400) : at + 100]!r}"
