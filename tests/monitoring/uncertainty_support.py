"""Generated models with uncertainty documents and their logged traffic, for the coverage,
adaptive conformal, estimation and attribution tests (real registry, real log writers)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import xgboost as xgb
from monitoring_support import T0, write_traffic

from rayops.registry import Registry, baseline_from_frame
from rayops.registry.explain import importance
from rayops.registry.predictor import Predictor
from rayops.serving import Endpoints
from rayops.storage import Storage
from rayops.tasks import Task
from rayops.telemetry.writers import FeedbackLog, PredictionLog, RequestLog, Scored
from rayops.training.uncertainty import fit_uncertainty

FEATURES = ["a", "b", "c"]


def regression_rows(
    n: int, seed: int, *, noise: float = 1.0, a_scale: float = 1.0, b_scale: float = 1.0
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({
        "a": rng.normal(0, a_scale, n), "b": rng.normal(0, b_scale, n), "c": rng.normal(0, 1, n),
    })  # fmt: skip
    x["target"] = 3 * x["a"] + 0.7 * x["b"] + rng.normal(0, noise, n)
    return x


def regression_model(storage: Storage, endpoint: str = "prices") -> tuple[str, xgb.Booster]:
    """A regressor with split-conformal intervals from 3000 holdout rows, served on
    ``endpoint``; the card's importance is mean |contribution| on the holdout."""
    train, hold = regression_rows(4000, 0), regression_rows(3000, 1)
    params = {"max_depth": 3, "eta": 0.2, "seed": 0, "nthread": 1}
    booster = xgb.train(params, xgb.DMatrix(train[FEATURES], label=train["target"]), 80)
    pred = booster.predict(xgb.DMatrix(hold[FEATURES])).astype(np.float64)
    doc = fit_uncertainty(Task.of("regression"), hold["target"].to_numpy(), pred)
    found = importance(Predictor("new", booster, FEATURES), hold[FEATURES])
    mv = Registry(storage).register(
        "price", booster, features=FEATURES, metrics={"holdout": {"mae": 0.8}},
        baseline=baseline_from_frame(train, FEATURES), uncertainty=doc, importance=found,
    )  # fmt: skip
    Endpoints(storage).create(endpoint, {str(mv.ref): 100})
    return str(mv.ref), booster


def log_regression(
    storage: Storage, endpoint: str, ref: str, booster: xgb.Booster, rows: pd.DataFrame,
    *, start: datetime, every_s: float, rows_per_request: int = 10, prefix: str,
    labels: bool = True,
) -> None:  # fmt: skip
    pred = booster.predict(xgb.DMatrix(rows[FEATURES])).astype(np.float64)
    write_traffic(
        storage, endpoint, ref, rows[FEATURES], pred, start=start, every_s=every_s,
        rows_per_request=rows_per_request, prefix=prefix,
        actuals=rows["target"].to_numpy() if labels else None,
    )  # fmt: skip


def binary_rows(n: int, seed: int, *, shift: float = 0.0) -> tuple[pd.DataFrame, np.ndarray]:
    """Covariate shift moves ``x0``; ``P(y | x)`` stays the same."""
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.normal(0, 1, (n, 4)), columns=[f"x{i}" for i in range(4)])
    x["x0"] += shift
    logit = 1.5 * x["x0"] - 1.0 * x["x1"] + 0.5 * x["x2"] * x["x3"]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit.to_numpy()))).astype(int)
    return x, y


CLASSES = ["no", "yes"]


def binary_model(storage: Storage, endpoint: str = "churn") -> tuple[str, xgb.Booster]:
    x, y = binary_rows(8000, 10)
    hx, hy = binary_rows(4000, 11)
    params = {"max_depth": 3, "eta": 0.1, "seed": 0, "nthread": 1, "objective": "binary:logistic"}
    booster = xgb.train(params, xgb.DMatrix(x, label=y), 150)
    p = booster.predict(xgb.DMatrix(hx)).astype(np.float64)
    doc = fit_uncertainty(Task.of("binary"), hy, np.column_stack([1 - p, p]))
    mv = Registry(storage).register(
        "churn", booster, features=list(x.columns), task="binary", classes=CLASSES,
        metrics={"holdout": {"accuracy": 0.8}}, baseline=baseline_from_frame(x, list(x.columns)),
        uncertainty=doc,
    )  # fmt: skip
    Endpoints(storage).create(endpoint, {str(mv.ref): 100})
    return str(mv.ref), booster


def log_binary(
    storage: Storage, endpoint: str, ref: str, booster: xgb.Booster, x: pd.DataFrame,
    y: np.ndarray | None, *, start: datetime = T0, every_s: float = 1.0, prefix: str,
) -> None:  # fmt: skip
    """One row per request; labels 30 s later when ``y`` is given."""
    p1 = booster.predict(xgb.DMatrix(x)).astype(np.float64)
    proba = np.column_stack([1 - p1, p1])
    log, outcomes = PredictionLog(storage, flush_s=3600), RequestLog(storage, flush_s=3600)
    times = []
    for i in range(len(x)):
        when = start + timedelta(seconds=every_s * i)
        scored = Scored(probabilities=proba[i : i + 1], classes=CLASSES,
                        labels=[CLASSES[int(p1[i] >= 0.5)]])  # fmt: skip
        log.record(request_id=f"{prefix}{i}", endpoint=endpoint, ref=ref, frame=x.iloc[i : i + 1],
                   predictions=scored, latency_ms=5.0, time=when)  # fmt: skip
        outcomes.record(request_id=f"{prefix}{i}", endpoint=endpoint, ref=ref, status=200,
                        time=when)  # fmt: skip
        times.append(when + timedelta(seconds=30))
    log.close()
    outcomes.close()
    if y is None:
        return
    clock = iter(times)

    async def send() -> None:
        fb = FeedbackLog(storage, now=lambda: next(clock))
        await asyncio.gather(*(
            fb.write(endpoint, f"{prefix}{i}", [CLASSES[int(label)]], labels=True)
            for i, label in enumerate(y)
        ))  # fmt: skip

    asyncio.run(send())


class NoGauges:
    def set_quality(self, *args: object) -> None: ...
    def set_drift(self, *args: object) -> None: ...
    def set_health(self, *args: object) -> None: ...


__all__ = ["T0"]
