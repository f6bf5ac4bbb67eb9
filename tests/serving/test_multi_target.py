"""Multi-target ensembles: registry, in-process evaluation, routing rules and the logs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from serving_support import FEATURES, make_frame, train

from rayops.errors import InvalidInputError
from rayops.registry import EnsembleSpec, Registry
from rayops.serving import Endpoints
from rayops.serving.models import evaluate, evaluate_targets
from rayops.storage import Storage, open_storage
from rayops.telemetry.readers import joined
from rayops.telemetry.targets import joined_targets
from rayops.telemetry.writers import FeedbackLog, PredictionLog

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def register_perf(reg: Registry) -> tuple[str, str, str]:
    df = make_frame(200)
    cost = df.assign(y=2 * df["x1"] + 1)
    lat = reg.register("latency", train(df, FEATURES)).ref
    cst = reg.register("cost", train(cost, FEATURES)).ref
    spec = EnsembleSpec(kind="multi_target", members=[lat, cst], targets=["latency", "cost"])
    return lat, cst, reg.register("perf", spec).ref


def test_multi_target_predicts_every_target(tmp_path: object) -> None:
    reg = Registry(open_storage(str(tmp_path)))
    lat, cst, perf = register_perf(reg)
    predictor = reg.load(perf)
    frame = make_frame(9, seed=4)[FEATURES]
    assert predictor.targets == ["latency", "cost"]
    both = evaluate_targets(predictor, frame)
    assert list(both) == ["latency", "cost"]
    assert both["cost"] == pytest.approx(reg.load(cst).predict(frame), rel=1e-6)
    assert both["latency"] == pytest.approx(reg.load(lat).predict(frame), rel=1e-6)
    # Single-valued readers see the primary target.
    assert evaluate(predictor, frame) == pytest.approx(both["latency"])
    assert predictor.predict(frame) == pytest.approx(both["latency"], rel=1e-6)
    # A multi-target ensemble cannot be a member of another ensemble.
    bad = reg.register("nested", EnsembleSpec(kind="weighted", members=[perf, lat]))
    with pytest.raises(InvalidInputError, match="multi-target ensemble"):
        reg.load(bad.ref)


def test_versions_of_an_endpoint_share_their_targets(tmp_path: object) -> None:
    storage = open_storage(str(tmp_path))
    reg = Registry(storage)
    lat, _, perf = register_perf(reg)
    eps = Endpoints(storage)
    eps.create("perf", perf)
    with pytest.raises(InvalidInputError, match="same targets"):
        eps.set_routes("perf", {perf: 90, lat: 10})
    with pytest.raises(InvalidInputError, match="same targets"):
        eps.create("single", lat, shadow=perf)


@pytest.mark.parametrize("storage", ["local", "s3"], indirect=True)
def test_target_logs_join_per_target_and_keep_the_primary_series(storage: Storage) -> None:
    log = PredictionLog(storage, flush_s=3600, now=lambda: NOW)
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    log.record(
        request_id="r1", endpoint="perf", ref="perf@1.0.0", frame=frame,
        predictions=[10.0, 20.0], latency_ms=1.0,
        targets={"latency": [10.0, 20.0], "cost": [1.0, 2.0]},
    )  # fmt: skip
    log.close()
    fb = FeedbackLog(storage, now=lambda: NOW + timedelta(minutes=1))
    asyncio.run(fb.write("perf", "r1", [], targets={"cost": [1.5, 2.0]}))
    asyncio.run(fb.write("perf", "r1", [12.0, 18.0], targets={"latency": [12.0, 18.0]}))
    start, end = NOW - timedelta(hours=1), NOW + timedelta(hours=1)
    # The existing readers: one row per request row, the primary target.
    main = joined(storage, "perf", start, end)
    assert main["prediction"].tolist() == [10.0, 20.0]
    assert main["error"].tolist() == [-2.0, 2.0]
    # Per target, long form.
    per = joined_targets(storage, "perf", start, end).sort_values(["target", "row"])
    assert per[["target", "row"]].values.tolist() == [
        ["cost", 0], ["cost", 1], ["latency", 0], ["latency", 1],
    ]  # fmt: skip
    assert per["error"].tolist() == [-0.5, 0.0, -2.0, 2.0]
    assert set(per["version"]) == {"1.0.0"}
