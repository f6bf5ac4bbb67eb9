"""Loaded models: in-process evaluation of boosters and every ensemble kind, and the cache."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from serving_support import FEATURES, cat_frame, make_frame, train

from rayops.registry import EnsembleSpec, Registry
from rayops.serving.models import ModelCache, evaluate
from rayops.storage import open_storage


@pytest.fixture(scope="module")
def reg(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    return Registry(open_storage(str(tmp_path_factory.mktemp("models") / "root")))


def test_every_ensemble_kind_matches_an_independent_computation(reg: Registry) -> None:
    df = make_frame(200)
    boosters = [train(df, FEATURES, depth=d, seed=d) for d in (2, 3, 4)]
    refs = [reg.register(f"member{i}", b).ref for i, b in enumerate(boosters)]
    frame = make_frame(50, seed=11)[FEATURES]
    raw = [b.predict(xgb.DMatrix(frame)) for b in boosters]  # independent of rayops
    oof = pd.DataFrame(
        {r: b.predict(xgb.DMatrix(df[FEATURES])) for r, b in zip(refs, boosters, strict=True)}
    )
    meta = xgb.train({"max_depth": 2, "nthread": 1}, xgb.DMatrix(oof, label=df["y"]), 10)
    meta_ref = reg.register("meta", meta).ref
    cases = {
        "weighted": (
            EnsembleSpec(kind="weighted", members=refs, weights=[1, 2, 1]),
            (raw[0] + 2 * raw[1] + raw[2]) / 4,
        ),
        "dynamic": (
            EnsembleSpec(kind="dynamic", members=refs, context=["x0"]),
            (raw[0] + raw[1] + raw[2]) / 3,
        ),  # no recent errors yet: equal weights
        "stacked": (
            EnsembleSpec(kind="stacked", members=refs, meta=meta_ref),
            meta.predict(xgb.DMatrix(pd.DataFrame(dict(zip(refs, raw, strict=True))))),
        ),
    }
    for kind, (spec, expected) in cases.items():
        predictor = reg.load(reg.register(f"ens-{kind}", spec).ref)
        assert evaluate(predictor, frame) == pytest.approx(expected, rel=1e-5), kind
        assert evaluate(predictor, frame) == pytest.approx(predictor.predict(frame), rel=1e-6)


def test_categorical_booster_matches_the_registry_predictor(reg: Registry) -> None:
    predictor = reg.load(reg.register("cat", train(cat_frame(), ["x0", "colour"])).ref)
    subset = pd.DataFrame({"x0": [0.5, -1.0], "colour": pd.Categorical(["green", "green"])})
    assert evaluate(predictor, subset) == pytest.approx(predictor.predict(subset))
    assert np.all(evaluate(predictor, subset) < -3)  # recoded: green, not code 0 = blue


def test_cache_loads_each_version_once(reg: Registry, tmp_path: Path) -> None:
    ref = reg.register("cached", train(make_frame(), FEATURES)).ref
    calls: list[str] = []

    def load(r: str) -> object:
        calls.append(r)
        return reg.load(r)

    cache = ModelCache(load, capacity=1)
    with ThreadPoolExecutor(8) as pool:
        models = list(pool.map(lambda _: cache.get(ref), range(16)))
    assert calls == [ref] and all(m is models[0] for m in models)
    assert models[0].schema.features == FEATURES and models[0].kind == "booster"
    cache.retain(set())
    assert len(cache) == 0


def test_a_replica_predicts_with_the_cpus_ray_reserved_for_it(
    reg: Registry, ray_cluster: object
) -> None:
    import json

    import ray

    from rayops.serving.models import replica_threads

    df = make_frame(100)
    ref = reg.register("threads", train(df, FEATURES, depth=2, seed=1)).ref
    assert replica_threads() is None  # the driver reserved no CPU: XGBoost's default

    @ray.remote(num_cpus=1)
    def threads_in_a_worker() -> tuple[int | None, str]:
        cache = ModelCache(reg.load)
        booster = cache.get(ref).predictor.booster
        config = json.loads(booster.save_config())
        return cache.threads, config["learner"]["generic_param"]["nthread"]

    assert ray.get(threads_in_a_worker.remote()) == (1, "1")
