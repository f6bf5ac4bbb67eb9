"""Classifiers through monitoring (issue 19): per-version metrics against an independent
scikit-learn computation on the logged rows (read with plain pyarrow and pandas), the same
figures from the cached aggregates, health limits derived from the card, prediction and
target drift on labels and probabilities, and the built-in alert rules firing on a
prepared degradation."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as pads
import pytest
import xgboost as xgb
from monitoring_support import T0
from sklearn import metrics as skm
from sklearn.datasets import load_breast_cancer, load_wine

from rayops.config import Settings
from rayops.monitoring.aggregates import Aggregates
from rayops.monitoring.checks import check_drift
from rayops.monitoring.metrics import ALL_VERSIONS, version_metrics
from rayops.monitoring.task import MonitorTask
from rayops.monitoring.view import EndpointView
from rayops.registry import Registry, baseline_from_frame
from rayops.serving import Endpoints
from rayops.storage import Storage
from rayops.telemetry.writers import FeedbackLog, PredictionLog, RequestLog, Scored

EVERY_S = 20.0


def _model(x: pd.DataFrame, y: np.ndarray, k: int) -> xgb.Booster:
    params = {"max_depth": 3, "eta": 0.3, "seed": 0, "nthread": 1}
    if k == 2:
        params["objective"] = "binary:logistic"
    else:
        params.update(objective="multi:softprob", num_class=k)
    return xgb.train(params, xgb.DMatrix(x, label=y), num_boost_round=20)


def _proba(booster: xgb.Booster, x: pd.DataFrame, k: int) -> np.ndarray:
    p = booster.predict(xgb.DMatrix(x)).astype(np.float64)
    return np.column_stack([1 - p, p]) if k == 2 else p.reshape(len(x), k)


def _register(
    storage: Storage, name: str, booster: xgb.Booster, x: pd.DataFrame, classes: list[str],
    metrics: dict[str, float],
) -> str:  # fmt: skip
    task = "binary" if len(classes) == 2 else "multiclass"
    mv = Registry(storage).register(
        name, booster, features=list(x.columns), task=task, classes=classes,
        metrics={"holdout": metrics}, baseline=baseline_from_frame(x, list(x.columns)),
    )  # fmt: skip
    return str(mv.ref)


def _traffic(
    storage: Storage, endpoint: str, ref: str, x: pd.DataFrame, proba: np.ndarray,
    classes: list[str], truth: list[str], *, prefix: str, start=T0, threshold: float = 0.5,
) -> None:  # fmt: skip
    """One row per request every EVERY_S seconds, every request labeled 30 s later."""
    log, outcomes = PredictionLog(storage, flush_s=3600), RequestLog(storage, flush_s=3600)
    times = []
    for i in range(len(x)):
        when = start + timedelta(seconds=EVERY_S * i)
        p = proba[i : i + 1]
        idx = int(p[0, 1] >= threshold) if len(classes) == 2 else int(np.argmax(p[0]))
        scored = Scored(probabilities=p, classes=classes, labels=[classes[idx]])
        log.record(request_id=f"{prefix}{i}", endpoint=endpoint, ref=ref, frame=x.iloc[i : i + 1],
                   predictions=scored, latency_ms=5.0 + i % 7, time=when)  # fmt: skip
        outcomes.record(request_id=f"{prefix}{i}", endpoint=endpoint, ref=ref, status=200,
                        time=when)  # fmt: skip
        times.append(when + timedelta(seconds=30))
    log.close()
    outcomes.close()
    clock = iter(times)

    async def send() -> None:
        fb = FeedbackLog(storage, now=lambda: next(clock))
        for i, label in enumerate(truth):
            await fb.write(endpoint, f"{prefix}{i}", [label], labels=True)

    asyncio.run(send())


def _logged(root: Path, endpoint: str) -> pd.DataFrame:
    """The logged rows and their latest label, read with pyarrow and pandas only."""
    preds = pads.dataset(root / "logs" / endpoint / "predictions", partitioning="hive")
    fb = pads.dataset(root / "logs" / endpoint / "feedback", partitioning="hive")
    p, f = preds.to_table().to_pandas(), fb.to_table().to_pandas()
    f = f.sort_values("time").drop_duplicates(["request_id", "row"], keep="last")
    out = p.merge(f[["request_id", "row", "actual_label"]], on=["request_id", "row"])
    return out.assign(ref=out["model"] + "@" + out["version"])


@pytest.fixture
def binary(tmp_path: Path) -> tuple[Storage, Path, str, str]:
    from rayops.storage import open_storage

    root = tmp_path / "root"
    storage = open_storage(str(root))
    data = load_breast_cancer(as_frame=True)
    x, y = data.data.iloc[:, :8], data.target.to_numpy()
    classes = ["malignant", "benign"]
    booster = _model(x.iloc[:350], y[:350], 2)
    hold = _proba(booster, x.iloc[350:], 2)
    card = {"accuracy": float(skm.accuracy_score(y[350:], hold[:, 1] >= 0.5)),
            "auc": float(skm.roc_auc_score(y[350:], hold[:, 1]))}  # fmt: skip
    good = _register(storage, "tumour", booster, x, classes, card)
    few = list(x.columns[:2])
    weak_booster = _model(x.iloc[:350][few], y[:350], 2)
    weak = _register(storage, "tumour", weak_booster, x[few], classes, card)
    Endpoints(storage).create("clinic", {good: 70, weak: 30})
    live, truth = x.iloc[350:], [classes[v] for v in y[350:]]
    mask = np.arange(len(live)) % 3 == 0  # a third of the requests to the weaker version
    for ref, model, part, prefix, cols in (
        (good, booster, ~mask, "g", list(x.columns)),
        (weak, weak_booster, mask, "w", few),
    ):
        rows = live[part][cols]
        labels = [t for t, m in zip(truth, part, strict=True) if m]
        _traffic(storage, "clinic", ref, rows, _proba(model, rows, 2), classes, labels,
                 prefix=prefix)  # fmt: skip
    return storage, root, good, weak


def _sklearn(rows: pd.DataFrame, classes: list[str]) -> dict[str, float]:
    y = rows["actual_label"].map({c: i for i, c in enumerate(classes)}).to_numpy()
    proba = rows[[f"p_{c}" for c in classes]].to_numpy(np.float64)
    proba = proba / proba.sum(axis=1, keepdims=True)  # float32 outputs sum to 1 ± 1e-7
    if len(classes) == 2:
        pred = (proba[:, 1] >= 0.5).astype(int)
        return {
            "logloss": skm.log_loss(y, proba, labels=[0, 1]),
            "auc": skm.roc_auc_score(y, proba[:, 1]),
            "pr_auc": skm.average_precision_score(y, proba[:, 1]),
            "accuracy": skm.accuracy_score(y, pred),
            "precision": skm.precision_score(y, pred),
            "recall": skm.recall_score(y, pred),
            "f1": skm.f1_score(y, pred),
            "brier": skm.brier_score_loss(y, proba[:, 1]),
            "positive_rate": pred.mean(),
        }
    pred = proba.argmax(axis=1)
    every = list(range(len(classes)))
    return {
        "logloss": skm.log_loss(y, proba, labels=every),
        "accuracy": skm.accuracy_score(y, pred),
        "macro_f1": skm.f1_score(y, pred, labels=every, average="macro"),
        "brier": skm.brier_score_loss(y, proba, labels=every),
    }


def test_binary_metrics_match_sklearn_on_the_logged_rows_exact_and_aggregated(binary) -> None:  # type: ignore[no-untyped-def]
    storage, root, good, weak = binary
    end = T0 + timedelta(hours=3)
    found = version_metrics(storage, "clinic", T0, end)
    logged = _logged(root, "clinic")
    classes = ["malignant", "benign"]
    agg = Aggregates(storage, "clinic", Settings()).metrics(T0, end)
    for ref in (good, weak):
        expected = _sklearn(logged[logged["ref"] == ref], classes)
        m = found[ref]
        assert m.task == "binary" and m.labeled == int((logged["ref"] == ref).sum())
        assert m.mae is None and m.rmse is None
        for name, value in expected.items():
            assert getattr(m, name) == pytest.approx(value, rel=1e-9, abs=1e-12), name
            approx = 0.01 if name in ("auc", "pr_auc") else 1e-9
            assert getattr(agg[ref], name) == pytest.approx(value, abs=approx), name
        assert agg[ref].labeled == m.labeled and agg[ref].requests == m.requests
        assert m.losses and len(m.losses) == len(m.request_ids) == m.labeled
    assert found[good].auc > found[weak].auc  # two features are not eight
    # the endpoint as a whole: every row, same classes
    everything = Aggregates(storage, "clinic", Settings()).metrics(T0, end)[ALL_VERSIONS]
    assert everything.labeled == len(logged)
    assert everything.accuracy == pytest.approx(_sklearn(logged, classes)["accuracy"])


def test_multiclass_metrics_match_sklearn(local: Storage, tmp_path: Path) -> None:
    data = load_wine(as_frame=True)
    x, y = data.data.iloc[:, :6], data.target.to_numpy()
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x.iloc[order].reset_index(drop=True), y[order]
    classes = ["barolo", "grignolino", "barbera"]
    booster = _model(x.iloc[:100], y[:100], 3)
    ref = _register(local, "wine", booster, x, classes, {"accuracy": 0.9})
    Endpoints(local).create("cellar", ref)
    _traffic(local, "cellar", ref, x.iloc[100:], _proba(booster, x.iloc[100:], 3), classes,
             [classes[v] for v in y[100:]], prefix="m")  # fmt: skip
    end = T0 + timedelta(hours=3)
    m = version_metrics(local, "cellar", T0, end)[ref]
    logged = _logged(tmp_path / "root", "cellar")
    for name, value in _sklearn(logged, classes).items():
        assert getattr(m, name) == pytest.approx(value, rel=1e-9), name
    idx = logged["actual_label"].map({c: i for i, c in enumerate(classes)})
    pred = logged[[f"p_{c}" for c in classes]].to_numpy().argmax(axis=1)
    recalls = skm.recall_score(idx, pred, labels=[0, 1, 2], average=None)
    assert m.class_recall == pytest.approx(dict(zip(classes, recalls, strict=True)))
    assert m.auc is None and m.task == "multiclass"
    agg = Aggregates(local, "cellar", Settings()).metrics(T0, end)[ref]
    assert agg.macro_f1 == pytest.approx(m.macro_f1) and agg.brier == pytest.approx(m.brier)
    assert agg.class_recall == pytest.approx(m.class_recall)


def test_health_limits_come_from_the_card_and_drift_reads_labels(binary) -> None:  # type: ignore[no-untyped-def]
    storage, _, good, _ = binary
    settings = Settings(monitoring_reference_rows=50)
    view = EndpointView(storage, "clinic", T0 + timedelta(hours=2), settings)
    report = view.health("2h")[good]
    checks = {c.metric: c for c in report.checks}
    card = Registry(storage).get(good).card.metrics["holdout"]
    assert set(checks) >= {"accuracy", "auc", "latency_p95_ms"}
    assert checks["auc"].source == "card"
    assert checks["auc"].warning == pytest.approx(card["auc"] * 0.9)
    assert checks["accuracy"].critical == pytest.approx(card["accuracy"] * 0.8)
    fixed = Settings(monitoring_accuracy_warning=0.99, monitoring_accuracy_critical=0.98)
    set_checks = EndpointView(storage, "clinic", T0 + timedelta(hours=2), fixed).health("2h")
    assert {c.metric: c.source for c in set_checks[good].checks}["accuracy"] == "settings"
    # drift: the first window freezes the references, the second compares with them
    first = check_drift(storage, "clinic", T0, T0 + timedelta(minutes=40), settings=settings)
    assert first.prediction is None and any("frozen" in n for n in first.notes)
    later = check_drift(storage, "clinic", T0 + timedelta(minutes=40), T0 + timedelta(hours=2),
                        settings=settings)  # fmt: skip
    assert later.prediction is not None and later.target is not None
    assert list(later.prediction.features) == ["label", "p_benign"]
    assert later.prediction.features["label"].kind == "categorical"
    assert list(later.target.features) == ["actual_label"]


def test_default_rules_fire_on_a_prepared_degradation(binary) -> None:  # type: ignore[no-untyped-def]
    """A version whose answers are noise: the built-in accuracy and AUC rules fire, for it
    only; with monitoring_default_rules off nothing fires."""
    storage, _, good, _ = binary
    rng = np.random.default_rng(1)
    data = load_breast_cancer(as_frame=True)
    x, y = data.data.iloc[:120, :8], data.target.to_numpy()[:120]
    classes = ["malignant", "benign"]
    noise = rng.random(len(x))
    start = T0 + timedelta(hours=4)
    bad = _register(storage, "tumour", _model(x, y, 2), x, classes, {"accuracy": 0.9})
    _traffic(storage, "clinic", bad, x, np.column_stack([1 - noise, noise]), classes,
             [classes[v] for v in y], prefix="b", start=start)  # fmt: skip
    now = start + timedelta(minutes=40, seconds=30)
    quiet = MonitorTask(storage, Settings(monitoring_default_rules=False), gauges=_NoGauges())
    assert quiet.check("clinic", now)["alerts"] == []
    summary = MonitorTask(storage, Settings(), gauges=_NoGauges()).check("clinic", now)
    fired = {(a["rule"], a["ref"]) for a in summary["alerts"]}
    assert ("default-accuracy-critical", bad) in fired
    assert ("default-auc-critical", bad) in fired
    assert not any(ref == good for _, ref in fired)
    assert summary["health"][bad] == "critical"


class _NoGauges:
    def set_quality(self, *args: object) -> None: ...
    def set_drift(self, *args: object) -> None: ...
    def set_health(self, *args: object) -> None: ...
