"""rayops tune vs scikit-learn GridSearchCV: same 81-config grid, same 5 folds, same rows.

Run from the repository root (takes several minutes on 2 CPUs):

    python bench/tune_vs_sklearn.py            # 50,000 rows
    python bench/tune_vs_sklearn.py --rows 5000

Both sides use 2 CPUs in total: GridSearchCV(n_jobs=2) with single-threaded
XGBRegressor fits, and Ray Tune with 2 one-CPU trials (nthread=1). Both refit
the best configuration on all rows at the end. The rayops time includes the
linear baseline and writing the run to storage; Ray start-up is excluded (a
cluster is normally already running) but printed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--config", default=str(ROOT / "tune_configs" / "xgboost_grid.yaml"))
    args = parser.parse_args()

    import numpy as np
    import ray
    import xgboost as xgb
    from sklearn.model_selection import GridSearchCV, KFold

    import rayops
    from rayops.training import load_space, run_tune

    space = load_space(args.config)
    configs = space.grid_configs()
    seed, folds = 0, space.cv.folds or 5
    df = rayops.make_regression(args.rows, seed=seed)
    features = [c for c in df.columns if c not in ("target", "entity_id", "event_time")]
    X, y = df[features], df["target"].to_numpy()
    print(
        f"data: {len(df):,} rows x {len(features)} features ({X.dtypes.value_counts().to_dict()})"
    )
    print(f"grid: {len(configs)} configurations x {folds} folds = {len(configs) * folds} fits")

    # --- scikit-learn ----------------------------------------------------------
    grid = {k: sorted({c[k] for c in configs}) for k in space.space}
    fixed = {k: v for k, v in space.params.items()}
    model = xgb.XGBRegressor(
        **fixed, enable_categorical=True, n_jobs=1, random_state=seed, objective=space.objective
    )
    search = GridSearchCV(
        model,
        grid,
        cv=KFold(n_splits=folds, shuffle=True, random_state=seed),
        scoring="neg_root_mean_squared_error",
        n_jobs=2,
        refit=True,
    )
    start = time.perf_counter()
    search.fit(X, y)
    sk_s = time.perf_counter() - start
    sk_best = -float(search.best_score_)
    print(f"sklearn GridSearchCV: {sk_s:8.1f} s  best CV RMSE {sk_best:.4f}  {search.best_params_}")

    # --- rayops ----------------------------------------------------------------
    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray_start_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = run_tune(
            df,
            target="target",
            space=space,
            storage=rayops.open_storage(tmp),
            features=features,
            settings=rayops.Settings(storage=tmp, cv_seed=seed),
        )
        ro_s = time.perf_counter() - start
    ray.shutdown()
    ro_best = result.best["score"]
    print(
        f"rayops tune:          {ro_s:8.1f} s  best CV RMSE {ro_best:.4f}  {result.best['params']}"
        f"  (ray.init {ray_start_s:.1f} s not included; {result.run['n_trials']} Tune trials, "
        f"{result.run['n_configs']} configs scored)"
    )
    print(f"baseline (linear) CV RMSE: {result.baseline['score']:.4f}")

    # --- the same configuration scored by both must agree ------------------------
    sk_rmse = {
        tuple(sorted(p.items())): -s
        for p, s in zip(
            search.cv_results_["params"], search.cv_results_["mean_test_score"], strict=True
        )
    }
    diffs = []
    for _, row in result.trials.iterrows():
        import json

        params = {k: v for k, v in json.loads(row["params_json"]).items() if k in grid}
        diffs.append(abs(row["rmse_mean"] - sk_rmse[tuple(sorted(params.items()))]))
    print(f"max |rayops - sklearn| CV RMSE over all {len(diffs)} configs: {max(diffs):.2e}")
    ratio = ro_s / sk_s
    gap = (ro_best - sk_best) / sk_best
    print(f"wall-time ratio rayops/sklearn: {ratio:.2f}  (aim <= 0.80)")
    print(f"best CV RMSE rayops vs sklearn: {gap:+.3%}  (aim within 1%)")
    print(f"verdict: {'PASS' if ratio <= 0.8 and abs(gap) <= 0.01 else 'MISS'}")
    from _report import result

    peer = "sklearn GridSearchCV(XGBRegressor, n_jobs=2)"
    result("tune_vs_sklearn", f"wall time, {len(configs)} configs x {folds} folds", ratio,
           "<= 0.8x", ratio <= 0.8, peer=peer)  # fmt: skip
    result("tune_vs_sklearn", "best CV RMSE gap", gap * 100, "within ±1%", abs(gap) <= 0.01,
           peer=peer, unit="%")  # fmt: skip
    np.testing.assert_array_less(np.array(diffs), 1e-3)


if __name__ == "__main__":
    main()
