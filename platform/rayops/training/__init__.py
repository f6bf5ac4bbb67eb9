"""Hyperparameter search with k-fold cross-validation on Ray Tune.

* :mod:`~rayops.training.spaces` — search spaces as validated YAML.
* :mod:`~rayops.training.cv` — fold plans (k-fold, group, time) and metrics.
* :mod:`~rayops.training.baseline` — the linear baseline pipeline.
* :mod:`~rayops.training.selection` — gain / permutation feature selection.
* :mod:`~rayops.training.tune` — :func:`run_tune`, the whole run on Ray Tune.
* :mod:`~rayops.training.runs` — persisted runs under ``runs/<run_id>/``.

Importing this package is cheap: Ray, XGBoost, pandas and scikit-learn are
imported by the functions that use them.
"""

from __future__ import annotations

from rayops.training.cv import METRICS, FoldPlan, aggregate, regression_metrics
from rayops.training.runs import get_run, list_runs, read_trials
from rayops.training.selection import SelectionResult, select_features
from rayops.training.spaces import SearchSpace, load_space, parse_space
from rayops.training.tune import TuneResult, infer_features, run_tune

__all__ = [
    "METRICS",
    "FoldPlan",
    "SearchSpace",
    "SelectionResult",
    "TuneResult",
    "aggregate",
    "get_run",
    "infer_features",
    "list_runs",
    "load_space",
    "parse_space",
    "read_trials",
    "regression_metrics",
    "run_tune",
    "select_features",
]
