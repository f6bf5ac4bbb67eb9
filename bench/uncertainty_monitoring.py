"""What coverage, estimation and attribution add to monitoring.

Run:  python bench/uncertainty_monitoring.py [--rows 10000] [--repeats 20]

* **Coverage and estimates of one window** (:func:`rayops.monitoring.coverage.uncertainty_of`)
  against the labeled-row quality metrics monitoring computes anyway
  (:func:`rayops.monitoring.quality.quality_of`) on the same ``--rows`` logged rows, all
  labeled: a regressor with split-conformal intervals (3,000 residuals), and a binary
  classifier with its calibrator and prediction sets. Median and p95 of ``--repeats``
  warm runs, and the ratio of the medians.
* **Attribution of one version-hour** (the ``attribution`` task's unit of work): TreeSHAP
  mean |contribution| (:func:`rayops.registry.explain.importance`) of
  ``monitoring_explain_sample_rows`` (200) rows for a 100-tree depth-4 booster on 20
  features, the cost the task pays per version and hour whatever the traffic.

In-process, single-threaded numbers (``nthread=1``) on a machine that may be shared:
the CPU time is printed beside the wall time.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from _report import result

from rayops.monitoring.coverage import VersionUncertainty, uncertainty_of
from rayops.monitoring.quality import VersionInfo, quality_of
from rayops.registry.explain import importance
from rayops.registry.predictor import Predictor
from rayops.tasks import Labels, Task
from rayops.training.uncertainty import fit_uncertainty


def measure(fn: Callable[[], Any], repeats: int) -> tuple[float, float, float]:
    """Median and p95 wall milliseconds and median CPU milliseconds of warm runs."""
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    wall.sort()
    return statistics.median(wall), wall[int(0.95 * (len(wall) - 1))], statistics.median(cpu)


def regression(rows: int, repeats: int) -> None:
    rng = np.random.default_rng(0)
    residuals = rng.normal(0, 1, 3000)
    unc = VersionUncertainty.from_json(
        fit_uncertainty(Task.of("regression"), residuals, np.zeros(3000))
    )
    pred = rng.normal(0, 3, rows)
    frame = pd.DataFrame({"request_id": [f"r{i}" for i in range(rows)], "prediction": pred,
                          "actual": pred + rng.normal(0, 1, rows)})  # fmt: skip
    info = VersionInfo.regression(tolerance=2.0)
    base = measure(lambda: quality_of(frame, info), repeats)
    extra = measure(lambda: uncertainty_of(frame, info, unc, level=0.9), repeats)
    report("regression", rows, base, extra)
    result("uncertainty_monitoring", "regression window: coverage+estimates / quality metrics",
           extra[0] / base[0], "<= 1.5x", extra[0] / base[0] <= 1.5, peer="quality_of")  # fmt: skip


def binary(rows: int, repeats: int) -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(0.02, 0.98, 4000)
    y = (rng.uniform(size=p.size) < p**1.5).astype(int)
    doc = fit_uncertainty(Task.of("binary"), y, np.column_stack([1 - p, p]))
    unc = VersionUncertainty.from_json(doc)
    live = rng.uniform(0.02, 0.98, rows)
    truth = np.where(rng.uniform(size=rows) < live**1.5, "yes", "no")
    frame = pd.DataFrame({"request_id": [f"r{i}" for i in range(rows)], "p_no": 1 - live,
                          "p_yes": live, "actual_label": truth})  # fmt: skip
    info = VersionInfo(Task.of("binary"), labels=Labels(["no", "yes"]))
    base = measure(lambda: quality_of(frame, info), repeats)
    extra = measure(lambda: uncertainty_of(frame, info, unc, level=0.9), repeats)
    report(f"binary ({doc['calibration']['method']} calibration, sets)", rows, base, extra)
    result("uncertainty_monitoring", "binary window: coverage+estimates / quality metrics",
           extra[0] / base[0], "<= 1.5x", extra[0] / base[0] <= 1.5, peer="quality_of")  # fmt: skip


def report(what: str, rows: int, base: tuple[float, ...], extra: tuple[float, ...]) -> None:
    print(
        f"{what}, {rows:,} labeled rows: quality_of median {base[0]:.1f} ms (p95 {base[1]:.1f}, "
        f"cpu {base[2]:.1f}); uncertainty_of median {extra[0]:.1f} ms (p95 {extra[1]:.1f}, "
        f"cpu {extra[2]:.1f}); ratio {extra[0] / base[0]:.2f}x"
    )


def attribution(sample: int, repeats: int) -> None:
    rng = np.random.default_rng(2)
    names = [f"x{i}" for i in range(20)]
    x = rng.normal(size=(5000, 20))
    y = x[:, 0] * 3 + x[:, 1] - x[:, 2] * x[:, 3] + rng.normal(size=5000)
    params = {"max_depth": 4, "eta": 0.1, "nthread": 1, "seed": 0}
    booster = xgb.train(params, xgb.DMatrix(x, label=y, feature_names=names), 100)
    predictor = Predictor("bench@1.0.0", booster, names, nthread=1)
    rows = pd.DataFrame(rng.normal(size=(sample, 20)), columns=names)
    wall, p95, cpu = measure(lambda: importance(predictor, rows), repeats)
    print(
        f"attribution of one version-hour ({sample} rows, 100 trees depth 4, 20 features): "
        f"median {wall:.1f} ms (p95 {p95:.1f}, cpu {cpu:.1f}); {sample / wall * 1000:,.0f} rows/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--sample", type=int, default=200, help="explain_sample_rows")
    args = parser.parse_args()
    regression(args.rows, args.repeats)
    binary(args.rows, args.repeats)
    attribution(args.sample, args.repeats)


if __name__ == "__main__":
    main()
