"""Batch scoring and training on Ray Data against their raw peers, on the same rows and cores.

Scoring (issue 23's aim: at least 0.7x the peer's rows/s): ``rayops.batch.run_batch``
of a 100-tree booster over Parquet files of N rows x 20 features (read, score,
write Parquet, manifest; one scoring actor per CPU), against a peer process that
reads the same files with pyarrow, runs ``Booster.inplace_predict`` with as many
threads as the Ray session has CPUs and writes the predictions as Parquet.

Training (aim: at most 1.5x the peer's wall time): ``train_on_dataset`` over the
feature set's Ray Dataset (read, materialize, Ray Train with 1 and 2 workers),
100 rounds of hist, against a peer process that reads the same files and runs
``xgboost.train`` with the same total threads.

    python bench/batch.py [--rows 1000000,5000000] [--rounds 100] [--cpus 2] [--no-train]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FEATURES = [f"f{i}" for i in range(20)]
FILE_ROWS = 250_000


def write_rows(folder: Path, rows: int, seed: int = 0) -> None:
    """``rows`` rows as Parquet files of 250k rows (one row group each)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    w = rng.normal(0, 3, 20)
    folder.mkdir(parents=True, exist_ok=True)
    for i, start in enumerate(range(0, rows, FILE_ROWS)):
        n = min(FILE_ROWS, rows - start)
        X = rng.standard_normal((n, 20))
        y = 50 + X @ w + 2 * X[:, 0] * X[:, 1] + rng.standard_normal(n)
        cols = {"id": np.arange(start, start + n), **{f: X[:, j] for j, f in enumerate(FEATURES)}}
        pq.write_table(pa.table({**cols, "target": y}), folder / f"part-{i:05d}.parquet",
                       row_group_size=FILE_ROWS)  # fmt: skip


def peer_score(folder: str, out: str, model: str, threads: int) -> float:
    """Read every file, inplace_predict, write predictions; seconds."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import xgboost as xgb

    booster = xgb.Booster()
    booster.load_model(model)
    booster.set_param({"nthread": threads})
    os.makedirs(out, exist_ok=True)
    started = time.perf_counter()
    for name in sorted(os.listdir(folder)):
        table = pq.read_table(os.path.join(folder, name), columns=["id", *FEATURES])
        X = np.column_stack([table.column(f).to_numpy() for f in FEATURES]).astype(np.float32)
        pred = booster.inplace_predict(X)
        pq.write_table(pa.table({"id": table.column("id"), "prediction": pred.astype(np.float64)}),
                       os.path.join(out, name))  # fmt: skip
    return time.perf_counter() - started


def peer_train(folder: str, rounds: int, threads: int) -> float:
    """Read every file, build a DMatrix, xgboost.train; seconds."""
    import pyarrow.parquet as pq
    import xgboost as xgb

    started = time.perf_counter()
    table = pq.read_table(folder, columns=[*FEATURES, "target"])
    frame = table.to_pandas()
    d = xgb.DMatrix(frame[FEATURES], frame["target"], nthread=threads)
    xgb.train({"tree_method": "hist", "max_depth": 6, "nthread": threads}, d, rounds)
    return time.perf_counter() - started


def run_peer(*args: str) -> float:
    out = subprocess.run([sys.executable, __file__, "--peer", *args], capture_output=True,
                         text=True, check=True)  # fmt: skip
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", default="1000000,5000000")
    p.add_argument("--rounds", type=int, default=100)
    p.add_argument("--cpus", type=int, default=2)
    p.add_argument("--no-train", action="store_true")
    p.add_argument("--peer", nargs="+")
    args = p.parse_args()
    if args.peer:
        kind, *rest = args.peer
        if kind == "score":
            print(peer_score(rest[0], rest[1], rest[2], int(rest[3])))
        else:
            print(peer_train(rest[0], int(rest[1]), int(rest[2])))
        return

    import ray
    import xgboost as xgb

    from rayops.batch import run_batch
    from rayops.config import Settings
    from rayops.features import FeatureStore
    from rayops.registry import Registry
    from rayops.storage import open_storage
    from rayops.training.fit import train_on_dataset

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _report import result

    work = Path(tempfile.mkdtemp(prefix="rayops-bench-batch-"))
    cpus = args.cpus
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
    import ray.data

    ray.data.DataContext.get_current().enable_progress_bars = False
    settings = Settings(storage=str(work / "root"), batch_rows_per_part=FILE_ROWS,
                        train_checkpoint_every=args.rounds)  # fmt: skip
    storage = open_storage(settings.storage)
    write_rows(work / "train", 50_000, seed=9)
    import pandas as pd

    small = pd.read_parquet(work / "train")
    booster = xgb.train({"max_depth": 6, "nthread": cpus, "seed": 0},
                        xgb.DMatrix(small[FEATURES], small["target"]), 100)  # fmt: skip
    booster.save_model(str(work / "model.ubj"))
    ref = Registry(storage).register("bench", booster, features=FEATURES).ref
    lines: list[tuple[str, float, float, str]] = []
    for n in [int(x) for x in args.rows.split(",")]:
        folder = work / f"rows-{n}"
        write_rows(folder, n)
        raw = run_peer("score", str(folder), str(work / f"peer-{n}"), str(work / "model.ubj"),
                       str(cpus))  # fmt: skip
        t = time.perf_counter()
        m = run_batch(storage, ref, data=str(folder), output=str(work / f"out-{n}"),
                      id_columns=["id"], settings=settings, quiet=True)  # fmt: skip
        ours = time.perf_counter() - t
        assert m.rows == n
        ratio = raw / ours
        lines.append((f"score {n:,} rows: raw inplace_predict ({cpus} threads)", raw, n / raw, ""))
        lines.append((f"score {n:,} rows: rayops predict-batch ({cpus} actors)", ours, n / ours,
                      f"{ratio:.2f}x raw rows/s"))  # fmt: skip
        result("batch", f"batch scoring rows/s, {n:,} rows x 20", ratio, ">= 0.7x", ratio >= 0.7,
               peer=f"pyarrow + inplace_predict, {cpus} threads, own process")  # fmt: skip
        if args.no_train:
            continue
        store = FeatureStore(storage, settings=settings)
        version = store.write(f"rows-{n}", str(folder), target="target")
        plain = run_peer("train", str(folder), str(args.rounds), str(cpus))
        lines.append((f"train {n:,} rows: plain xgboost.train ({cpus} threads)", plain, n / plain,
                      ""))  # fmt: skip
        for workers in (1, cpus):
            threads = cpus // workers
            t = time.perf_counter()
            train_on_dataset(store.to_ray_dataset(version.ref), "target", features=FEATURES,
                             params={"max_depth": 6}, num_boost_round=args.rounds,
                             workers=workers, storage=storage,
                             settings=settings.override(train_nthread=threads))  # fmt: skip
            ours = time.perf_counter() - t
            ratio = ours / plain
            name = f"train {n:,} rows: Ray Train on Ray Data, {workers} worker(s) x {threads} thr"
            lines.append((name, ours, n / ours, f"{ratio:.2f}x plain time"))
            result("batch", f"Ray Train on Ray Data, {n:,} rows, {workers} worker(s) (time)",
                   ratio, "<= 1.5x", ratio <= 1.5,
                   peer=f"xgboost.train, {cpus} threads, own process")  # fmt: skip
    ray.shutdown()
    width = max(len(x[0]) for x in lines)
    print(f"{'case':<{width}}  {'seconds':>8}  {'rows/s':>10}  ratio")
    for name, secs, rate, ratio in lines:
        print(f"{name:<{width}}  {secs:8.2f}  {rate:10,.0f}  {ratio}")
    print(json.dumps({"load_average": os.getloadavg()}))


if __name__ == "__main__":
    main()
