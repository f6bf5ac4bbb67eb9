"""Fixtures for serving: tiny registered models, and Serve on 127.0.0.1 for one module.

Serve runs on the shared ``ray_cluster`` session (one proxy for the whole test
session, see tests/helpers/gateway.py); each module deploys its own gateway and
deletes its applications at the end.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gateway import serve_http
from harness import wait_until

sys.path.insert(0, str(Path(__file__).parent))

from serving_support import FEATURES, cat_frame, deploy, make_frame, ready, train  # noqa: E402

from rayops.registry import Registry  # noqa: E402
from rayops.storage import Storage, open_storage  # noqa: E402


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Storage:
    """A local storage root shared by the gateway replicas and the test."""
    return open_storage(str(tmp_path_factory.mktemp("serving") / "root"))


@pytest.fixture(scope="module")
def models(root: Storage) -> dict[str, str]:
    """Registered refs: demand 1.0.0 / 1.1.0 / 1.2.0, a categorical model and an ensemble."""
    from rayops.registry import EnsembleSpec

    reg = Registry(root)
    df = make_frame()
    refs = {}
    for label, depth in (("v1", 2), ("v2", 3), ("v3", 4)):
        refs[label] = reg.register("demand", train(df, FEATURES, depth=depth, seed=depth)).ref
    refs["cat"] = reg.register("colours", train(cat_frame(), ["x0", "colour"])).ref
    spec = EnsembleSpec(kind="weighted", members=[refs["v1"], refs["v2"]], weights=[3, 1])
    refs["ens"] = reg.register("blend", spec).ref
    return refs


@pytest.fixture(scope="module")
def serve_url(ray_cluster: Any) -> Iterator[str]:
    """Serve's HTTP proxy on 127.0.0.1:<free port> for this module only."""
    with serve_http() as url:
        yield url


@pytest.fixture(scope="module")
def gateway(serve_url: str, root: Storage, models: dict[str, str]) -> str:
    deploy(root)
    assert wait_until(ready(serve_url), timeout=30)
    return serve_url
