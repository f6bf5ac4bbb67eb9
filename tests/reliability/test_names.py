"""Names that become storage paths: every public entry point that takes one refuses ``..``,
separators, absolute paths and control characters before anything is read or written.

Each entry point is called with each bad name on a storage root that already holds a
feature set, a model, an endpoint, a policy and an online-learning config named ``ok``
(so a refusal is the name's fault, not a missing object); the call must raise
``InvalidInputError`` (``InvalidNameError`` or a pydantic validation error naming the
field), and the root's keys, and the files beside the root, must be unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from pydantic import ValidationError

from rayops.errors import InvalidInputError
from rayops.storage import Storage, open_storage

BAD = [
    "..",
    "../escape",
    "a/../../b",
    "a/b",
    "a\\b",
    "/etc/passwd",
    "C:\\temp",
    "a\x00b",
    "a\nb",
    "\x1b[31mred",
    "",
    ".hidden",
    "a..b",
    "x" * 200,
]


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"x": rng.normal(size=50), "y": rng.normal(size=50)})


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Storage:
    from rayops.automation.retrainer import Retrainer
    from rayops.features import FeatureStore
    from rayops.online import OnlineLearner
    from rayops.registry import Registry
    from rayops.serving import Endpoints

    storage = open_storage(str(tmp_path_factory.mktemp("names") / "root"))
    FeatureStore(storage).write("ok", _frame(), target="y")
    df = _frame()
    booster = xgb.train({"nthread": 1}, xgb.DMatrix(df[["x"]], label=df["y"]), 2)
    mv = Registry(storage).register("ok", booster)
    Registry(storage).set_alias("ok", "production", mv.version)
    Endpoints(storage).create("ok", mv.ref)
    Retrainer(storage).set_policy({"model": "ok", "endpoint": "ok", "features": "ok"})
    OnlineLearner(storage).enable("ok")
    return storage


def _entry_points(s: Any, bad: str) -> dict[str, Callable[[], Any]]:
    from rayops.analytics import analyze
    from rayops.automation.jobs import JobStore
    from rayops.automation.requests import request_retrain
    from rayops.automation.retrainer import Retrainer
    from rayops.features import FeatureStore
    from rayops.monitoring import Monitor
    from rayops.online import OnlineLearner
    from rayops.registry import EnsembleSpec, Registry
    from rayops.rollout import Rollouts
    from rayops.serving import Endpoints
    from rayops.training import get_run, read_trials

    # Objects are built inside each call, so listing the entry points touches nothing.
    def fs() -> FeatureStore:
        return FeatureStore(s)

    def reg() -> Registry:
        return Registry(s)

    def eps() -> Endpoints:
        return Endpoints(s)

    def booster() -> xgb.Booster:
        df = _frame()
        return xgb.train({"nthread": 1}, xgb.DMatrix(df[["x"]], label=df["y"]), 1)

    return {
        # feature sets
        "FeatureStore.write": lambda: fs().write(bad, _frame()),
        "FeatureStore.read": lambda: fs().read(f"{bad}@1"),
        "FeatureStore.get": lambda: fs().get(bad),
        "FeatureStore.versions": lambda: fs().versions(bad),
        # models and aliases
        "Registry.register": lambda: reg().register(bad, booster()),
        "Registry.register(ensemble member)": lambda: reg().register(
            "blend", EnsembleSpec(kind="weighted", members=[f"{bad}@1.0.0", "ok@1.0.0"])
        ),
        "Registry.get": lambda: reg().get(f"{bad}@1.0.0"),
        "Registry.load": lambda: reg().load(f"{bad}@production"),
        "Registry.set_alias(name)": lambda: reg().set_alias(bad, "production", "1.0.0"),
        "Registry.set_alias(alias)": lambda: reg().set_alias("ok", bad, "1.0.0"),
        "Registry.get(alias)": lambda: reg().get(f"ok@{bad}"),
        "Registry.history": lambda: reg().history(bad),
        # endpoints and rollouts
        "Endpoints.create": lambda: eps().create(bad, "ok@1.0.0"),
        "Endpoints.create(route)": lambda: eps().create("new", f"{bad}@1.0.0"),
        "Endpoints.get": lambda: eps().get(bad),
        "Endpoints.delete": lambda: eps().delete(bad),
        "Rollouts.deploy": lambda: Rollouts(s).deploy(bad, "ok@1.0.0", strategy="full"),
        "Rollouts.get": lambda: Rollouts(s).get(bad),
        # tuning runs
        "get_run": lambda: get_run(s, bad),
        "read_trials": lambda: read_trials(s, bad),
        # retraining
        "Retrainer.set_policy(model)": lambda: Retrainer(s).set_policy(
            {"model": bad, "features": "ok"}
        ),
        "Retrainer.set_policy(endpoint)": lambda: Retrainer(s).set_policy(
            {"model": "ok", "endpoint": bad, "features": "ok"}
        ),
        "Retrainer.get_policy": lambda: Retrainer(s).get_policy(bad),
        "Retrainer.history": lambda: Retrainer(s).history(bad),
        "request_retrain": lambda: request_retrain(s, bad, reason="r", source="test"),
        "JobStore.get(job)": lambda: JobStore(s).get("ok", bad),
        # online learning, monitoring, analytics
        "OnlineLearner.enable": lambda: OnlineLearner(s).enable(bad),
        "OnlineLearner.config": lambda: OnlineLearner(s).config(bad),
        "OnlineLearner.log": lambda: OnlineLearner(s).log(bad),
        "Monitor.add_rule": lambda: Monitor(s).add_rule(
            name=bad, metric="mae", comparator=">", threshold=1.0
        ),
        "Monitor.alerts": lambda: Monitor(s).alerts(bad),
        "Monitor.drift": lambda: Monitor(s).drift(bad),
        "analyze": lambda: analyze(s, bad, range="1h"),
    }


#: Entry points whose name is an optional filter: there "" means "every name" (None), which
#: reads the same keys as no filter and never builds a path from the empty string.
OPTIONAL_FILTERS = {"Retrainer.history"}


@pytest.mark.parametrize("entry", sorted(_entry_points(None, "x")))
def test_every_entry_point_refuses_every_bad_name(root: Storage, entry: str) -> None:
    root_dir = Path(root.uri.removeprefix("file://"))
    before, beside = set(root.list_keys("")), set(root_dir.parent.rglob("*"))
    for bad in BAD:
        if bad == "" and entry in OPTIONAL_FILTERS:
            continue
        call = _entry_points(root, bad)[entry]
        with pytest.raises((InvalidInputError, ValidationError)) as caught:
            call()
        if isinstance(caught.value, ValidationError):  # a pydantic model's field validator
            assert "valid" in str(caught.value), (entry, bad, caught.value)
        assert "Traceback" not in str(caught.value)
    assert set(root.list_keys("")) == before, entry  # nothing written, however it failed
    assert set(root_dir.parent.rglob("*")) == beside, entry  # nothing created beside it
