"""The quickstart: the rayops loop on embedded defaults (local storage, local Ray).

Every step uses the same SDK a user would: data with a drift point → a
versioned feature set → tuning with k-fold CV on Ray Tune → a registered,
promoted model → served by the gateway on Ray Serve → traffic and feedback
before and after the drift point (error read back from the logs) → fine-tuning
behind the validation gate → the endpoint switched to the adapted version
without a restart → its error on the same traffic. Drift detection, canaries and
automated retraining join the loop as they land.

Library code: the caller (``rayops quickstart``) starts Ray.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

__all__ = ["run_quickstart"]

MODEL = "quickstart-demand"
STACK = "quickstart-stack"
FEATURES = "quickstart-demand"

_GRID = """
space:
  max_depth: {grid: [3, 5]}
  learning_rate: {grid: [0.1, 0.3]}
  n_estimators: {grid: [60, 120]}
cv: {folds: 3}
"""


def run_quickstart(
    storage: str | None = None,
    rows: int = 8_000,
    echo: Callable[[str], Any] | None = print,
    *,
    port: int = 8000,
    keep_serving: bool = False,
) -> dict[str, Any]:
    """Run the loop and return a summary dict (needs a Ray session).

    Example:
        >>> import ray, tempfile
        >>> _ = ray.init(num_cpus=2)  # doctest: +SKIP
        >>> run_quickstart(tempfile.mkdtemp(), rows=4_000, echo=None)["promoted"]  # doctest: +SKIP
        'quickstart-demand@1.0.1'
    """
    from rayops.datasets import ConceptDrift, CovariateDrift, make_regression
    from rayops.features import FeatureStore
    from rayops.registry import Registry, Stage
    from rayops.storage import open_storage
    from rayops.training.finetune import fine_tune
    from rayops.training.fit import evaluate
    from rayops.training.spaces import parse_space
    from rayops.training.tune import run_tune

    say = echo or (lambda _msg: None)
    started = time.perf_counter()
    store = open_storage(storage)
    store.check()
    say(f"1. storage root {store.uri} is reachable and writable")

    drift_at = int(rows * 0.6)
    data = make_regression(
        rows,
        seed=7,
        covariate_drift=CovariateDrift(at_row=drift_at, features=("num_0",), shift=1.5),
        concept_drift=ConceptDrift(at_row=drift_at, strength=0.6),
    )
    before, after = data.iloc[:drift_at], data.iloc[drift_at:]
    say(f"2. generated {rows} rows; covariate and concept drift start at row {drift_at}")

    fs = FeatureStore(store)
    roles: dict[str, Any] = {"entity": "entity_id", "event_time": "event_time", "target": "target"}
    v1 = fs.write(FEATURES, before, description="quickstart: before the drift", **roles)
    say(f"3. feature set {v1.ref}: {v1.row_count} rows, sha256 {v1.sha256[:12]}…")

    training = fs.read(v1.ref)
    tuned = run_tune(
        training,
        target="target",
        space=parse_space(_GRID),
        storage=store,
        exclude=("entity_id", "event_time"),
        register=MODEL,
        lineage={"feature_set": v1.name, "version": v1.version, "sha256": v1.sha256,
                 "rows": v1.row_count},
        config_name="quickstart-grid",
    )  # fmt: skip
    best = tuned.best
    say(
        f"4. tuned {len(tuned.trials)} configurations x 3 folds on Ray Tune: best CV RMSE "
        f"{best['score']:.3f} (linear baseline {tuned.baseline['score']:.3f}); "
        f"run {tuned.run_id}"
    )

    registry = Registry(store)
    if not tuned.registered:
        raise RuntimeError("The tuning run did not register a model.")
    first = registry.get(f"{MODEL}@{tuned.registered['version']}")
    registry.transition(first.ref, Stage.STAGING, reason="quickstart: CV passed")
    registry.transition(first.ref, Stage.PRODUCTION, reason="quickstart: first model")
    registry.set_alias(MODEL, "production", first.version, reason="first model")
    say(f"5. registered {first.ref} and promoted it to production")

    from rayops.client import Client
    from rayops.serving.gateway import APP_NAME, deploy_gateway
    from rayops.training.stacking import train_stacked

    shallow = {"max_depth": 2, "learning_rate": 0.3, "n_estimators": 60}
    stack = train_stacked(
        store, training, "target", name=STACK, members=[dict(best["params"]), shallow],
        features=[c for c in training.columns if c not in ("target", "entity_id", "event_time")],
        folds=3, lineage={"feature_set": v1.name, "version": v1.version, "sha256": v1.sha256,
                          "rows": v1.row_count},
    )  # fmt: skip
    member_rmse = ", ".join(f"{m['rmse']:.3f}" for m in stack.member_cv.values())
    say(
        f"5b. stacked ensemble {stack.ensemble}: out-of-fold RMSE {stack.stack_cv['rmse']:.3f} "
        f"(members {member_rmse})"
    )

    url = deploy_gateway(store.uri, port=port, num_cpus=0.5, settings={"serving_log_flush_s": 0.5})
    client = Client(store, url=url)
    client.endpoints.create(MODEL, f"{MODEL}@{first.version}")
    client.endpoints.create(STACK, stack.ensemble)
    live_stack = _traffic(client, store, before.iloc[-400:], endpoint=STACK)
    live_before = _traffic(client, store, before.iloc[-400:])
    live_after = _traffic(client, store, after.iloc[:400])
    say(
        f"6. serving {MODEL} and the stack at {url}/endpoints/<name>/predict: live MAE from the "
        f"logs {live_before:.2f} (stack {live_stack:.2f}) before the drift point, "
        f"{live_after:.2f} after it"
    )

    v2 = fs.write(FEATURES, data, description="quickstart: with post-drift rows", **roles)
    booster = registry.load(f"{MODEL}@production").booster  # type: ignore[union-attr]
    err_before = evaluate(booster, before.iloc[-1000:], "target")["mae"]
    err_after = evaluate(booster, after, "target")["mae"]
    say(f"7. the new rows become {v2.ref}; offline MAE {err_before:.2f} -> {err_after:.2f}")

    result = fine_tune(store, f"{MODEL}@production", after, "target", rounds=80,
                       time_column="event_time")  # fmt: skip
    say(f"8. fine-tuned on post-drift rows: {result.reason}")
    promoted, live_adapted = None, None
    if result.accepted and result.version:
        ref = f"{MODEL}@{result.version}"
        registry.transition(ref, Stage.STAGING, reason="fine-tune passed the gate")
        registry.transition(ref, Stage.PRODUCTION, reason="quickstart: adapted to drift")
        registry.set_alias(MODEL, "production", result.version, reason="adapted to drift")
        client.endpoints.set_routes(MODEL, {ref: 100})
        time.sleep(1.5)  # replicas pick up the routing table within ~0.5 s
        live_adapted = _traffic(client, store, after.iloc[400:800])
        promoted = ref
        say(
            f"9. promoted {ref} and switched the endpoint to it without a restart: live MAE "
            f"{live_adapted:.2f} on post-drift traffic"
        )
    if not keep_serving:
        from ray import serve

        serve.delete(APP_NAME)

    return {
        "storage": store.uri,
        "feature_sets": [v1.ref, v2.ref],
        "tune_run": tuned.run_id,
        "best_cv_rmse": best["score"],
        "baseline_cv_rmse": tuned.baseline["score"],
        "first_model": first.ref,
        "mae_before_drift": err_before,
        "mae_after_drift": err_after,
        "finetune": {"accepted": result.accepted, "before": result.before["mae"],
                     "after": result.after["mae"], "version": result.version},
        "promoted": promoted,
        "stack": {"ensemble": stack.ensemble, "cv_rmse": stack.stack_cv["rmse"],
                  "live_mae": live_stack},
        "url": url if keep_serving else None,
        "live_mae": {"before_drift": live_before, "after_drift": live_after,
                     "adapted": live_adapted},
        "history_events": len(registry.history(MODEL)),
        "seconds": round(time.perf_counter() - started, 1),
    }  # fmt: skip


def _traffic(client: Any, store: Any, rows: Any, batch: int = 20, endpoint: str = MODEL) -> float:
    """Send ``rows`` to the endpoint with their feedback; the MAE the logs then show."""
    from datetime import UTC, datetime, timedelta

    from rayops.monitoring.logs import joined

    started = datetime.now(UTC) - timedelta(seconds=1)
    features = rows.drop(columns=["target", "entity_id", "event_time"])
    ids = []
    for i in range(0, len(rows), batch):
        answer = client.predict(endpoint, features.iloc[i : i + batch])
        client.feedback(endpoint, answer.request_id, rows["target"].iloc[i : i + batch].tolist())
        ids.append(answer.request_id)
    deadline = time.monotonic() + 15
    while True:  # the prediction log is flushed off the request path
        log = joined(store, endpoint, started, datetime.now(UTC) + timedelta(seconds=1))
        log = log[log["request_id"].isin(ids)]
        if log["actual"].notna().sum() >= len(rows) or time.monotonic() > deadline:
            return float(log["error"].abs().mean())
        time.sleep(0.3)
