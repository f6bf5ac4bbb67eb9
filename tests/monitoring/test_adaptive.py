"""Adaptive conformal inference in the control loop (issue 25): after a shift the served
level moves from delayed feedback until coverage is back within 2 points of nominal; the
labels that takes are measured; it is off until enough labels, bounded, every change is
recorded, and serving's level document is where :func:`level_key` says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import xgboost as xgb
from uncertainty_support import FEATURES, T0, log_regression, regression_model, regression_rows

from rayops.config import Settings
from rayops.control.tasks import default_tasks
from rayops.monitoring.adaptive import AdaptiveLevelTask, level_history, read_level
from rayops.monitoring.coverage import served_level, version_uncertainty
from rayops.storage import Storage
from rayops.uncertainty.aci import level_key


def test_aci_brings_coverage_back_after_a_shift(local: Storage) -> None:
    ref, booster = regression_model(local)
    s = Settings(monitoring_log_lag_s=0, monitoring_aci_horizon_s=7200,
                 monitoring_aci_min_labels=200)  # fmt: skip
    # the world got noisier: residual spread 1.6x the calibration rows'
    stream = regression_rows(12000, 20, noise=1.6)
    log_regression(local, "prices", ref, booster, stream, start=T0, every_s=6, prefix="s")
    fresh = regression_rows(8000, 21, noise=1.6)  # judged at the served level after each pass
    pred = booster.predict(xgb.DMatrix(fresh[FEATURES])).astype(np.float64)
    intervals = version_uncertainty(local, ref).intervals
    assert intervals is not None

    def coverage(level: float) -> float:
        return intervals.coverage(fresh["target"].to_numpy(), pred, level)

    before = coverage(0.9)
    assert before < 0.85  # the shift broke the static 90% interval
    task = AdaptiveLevelTask(local, s)
    passes = [(0, 0, 0.9)]  # (labels, misses, served level) after each pass
    for minute in range(5, 125, 5):  # a pass every 5 minutes: ~500 new labels each
        task.tick(T0 + timedelta(minutes=minute))
        doc = read_level(local, ref)
        assert doc is not None
        passes.append((doc["labels"], doc["misses"], served_level(local, ref, s)))
    # realized coverage of the served intervals over the last ~1000 labels, after each pass
    rolling = []
    for i in range(2, len(passes)):
        labels = passes[i][0] - passes[i - 2][0]
        rolling.append((passes[i][0], 1 - (passes[i][1] - passes[i - 2][1]) / labels))
    inside = [abs(c - 0.9) <= 0.02 for _, c in rolling]
    settled = next((i for i in range(len(inside)) if all(inside[i:])), None)
    needed = rolling[settled][0] if settled is not None else None
    fresh_cov = [round(coverage(level), 3) for _, _, level in passes]
    print(
        f"static 90% coverage after the shift: {before:.3f}; rolling served coverage "
        f"(labels, coverage): {[(n, round(c, 3)) for n, c in rolling]}; fresh-row coverage at "
        f"the served level per pass: {fresh_cov}; labels until within 2 points for good: "
        f"{needed}"
    )
    assert needed is not None and needed <= passes[-1][0] - 5000
    final_level = passes[-1][2]
    assert abs(fresh_cov[-1] - 0.9) < abs(before - 0.9) / 2
    assert 1 - s.monitoring.aci_alpha_max <= final_level <= 1 - s.monitoring.aci_alpha_min
    # every change of the served level is recorded once, oldest first, and chains up
    history = level_history(local, ref)
    assert history and history[-1]["level"] == final_level
    assert all(a["level"] == b["previous"] for a, b in zip(history, history[1:], strict=False))
    # analytics judges each bucket at the level served then (the history), not today's
    from rayops.analytics import analyze

    report = analyze(local, "prices", start=T0, end=T0 + timedelta(hours=2), settings=s)
    points = sorted(report.uncertainty, key=lambda p: p.time)
    assert points[0].level == 0.9 and len({p.level for p in points}) > 3
    late = [p for p in points if p.time >= T0 + timedelta(minutes=30)]
    covered = sum(p.coverage * p.labeled for p in late if p.coverage is not None)
    assert abs(covered / sum(p.labeled for p in late) - 0.9) <= 0.02
    # a pass with no new feedback changes nothing and records nothing
    task.tick(T0 + timedelta(minutes=60))
    assert read_level(local, ref)["labels"] == passes[-1][0]  # type: ignore[index]
    assert len(level_history(local, ref)) == len(history)


def test_off_until_min_labels_and_the_document_serving_reads(local: Storage) -> None:
    ref, booster = regression_model(local)
    s = Settings(monitoring_log_lag_s=0, monitoring_aci_min_labels=1000)
    stream = regression_rows(600, 30, noise=2.0)
    log_regression(local, "prices", ref, booster, stream, start=T0, every_s=6, prefix="s")
    from rayops.serving import Endpoints

    Endpoints(local).create("prices-eu", {ref: 100})  # the same version on a second endpoint
    eu = regression_rows(300, 31, noise=2.0)
    log_regression(local, "prices-eu", ref, booster, eu, start=T0, every_s=6, prefix="e")
    AdaptiveLevelTask(local, s).tick(T0 + timedelta(hours=1))
    doc = local.read_json(level_key(ref))
    assert doc["labels"] == 900 and not doc["active"]  # it learned from both endpoints
    assert sorted(doc["feedback_cursors"]) == ["prices", "prices-eu"]
    AdaptiveLevelTask(local, s).tick(T0 + timedelta(hours=1, minutes=5))
    assert local.read_json(level_key(ref))["labels"] == 900  # each row once
    assert doc["level"] == 0.9 and served_level(local, ref, s) == 0.9
    assert doc["state"]["level"] > 0.9  # it learned, but does not serve it yet
    assert level_key(ref) == f"uncertainty/levels/price/{ref.split('@')[1]}.json"
    # the task is off with monitoring_aci=false, and registered in the control loop
    assert AdaptiveLevelTask(local, Settings(monitoring_aci=False)).tick(T0)["off"] is True
    names = [t.name for t in default_tasks(local, s, names=["aci", "attribution"])]
    assert names == ["aci", "attribution"]
    # the SDK and `rayops monitor uncertainty` show the figures and the adaptive document
    import json

    from typer.testing import CliRunner

    from rayops.cli import app
    from rayops.monitoring import Monitor

    doc = Monitor(local, s, now=lambda: T0 + timedelta(hours=1)).uncertainty("prices", "1h")
    shown = doc["versions"][ref]
    assert shown["labeled"] == 600 and shown["coverage"] < 0.85 and shown["level"] == 0.9
    assert shown["adaptive"]["labels"] == 900 and shown["attribution"] is None
    since = f"{(datetime.now(UTC) - T0).days + 2}d"  # the CLI's window ends now
    args = ["monitor", "uncertainty", "prices", "--window", since, "--storage", local.uri]
    res = CliRunner().invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["versions"][ref]["labeled"] == 600
    table = CliRunner().invoke(app, args, env={"COLUMNS": "220"})
    assert table.exit_code == 0 and "off (900 labels)" in table.stdout


def test_aci_on_a_classifiers_sets_and_logged_sets(local: Storage) -> None:
    """A classifier's level adapts from its prediction sets; a logged pset (what serving
    answered) is judged as it is."""
    import pandas as pd
    from uncertainty_support import binary_model, binary_rows, log_binary

    from rayops.monitoring.adaptive import _misses
    from rayops.monitoring.quality import version_info
    from rayops.uncertainty.aci import AdaptiveLevel

    ref, booster = binary_model(local)
    x, y = binary_rows(500, 70)
    log_binary(local, "churn", ref, booster, x, y, prefix="c")
    s = Settings(monitoring_log_lag_s=0, monitoring_aci_min_labels=100)
    AdaptiveLevelTask(local, s).tick(T0 + timedelta(hours=1))
    doc = read_level(local, ref)
    assert doc is not None and doc["labels"] == 500 and doc["active"]
    assert 0.8 < doc["level"] < 1.0 and 0.0 < doc["misses"] / 500 < 0.25
    # logged sets: {"no"} for every row, so exactly the rows labeled "yes" miss
    unc, info = version_uncertainty(local, ref), version_info(local, ref, s)
    rows = pd.DataFrame({"request_id": [f"q{i}" for i in range(40)], "p_no": 0.5, "p_yes": 0.5,
                         "actual_label": ["yes"] * 10 + ["no"] * 30, "pset": '["no"]'})  # fmt: skip
    aci = AdaptiveLevel(target=0.9)
    _misses(rows, info, unc, aci, calibrated=True)
    assert (aci.labels, aci.misses) == (40, 10)
