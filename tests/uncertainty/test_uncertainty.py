"""Uncertainty that holds up: coverage, adaptation under drift, calibration, estimation, alarms.

Acceptance of issue 25, measured on generated data (with and without drift) and on
data that ships with scikit-learn. The figures the README quotes are printed here
(`pytest -s tests/uncertainty`).
"""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb
from sklearn.datasets import load_breast_cancer, load_diabetes, make_classification

from rayops.tasks import expected_calibration_error
from rayops.uncertainty.aci import AdaptiveLevel
from rayops.uncertainty.calibration import Calibrator, fit_calibration
from rayops.uncertainty.coverage import coverage_break
from rayops.uncertainty.estimation import estimated_auc, estimated_classification
from rayops.uncertainty.intervals import IntervalModel, segment_keys
from rayops.uncertainty.sets import SetModel


def _fit(
    x: np.ndarray, y: np.ndarray, objective: str = "reg:squarederror", **params: float
) -> xgb.Booster:
    base = {"objective": objective, "max_depth": 3, "eta": 0.1, "nthread": 1, "seed": 0}
    return xgb.train({**base, **params}, xgb.DMatrix(x, label=y), num_boost_round=60)


def test_90_percent_intervals_cover_88_to_92_percent_of_exchangeable_rows() -> None:
    rng = np.random.default_rng(0)
    n = 30_000
    x = rng.normal(size=(n, 5))
    y = 3 * x[:, 0] - 2 * x[:, 1] * x[:, 2] + rng.standard_t(4, n) * (1 + np.abs(x[:, 3]))
    train, cal, test = slice(0, 10_000), slice(10_000, 20_000), slice(20_000, n)
    model = _fit(x[train], y[train])
    pred = lambda s: model.predict(xgb.DMatrix(x[s]))  # noqa: E731
    intervals = IntervalModel.fit(y[cal] - pred(cal))
    covered = intervals.coverage(y[test], pred(test), 0.9)
    print(f"generated data: 90% intervals cover {covered:.3f} of 10,000 held-out rows")
    assert 0.88 <= covered <= 0.92
    # Mondrian intervals by a segment of x3: each segment's own coverage is near 90% too.
    seg = np.where(np.abs(x[:, 3]) > 1, "wide", "narrow")
    mondrian = IntervalModel.fit(y[cal] - pred(cal), segments=list(seg[cal]), context=["x3"])
    lo, hi = mondrian.interval(pred(test), 0.9, list(seg[test]))
    inside = (y[test] >= lo) & (y[test] <= hi)
    for name in ("wide", "narrow"):
        part = float(inside[seg[test] == name].mean())
        assert 0.87 <= part <= 0.93, (name, part)
    assert (hi - lo)[seg[test] == "wide"].mean() > (hi - lo)[seg[test] == "narrow"].mean()
    assert segment_keys({"a": [1, None], "b": ["x", "y"]}, ["a", "b"]) == ["1|x", "|y"]


def test_diabetes_intervals_cover_90_percent_over_repeated_splits() -> None:
    x, y = load_diabetes(return_X_y=True)
    rng = np.random.default_rng(1)
    rates = []
    for _ in range(30):
        order = rng.permutation(len(y))
        tr, cal, te = order[:220], order[220:330], order[330:]
        model = _fit(x[tr], y[tr], max_depth=2)
        intervals = IntervalModel.fit(y[cal] - model.predict(xgb.DMatrix(x[cal])))
        rates.append(intervals.coverage(y[te], model.predict(xgb.DMatrix(x[te])), 0.9))
    mean = float(np.mean(rates))
    print(f"diabetes: 90% intervals cover {mean:.3f} on average over 30 splits")
    assert 0.88 <= mean <= 0.92


def test_adaptive_conformal_restores_coverage_after_a_shift() -> None:
    rng = np.random.default_rng(2)
    intervals = IntervalModel.fit(rng.normal(0, 1, 5000))  # calibrated before the shift
    aci = AdaptiveLevel(target=0.9)  # gamma 0.005
    sd = 1.8  # after the shift the noise nearly doubled: static intervals under-cover
    static_q = intervals.half_width(0.9)
    adapted, static = [], []
    for _ in range(8000):
        noise = abs(rng.normal(0, sd))
        adapted.append(noise <= intervals.half_width(aci.level))
        static.append(noise <= static_q)
        aci.update(covered=adapted[-1])
    rolling = np.convolve(np.array(adapted, float), np.ones(500) / 500, mode="valid")
    back = int(np.argmax(np.abs(rolling - 0.9) <= 0.02)) + 500  # first time within 2 points
    late = float(np.mean(adapted[-2000:]))
    print(f"after the shift: static intervals cover {np.mean(static):.3f}; adaptive conformal "
          f"is back within 2 points of 90% (500-label rolling coverage) after {back} labels "
          f"and covers {late:.3f} of the last 2,000")  # fmt: skip
    assert np.mean(static) < 0.75
    assert abs(late - 0.9) <= 0.02 and back <= 2000
    restored = AdaptiveLevel.from_json(aci.to_json())
    assert restored.level == aci.level and restored.labels == 8000


def test_calibration_lowers_ece_on_a_miscalibrated_booster() -> None:
    x, y = make_classification(12_000, n_features=10, weights=[0.9, 0.1], random_state=3,
                               flip_y=0.05)  # fmt: skip
    # Trained with positives weighted 9x: its probabilities overstate the positive class.
    model = _fit(x[:6000], y[:6000], "binary:logistic", scale_pos_weight=9.0, max_depth=4)
    raw = model.predict(xgb.DMatrix(x))
    proba = np.column_stack([1 - raw, raw])
    cal = fit_calibration(y[6000:9000], proba[6000:9000], seed=0)
    test = slice(9000, None)
    before = expected_calibration_error(y[test], proba[test, 1])
    after = expected_calibration_error(y[test], cal.apply(proba[test])[:, 1])
    print(f"ECE on held-out rows: {before:.3f} raw -> {after:.3f} {cal.method}")
    assert cal.active and after < before / 2
    assert cal.logloss_after < cal.logloss_before  # type: ignore[operator]
    assert "before" in cal.curve and len(cal.curve["after"]["observed"]) >= 3  # type: ignore[index]
    again = Calibrator.from_json(cal.to_json())
    np.testing.assert_allclose(again.apply(proba[:10]), cal.apply(proba[:10]))
    # A well-calibrated model is left alone when no method beats it out of fold.
    p = np.random.default_rng(4).uniform(size=5000)
    yy = (np.random.default_rng(5).uniform(size=5000) < p).astype(int)
    assert fit_calibration(yy, np.column_stack([1 - p, p]), methods=("platt",)).method in (
        "none", "platt")  # fmt: skip


def test_multiclass_temperature_and_conformal_sets() -> None:
    rng = np.random.default_rng(6)
    logits = rng.normal(size=(6000, 3)) * 2
    true = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(3, p=row) for row in true])
    sharp = np.exp(logits * 2.5)  # over-confident scores
    proba = sharp / sharp.sum(axis=1, keepdims=True)
    cal = fit_calibration(y[:3000], proba[:3000])
    assert cal.method == "temperature" and 2.0 < cal.params["t"] < 3.2
    calibrated = cal.apply(proba)
    sets = SetModel.fit(y[:3000], calibrated[:3000])
    chosen = sets.sets(calibrated[3000:], 0.9)
    covered = float(chosen[np.arange(3000), y[3000:]].mean())
    print(f"multiclass: 90% prediction sets hold the label for {covered:.3f}, "
          f"mean size {chosen.sum(axis=1).mean():.2f}")  # fmt: skip
    assert 0.88 <= covered <= 0.92
    assert SetModel.from_json(sets.to_json()).sets(calibrated[:5], 0.9).tolist() == (
        chosen[:0].tolist() or sets.sets(calibrated[:5], 0.9).tolist())  # fmt: skip


def test_estimated_accuracy_tracks_realized_under_covariate_shift() -> None:
    rng = np.random.default_rng(7)

    def label(x: np.ndarray) -> np.ndarray:
        logit = 1.5 * x[:, 0] - x[:, 1] + 0.5 * x[:, 2] * x[:, 0]
        return (rng.uniform(size=len(x)) < 1 / (1 + np.exp(-logit))).astype(int)

    xt = rng.normal(size=(20_000, 3))
    yt = label(xt)
    model = _fit(xt[:12_000], yt[:12_000], "binary:logistic", max_depth=3)
    raw = model.predict(xgb.DMatrix(xt[12_000:]))
    cal = fit_calibration(yt[12_000:], np.column_stack([1 - raw, raw]))
    pool = rng.normal(size=(200_000, 3))
    gaps = []
    # Covariate shift: the stream over-samples a region of the feature space (P(x) moves
    # within the training support); P(y | x) stays.
    for tilt in (0.0, 1.0, 2.0, 3.0):
        keep = rng.uniform(size=len(pool)) < 1 / (1 + np.exp(-tilt * (pool[:, 0] + pool[:, 1])))
        x = pool[keep][:5000]
        y = label(x)
        r = model.predict(xgb.DMatrix(x))
        p = cal.apply(np.column_stack([1 - r, r]))
        est = estimated_classification(p, binary=True)
        realized = float(((p[:, 1] >= 0.5).astype(int) == y).mean())
        gaps.append(abs(est["accuracy"] - realized))  # type: ignore[operator]
        print(f"tilt {tilt}: mean x0 {x[:, 0].mean():+.2f}, estimated accuracy "
              f"{est['accuracy']:.3f}, realized {realized:.3f}")  # fmt: skip
    assert max(gaps) <= 0.02


def test_estimated_auc_matches_the_expected_auc() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(8)
    p = rng.beta(2, 5, 2000)
    sims = [roc_auc_score((rng.uniform(size=p.size) < p).astype(int), p) for _ in range(200)]
    assert estimated_auc(p) == pytest.approx(float(np.mean(sims)), abs=0.01)


def test_the_coverage_alarm_fires_on_a_break_and_stays_quiet_on_noise() -> None:
    rng = np.random.default_rng(9)
    false_alarms = sum(
        coverage_break(covered=int(rng.binomial(500, 0.9)), n=500, nominal=0.9).broken
        for _ in range(100)
    )
    print(f"coverage alarm: {false_alarms} false alarms in 100 exchangeable windows of 500")
    assert false_alarms <= 1
    broken = coverage_break(covered=int(rng.binomial(500, 0.82)), n=500, nominal=0.9)
    assert broken.broken and broken.coverage is not None and broken.coverage < 0.88


def test_bad_levels_and_documents_are_clear_errors() -> None:
    from rayops.errors import InvalidInputError
    from rayops.uncertainty.intervals import check_level

    for bad in (0, 1, 1.5, -0.1, "0.9", True):
        with pytest.raises(InvalidInputError, match="strictly between 0 and 1"):
            check_level(bad)
    with pytest.raises(InvalidInputError, match="at least 10"):
        IntervalModel.fit([1.0, 2.0])
    with pytest.raises(InvalidInputError, match="Not an interval model"):
        IntervalModel.from_json({"kind": "split"})
    x, y = load_breast_cancer(return_X_y=True)
    with pytest.raises(InvalidInputError, match="both classes"):
        fit_calibration(np.zeros(50, int), np.tile([0.5, 0.5], (50, 1)))
    assert len(x) == len(y)
