"""The uncertainty and explanation parts of the analytics report (issues 22 and 25):
coverage, interval width and estimated-against-realized per bucket, calibration curves,
importance over time and the baseline-against-current histograms, in JSON (valid against
the published schema), CSV and the terminal dashboard."""

from __future__ import annotations

import csv
import io
import json
import sys
from datetime import timedelta
from pathlib import Path

import jsonschema
import numpy as np
from rich.console import Console

sys.path.insert(0, str(Path(__file__).parents[1] / "monitoring"))

from uncertainty_support import (  # noqa: E402
    T0,
    binary_model,
    binary_rows,
    log_binary,
    log_regression,
    regression_model,
    regression_rows,
)

from rayops.analytics import analyze, report_schema  # noqa: E402
from rayops.analytics.export import to_csv, to_json  # noqa: E402
from rayops.analytics.terminal import render_report  # noqa: E402
from rayops.config import Settings  # noqa: E402
from rayops.monitoring.attribution import AttributionTask  # noqa: E402
from rayops.storage import Storage, open_storage  # noqa: E402


def _regression_report(storage: Storage):  # type: ignore[no-untyped-def]
    ref, booster = regression_model(storage)
    like = regression_rows(1080, 50)
    moved = regression_rows(1080, 51, a_scale=0.02, b_scale=4.0, noise=2.5)
    log_regression(storage, "prices", ref, booster, like, start=T0, every_s=100, prefix="l")
    later = T0 + timedelta(hours=3)
    log_regression(storage, "prices", ref, booster, moved, start=later, every_s=100, prefix="m")
    s = Settings(
        monitoring_log_lag_s=0, monitoring_explain_sample_rows=40, analytics_current_hours=3,
        monitoring_coverage_min_labels=50,
    )  # fmt: skip
    AttributionTask(storage, s).tick(T0 + timedelta(hours=6))
    report = analyze(storage, "prices", range="6h", end=T0 + timedelta(hours=6), settings=s)
    return ref, report


def test_regression_report_has_coverage_width_estimates_importance_histograms(
    tmp_path: Path,
) -> None:
    storage = open_storage(str(tmp_path / "root"))
    ref, r = _regression_report(storage)
    later = T0 + timedelta(hours=3)
    points = [p for p in r.uncertainty if p.ref == ref]
    assert len(points) >= 6 and all(p.level == 0.9 for p in points)
    early = [p for p in points if p.time < T0 + timedelta(hours=3)]
    late = [p for p in points if p.time >= T0 + timedelta(hours=3)]
    cov_early = np.mean([p.coverage for p in early])
    cov_late = np.mean([p.coverage for p in late])
    assert 0.84 <= cov_early <= 0.96 and cov_late < 0.8  # the noisier rows break coverage
    assert all(p.interval_width and p.interval_width > 0 for p in points)
    for p in points:
        assert p.estimated_mae is not None and p.realized is not None
        assert p.estimation_error is not None
        assert abs(p.estimated_mae - p.realized - p.estimation_error) < 1e-9
    (imp,) = [i for i in r.importance if i.ref == ref]
    assert max(imp.training, key=imp.training.__getitem__) == "a"
    share = {(p.time >= later, p.feature): [] for p in imp.series}  # type: ignore[var-annotated]
    for p in imp.series:
        share[(p.time >= later, p.feature)].append(p.share)
    assert np.mean(share[(False, "a")]) > 0.6 > np.mean(share[(True, "a")])
    assert np.mean(share[(True, "b")]) > 0.6 > np.mean(share[(False, "b")])
    assert imp.shift > 0.15  # over the whole range, half of it moved
    assert {p.feature for p in imp.series} == {"a", "b", "c"}
    assert len({p.time for p in imp.series}) == 6 and all(p.explained == 40 for p in imp.series)
    hist = {h.feature: h for h in r.histograms}
    assert set(hist) == {"a", "b", "c"}
    for h in hist.values():
        assert abs(sum(h.baseline) - 1) < 1e-4 and abs(sum(h.current) - 1) < 1e-4
    # the current window (last analytics_current_hours) is the moved traffic: b spread out
    b = hist["b"]
    assert b.current[0] + b.current[-1] > b.baseline[0] + b.baseline[-1] + 0.3
    a = hist["a"]
    assert max(a.current) > 0.9  # pinned near 0: one bin
    # JSON validates against the published schema; CSV carries every new section
    jsonschema.validate(json.loads(to_json(r)), report_schema())
    rows = list(csv.DictReader(io.StringIO(to_csv(r).lstrip("\ufeff"))))
    sections = {row["section"] for row in rows}
    assert {"uncertainty", "importance", "histogram"} <= sections
    cov_rows = [x for x in rows if x["section"] == "uncertainty" and x["metric"] == "coverage"]
    assert len(cov_rows) == len(points) and {x["status"] for x in cov_rows} == {"ok", "broken"}
    # the terminal dashboard shows the coverage and attribution
    console = Console(record=True, width=160)
    console.print(render_report(r))
    text = console.export_text()
    assert "Uncertainty and attribution" in text and "@90%" in text and "shift" in text


def test_classifier_report_has_its_calibration_curve_and_sets(tmp_path: Path) -> None:
    storage = open_storage(str(tmp_path / "root"))
    ref, booster = binary_model(storage)
    x, y = binary_rows(1500, 52)
    log_binary(storage, "churn", ref, booster, x, y, prefix="c", every_s=5)
    r = analyze(storage, "churn", range="3h", end=T0 + timedelta(hours=3))
    (cal,) = r.calibration
    assert cal.ref == ref and cal.method in ("isotonic", "platt")
    assert cal.ece_after is not None and cal.ece_before is not None
    assert len(cal.predicted_after) == len(cal.observed_after) > 3
    points = [p for p in r.uncertainty if p.ref == ref]
    assert points and all(p.set_size is not None and p.estimated_accuracy is not None
                          for p in points)  # fmt: skip
    labeled = sum(p.labeled for p in points)
    covered = sum(p.coverage * p.labeled for p in points if p.coverage is not None)
    assert labeled == 1500 and 0.86 <= covered / labeled <= 0.94
    rows = list(csv.DictReader(io.StringIO(to_csv(r).lstrip("\ufeff"))))
    assert any(x["section"] == "calibration" and x["metric"] == "after" for x in rows)
