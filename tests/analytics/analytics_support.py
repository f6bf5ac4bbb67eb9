"""A prepared week of serving logs, written through the real log writers with fixed clocks.

Scenario on endpoint ``shop`` (model ``demand``), ending at ``END``:

* ``demand@1.0.0`` serves all traffic, then 80% from day 4 on (a canary rollout of
  1.1.0 at its first step, 20%); its errors grow
  every day (MAE and accuracy decline) and feature ``x0`` drifts after day 5;
* ``demand@1.1.0`` gets 20% from day 4: small errors, but slow (p95 ~ 150 ms)
  and a few failed requests; some requests fail before routing (422).

``write_week`` returns the ground truth it wrote (rows and outcomes) as plain
pandas frames, so tests compute the expected figures independently of the
analytics code and of the log readers.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import xgboost as xgb

from rayops.config import Settings
from rayops.registry import Registry, Stage, baseline_from_frame
from rayops.rollout.rollouts import Rollouts
from rayops.serving.endpoints import Endpoints
from rayops.storage import Storage
from rayops.telemetry.writers import FeedbackLog, PredictionLog, RequestLog

#: The figures are checked against accuracy within ±5 units, set absolutely (by default
#: monitoring derives T from each version's card: tests/analytics/test_classification.py).
ABSOLUTE = Settings(monitoring_accuracy_tolerance=5.0)

FEATURES = ["x0", "x1", "x2"]
END = datetime(2026, 3, 8, tzinfo=UTC)
V1, V2 = "demand@1.0.0", "demand@1.1.0"


def training_frame(rows: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(rows, len(FEATURES))), columns=FEATURES)
    df["y"] = 3 * df["x0"] - 2 * df["x1"] + 0.5 * df["x2"] + rng.normal(scale=0.1, size=rows)
    return df


def booster(df: pd.DataFrame, depth: int) -> xgb.Booster:
    dm = xgb.DMatrix(df[FEATURES], label=df["y"])
    return xgb.train({"max_depth": depth, "eta": 0.3, "seed": 0, "nthread": 1}, dm, 10)


def register_models(storage: Storage, when: datetime) -> None:
    """demand 1.0.0 (production) and 1.1.0 (staging), with holdout metrics and baselines."""
    df = training_frame()
    clock = {"t": when}
    reg = Registry(storage, now=lambda: clock["t"])
    base = baseline_from_frame(df, FEATURES)
    for depth in (2, 3):
        reg.register(
            "demand", booster(df, depth), features=FEATURES, baseline=base,
            metrics={"holdout": {"mae": 1.0, "rmse": 1.25, "accuracy": 0.99, "r2": 0.9}},
        )  # fmt: skip
    for stage in (Stage.STAGING, Stage.PRODUCTION):
        reg.transition(V1, stage, reason="passed validation")
    clock["t"] = when + timedelta(hours=1)
    reg.transition(V2, Stage.STAGING, reason="canary candidate")
    reg.set_alias("demand", "production", "1.0.0", reason="first release")


@dataclass
class Truth:
    rows: pd.DataFrame  # request_id, row, ref, time, prediction, actual (NaN: no feedback), latency
    outcomes: pd.DataFrame  # request_id, ref (None: failed before routing), status, time


def write_week(
    storage: Storage, endpoint: str = "shop", *, end: datetime = END, days: int = 7
) -> Truth:
    """Register the models, create the endpoint and write ``days`` days of logs (and as many
    before them, the previous period); the canary starts ``days * 3 / 7`` days before ``end``."""
    start = end - timedelta(days=2 * days)
    scale = days / 7
    register_models(storage, start - timedelta(hours=1))
    clock = {"t": start - timedelta(minutes=30)}
    eps = Endpoints(storage, now=lambda: clock["t"])
    eps.create(endpoint, V1, actor="ann", reason="first release")
    switch = end - timedelta(days=3 * scale)
    clock["t"] = switch
    Rollouts(storage, now=lambda: clock["t"]).deploy(
        endpoint, V2, strategy="canary", steps=[20, 50, 100], interval="1h", actor="bob",
        reason="canary 20%",
    )  # fmt: skip
    rng = np.random.default_rng(7)
    preds, reqs = PredictionLog(storage, flush_s=3600), RequestLog(storage, flush_s=3600)
    rows, outcomes, feedback = [], [], []
    t, i = start, 0
    while t < end:
        day = (t - (end - timedelta(days=days))).total_seconds() / 86_400 / scale  # <0: before
        refs = [V1] if t < switch else [V1, V1, V1, V1, V2]
        for ref in refs:
            i += 1
            rid = f"r{i:06d}"
            n = int(rng.integers(1, 4))
            x = rng.normal(size=(n, 3))
            if day > 5:
                x[:, 0] += 2.5  # covariate drift of x0 in the last two days
            actual = 3 * x[:, 0] - 2 * x[:, 1] + 0.5 * x[:, 2]
            noise = 1.0 + 0.8 * max(day, 0.0) if ref == V1 else 1.0
            pred = actual + rng.normal(scale=noise, size=n)
            latency = float(rng.gamma(4, 5) if ref == V1 else rng.gamma(4, 5) + 120)
            when = t + timedelta(seconds=int(rng.integers(0, 600)))
            if ref == V2 and rng.random() < 0.05:
                outcomes.append((rid, ref, 500, when))
                continue
            preds.record(
                request_id=rid, endpoint=endpoint, ref=ref,
                frame=pd.DataFrame(x, columns=FEATURES), predictions=list(pred),
                latency_ms=latency, time=when,
            )  # fmt: skip
            outcomes.append((rid, ref, 200, when))
            labeled = rng.random() < 0.9
            for r in range(n):
                rows.append((rid, r, ref, when, pred[r], actual[r] if labeled else np.nan, latency))
            if labeled:
                feedback.append((when, rid, list(actual)))
        if rng.random() < 0.03:
            outcomes.append((f"bad{i}", None, 422, t + timedelta(seconds=30)))
        t += timedelta(minutes=20 * scale)
    for rid, ref, status, when in outcomes:
        reqs.record(request_id=rid, endpoint=endpoint, ref=ref, status=status, time=when)
    preds.close()
    reqs.close()
    _write_feedback(storage, endpoint, feedback)
    _write_alerts(storage, endpoint, end - timedelta(days=scale))
    return Truth(
        pd.DataFrame(
            rows, columns=["request_id", "row", "ref", "time", "prediction", "actual", "latency"]
        ),
        pd.DataFrame(outcomes, columns=["request_id", "ref", "status", "time"]),
    )


def _write_feedback(
    storage: Storage, endpoint: str, feedback: list[tuple[datetime, str, list[float]]]
) -> None:
    """One group commit per day, stamped an hour after the day's last prediction."""
    by_day: dict[str, list[tuple[datetime, str, list[float]]]] = {}
    for item in feedback:
        by_day.setdefault(f"{item[0]:%Y-%m-%d}", []).append(item)

    async def commit() -> None:
        for items in by_day.values():
            stamp = max(w for w, _, _ in items) + timedelta(hours=1)
            log = FeedbackLog(storage, now=lambda s=stamp: s)
            await asyncio.gather(*(log.write(endpoint, rid, a) for _, rid, a in items))

    asyncio.run(commit())


def _write_alerts(storage: Storage, endpoint: str, when: datetime) -> None:
    """Two alerts as monitoring stores them: accuracy (endpoint) and latency (canary)."""
    from rayops.monitoring.alerts import Alert
    from rayops.monitoring.layout import alerts_prefix
    from rayops.monitoring.records import write_record

    for i, (ref, metric, value, threshold, comparator, severity) in enumerate(
        [(None, "accuracy", 0.72, 0.75, "<", "critical"),
         (V2, "latency_p95_ms", 151.0, 100.0, ">", "warning")]
    ):  # fmt: skip
        alert = Alert(
            id=f"alert{i}", rule=f"{metric}-rule", endpoint=endpoint, ref=ref, metric=metric,
            value=value, threshold=threshold, comparator=comparator, severity=severity,
            window="1h", time=when + timedelta(minutes=i),
            message=f"{metric} {value} {comparator} {threshold} on {ref or endpoint}",
        )  # fmt: skip
        write_record(storage, alerts_prefix(endpoint), alert.time, alert.id,
                     alert.model_dump(mode="json"))  # fmt: skip


def write_classifier(
    storage: Storage, endpoint: str, end: datetime, hours: int = 6
) -> pd.DataFrame:
    """A binary classifier (breast cancer, 8 features) on ``endpoint``: one row per request
    spread over the ``hours`` before ``end``, every row labeled a minute later, written by
    the real log writers. Returns the logged rows with their labels (the truth)."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

    from rayops.telemetry.writers import Scored

    data = load_breast_cancer(as_frame=True)
    x, y = data.data.iloc[:, :8], data.target.to_numpy()
    classes = ["malignant", "benign"]
    params = {"max_depth": 3, "eta": 0.3, "seed": 0, "nthread": 1, "objective": "binary:logistic"}
    booster = xgb.train(params, xgb.DMatrix(x.iloc[:300], label=y[:300]), num_boost_round=20)
    p_hold = booster.predict(xgb.DMatrix(x.iloc[300:400])).astype(np.float64)
    holdout = {
        "accuracy": float(accuracy_score(y[300:400], p_hold >= 0.5)),
        "auc": float(roc_auc_score(y[300:400], p_hold)),
        "logloss": float(log_loss(y[300:400], np.column_stack([1 - p_hold, p_hold]))),
    }
    mv = Registry(storage).register(
        "tumour", booster, features=list(x.columns), task="binary", classes=classes,
        metrics={"holdout": holdout}, baseline=baseline_from_frame(x, list(x.columns)),
    )  # fmt: skip
    Endpoints(storage).create(endpoint, mv.ref, reason="classifier")
    live, truth = x.iloc[300:].reset_index(drop=True), y[300:]
    p1 = booster.predict(xgb.DMatrix(live)).astype(np.float64)
    start = end - timedelta(hours=hours)
    step = timedelta(hours=hours) / len(live)
    log, outcomes = PredictionLog(storage, flush_s=3600), RequestLog(storage, flush_s=3600)
    rows, when_fb = [], []
    for i in range(len(live)):
        when = start + step * i
        label = classes[int(p1[i] >= 0.5)]
        proba = np.array([[1 - p1[i], p1[i]]])
        log.record(request_id=f"c{i}", endpoint=endpoint, ref=mv.ref, frame=live.iloc[i : i + 1],
                   predictions=Scored(probabilities=proba, classes=classes, labels=[label]),
                   latency_ms=4.0 + i % 5, time=when)  # fmt: skip
        outcomes.record(request_id=f"c{i}", endpoint=endpoint, ref=mv.ref, status=200, time=when)
        rows.append({"request_id": f"c{i}", "time": when, "p_benign": p1[i],
                     "actual_label": classes[truth[i]], "label": label})  # fmt: skip
        when_fb.append(when + timedelta(minutes=1))
    log.close()
    outcomes.close()
    clock = iter(when_fb)

    async def send() -> None:
        fb = FeedbackLog(storage, now=lambda: next(clock))
        for i in range(len(live)):
            await fb.write(endpoint, f"c{i}", [classes[truth[i]]], labels=True)

    asyncio.run(send())
    return pd.DataFrame(rows)
