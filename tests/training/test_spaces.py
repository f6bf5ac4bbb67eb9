"""Search-space YAML: the shipped configs, grid expansion and validation messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from rayops.errors import InvalidInputError
from rayops.training.spaces import load_space, parse_space


def test_xgboost_grid_expands_to_exactly_81(repo_root: Path) -> None:
    space = load_space(repo_root / "tune_configs" / "xgboost_grid.yaml")
    configs = space.grid_configs()
    assert space.grid_size() == 81 and len(configs) == 81
    # all distinct, four tuned parameters with three values each
    assert len({tuple(sorted(c.items())) for c in configs}) == 81
    assert len(space.space) == 4
    assert all(len(d["grid"]) == 3 for d in space.space.values())
    # Tune sees 27 trials; each scores the 3 round counts from one model per fold.
    tune_space = space.to_tune()
    assert tune_space["rounds"] == [100, 200, 300]
    assert "n_estimators" not in tune_space["params"]


@pytest.mark.parametrize(
    "name", ["xgboost_grid", "xgboost_random", "linear_baseline", "xgboost_binary"]
)
def test_every_shipped_config_is_valid(repo_root: Path, name: str) -> None:
    space = load_space(repo_root / "tune_configs" / f"{name}.yaml")
    assert space.grid_size() >= 1
    assert space.to_tune()["params"]


def test_random_space_has_asha_and_does_not_share_rounds(repo_root: Path) -> None:
    space = load_space(repo_root / "tune_configs" / "xgboost_random.yaml")
    assert space.search == "random" and space.scheduler is not None
    assert not space.shares_rounds()
    assert space.to_tune()["rounds"] == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("space:\n  max_dept: {grid: [3]}\n", "line 2: space.max_dept: unknown parameter"),
        ("search: grid\nbogus: 1\nspace: {}\n", "line 2: bogus: Extra inputs are not permitted"),
        ("space:\n  learning_rate: {grid: [0, 0.1]}\n", "space.learning_rate.grid: must be > 0.0"),
        ("space:\n  subsample: {grid: [0.5, 1.5]}\n", "space.subsample.grid: must be <= 1.0"),
        ("space:\n  max_depth: {grid: [2.5]}\n", "space.max_depth.grid: must be a whole number"),
        (
            "search: random\nspace:\n  max_depth: {randint: [8, 2]}\n",
            "line 3: space.max_depth.randint: low 8 must be below high 2",
        ),
        (
            "space:\n  subsample: {uniform: [0.5, 1.0]}\n",
            "space.subsample.uniform: a grid search takes only 'grid' values",
        ),
        ("search: random\nscheduler: {kind: asha, grace: 1}\n", "scheduler.grace: Extra inputs"),
        ("metric: mape\n", "line 1: metric: Input should be"),
        ("params:\n  eta2: 0.1\n", "line 2: params.eta2: unknown parameter"),
        ("model: linear\nspace:\n  alpha: {grid: [-1]}\n", "space.alpha.grid: must be >= 0.0"),
    ],
)
def test_validation_errors_name_the_key_and_line(text: str, expected: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_space(text, "bad.yaml")
    assert expected in str(info.value)
    assert str(info.value).startswith("bad.yaml is not a valid search space")


def test_not_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="must be a YAML mapping"):
        parse_space("- 1\n- 2\n")
    with pytest.raises(InvalidInputError, match="Cannot read search space"):
        load_space(tmp_path / "nope.yaml")


def test_metric_and_objective_default_to_the_task_and_must_fit_it(repo_root: Path) -> None:
    from rayops.tasks import Task

    grid = load_space(repo_root / "tune_configs" / "xgboost_grid.yaml")
    assert grid.metric is None and grid.objective is None  # one grid for every task
    binary, multi, reg = Task.of("binary"), Task.of("multiclass"), Task.of("regression")
    assert (grid.metric_for(binary), grid.objective_for(binary)) == ("logloss", "binary:logistic")
    assert (grid.metric_for(multi), grid.objective_for(multi)) == ("logloss", "multi:softprob")
    assert (grid.metric_for(reg), grid.objective_for(reg)) == ("rmse", "reg:squarederror")
    assert grid.metric_for(binary, "auc") == "auc"
    space = parse_space("objective: binary:logistic\nmetric: auc\n"
                        "space:\n  scale_pos_weight: {grid: [1, 4]}\n")  # fmt: skip
    assert space.mode == "max" and space.grid_size() == 2
    with pytest.raises(InvalidInputError, match="'binary:logistic' does not fit a regression"):
        space.objective_for(reg)
    with pytest.raises(InvalidInputError, match="'auc' is not a multiclass metric"):
        space.metric_for(multi)
    with pytest.raises(InvalidInputError, match="scale_pos_weight.grid: must be > 0.0"):
        parse_space("space:\n  scale_pos_weight: {grid: [0]}\n")
    with pytest.raises(InvalidInputError, match="line 1: objective: Input should be"):
        parse_space("objective: binary:hinge\n")
