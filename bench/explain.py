"""What an explanation costs a request: explained against plain predict requests, in one run.

Run:  python bench/explain.py [--rounds 200] [--quick]

One booster (20 features, 100 rounds, depth 6: bench/serving.py's) behind the
rayops gateway in Ray Serve; the load generator is its own process
(bench/_options.py) and sends, round-robin, for 1 row and for 1,000 rows: a
plain request, ``"explain": true`` (exact TreeSHAP) and ``"explain": true,
"approx": true``. Printed per case: the p50 end to end (HTTP, JSON both ways)
and inside the gateway (the ``latency_ms`` it logs: routing, validation,
prediction and explanation), then the ratios to the plain request of the same
size against the aims: a 1-row explained request p50 <= 1.5x plain; 1,000 rows
approximate <= 3x.
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
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="30 rounds.")
    args = parser.parse_args()
    rounds = 30 if args.quick else args.rounds

    from rayops.registry import Registry
    from rayops.serving import Endpoints
    from rayops.storage import open_storage

    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(5000, len(FEATURES))), columns=FEATURES)
    y = df.to_numpy() @ rng.normal(size=len(FEATURES)) + rng.normal(scale=0.1, size=len(df))
    booster = xgb.train({"max_depth": 6, "eta": 0.1, "nthread": 1, "seed": 0},
                        xgb.DMatrix(df, label=y), 100)  # fmt: skip
    root = open_storage(tempfile.mkdtemp(prefix="rayops-bench-explain-"))
    Endpoints(root).create("m", Registry(root).register("m", booster).ref)
    url = start_gateway(root.uri)

    one = {"instances": df.head(1).to_dict(orient="records")}
    many = {"instances": df.head(1000).to_dict(orient="records")}
    cases = [
        ("1 row plain", "m", one),
        ("1 row exact", "m", {**one, "explain": True}),
        ("1 row approx", "m", {**one, "explain": True, "approx": True}),
        ("1000 rows plain", "m", many),
        ("1000 rows exact", "m", {**many, "explain": True}),
        ("1000 rows approx", "m", {**many, "explain": True, "approx": True}),
    ]
    # The 1,000-row cases take far longer per request: fewer rounds of them.
    small = run_load(url, cases[:3], rounds, warmup=20)
    large = run_load(url, cases[3:], max(rounds // 10, 10), warmup=3)
    p50 = {**small["p50"], **large["p50"]}
    inside = inside_ms(root, ["m"], {**small["request_ids"], **large["request_ids"]})
    print(f"{'case':<18} {'e2e p50 ms':>11} {'inside p50 ms':>14}")
    for name, _, _ in cases:
        print(f"{name:<18} {p50[name]:11.2f} {inside[name]:14.2f}")
    print("ratios to the plain request of the same size (aim):")
    aims = {"1 row exact": 1.5, "1 row approx": 1.5, "1000 rows approx": 3.0}
    for name in ("1 row exact", "1 row approx", "1000 rows exact", "1000 rows approx"):
        plain = name.split(" ")[0] + (" row plain" if name.startswith("1 ") else " rows plain")
        e2e, gw = p50[name] / p50[plain], inside[name] / inside[plain]
        aim = aims.get(name)
        note = f"(<= {aim})" if aim else "(no aim)"
        print(f"  {name:<18} end to end {e2e:5.2f}x  inside the gateway {gw:5.2f}x  {note}")
        if aim:
            result("explain", f"{name} p50 vs plain, end to end", e2e, f"<= {aim}x", e2e <= aim,
                   peer="plain request")  # fmt: skip

    import ray
    from ray import serve

    serve.shutdown()
    ray.shutdown()


if __name__ == "__main__":
    main()
