"""The registry is shared by every Ray worker: tasks register and load through storage."""

from __future__ import annotations

from typing import Any

import numpy as np

from rayops.registry import Registry
from rayops.storage import Storage


def test_ray_tasks_register_concurrently_and_load_by_alias(
    ray_cluster: Any, storage: Storage, booster: Any, frame: Any
) -> None:
    ray = ray_cluster
    model = bytes(booster.save_raw("ubj"))
    features = list(booster.feature_names)

    @ray.remote(num_cpus=0.5)  # type: ignore[untyped-decorator,unused-ignore]
    def register(s: Storage, i: int) -> str:
        return Registry(s).register("churn", model, features=features, run_id=f"task-{i}").version

    @ray.remote(num_cpus=0.5)  # type: ignore[untyped-decorator,unused-ignore]
    def predict(s: Storage, rows: Any) -> Any:
        return Registry(s).load("churn@production").predict(rows)

    versions = ray.get([register.remote(storage, i) for i in range(4)])
    assert sorted(versions) == ["1.0.0", "1.1.0", "1.2.0", "1.3.0"]
    reg = Registry(storage)
    reg.set_alias("churn", "production", "1.2.0")
    got = ray.get(predict.remote(storage, frame.head(20)))
    np.testing.assert_allclose(got, reg.load("churn@1.2.0").predict(frame.head(20)))
