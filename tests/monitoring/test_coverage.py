"""Coverage monitoring (issue 25): coverage of labeled rows by each version's 90% conformal
interval or set per window, interval width, and the built-in coverage alert (binomial
test): it fires on a real coverage break and stays quiet on 100 exchangeable windows."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from uncertainty_support import (
    T0,
    NoGauges,
    binary_model,
    binary_rows,
    log_binary,
    log_regression,
    regression_model,
    regression_rows,
)

from rayops.config import Settings
from rayops.monitoring.alerting import Alerter
from rayops.monitoring.alerts import default_rules
from rayops.monitoring.coverage import version_uncertainty
from rayops.monitoring.task import MonitorTask
from rayops.monitoring.view import EndpointView
from rayops.storage import Storage

WINDOW_S = 1200  # 20 requests of 10 rows: 200 labeled rows per window


def _settings(**kw: object) -> Settings:
    return Settings(monitoring_log_lag_s=0, monitoring_aggregates=False, **kw)  # type: ignore[arg-type]


def test_quiet_on_100_exchangeable_windows_and_fires_on_a_break(local: Storage) -> None:
    ref, booster = regression_model(local)
    rows = regression_rows(20_000, 2)  # the calibration rows' distribution
    log_regression(local, "prices", ref, booster, rows, start=T0, every_s=60, prefix="x")
    s = _settings()
    coverages, alarms = [], 0
    for i in range(100):
        view = EndpointView(local, "prices", T0 + timedelta(seconds=WINDOW_S * (i + 1)), s)
        found = view.uncertainty(ref, "20m")
        assert found is not None and found.labeled == 200
        coverages.append(found.coverage)
        alarms += int(view.value("coverage_break", ref, "20m") == 1.0)
    # alpha = 0.01 against the edge of the ±2-point band: at most ~1 in 100 by chance
    print(f"false alarms on 100 exchangeable windows: {alarms}")
    assert alarms <= 1
    assert 0.88 <= float(np.mean(coverages)) <= 0.92
    assert min(coverages) < max(coverages)  # computed per window, not a constant

    # the same model on rows twice as noisy: the 90% intervals cover about 60%
    shifted = regression_rows(1200, 3, noise=2.5)
    start = T0 + timedelta(seconds=WINDOW_S * 100)
    log_regression(local, "prices", ref, booster, shifted, start=start, every_s=30, prefix="s")
    now = start + timedelta(hours=1)
    view = EndpointView(local, "prices", now, s)
    found = view.uncertainty(ref, "1h")
    assert found is not None and found.coverage is not None
    assert found.coverage < 0.80 and found.broken and found.p_value < 0.01
    (check,) = [c for c in view.health("1h")[ref].checks if c.metric == "coverage_break"]
    assert check.value == 1.0 and check.state == "warning"
    summary = MonitorTask(local, s, gauges=NoGauges()).check("prices", now)
    assert ("default-coverage", ref) in {(a["rule"], a["ref"]) for a in summary["alerts"]}
    assert summary["uncertainty"][ref]["coverage"] == found.coverage


def test_interval_width_follows_the_served_level_and_logged_bounds_win(local: Storage) -> None:
    """Width is the mean of upper - lower over every row; logged lower/upper columns (what
    serving answered) are judged as they are."""
    from rayops.monitoring.coverage import uncertainty_of
    from rayops.monitoring.quality import VersionInfo

    ref, _ = regression_model(local)
    unc = version_uncertainty(local, ref)
    assert unc.intervals is not None
    frame = pd.DataFrame(
        {"prediction": np.zeros(300), "actual": np.r_[np.zeros(200), [np.nan] * 100]}
    )
    info = VersionInfo.regression()
    w90 = uncertainty_of(frame, info, unc, level=0.9).width
    w95 = uncertainty_of(frame, info, unc, level=0.95).width
    assert w90 is not None and w95 is not None and w95 > w90
    assert w90 == pytest.approx(2 * unc.intervals.half_width(0.9))
    logged = frame.assign(lower=-0.5, upper=0.5)
    found = uncertainty_of(logged, info, unc, level=0.9)
    assert found.width == 1.0 and found.labeled == 200 and found.covered == 200
    narrow = frame.assign(lower=0.1, upper=0.2)  # zero lies outside every logged interval
    assert uncertainty_of(narrow, info, unc, level=0.9).covered == 0


def test_prediction_sets_cover_a_classifier_and_logged_sets_win(local: Storage) -> None:
    ref, booster = binary_model(local)
    x, y = binary_rows(3000, 12)
    log_binary(local, "churn", ref, booster, x, y, prefix="c")
    s = _settings()
    view = EndpointView(local, "churn", T0 + timedelta(hours=1), s)
    found = view.uncertainty(ref, "1h")
    assert found is not None and found.labeled == 3000
    assert found.coverage is not None and 0.87 <= found.coverage <= 0.93
    assert found.set_size is not None and 1.0 <= found.set_size <= 2.0
    assert not found.broken
    # a logged pset column (the serving side's) replaces the recomputed sets
    from rayops.monitoring.coverage import uncertainty_of

    frame = view.frame("1h")
    only_no = frame.assign(pset='["no"]')
    other = uncertainty_of(only_no, view.info(ref), version_uncertainty(local, ref), level=0.9)
    assert other.set_size == 1.0
    assert other.covered == int((frame["actual_label"] == "no").sum())


def test_the_coverage_rule_is_built_in_per_version_with_the_label_minimum() -> None:
    rule = {r.name: r for r in default_rules(Settings(monitoring_coverage_min_labels=250))}
    cov = rule["default-coverage"]
    assert cov.metric == "coverage_break" and cov.per_version and cov.min_count == 250
    assert "default-coverage" not in {
        r.name for r in default_rules(Settings(monitoring_default_rules=False))
    }


def test_no_uncertainty_document_means_no_value(local: Storage) -> None:
    """A version registered without one: every uncertainty metric is None, nothing fires."""
    import xgboost as xgb
    from monitoring_support import write_traffic

    from rayops.registry import Registry
    from rayops.serving import Endpoints

    rows = regression_rows(500, 4)
    b = xgb.train({"nthread": 1}, xgb.DMatrix(rows[["a", "b", "c"]], label=rows["target"]), 5)
    ref = str(Registry(local).register("plain", b, features=["a", "b", "c"]).ref)
    Endpoints(local).create("plain", {ref: 100})
    write_traffic(local, "plain", ref, rows[["a", "b", "c"]], np.zeros(500), start=T0,
                  every_s=1, actuals=rows["target"].to_numpy())  # fmt: skip
    view = EndpointView(local, "plain", T0 + timedelta(hours=1), _settings())
    assert view.uncertainty(ref, "1h") is None
    assert view.value("coverage", ref, "1h") is None
    rules = [r for r in default_rules(_settings()) if r.name == "default-coverage"]
    assert Alerter(local, _settings(), sinks=[]).evaluate(view, rules) == []


def test_vectorized_prediction_sets_equal_crepes() -> None:
    """Monitoring's binary-search sets are crepes' sets, ties and edges included."""
    from rayops.monitoring.coverage import prediction_sets
    from rayops.uncertainty.sets import SetModel

    rng = np.random.default_rng(5)
    for k in (2, 3, 5):
        p_cal = rng.dirichlet(np.ones(k), 500).round(2)  # rounded: many ties
        y = np.array([rng.choice(k, p=row / row.sum()) for row in p_cal])
        model = SetModel.fit(y, p_cal / p_cal.sum(axis=1, keepdims=True))
        p = rng.dirichlet(np.ones(k), 2000).round(2)
        for level in (0.5, 0.8, 0.9, 0.95, 0.999):
            assert (prediction_sets(model, p, level) == model.sets(p, level)).all(), (k, level)


def test_multiclass_sets_and_estimates_on_sklearn_digits(local: Storage) -> None:
    """scikit-learn's digits (10 classes), shuffled so that the rows served are exchangeable
    with the calibration rows: temperature-calibrated sets cover about 90% of them, and the
    estimated accuracy is next to the realized one."""
    import asyncio

    import xgboost as xgb
    from sklearn.datasets import load_digits

    from rayops.registry import Registry
    from rayops.serving import Endpoints
    from rayops.tasks import Task
    from rayops.telemetry.writers import FeedbackLog, PredictionLog, Scored
    from rayops.training.uncertainty import fit_uncertainty

    data = load_digits(as_frame=True)
    order = np.random.default_rng(0).permutation(len(data.data))  # the file is by writer
    x, y = data.data.iloc[order].reset_index(drop=True), data.target.to_numpy()[order]
    x.columns = [f"px{i}" for i in range(x.shape[1])]
    classes = [f"d{i}" for i in range(10)]
    params = {"objective": "multi:softprob", "num_class": 10, "max_depth": 3, "eta": 0.3,
              "nthread": 1, "seed": 0}  # fmt: skip
    booster = xgb.train(params, xgb.DMatrix(x.iloc[:900], label=y[:900]), 40)

    def proba(rows: pd.DataFrame) -> np.ndarray:
        return np.asarray(booster.predict(xgb.DMatrix(rows)), dtype=np.float64)

    doc = fit_uncertainty(Task.of("multiclass"), y[900:1350], proba(x.iloc[900:1350]))
    assert doc is not None and doc["calibration"]["method"] in ("temperature", "none")
    ref = str(Registry(local).register("digits", booster, features=list(x.columns),
                                       task="multiclass", classes=classes,
                                       uncertainty=doc).ref)  # fmt: skip
    Endpoints(local).create("ocr", {ref: 100})
    live, truth = x.iloc[1350:], y[1350:]
    p = proba(live)
    log = PredictionLog(local, flush_s=3600)
    for i in range(len(live)):
        scored = Scored(probabilities=p[i : i + 1], classes=classes,
                        labels=[classes[int(p[i].argmax())]])  # fmt: skip
        when = T0 + timedelta(seconds=5 * i)
        log.record(request_id=f"d{i}", endpoint="ocr", ref=ref, frame=live.iloc[i : i + 1],
                   predictions=scored, latency_ms=2.0, time=when)  # fmt: skip
    log.close()

    async def send() -> None:
        fb = FeedbackLog(local, now=lambda: T0 + timedelta(hours=1))
        await asyncio.gather(*(fb.write("ocr", f"d{i}", [classes[int(t)]], labels=True)
                               for i, t in enumerate(truth)))  # fmt: skip

    asyncio.run(send())
    view = EndpointView(local, "ocr", T0 + timedelta(hours=2), _settings())
    found = view.uncertainty(ref, "2h")
    assert found is not None and found.labeled == len(live) == 447
    assert found.coverage is not None and 0.85 <= found.coverage <= 0.95
    # a model right 97% of the time can meet 90% with some empty sets: fewer than one class
    assert found.set_size is not None and 0.5 <= found.set_size <= 2.0
    est, realized = view.value("estimated_accuracy", ref, "2h"), view.value("accuracy", ref, "2h")
    assert est is not None and realized is not None
    print(
        f"digits: coverage {found.coverage:.3f}, set size {found.set_size:.2f}, "
        f"estimated accuracy {est:.3f}, realized {realized:.3f}"
    )
    assert abs(est - realized) <= 0.05  # 447 rows: about 1.3 points of sampling error alone
    assert view.value("estimated_auc", ref, "2h") is None  # AUC is binary-only
