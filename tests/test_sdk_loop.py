"""Issue 13, acceptance 2: the SDK drives the whole loop against the shared Ray cluster and a
real S3 server — features, tune with CV, train, register, serve, predict and feedback over
HTTP, a canary judged on that traffic and promoted, monitoring, analytics, retraining, rollback.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from gateway import deploy_gateway_app, serve_http
from harness import logged

import rayops
from rayops.rollout.controller import RolloutTask
from rayops.training.spaces import parse_space

GRID = "space: {max_depth: {grid: [3, 5]}, n_estimators: {grid: [80]}}\ncv: {folds: 3}\n"


@pytest.mark.slow
def test_the_sdk_drives_the_loop_on_s3(ray_cluster: Any, s3_settings: Any, s3_uri: str) -> None:
    settings = rayops.Settings(
        storage=s3_uri, s3_endpoint_url=s3_settings.s3.endpoint_url, s3_region="us-east-1"
    )
    data = rayops.make_regression(1500, seed=5)
    with serve_http() as url:
        client = rayops.Client(s3_uri, url=url, settings=settings)
        v = client.features.write("sales", data.iloc[:1000], entity="entity_id",
                                  event_time="event_time", target="target")  # fmt: skip
        run = client.tune(v.ref, target="target", config=parse_space(GRID))
        assert len(run.trials) == 2 and run.best["params"]["max_depth"] in (3, 5)
        assert run.run["data"]["sha256"] == v.sha256
        # Production starts as a deliberately weak model (stumps, few rounds), so the tuned
        # candidate is better on any traffic and the canary's verdict is not a coin flip.
        weak = {"max_depth": 1, "learning_rate": 0.1}
        first = client.train(features=v.ref, target="target", params=weak, rounds=10,
                             register="sales")  # fmt: skip
        second = client.train(features=v.ref, target="target", params=run.best["params"],
                              rounds=80, register="sales")  # fmt: skip
        client.registry.set_alias("sales", "production", first["model"]["version"])
        client.endpoints.create("sales", "sales@production")
        deploy_gateway_app(url, s3_uri, s3_endpoint_url=settings.s3.endpoint_url,
                           s3_region="us-east-1")  # fmt: skip

        rows = data.iloc[1000:].drop(columns=["entity_id", "event_time"])
        features = rows.drop(columns=["target"])

        def traffic(n: int, start: int = 0) -> set[str]:
            ids = set()
            for i in range(start, start + n * 10, 10):
                part = slice(i % 500, i % 500 + 10)
                answer = client.predict("sales", features.iloc[part], key=f"user-{i}")
                client.feedback("sales", answer.request_id, rows["target"].iloc[part].tolist())
                ids.add(answer.request_id)
            return ids

        answer = client.predict("sales", features.head(3))
        assert answer.model == "sales" and answer.version == first["model"]["version"]
        assert len(answer.frame()) == 3

        doc = client.deploy("sales", second["model"]["ref"], strategy="canary", steps="50",
                            interval="2s", thresholds={"min_samples": 20})  # fmt: skip
        assert doc.weight == 50
        judge = RolloutTask(client.storage, settings)
        deadline = time.monotonic() + 120
        i = 0
        while not client.rollouts.get("sales").finished and time.monotonic() < deadline:
            sent = traffic(5, i)
            i += 50
            assert logged(client.storage, "sales", sent)  # judged only once it is logged
            judge.tick(datetime.now(UTC))
        rollout = client.rollouts.get("sales")
        assert rollout.status is rayops.RolloutStatus.PROMOTED, rollout.reason
        assert client.registry.get("sales@production").ref == second["model"]["ref"]

        status = client.monitor.status("sales", "1h")[0]
        assert set(status["versions"]) >= {first["model"]["ref"], second["model"]["ref"]}
        assert status["versions"][second["model"]["ref"]]["labeled"] >= 20
        report = client.analytics("sales", range="1h")
        assert report.totals.requests >= status["versions"][second["model"]["ref"]]["requests"]
        client.retraining.set_policy({"model": "sales", "endpoint": "sales", "features": "sales"})
        (check,) = client.retraining.check()
        assert check.production == second["model"]["ref"]

        back = client.rollback("sales", reason="sdk test")
        assert back.status is rayops.RolloutStatus.ROLLED_BACK
        assert client.registry.get("sales@production").ref == first["model"]["ref"]
        with pytest.raises(rayops.NotFoundError):
            client.predict("nowhere", features.head(1))
