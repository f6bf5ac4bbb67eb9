"""rayops tune --task binary vs scikit-learn GridSearchCV(XGBClassifier): same grid, folds, rows.

Run from the repository root (a few minutes on 2 CPUs):

    python bench/tune_classification.py              # 50,000 rows
    python bench/tune_classification.py --rows 5000

The data is a generated, imbalanced binary problem (scikit-learn's
``make_classification``: 20 features, 8 informative, 15% positives, 2% label
noise). The grid is ``tune_configs/xgboost_binary.yaml``: max_depth × learning_rate
× n_estimators = 27 configurations, 5 stratified folds (135 fits), selected by
mean ROC AUC on both sides.

Each side runs in its own Python process, one after the other (never at the same
time, never sharing a GIL): ``GridSearchCV(XGBClassifier(n_jobs=1),
cv=StratifiedKFold(5, shuffle=True, random_state=0), scoring="roc_auc", n_jobs=2)``,
and rayops' ``run_tune`` with 2 one-CPU Tune trials on a fresh 2-CPU Ray. Both
refit the best configuration on all rows. The rayops time includes the logistic
baseline and writing the run to storage; Ray start-up is excluded (a cluster is
normally already running) but printed. The folds are the same on both sides, so
every configuration's mean AUC must agree.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "tune_configs" / "xgboost_binary.yaml"
SEED = 0


def _data(rows: int) -> Any:
    import pandas as pd
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=rows, n_features=20, n_informative=8, n_redundant=4, weights=[0.85],
        flip_y=0.02, class_sep=0.8, random_state=SEED,
    )  # fmt: skip
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    frame["target"] = y
    return frame


def _key(params: dict[str, Any], names: list[str]) -> str:
    return json.dumps({k: params[k] for k in sorted(names)}, sort_keys=True)


def run_sklearn(rows: int) -> dict[str, Any]:
    import xgboost as xgb
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    from rayops.training import load_space

    space = load_space(CONFIG)
    frame = _data(rows)
    X, y = frame.drop(columns="target"), frame["target"].to_numpy()
    grid = {k: d["grid"] for k, d in space.space.items()}
    model = xgb.XGBClassifier(**space.params, n_jobs=1, random_state=SEED)
    search = GridSearchCV(
        model, grid, cv=StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED),
        scoring="roc_auc", n_jobs=2, refit=True,
    )  # fmt: skip
    start = time.perf_counter()
    search.fit(X, y)
    seconds = time.perf_counter() - start
    per_config = {
        _key(p, list(grid)): float(s)
        for p, s in zip(
            search.cv_results_["params"], search.cv_results_["mean_test_score"], strict=True
        )
    }
    return {"seconds": seconds, "best_auc": float(search.best_score_),
            "best_params": search.best_params_, "per_config": per_config}  # fmt: skip


def run_rayops(rows: int) -> dict[str, Any]:
    import ray

    import rayops
    from rayops.training import load_space, run_tune

    space = load_space(CONFIG)
    frame = _data(rows)
    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray_start = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = run_tune(
            frame, target="target", space=space, storage=rayops.open_storage(tmp),
            settings=rayops.Settings(storage=tmp, cv_seed=SEED), task="binary", metric="auc",
        )  # fmt: skip
        seconds = time.perf_counter() - start
    ray.shutdown()
    names = list(space.space)
    per_config = {
        _key(json.loads(row["params_json"]), names): float(row["auc_mean"])
        for _, row in result.trials.iterrows()
    }
    return {
        "seconds": seconds, "ray_init_s": ray_start, "best_auc": result.best["score"],
        "best_params": result.best["params"], "per_config": per_config,
        "logloss": result.best["metrics"]["logloss_mean"], "trials": result.run["n_trials"],
        "configs": result.run["n_configs"], "strategy": result.run["cv"]["strategy"],
        "baseline_auc": result.baseline["metrics"]["auc_mean"],
    }  # fmt: skip


def _side(name: str, rows: int) -> dict[str, Any]:
    """Run one side in a fresh Python process; its result is the last stdout line."""
    out = subprocess.run(
        [sys.executable, __file__, "--side", name, "--rows", str(rows)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--side", choices=["sklearn", "rayops"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        run = run_sklearn if args.side == "sklearn" else run_rayops
        print(json.dumps(run(args.rows), default=str))
        return

    frame = _data(args.rows)
    print(f"data: {len(frame):,} rows x {frame.shape[1] - 1} features, "
          f"{frame['target'].mean():.1%} positives")  # fmt: skip
    print(f"grid: {CONFIG.name}, 27 configurations x 5 stratified folds = 135 fits")
    sk = _side("sklearn", args.rows)
    print(f"sklearn GridSearchCV: {sk['seconds']:8.1f} s  best CV AUC {sk['best_auc']:.5f}  "
          f"{sk['best_params']}")  # fmt: skip
    ro = _side("rayops", args.rows)
    print(f"rayops tune:          {ro['seconds']:8.1f} s  best CV AUC {ro['best_auc']:.5f}  "
          f"{ro['best_params']}  (ray.init {ro['ray_init_s']:.1f} s not included; "
          f"{ro['trials']} Tune trials, {ro['configs']} configs, "
          f"{ro['strategy']} folds)")  # fmt: skip
    print(f"rayops best CV log loss {ro['logloss']:.5f}; logistic baseline CV AUC "
          f"{ro['baseline_auc']:.5f}")  # fmt: skip
    diffs = [abs(ro["per_config"][k] - v) for k, v in sk["per_config"].items()]
    print(f"max |rayops - sklearn| CV AUC over all {len(diffs)} configs: {max(diffs):.2e}")
    ratio = ro["seconds"] / sk["seconds"]
    gap = ro["best_auc"] - sk["best_auc"]
    print(f"wall-time ratio rayops/sklearn: {ratio:.2f}  (aim <= 0.80)")
    print(f"best CV AUC rayops - sklearn: {gap:+.5f}  (aim within ±0.001)")
    print(f"verdict: {'PASS' if ratio <= 0.8 and abs(gap) <= 0.001 else 'MISS'}")
    sys.path.insert(0, str(Path(__file__).parent))
    from _report import result

    peer = "sklearn GridSearchCV(XGBClassifier, StratifiedKFold(5), roc_auc, n_jobs=2)"
    result("tune_classification", "wall time, 27 configs x 5 stratified folds", ratio,
           "<= 0.8x", ratio <= 0.8, peer=peer)  # fmt: skip
    result("tune_classification", "best CV AUC gap", gap, "within ±0.001", abs(gap) <= 0.001,
           peer=peer, unit="AUC")  # fmt: skip
    if max(diffs) > 1e-3:
        raise SystemExit("per-configuration AUCs disagree: the folds or models differ")


if __name__ == "__main__":
    main()
