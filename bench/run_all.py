"""Run every benchmark in one go and print one table of ratios against the peers.

Each benchmark runs in its own process (its own Ray session where it needs one),
one after the other, so they never compete for the two CPUs; its full output is
kept in ``bench/results/<name>.txt`` and its ``RESULT`` lines (see
``bench/_report.py``) become the table. Pass names to run a subset::

    python bench/run_all.py                      # everything (about 20-30 minutes here)
    python bench/run_all.py drift online         # just those
    python bench/run_all.py --quick              # smaller inputs where a bench has --quick
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: name -> (script, extra args for --quick)
BENCHMARKS: dict[str, tuple[str, list[str]]] = {
    "feature_store": ("feature_store.py", ["--rows", "1000000"]),
    "tune_vs_sklearn": ("tune_vs_sklearn.py", ["--rows", "10000"]),
    "tune_classification": ("tune_classification.py", ["--rows", "10000"]),
    "train_vs_xgboost": ("train_vs_xgboost.py", ["--rows", "200000"]),
    "serving": ("serving.py", ["--seconds", "2", "--repeats", "2"]),
    "explain": ("explain.py", ["--quick"]),
    "intervals": ("intervals.py", ["--quick"]),
    "drift": ("drift.py", ["--repeats", "5"]),
    "uncertainty_monitoring": ("uncertainty_monitoring.py", ["--repeats", "5"]),
    "online": ("online.py", ["--repeats", "5", "--swaps", "1"]),
    "multinode_train": ("multinode_train.py", []),
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("names", nargs="*", help=f"Benchmarks to run (default all): {list(BENCHMARKS)}")
    p.add_argument("--quick", action="store_true", help="Smaller inputs (not the quoted figures).")
    args = p.parse_args()
    unknown = sorted(set(args.names) - set(BENCHMARKS))
    if unknown:
        p.error(f"unknown benchmarks {unknown}; known: {list(BENCHMARKS)}")
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    rows: list[dict[str, object]] = []
    failed: list[str] = []
    for name in args.names or list(BENCHMARKS):
        script, quick = BENCHMARKS[name]
        cmd = [sys.executable, str(HERE / script), *(quick if args.quick else [])]
        print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
        started = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE.parent)
        seconds = time.perf_counter() - started
        (out_dir / f"{name}.txt").write_text(proc.stdout + proc.stderr[-20000:])
        found = [json.loads(line[7:]) for line in proc.stdout.splitlines()
                 if line.startswith("RESULT ")]  # fmt: skip
        state = "ok" if proc.returncode == 0 else "FAILED"
        print(f"   {state} in {seconds:.0f} s, {len(found)} comparisons "
              f"(output: bench/results/{name}.txt)", flush=True)  # fmt: skip
        if proc.returncode != 0:
            failed.append(name)
        rows.extend(found)
    print()
    head = f"{'benchmark':<17} {'comparison':<52} {'ratio':>9}  {'aim':<14} met  peer"
    print(head)
    print("-" * len(head))
    for r in rows:
        ratio = f"{r['ratio']:.3g}{r['unit']}"
        print(f"{r['benchmark']:<17} {r['comparison']:<52} {ratio:>9}  {r['aim']:<14} "
              f"{'yes' if r['met'] else 'NO ':<4} {r['peer']}")  # fmt: skip
    if failed:
        print(f"\nfailed to run: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
