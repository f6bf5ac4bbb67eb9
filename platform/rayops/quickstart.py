"""The quickstart: the whole rayops loop on embedded defaults (local storage, local Ray).

Every step uses the same SDK a user would, and the loop closes by itself once
traffic flows:

1. data with a drift point (covariate shift in ``num_0`` and a concept drift)
2. a versioned feature set of the rows before the drift
3. hyperparameter search with 3-fold CV on Ray Tune against a linear baseline
4. training with the best parameters (holdout metrics), registration, promotion
5. a stacked ensemble (out-of-fold meta-learner) registered next to it
6. the gateway and the control loop on Ray Serve; two endpoints; a retrain policy
7. traffic and feedback before the drift point (live MAE read back from the logs)
8. traffic after it, continuously, while the control loop
   * detects the feature drift (monitoring),
   * fires the retrain trigger and runs the retrain as a Ray job,
   * canaries the better candidate and promotes it on live traffic;
9. the error on the same traffic after the promotion, an analytics summary, the
   dashboard URL and where the artifacts live.

``task="binary"`` runs the same loop on generated classification data
(:func:`rayops.datasets.make_classification`: string labels, 30% positives, the
same covariate drift and a full concept change): tuned and judged on log loss,
served with labels and probabilities, fed back labels, and the live figure is the
log loss from the logs.

Library code: the caller (``rayops quickstart``) starts Ray.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from rayops.errors import RayopsError

__all__ = ["run_quickstart"]

MODEL = "quickstart-demand"
STACK = "quickstart-stack"
FEATURES = "quickstart-demand"

_GRID = """
space:
  max_depth: {grid: [3, 5]}
  learning_rate: {grid: [0.1, 0.3]}
  n_estimators: {grid: [100]}
cv: {folds: 3}
"""

#: Settings of the quickstart's gateway and control loop: short intervals, so the loop
#: closes in a minute or two instead of the hours production defaults are made for.
GATEWAY_SETTINGS: dict[str, Any] = {"serving_log_flush_s": 0.5, "serving_poll_interval_s": 0.25}
CONTROL_SETTINGS: dict[str, Any] = {
    "control_tick_s": 1.0,
    "monitoring_interval_s": 3.0,
    "monitoring_window": "2m",
    "monitoring_drift_window": "30s",
    "monitoring_log_lag_s": 1.0,
}
CANARY = {"steps": [25, 50], "interval": "4s", "thresholds": {"min_samples": 25}}


def run_quickstart(
    storage: str | None = None,
    rows: int = 8_000,
    echo: Callable[[str], Any] | None = print,
    *,
    port: int = 8000,
    keep_serving: bool = False,
    timeout_s: float = 240.0,
    task: str = "regression",
) -> dict[str, Any]:
    """Run the loop and return a summary dict (needs a Ray session with its dashboard,
    which runs the retrain as a Ray job).

    Example:
        >>> import ray, tempfile
        >>> _ = ray.init(num_cpus=2)  # doctest: +SKIP
        >>> run_quickstart(tempfile.mkdtemp(), rows=4_000, echo=None)["promoted"]  # doctest: +SKIP
        'quickstart-demand@1.1.0'
    """
    from rayops.datasets import ConceptDrift, CovariateDrift, make_classification, make_regression
    from rayops.errors import InvalidInputError
    from rayops.features import FeatureStore
    from rayops.registry import Registry, Stage
    from rayops.storage import open_storage
    from rayops.tasks import Task
    from rayops.training.pipeline import run_training
    from rayops.training.spaces import parse_space
    from rayops.training.stacking import train_stacked
    from rayops.training.tune import run_tune

    if task not in ("regression", "binary"):
        raise InvalidInputError(f"The quickstart runs task regression or binary, not {task!r}.")
    kind = Task.of(task)
    metric = kind.primary_metric  # rmse or logloss: the one every decision below uses
    live_name = "MAE" if task == "regression" else "log loss"
    say = echo or (lambda _msg: None)
    started = time.perf_counter()
    store = open_storage(storage)
    store.check()
    say(f"1. storage root {store.uri} is reachable and writable")

    drift_at = int(rows * 0.6)
    covariate = CovariateDrift(at_row=drift_at, features=("num_0",), shift=1.5)
    if task == "regression":
        data = make_regression(
            rows,
            seed=7,
            covariate_drift=covariate,
            concept_drift=ConceptDrift(at_row=drift_at, strength=0.6),
        )
    else:  # a label a model can learn well, and a concept change a retrain clearly fixes
        concept = ConceptDrift(at_row=drift_at, strength=1.0)
        data = make_classification(
            rows,
            seed=7,
            separation=3.0,
            positive_rate=0.3,
            covariate_drift=covariate,
            concept_drift=concept,
        )
    before, after = data.iloc[:drift_at], data.iloc[drift_at:]
    say(f"2. generated {rows} {task} rows; covariate and concept drift start at row {drift_at}")

    fs = FeatureStore(store)
    roles: dict[str, Any] = {"entity": "entity_id", "event_time": "event_time", "target": "target"}
    v1 = fs.write(FEATURES, before, description="quickstart: before the drift", **roles)
    lineage = {"feature_set": v1.name, "version": v1.version, "sha256": v1.sha256,
               "rows": v1.row_count}  # fmt: skip
    say(f"3. feature set {v1.ref}: {v1.row_count} rows, sha256 {v1.sha256[:12]}…")

    training = fs.read(v1.ref)
    tuned = run_tune(
        training, target="target", space=parse_space(_GRID), storage=store,
        exclude=("entity_id", "event_time"), lineage=lineage, config_name="quickstart-grid",
        task=task,
    )  # fmt: skip
    best = tuned.best
    say(
        f"4. tuned {len(tuned.trials)} configurations x 3 folds on Ray Tune: best CV {metric} "
        f"{best['score']:.3f} (linear baseline {tuned.baseline['score']:.3f}); run {tuned.run_id}"
    )

    params = dict(best["params"])
    rounds = int(params.pop("n_estimators", 100))
    record = run_training(store, target="target", features=v1.ref, params=params,
                          num_boost_round=rounds, register=MODEL, task=task)  # fmt: skip
    registry = Registry(store)
    first = registry.get(record["model"]["ref"])
    registry.transition(first.ref, Stage.STAGING, reason="quickstart: holdout passed")
    # The production alias follows the stage (and the stage the alias).
    registry.transition(first.ref, Stage.PRODUCTION, reason="quickstart: first model")
    say(
        f"5. trained {first.ref} ({record['training']['path']} path, {rounds} rounds): holdout "
        f"{metric} {record['holdout'][metric]:.3f}; registered and promoted to production"
    )

    feature_cols = [c for c in training.columns if c not in ("target", "entity_id", "event_time")]
    shallow = {"max_depth": 2, "learning_rate": 0.3, "n_estimators": 60}
    stack = train_stacked(store, training, "target", name=STACK, members=[dict(best["params"]),
                          shallow], features=feature_cols, folds=3, lineage=lineage,
                          task=task)  # fmt: skip
    member_scores = ", ".join(f"{m[metric]:.3f}" for m in stack.member_cv.values())
    say(
        f"6. stacked ensemble {stack.ensemble}: out-of-fold {metric} "
        f"{stack.stack_cv[metric]:.3f} (members {member_scores})"
    )

    from rayops.apps.controller import CONTROLLER_APP, deploy_controller
    from rayops.apps.gateway import APP_NAME, deploy_gateway
    from rayops.client import Client
    from rayops.registry.registry import PRODUCTION

    url = deploy_gateway(store.uri, port=port, num_cpus=0.5, settings=GATEWAY_SETTINGS)
    deploy_controller(store.uri, settings=CONTROL_SETTINGS, tasks=["rollout", "monitor",
                      "retrain"], num_cpus=0)  # fmt: skip
    client = Client(store, url=url)
    client.endpoints.create(MODEL, first.ref)
    client.endpoints.create(STACK, stack.ensemble)
    client.retraining.set_policy({
        "model": MODEL, "endpoint": MODEL, "features": FEATURES,
        "triggers": {"age": {"enabled": False}, "new_samples": {"enabled": False},
                     "health": {"enabled": False},
                     "drift": {"share": 0.1, "window": "30s"}},
        "guards": {"min_new_samples": 200},
        # The synthetic base rows are dated January: train on the last day only, i.e. on
        # the traffic the endpoint saw, so the candidate learns the new concept.
        "window": "1d",
        "canary": CANARY,
    })  # fmt: skip
    say(f"7. gateway at {url} and the control loop ({CONTROLLER_APP}) on Ray Serve; endpoints "
        f"{MODEL} and {STACK}; retrain policy: on feature drift, canary if better")  # fmt: skip

    live_stack = _traffic(client, store, before.iloc[-400:], endpoint=STACK)
    live_before = _traffic(client, store, before.iloc[-400:])
    say(f"8. traffic before the drift point: live {live_name} from the logs {live_before:.2f} "
        f"(stack {live_stack:.2f})")  # fmt: skip

    stream = _Stream(client, after, MODEL).start()
    deadline = time.monotonic() + timeout_s
    try:
        drift = _wait(lambda: _drifted(client), deadline, "monitoring to flag the drift")
        say(f"9. monitoring flagged feature drift on {MODEL}: {', '.join(drift['features'])} "
            f"({drift['share']:.0%} of features) over the last 30 s of traffic")  # fmt: skip
        job = _wait(lambda: _started(client), deadline, "the retrain trigger to fire",
                    explain=lambda: _retrain_state(client))  # fmt: skip
        say(f"10. retrain trigger fired ({job.reason}); Ray job {job.ray_job_id}")
        job = _wait(lambda: _finished(client, job.id), deadline, "the retrain job to finish")
        if job.state.value != "succeeded" or job.decision is None:
            raise RayopsError(f"The retrain job {job.id} failed: {job.error}")
        cand, prod = job.metrics["candidate"], job.metrics.get("production") or {}
        say(f"11. retrain {job.id} {job.decision.value}: {job.candidate} holdout {metric} "
            f"{cand[metric]:.3f} vs production {prod.get(metric, float('nan')):.3f}; "
            f"{job.metrics['logged_rows']} logged rows with feedback joined in")  # fmt: skip
        rollout = _wait(lambda: _promoted(client), deadline, "the canary to finish")
        steps = [f"{e.kind.value} {e.weight}%" for e in client.rollouts.history(MODEL)]
        say(f"12. canary of {rollout.candidate}: {' -> '.join(steps)}; production is now "
            f"{client.registry.get(f'{MODEL}@{PRODUCTION}').ref}")  # fmt: skip
    finally:
        stream.stop()
    live_after = stream.live(until=stream.switched_at(client, rollout.candidate))
    live_adapted = _traffic(client, store, after.iloc[-400:])
    say(f"13. live {live_name} on post-drift traffic: {live_after:.2f} before the retrain, "
        f"{live_adapted:.2f} with {rollout.candidate}")  # fmt: skip

    from rayops.analytics import analyze

    report = analyze(store, MODEL, range="1h")
    metrics = {m.metric: m for m in report.metrics}
    shown = ", ".join(
        f"{name} {metrics[name].current:.3g}"
        for name in ("mae", "logloss", "auc", "accuracy", "latency_p95_ms")
        if name in metrics and metrics[name].current is not None
    )  # fmt: skip
    say(f"14. analytics over the last hour: {shown}; "
        f"{len(report.recommendations)} recommendation(s)")  # fmt: skip
    for rec in report.recommendations[:3]:
        say(f"    {rec.priority.value.upper()}: {rec.message}")
    dashboard = f"{url}/dashboard?endpoint={MODEL}"
    say(f"15. dashboard: {dashboard} (with --keep-serving); artifacts: {store.uri}")
    if not keep_serving:
        from ray import serve

        serve.delete(CONTROLLER_APP)
        serve.delete(APP_NAME)

    return {
        "storage": store.uri,
        "task": task,
        "metric": metric,
        "feature_sets": [v1.ref, job.feature_set],
        "tune_run": tuned.run_id,
        "best_cv": best["score"],
        "baseline_cv": tuned.baseline["score"],
        "first_model": first.ref,
        "stack": {"ensemble": stack.ensemble, "cv": stack.stack_cv[metric],
                  "live": live_stack},
        "drift": drift,
        "retrain": {"job": job.id, "trigger": job.trigger, "decision": job.decision.value,
                    "candidate": job.candidate, "ray_job": job.ray_job_id,
                    "candidate_score": cand[metric], "production_score": prod.get(metric)},
        "promoted": rollout.candidate,
        "rollout": [e.kind.value for e in client.rollouts.history(MODEL)],
        # Live MAE (regression) or log loss (binary) from the logs, on the same traffic.
        "live": {"before_drift": live_before, "after_drift": live_after,
                 "adapted": live_adapted},
        "recommendations": [r.model_dump(mode="json") for r in report.recommendations],
        "dashboard": dashboard if keep_serving else None,
        "url": url if keep_serving else None,
        "seconds": round(time.perf_counter() - started, 1),
    }  # fmt: skip


def _wait(
    probe: Callable[[], Any],
    deadline: float,
    what: str,
    explain: Callable[[], str] | None = None,
) -> Any:
    """Poll ``probe`` until it returns something truthy; a clear error at the deadline."""
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.5)
    detail = ""
    if explain is not None:
        try:
            detail = f" {explain()}"
        except Exception as e:  # the explanation must not hide the timeout
            detail = f" (could not read the state: {e})"
    raise RayopsError(f"Gave up waiting for {what}.{detail} See `rayops controller status`.")


def _retrain_state(client: Any) -> str:
    """What the retrain controller saw last: its task status, the trigger check, the job."""
    from rayops.control.loop import read_status

    status = read_status(client.storage) or {}
    task = (status.get("tasks") or {}).get("retrain", "the control loop wrote no status")
    parts = [f"Retrain task: {task}."]
    jobs = client.retraining.status(MODEL)
    if jobs:
        j = jobs[0]
        parts.append(f"Job {j.id} is {j.state.value} (Ray job {j.ray_job_id}, error {j.error}).")
    else:
        report = client.retraining.check(MODEL)[0]
        parts.append("Triggers now: " + "; ".join(f"{r.name}: {r.reason}" for r in report.results))
    return " ".join(parts)


def _drifted(client: Any) -> dict[str, Any] | None:
    try:
        check = client.monitor.drift(MODEL, "30s")
    except RayopsError:
        return None
    report = check.features
    if report is None or not report.drifted_features:
        return None
    return {"features": report.drifted_features, "share": report.share}


def _started(client: Any) -> Any:
    jobs = client.retraining.status(MODEL)
    return jobs[0] if jobs and jobs[0].ray_job_id else None


def _finished(client: Any, job_id: str) -> Any:
    job = client.retraining.jobs.get(MODEL, job_id)
    return job if job.state.finished else None


def _promoted(client: Any) -> Any:
    try:
        doc = client.rollouts.get(MODEL)
    except RayopsError:
        return None
    if doc.finished and doc.status.value != "promoted":
        raise RayopsError(f"The canary of {doc.candidate} ended {doc.status.value}: {doc.reason}")
    return doc if doc.finished else None


class _Stream:
    """Post-drift rows sent continuously (10 per request, ~5 requests/s) with feedback."""

    def __init__(self, client: Any, rows: Any, endpoint: str) -> None:
        self.client, self.rows, self.endpoint = client, rows, endpoint
        self.features = rows.drop(columns=["target", "entity_id", "event_time"])
        self.sent: list[tuple[float, str, str]] = []  # (time, request id, version)
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="quickstart-traffic", daemon=True)

    def start(self) -> _Stream:
        self._thread.start()
        return self

    def _run(self) -> None:
        i, n = 0, len(self.rows)
        while not self._stop.is_set():
            part = slice(i % n, i % n + 10)
            try:
                answer = self.client.predict(self.endpoint, self.features.iloc[part])
                self.client.feedback(self.endpoint, answer.request_id,
                                     self.rows["target"].iloc[part].tolist())  # fmt: skip
                self.sent.append((time.time(), answer.request_id, answer.version))
            except RayopsError as e:
                self.errors.append(str(e))
            i += 10
            self._stop.wait(0.2)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def switched_at(self, client: Any, ref: str) -> float:
        version = ref.partition("@")[2]
        return next((t for t, _, v in self.sent if v == version), time.time())

    def live(self, *, until: float) -> float:
        """The live figure (:func:`_live`) of the stream's answers before ``until``."""
        from rayops.telemetry.readers import joined

        ids = {rid for t, rid, _ in self.sent if t < until}
        log = joined(self.client.storage, self.endpoint, datetime.now(UTC) - timedelta(hours=1),
                     datetime.now(UTC) + timedelta(seconds=1))  # fmt: skip
        return _live(log[log["request_id"].isin(ids)])


def _live(log: Any) -> float:
    """MAE (regression) or log loss (binary, from the logged probabilities) of the
    labeled rows of a joined log."""
    probabilities = sorted(c for c in log.columns if c.startswith("p_"))
    if "actual_label" not in log.columns or not probabilities:
        return float(log["error"].abs().mean())
    from sklearn.metrics import log_loss

    labeled = log[log["actual_label"].notna()]
    classes = [c[2:] for c in probabilities]
    return float(log_loss(labeled["actual_label"].astype(str), labeled[probabilities].to_numpy(),
                          labels=classes))  # fmt: skip


def _labeled(log: Any, n: int) -> bool:
    """Whether ``n`` rows of a joined log have their feedback: a number (regression) or a
    label (classification). The log has both columns; the other one is null.

    >>> import pandas as pd
    >>> log = pd.DataFrame({"actual": [2.5, None], "actual_label": [None, None]})
    >>> _labeled(log, 1), _labeled(log, 2)
    (True, False)
    """
    given = [log[c].notna() for c in ("actual", "actual_label") if c in log.columns]
    if not given:
        return False
    labeled = given[0] | given[1] if len(given) == 2 else given[0]
    return bool(labeled.sum() >= n)


def _traffic(client: Any, store: Any, rows: Any, batch: int = 20, endpoint: str = MODEL) -> float:
    """Send ``rows`` to the endpoint with their feedback; the live figure the logs then show."""
    from rayops.telemetry.readers import joined

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
        if _labeled(log, len(rows)) or time.monotonic() > deadline:
            return _live(log)
        time.sleep(0.3)
