"""The Endpoints API on local disk and on the S3 server: create, change, history, validation."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import xgboost as xgb
from serving_support import FEATURES, make_frame, train

from rayops.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from rayops.registry import Registry
from rayops.serving import Endpoints
from rayops.storage import Storage


@pytest.fixture(scope="module")
def booster() -> xgb.Booster:
    return train(make_frame(), FEATURES)


@pytest.fixture
def eps(storage: Storage, booster: xgb.Booster) -> Endpoints:
    reg = Registry(storage)
    reg.register("m", booster)
    reg.register("m", booster)
    reg.set_alias("m", "champion", "1.1.0")
    return Endpoints(storage)


def test_create_update_read_and_history(eps: Endpoints, storage: Storage) -> None:
    created = eps.create("churn", "m@1.0.0", actor="ann", reason="first")
    assert created.revision == 1 and [r.weight for r in created.routes] == [100]
    assert storage.exists("endpoints/churn/routing.json")
    changed = eps.set_routes("churn", {"m@1.0.0": 90, "m@champion": 10})
    assert changed.revision == 2
    assert [(r.ref, r.weight) for r in changed.routes] == [("m@1.0.0", 90), ("m@1.1.0", 10)]
    assert eps.get("churn") == changed
    assert eps.list() == ["churn"]
    history = eps.history("churn")
    assert [h.action for h in history] == ["created", "updated"]
    assert history[1].previous == created and history[0].actor == "ann"
    assert all(
        k.startswith("endpoints/churn/history/")
        for k in storage.list_keys("endpoints/churn/history/")
    )


def test_shadow_is_kept_only_when_asked(eps: Endpoints) -> None:
    eps.create("s", "m@1.0.0", shadow={"ref": "m@1.1.0", "share": 0.5})
    assert eps.get("s").shadow is not None
    assert eps.set_routes("s", "m@1.0.0", keep_shadow=True).shadow is not None
    assert eps.set_routes("s", "m@1.0.0").shadow is None


@pytest.mark.parametrize(
    ("routes", "error", "words"),
    [
        ({"m@1.0.0": 90}, InvalidInputError, "sum to 100"),
        ("m@9.9.9", NotFoundError, "no version 9.9.9"),
        ("nomodel@1.0.0", NotFoundError, "nomodel"),
        ("m", InvalidInputError, "NAME@VERSION"),
        ({"m@1.0.0": 50, "m@1.1.0": 50, "m@x..y": 0}, InvalidInputError, "x..y"),
    ],
)
def test_bad_routes_are_refused(eps: Endpoints, routes: Any, error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        eps.create("bad", routes)
    assert eps.list() == []


def test_names_and_existence(eps: Endpoints) -> None:
    eps.create("a", "m@1.0.0")
    with pytest.raises(AlreadyExistsError, match="already exists"):
        eps.create("a", "m@1.0.0")
    with pytest.raises(NotFoundError, match="No endpoint named 'b'; endpoints: a"):
        eps.get("b")
    with pytest.raises(InvalidInputError):
        eps.create("../x", "m@1.0.0")
    eps.delete("a")
    assert eps.list() == []
    assert [h.action for h in eps.history("a")] == ["created", "deleted"]


def test_concurrent_changes_all_land(eps: Endpoints) -> None:
    eps.create("c", "m@1.0.0")
    weights = list(range(1, 9))
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda w: eps.set_routes("c", {"m@1.0.0": 100 - w, "m@1.1.0": w}), weights))
    assert eps.get("c").revision == 1 + len(weights)
    assert len(eps.history("c")) == 1 + len(weights)
