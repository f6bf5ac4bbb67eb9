"""The quickstart: the rayops loop on embedded defaults (local storage, local Ray).

Every step uses the same SDK a user would. Today it covers the loop up to the
registry: data with a drift point → a versioned feature set → tuning with
k-fold CV on Ray Tune → a registered, promoted model → new data after the drift
point → the error rises → fine-tuning behind the validation gate → promotion of
the adapted version. Serving, monitoring and automated retraining join the loop
as they land.

Library code: the caller (``rayops quickstart``) starts Ray.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

__all__ = ["run_quickstart"]

MODEL = "quickstart-demand"
FEATURES = "quickstart-demand"

_GRID = """
space:
  max_depth: {grid: [3, 5]}
  learning_rate: {grid: [0.1, 0.3]}
  n_estimators: {grid: [60, 120]}
cv: {folds: 3}
"""


def run_quickstart(
    storage: str | None = None, rows: int = 8_000, echo: Callable[[str], Any] | None = print
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

    v2 = fs.write(FEATURES, data, description="quickstart: with post-drift rows", **roles)
    booster = registry.load(f"{MODEL}@production").booster  # type: ignore[union-attr]
    err_before = evaluate(booster, before.iloc[-1000:], "target")["mae"]
    err_after = evaluate(booster, after, "target")["mae"]
    say(
        f"6. new rows arrive ({v2.ref}); production MAE {err_before:.2f} on recent pre-drift "
        f"rows vs {err_after:.2f} after the drift point"
    )

    result = fine_tune(store, f"{MODEL}@production", after, "target", rounds=80,
                       time_column="event_time")  # fmt: skip
    say(f"7. fine-tuned on post-drift rows: {result.reason}")
    promoted = None
    if result.accepted and result.version:
        ref = f"{MODEL}@{result.version}"
        registry.transition(ref, Stage.STAGING, reason="fine-tune passed the gate")
        registry.transition(ref, Stage.PRODUCTION, reason="quickstart: adapted to drift")
        registry.set_alias(MODEL, "production", result.version, reason="adapted to drift")
        promoted = ref
        say(f"8. promoted {ref}; the previous version stays ready for rollback")

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
        "history_events": len(registry.history(MODEL)),
        "seconds": round(time.perf_counter() - started, 1),
    }  # fmt: skip
