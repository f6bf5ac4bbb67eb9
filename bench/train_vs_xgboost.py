"""Training throughput: rayops (fast path, Ray Train) against plain xgboost.train.

One run, side by side, on this machine:

* 1M rows x 20 numeric features, 100 rounds, hist: Ray Train with 1 and 2 workers
  (1 thread each) against ``xgboost.train`` with the same total threads.
* 10k rows: the fast path (one Ray task) against Ray Train with 1 worker.

Aims (issue 5): Ray Train at most 1.5x plain xgboost at 1M rows; the fast path at
least 10x faster than Ray Train at 10k rows.

    python bench/train_vs_xgboost.py [--rows 1000000] [--rounds 100]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import pandas as pd


def frame(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, 20)).astype(np.float32)
    w = rng.normal(0, 3, 20)
    y = 50 + X @ w + 2 * X[:, 0] * X[:, 1] + rng.standard_normal(rows)
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(20)])
    df["target"] = y
    return df


def plain(df: pd.DataFrame, rounds: int, threads: int) -> float:
    import xgboost as xgb

    started = time.perf_counter()
    d = xgb.DMatrix(df.drop(columns="target"), df["target"], nthread=threads)
    xgb.train({"tree_method": "hist", "max_depth": 6, "nthread": threads}, d, rounds)
    return time.perf_counter() - started


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--small-rows", type=int, default=10_000)
    p.add_argument("--rounds", type=int, default=100)
    args = p.parse_args()

    import ray

    from rayops.config import Settings
    from rayops.storage import open_storage
    from rayops.training.fit import TrainPath, train_model

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    storage = open_storage(tempfile.mkdtemp(prefix="rayops-bench-"))
    settings = Settings(train_checkpoint_every=args.rounds)  # one report, at the end
    params = {"max_depth": 6}
    rows: list[tuple[str, float, str]] = []

    big = frame(args.rows)
    for threads in (1, 2):
        rows.append(
            (
                f"plain xgboost.train {args.rows:,} rows, {threads} thread(s)",
                plain(big, args.rounds, threads),
                "",
            )
        )
    for workers in (1, 2):
        t = time.perf_counter()
        train_model(
            big,
            "target",
            params=params,
            num_boost_round=args.rounds,
            workers=workers,
            path=TrainPath.RAY_TRAIN,
            storage=storage,
            settings=settings,
        )
        secs = time.perf_counter() - t
        base = rows[workers - 1][1]
        rows.append(
            (
                f"rayops Ray Train {args.rounds} rounds, {workers} worker(s)",
                secs,
                f"{secs / base:.2f}x plain ({workers} thread(s))",
            )
        )

    t = time.perf_counter()
    train_model(
        big,
        "target",
        params=params,
        num_boost_round=args.rounds,
        path=TrainPath.FAST,
        settings=settings,
    )
    secs = time.perf_counter() - t
    rows.append(
        (
            f"rayops fast path {args.rows:,} rows (1 task, 1 thread)",
            secs,
            f"{secs / rows[0][1]:.2f}x plain (1 thread)",
        )
    )

    small = frame(args.small_rows, seed=1)
    timings = []
    for _ in range(2):  # the first call may start a Ray worker process and import xgboost
        t = time.perf_counter()
        train_model(
            small,
            "target",
            params=params,
            num_boost_round=args.rounds,
            path=TrainPath.FAST,
            settings=settings,
        )
        timings.append(time.perf_counter() - t)
    t = time.perf_counter()
    train_model(
        small,
        "target",
        params=params,
        num_boost_round=args.rounds,
        workers=1,
        path=TrainPath.RAY_TRAIN,
        storage=storage,
        settings=settings,
    )
    rt = time.perf_counter() - t
    rows.append(
        (
            f"rayops fast path {args.small_rows:,} rows, cold worker",
            timings[0],
            f"Ray Train / fast = {rt / timings[0]:.1f}x",
        )
    )
    rows.append(
        (
            f"rayops fast path {args.small_rows:,} rows, warm worker",
            timings[1],
            f"Ray Train / fast = {rt / timings[1]:.1f}x",
        )
    )
    rows.append((f"rayops Ray Train {args.small_rows:,} rows, 1 worker", rt, ""))
    ray.shutdown()

    width = max(len(r[0]) for r in rows)
    print(f"{'case':<{width}}  {'seconds':>8}  ratio")
    for name, secs, ratio in rows:
        print(f"{name:<{width}}  {secs:8.2f}  {ratio}")
    from _report import result

    for workers in (1, 2):
        r = rows[1 + workers][1] / rows[workers - 1][1]
        result("train_vs_xgboost", f"Ray Train {workers} worker(s), {args.rows:,} rows (time)", r,
               "<= 1.5x", r <= 1.5, peer=f"xgboost.train, {workers} thread(s)")  # fmt: skip
    speedup = rt / timings[1]
    result("train_vs_xgboost", f"fast path speed-up, {args.small_rows:,} rows (warm)", speedup,
           ">= 10x", speedup >= 10, peer="Ray Train, 1 worker")  # fmt: skip


if __name__ == "__main__":
    main()
