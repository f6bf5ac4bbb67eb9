"""Dynamic and voting ensembles of classifiers: member stats on per-row log loss (checked
against scikit-learn), selection by the lowest decayed loss, votes by 1 / loss, combined
class probabilities; older regression stats documents still read."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.metrics import log_loss

from rayops.config import Settings
from rayops.registry import EnsembleSpec, Registry
from rayops.serving import Endpoints
from rayops.serving.ensemble_stats import EnsembleStatsTask, compute_stats
from rayops.serving.ensembles import EnsembleStats, MemberStats, combiner_for, read_stats
from rayops.serving.models import evaluate
from rayops.storage import Storage
from rayops.telemetry.writers import FeedbackLog, PredictionLog, Scored

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FEATURES = ["x0", "x1"]
CLASSES = ["no", "yes"]


def data(n: int, seed: int) -> pd.DataFrame:
    """Where x0 < 0 the label follows x1, where x0 >= 0 it follows -x1."""
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.normal(size=(n, 2)), columns=FEATURES)
    sign = np.where(x["x0"] < 0, 1.0, -1.0)
    y = (sign * x["x1"] + rng.normal(0, 0.3, n) > 0).astype(int)
    return x.assign(y=y)


def booster(frame: pd.DataFrame) -> xgb.Booster:
    params = {"objective": "binary:logistic", "max_depth": 3, "nthread": 1, "seed": 0}
    return xgb.train(params, xgb.DMatrix(frame[FEATURES], frame["y"]), num_boost_round=30)


def test_stats_of_classifiers_are_decayed_log_loss_and_pick_the_lowest() -> None:
    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame({"c": rng.choice(["a", "b"], n)})
    y = rng.integers(0, 2, n)
    good = np.where(frame["c"] == "a", 0.9, 0.6)  # m1 sure where c == a, m2 where c == b

    def member(conf: np.ndarray) -> np.ndarray:
        p_true = np.clip(conf + rng.normal(0, 0.05, n), 0.05, 0.95)
        p1 = np.where(y == 1, p_true, 1 - p_true)
        return np.column_stack([1 - p1, p1])

    preds = {"m1@1.0.0": member(good), "m2@1.0.0": member(1.5 - good)}
    ages = rng.uniform(0, 3600, n)
    times = pd.Series(pd.Timestamp(NOW) - pd.to_timedelta(ages, unit="s"))
    w = 0.5 ** (ages / 1800)
    for kind in ("dynamic", "voting"):
        spec = EnsembleSpec(kind=kind, members=list(preds), context=["c"])
        doc = compute_stats(
            "e@1.0.0", spec, frame, y, times, preds, now=NOW, window_start=NOW - timedelta(1),
            half_life_s=1800.0, min_rows=10, tolerance=1.0, bins={}, task="binary",
        )  # fmt: skip
        assert doc.task == "binary"
        for ref, p in preds.items():
            stats = doc.overall[ref]
            assert stats.loss == pytest.approx(log_loss(y, p, sample_weight=w), rel=1e-9)
            assert stats.mse is None and stats.rmse is None
            right = (p[:, 1] >= 0.5).astype(int) == y
            assert stats.accuracy == pytest.approx(np.sum(w * right) / w.sum())
        combiner = combiner_for(spec, doc)
        probe = pd.DataFrame({"c": ["a", "b"]})
        weights = combiner.weights(probe)
        if kind == "dynamic":
            assert doc.best_member(["a"]) == "m1@1.0.0" and doc.best_member(["b"]) == "m2@1.0.0"
            assert weights.tolist() == [[1.0, 0.0], [0.0, 1.0]]
        else:
            seg = {tuple(s.values): s.members for s in doc.segments}
            inverse = np.array([1 / seg[("a",)][m].loss for m in preds])
            assert weights[0] == pytest.approx(inverse / inverse.sum())


def _log(storage: Storage, endpoint: str, ref: str, frame: pd.DataFrame) -> None:
    """One row per request with its label as feedback, spread over the last two hours."""
    log = PredictionLog(storage, flush_s=3600)
    fb = FeedbackLog(storage, now=lambda: NOW)
    for i in range(len(frame)):
        rid = f"{endpoint}-{i}"
        p = np.array([[0.5, 0.5]])
        log.record(
            request_id=rid, endpoint=endpoint, ref=ref, frame=frame[FEATURES].iloc[[i]],
            predictions=Scored(probabilities=p, classes=CLASSES, labels=["no"]),
            latency_ms=1.0, time=NOW - timedelta(minutes=120 - i),
        )  # fmt: skip
    log.close()

    async def send() -> None:
        labels = [CLASSES[int(v)] for v in frame["y"]]
        await asyncio.gather(
            *(fb.write(endpoint, f"{endpoint}-{i}", [lab], labels=True)
              for i, lab in enumerate(labels))
        )  # fmt: skip

    asyncio.run(send())


@pytest.mark.parametrize("storage", ["local", "s3"], indirect=True)
def test_a_dynamic_classifier_ensemble_learns_its_members_regions(storage: Storage) -> None:
    reg = Registry(storage)
    train = data(600, seed=1)
    low, high = train[train["x0"] < 0], train[train["x0"] >= 0]
    a = reg.register("lo", booster(low), task="binary", classes=CLASSES).ref
    b = reg.register("hi", booster(high), task="binary", classes=CLASSES).ref
    spec = EnsembleSpec(
        kind="dynamic", members=[a, b], context=["x0"], settings={"bins": {"x0": [0.0]}}
    )
    ens = reg.register("dyn", spec).ref
    Endpoints(storage).create("dyn", ens)
    rows = data(120, seed=2)
    _log(storage, "dyn", ens, rows)
    summary = EnsembleStatsTask(storage, Settings(serving_ensemble_min_rows=10)).tick(NOW)
    assert summary == {"ensembles": 1, "rows": {ens: 120}}
    doc = read_stats(storage, ens)
    assert doc is not None and doc.task == "binary"
    assert doc.best_member([0]) == a and doc.best_member([1]) == b
    # The loss is each member's log loss on its rows, with the decay weights.
    ages = np.array([(120 - i) * 60.0 for i in range(len(rows))])
    w = 0.5 ** (ages / Settings().serving.ensemble_half_life_s)
    p_a = reg.load(a).predict(rows[FEATURES])
    assert doc.overall[a].loss == pytest.approx(log_loss(rows["y"], p_a, sample_weight=w),
                                                rel=1e-6)  # fmt: skip
    # Serving combines the chosen member's probabilities, row by row.
    predictor = reg.load(ens)
    probe = data(20, seed=3)[FEATURES]
    got = evaluate(predictor, probe, {ens: combiner_for(predictor.spec, doc)})
    want = np.where(
        (probe["x0"] < 0).to_numpy()[:, None], reg.load(a).predict(probe),
        reg.load(b).predict(probe),
    )  # fmt: skip
    assert got.shape == (20, 2) and got == pytest.approx(want, rel=1e-6)
    assert np.allclose(got.sum(axis=1), 1.0)


def test_stats_documents_written_before_the_loss_field_still_read() -> None:
    stored = {
        "ensemble": "e@1.0.0", "kind": "voting", "revision": 3,
        "updated_at": "2026-01-01T00:00:00Z", "window_start": "2026-01-01T00:00:00Z",
        "window_end": "2026-01-01T00:00:00Z", "half_life_s": 60.0, "min_rows": 5,
        "tolerance": 1.0, "members": ["a@1", "b@1"], "rows": 10,
        "overall": {m: {"rows": 10, "weight": 8.0, "mse": mse, "mae": 0.5, "bias": 0.0,
                        "accuracy": 0.9} for m, mse in (("a@1", 0.25), ("b@1", 1.0))},
    }  # fmt: skip
    doc = EnsembleStats.model_validate(stored)
    assert doc.task == "regression" and doc.overall["a@1"].loss == 0.25
    assert doc.best_member() == "a@1"
    spec = EnsembleSpec(kind="voting", members=["a@1", "b@1"])
    assert combiner_for(spec, doc).weights(pd.DataFrame({"x": [1.0]}))[0] == pytest.approx(
        [0.8, 0.2]
    )
    with pytest.raises(ValueError):
        MemberStats(rows=1, weight=1.0, accuracy=1.0)  # neither loss nor mse
