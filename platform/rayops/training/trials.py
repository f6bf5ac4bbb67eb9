"""One Tune trial (k-fold CV of one configuration) and the trials table it feeds.

:func:`trial` runs inside a Tune actor: it scores its configuration on every
fold of the run's plan and reports once (or after each fold under ASHA).
:func:`trials_frame` turns Tune's results into the persisted table, one row per
scored configuration.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rayops.training.baseline import score_linear
from rayops.training.cv import METRICS, FoldPlan, aggregate
from rayops.training.scoring import score_xgb
from rayops.training.spaces import ROUNDS, SearchSpace

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["trial", "trial_rows", "trials_frame"]


def _summary(scores: dict[int, list[dict[str, float]]], metric: str, mode: str) -> float:
    means = []
    for folds in scores.values():
        vals = [f[metric] for f in folds if not math.isnan(f[metric])]
        means.append(sum(vals) / len(vals) if vals else math.nan)
    defined = [m for m in means if not math.isnan(m)] or [math.nan]
    return min(defined) if mode == "min" else max(defined)


def trial(
    config: dict[str, Any], *, data: dict[str, Any], plan: FoldPlan, setup: dict[str, Any]
) -> None:
    """One Tune trial: score ``config`` on every fold and report.

    ``data`` and ``plan`` arrive through ``tune.with_parameters`` from object refs
    put once by :func:`run_tune` (zero-copy reads of the numpy buffers).
    """
    from ray import tune

    params = dict(config["params"])
    key = f"{setup['metric']}_mean"

    def report(scores: dict[int, list[dict[str, float]]], done: int, seconds: list[float]) -> None:
        results = [{"rounds": r, "folds": f} for r, f in scores.items()]
        tune.report(
            {
                key: _summary(scores, setup["metric"], setup["mode"]),
                "folds_done": done,
                "fit_seconds": sum(seconds),
                "results_json": json.dumps(results),
            }
        )

    if setup["model"] == "linear":
        start = time.perf_counter()
        folds = score_linear(
            data["X"],
            data["y"],
            plan,
            alpha=float(params.get("alpha", 0.0)),
            tolerance=setup["tolerance"],
            scoring=setup["scoring"],
        )
        report({0: folds}, len(plan), [time.perf_counter() - start])
        return
    rounds = list(config.get("rounds") or []) or [int(params.pop(ROUNDS, 100))]
    params.pop(ROUNDS, None)

    def on_fold(i: int, scores: dict[int, list[dict[str, float]]]) -> None:
        if setup["report_each_fold"] and i + 1 < len(plan):
            report(scores, i + 1, [])

    scores, seconds = score_xgb(
        data["X"],
        data["y"],
        plan,
        params,
        rounds,
        objective=setup["objective"],
        seed=setup["seed"],
        nthread=setup["nthread"],
        tolerance=setup["tolerance"],
        token=setup["token"],
        on_fold=on_fold,
        scoring=setup["scoring"],
    )
    report(scores, len(plan), seconds)


def _column(values: list[Any]) -> list[Any]:
    """Values of one parameter as a column Parquet can type (int, float or str)."""
    present = [v for v in values if v is not None]
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return values
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return [None if v is None else float(v) for v in values]
    return [None if v is None else str(v) for v in values]


def trial_rows(result_grid: Any, n_folds: int, space: SearchSpace) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for result in result_grid:
        metrics = result.metrics or {}
        params = dict((result.config or {}).get("params", {}))
        trial_id = metrics.get("trial_id") or (result.path or "").rsplit("/", 1)[-1]
        if result.error is not None or "results_json" not in metrics:
            rows.append(
                {
                    "trial_id": trial_id,
                    "status": "error",
                    "params": params,
                    "error": str(result.error)[:2000],
                    "folds": [],
                }
            )
            continue
        entries = json.loads(metrics["results_json"])
        done = int(metrics["folds_done"])
        top = max(e["rounds"] for e in entries)
        for e in entries:
            p = dict(params)
            if space.model == "xgboost":
                p[ROUNDS] = int(e["rounds"])
            rows.append(
                {
                    "trial_id": trial_id,
                    "status": "completed" if done == n_folds else "stopped",
                    "params": p,
                    "folds": e["folds"],
                    "shared_rounds": len(entries) > 1 and e["rounds"] < top,
                    "fit_seconds": float(metrics.get("fit_seconds", 0.0)),
                    "trial_seconds": float(metrics.get("time_total_s", 0.0)),
                    "error": None,
                }
            )
    return rows


def trials_frame(
    rows: list[dict[str, Any]], metric: str, mode: str, metrics: Sequence[str] = METRICS
) -> pd.DataFrame:
    """The persisted trials table: one row per configuration, ``<m>_folds`` /
    ``<m>_mean`` / ``<m>_std`` columns for each of the task's ``metrics``, and the rank
    by ``metric`` (``mode`` min or max) among completed rows."""
    import pandas as pd

    names = sorted({k for r in rows for k in r["params"]})
    table: dict[str, list[Any]] = {
        "config_id": list(range(len(rows))),
        "trial_id": [r["trial_id"] for r in rows],
        "status": [r["status"] for r in rows],
        "params_json": [json.dumps(r["params"], sort_keys=True) for r in rows],
    }
    for name in names:
        table[f"param_{name}"] = _column([r["params"].get(name) for r in rows])
    table["folds_scored"] = [len(r["folds"]) for r in rows]
    agg = [aggregate(r["folds"], metrics) if r["folds"] else {} for r in rows]
    for m in metrics:
        table[f"{m}_folds"] = [[f[m] for f in r["folds"]] for r in rows]
        table[f"{m}_mean"] = [a.get(f"{m}_mean", math.nan) for a in agg]
        table[f"{m}_std"] = [a.get(f"{m}_std", math.nan) for a in agg]
    table["shared_rounds"] = [bool(r.get("shared_rounds", False)) for r in rows]
    table["fit_seconds"] = [r.get("fit_seconds", math.nan) for r in rows]
    table["trial_seconds"] = [r.get("trial_seconds", math.nan) for r in rows]
    table["error"] = [r.get("error") for r in rows]
    frame = pd.DataFrame(table)
    done = frame["status"] == "completed"
    frame["rank"] = (
        frame[f"{metric}_mean"].where(done).rank(method="min", ascending=mode == "min")
    ).astype("Int64")
    return frame
