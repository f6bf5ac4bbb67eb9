"""What conformal intervals, prediction sets and calibration cost a request, in one run.

Run:  python bench/intervals.py [--rounds 300] [--quick]

A regression booster and a binary classifier (20 features, 100 rounds, depth 6),
each registered with an uncertainty document fitted on 2,000 holdout rows
(:func:`rayops.training.uncertainty.fit_uncertainty`: split-conformal residuals;
the classifier's calibration and set scores), behind the rayops gateway in Ray
Serve; the load generator is its own process (bench/_options.py) and sends the
cases round-robin. Printed per case: p50 end to end and inside the gateway (its
logged ``latency_ms``), then ratios: ``"interval": 0.9`` against a plain request
(aim <= 1.1x p50), ``"prediction_set": 0.9`` against a plain classifier request,
and calibrated (the default) against ``"calibrate": false``.
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np
import pandas as pd
import xgboost as xgb
from _options import inside_ms, run_load, start_gateway
from _report import result

FEATURES = [f"f{i}" for i in range(20)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="40 rounds.")
    args = parser.parse_args()
    rounds = 40 if args.quick else args.rounds

    from rayops.registry import Registry
    from rayops.serving import Endpoints
    from rayops.storage import open_storage
    from rayops.tasks import Task
    from rayops.training.uncertainty import fit_uncertainty

    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(7000, len(FEATURES))), columns=FEATURES)
    z = df.to_numpy() @ rng.normal(size=len(FEATURES))
    y = z + rng.normal(scale=0.5, size=len(df))
    label = (z + rng.logistic(size=len(df)) > 0).astype(int)
    fit, hold = slice(0, 5000), slice(5000, 7000)
    params = {"max_depth": 6, "eta": 0.1, "nthread": 1, "seed": 0}
    reg_booster = xgb.train(params, xgb.DMatrix(df[fit], label=y[fit]), 100)
    cls_booster = xgb.train({**params, "objective": "binary:logistic"},
                            xgb.DMatrix(df[fit], label=label[fit]), 100)  # fmt: skip
    reg_doc = fit_uncertainty(Task.of("regression"), y[hold],
                              reg_booster.inplace_predict(df[hold]))  # fmt: skip
    p1 = np.asarray(cls_booster.inplace_predict(df[hold]))
    cls_doc = fit_uncertainty(Task.of("binary"), label[hold], np.column_stack([1 - p1, p1]))
    root = open_storage(tempfile.mkdtemp(prefix="rayops-bench-intervals-"))
    registry, endpoints = Registry(root), Endpoints(root)
    endpoints.create("r", registry.register("r", reg_booster, uncertainty=reg_doc).ref)
    cref = registry.register("c", cls_booster, classes=[0, 1], uncertainty=cls_doc).ref
    endpoints.create("c", cref)
    assert cls_doc is not None
    print(f"classifier calibration chosen by training: {cls_doc['calibration']['method']}")
    url = start_gateway(root.uri)

    one = {"instances": df.head(1).to_dict(orient="records")}
    many = {"instances": df.head(1000).to_dict(orient="records")}
    cases = [
        ("1 row plain", "r", one),
        ("1 row interval", "r", {**one, "interval": 0.9}),
        ("1 row cls raw", "c", {**one, "calibrate": False}),
        ("1 row cls calibrated", "c", one),
        ("1 row cls set", "c", {**one, "prediction_set": 0.9}),
    ]
    big = [
        ("1000 rows plain", "r", many),
        ("1000 rows interval", "r", {**many, "interval": 0.9}),
        ("1000 rows cls raw", "c", {**many, "calibrate": False}),
        ("1000 rows cls set", "c", {**many, "prediction_set": 0.9}),
    ]
    small = run_load(url, cases, rounds, warmup=20)
    large = run_load(url, big, max(rounds // 10, 10), warmup=3)
    p50 = {**small["p50"], **large["p50"]}
    inside = inside_ms(root, ["r", "c"], {**small["request_ids"], **large["request_ids"]})
    print(f"{'case':<22} {'e2e p50 ms':>11} {'inside p50 ms':>14}")
    for name, _, _ in cases + big:
        print(f"{name:<22} {p50[name]:11.2f} {inside[name]:14.2f}")
    print("ratios (aim):")
    pairs = [
        ("1 row interval", "1 row plain", 1.1),
        ("1000 rows interval", "1000 rows plain", 1.1),
        ("1 row cls set", "1 row cls calibrated", None),
        ("1000 rows cls set", "1000 rows cls raw", None),
        ("1 row cls calibrated", "1 row cls raw", None),
    ]
    for name, base, aim in pairs:
        e2e, gw = p50[name] / p50[base], inside[name] / inside[base]
        note = f"(<= {aim})" if aim else "(no aim)"
        print(f"  {name} vs {base}: end to end {e2e:.3f}x, inside the gateway {gw:.2f}x {note}")
        if aim:
            result("intervals", f"{name} p50 vs {base}, end to end", e2e, f"<= {aim}x",
                   e2e <= aim, peer="plain request")  # fmt: skip

    import ray
    from ray import serve

    serve.shutdown()
    ray.shutdown()


if __name__ == "__main__":
    main()
