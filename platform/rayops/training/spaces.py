"""Search spaces as YAML: what to tune, how, and how it is validated.

A search space file (see ``tune_configs/README.md``) names the model, the search
kind, fixed parameters and the tuned ones::

    model: xgboost
    search: grid
    params: {tree_method: hist}
    space:
      max_depth: {grid: [3, 5, 7]}
      learning_rate: {grid: [0.05, 0.1, 0.2]}

``metric`` and ``objective`` are optional: without them a run selects by the
task's primary metric (RMSE, or log loss for a classifier) and trains with the
task's objective (``reg:squarederror``, ``binary:logistic``, ``multi:softprob``),
so one file tunes any task. When given, they must fit the run's task
(:meth:`SearchSpace.metric_for`, :meth:`SearchSpace.objective_for`).

Unknown keys, unknown parameters and out-of-range values are errors whose
message names the key (and its line when read from a file).

Example:
    >>> space = SearchSpace.model_validate(
    ...     {"space": {"max_depth": {"grid": [3, 5]}, "n_estimators": {"grid": [10, 20]}}}
    ... )
    >>> len(space.grid_configs())
    4
    >>> SearchSpace.model_validate({"space": {"max_dept": {"grid": [3]}}})
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for SearchSpace
    ...
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rayops.errors import InvalidInputError
from rayops.tasks import Task, direction_of

__all__ = ["CVSpec", "SchedulerSpec", "SearchSpace", "load_space", "parse_space"]

Scalar = int | float | str | bool
DISTRIBUTIONS = ("grid", "choice", "uniform", "loguniform", "randint")
#: The parameter whose values only change how many boosting rounds are run.
ROUNDS = "n_estimators"

# name -> (type, low, high, low inclusive, high inclusive); None bounds are open-ended.
_Range = tuple[type, float | None, float | None, bool, bool]
XGBOOST_PARAMS: dict[str, _Range | tuple[str, ...]] = {
    "n_estimators": (int, 1, 100_000, True, True),
    "max_depth": (int, 0, 64, True, True),
    "max_leaves": (int, 0, None, True, True),
    "max_bin": (int, 2, 4096, True, True),
    "learning_rate": (float, 0.0, 1.0, False, True),
    "min_child_weight": (float, 0.0, None, True, True),
    "subsample": (float, 0.0, 1.0, False, True),
    "colsample_bytree": (float, 0.0, 1.0, False, True),
    "colsample_bylevel": (float, 0.0, 1.0, False, True),
    "colsample_bynode": (float, 0.0, 1.0, False, True),
    "gamma": (float, 0.0, None, True, True),
    "reg_lambda": (float, 0.0, None, True, True),
    "reg_alpha": (float, 0.0, None, True, True),
    # Weight of the positive (second) class's rows; binary tasks only (checked per run).
    "scale_pos_weight": (float, 0.0, None, False, True),
    "max_cat_to_onehot": (int, 1, None, True, True),
    "tree_method": ("hist", "approx", "exact"),
    "grow_policy": ("depthwise", "lossguide"),
}
LINEAR_PARAMS: dict[str, _Range | tuple[str, ...]] = {
    # 0 is ordinary least squares; > 0 is ridge regression with that penalty
    # (for a classifier: logistic regression with C = 1 / alpha).
    "alpha": (float, 0.0, None, True, True),
}

#: Every metric and objective some task accepts; the run checks they fit its task.
Metric = Literal[
    "rmse", "mae", "r2", "accuracy", "logloss", "auc", "pr_auc", "precision", "recall", "f1",
    "brier", "ece", "positive_rate", "macro_f1",
]  # fmt: skip
Objective = Literal[
    "reg:squarederror", "reg:absoluteerror", "reg:pseudohubererror", "reg:squaredlogerror",
    "reg:logistic", "reg:quantileerror", "reg:gamma", "reg:tweedie", "count:poisson",
    "binary:logistic", "multi:softprob",
]  # fmt: skip


class SchedulerSpec(BaseModel):
    """An early-stopping scheduler; its time unit is one cross-validation fold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["asha"] = "asha"
    grace_period: int = Field(default=1, ge=1, description="Folds every trial gets.")
    reduction_factor: float = Field(default=2.0, gt=1.0)


class CVSpec(BaseModel):
    """How rows are split into folds (the CLI's ``--folds`` overrides ``folds``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    folds: int | None = Field(default=None, ge=2, le=100)
    strategy: Literal["kfold", "group", "time"] = "kfold"
    column: str | None = Field(
        default=None, description="Group column (group) or event-time column (time)."
    )


class SearchSpace(BaseModel):
    """A validated search space; build with :func:`load_space` or ``model_validate``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: Literal["xgboost", "linear"] = "xgboost"
    search: Literal["grid", "random"] = "grid"
    num_samples: int = Field(default=1, ge=1, le=100_000)
    metric: Metric | None = Field(
        default=None, description="Selection metric (default: the task's primary metric)."
    )
    objective: Objective | None = Field(
        default=None, description="XGBoost objective (default: the task's)."
    )
    description: str = ""
    params: dict[str, Scalar] = Field(default_factory=dict)
    space: dict[str, Any] = Field(default_factory=dict)
    scheduler: SchedulerSpec | None = None
    cv: CVSpec = Field(default_factory=CVSpec)

    @model_validator(mode="after")
    def _check(self) -> SearchSpace:
        problems = _problems(self.model_dump())
        if problems:
            raise ValueError("; ".join(f"{'.'.join(p)}: {m}" for p, m in problems))
        return self

    # --- derived ---------------------------------------------------------------
    @property
    def mode(self) -> Literal["min", "max"]:
        """Whether a smaller or a larger :attr:`metric` (default RMSE) is better."""
        return "max" if direction_of(self.metric or "rmse") == "max" else "min"

    def metric_for(self, task: Task, override: str | None = None) -> str:
        """The selection metric of a run of ``task``: ``override`` (``--metric``), else
        :attr:`metric`, else the task's primary metric; an error if it is not the task's.

        Example:
            >>> SearchSpace().metric_for(Task.of("binary")), SearchSpace().metric_for(
            ...     Task.of("regression"), "r2")
            ('logloss', 'r2')
        """
        return task.check_metric(override or self.metric)

    def objective_for(self, task: Task) -> str:
        """:attr:`objective` if it fits ``task`` (else an error), or the task's default."""
        return task.check_objective(self.objective)

    def grid_size(self) -> int:
        """How many configurations a grid search scores (random search: ``num_samples``)."""
        if self.search == "random":
            return self.num_samples
        return math.prod(len(d["grid"]) for d in self.space.values() if isinstance(d, dict))

    def grid_configs(self) -> list[dict[str, Scalar]]:
        """Every configuration of a grid search, fixed parameters included."""
        if self.search != "grid":
            raise InvalidInputError("Only a grid search space can be expanded; this is random.")
        names = list(self.space)
        values = [d["grid"] if isinstance(d, dict) else [d] for d in self.space.values()]
        return [
            {**self.params, **dict(zip(names, c, strict=True))} for c in itertools.product(*values)
        ]

    def shares_rounds(self) -> bool:
        """Whether configurations differing only in ``n_estimators`` can share one model.

        True for an xgboost grid search without a scheduler: one model is trained to
        the largest round count and scored at every round count of the grid with
        ``iteration_range``. Boosting is sequential, so the first ``n`` rounds of a
        longer model are exactly the model trained for ``n`` rounds.
        """
        return self.model == "xgboost" and self.search == "grid" and self.scheduler is None

    def to_tune(self) -> dict[str, Any]:
        """The Ray Tune ``param_space``: ``{"params": {...}, "rounds": [...]}``."""
        from ray import tune

        params: dict[str, Any] = dict(self.params)
        rounds: list[int] = []
        for name, dist in self.space.items():
            if self.shares_rounds() and name == ROUNDS:
                rounds = [int(v) for v in (dist["grid"] if isinstance(dist, dict) else [dist])]
                continue
            if not isinstance(dist, dict):
                params[name] = dist
                continue
            (kind, arg), *_ = dist.items()
            if kind == "grid":
                params[name] = tune.grid_search(list(arg))
            elif kind == "choice":
                params[name] = tune.choice(list(arg))
            elif kind == "uniform":
                params[name] = tune.uniform(arg[0], arg[1])
            elif kind == "loguniform":
                params[name] = tune.loguniform(arg[0], arg[1])
            else:  # randint, inclusive of both ends in our format
                params[name] = tune.randint(int(arg[0]), int(arg[1]) + 1)
        if self.shares_rounds() and not rounds and ROUNDS in params:
            rounds = [int(params.pop(ROUNDS))]
        return {"params": params, "rounds": sorted(set(rounds))}


def _check_value(name: str, value: Any, spec: _Range | tuple[str, ...]) -> str | None:
    if isinstance(spec[0], str):
        return None if value in spec else f"must be one of {list(spec)}, got {value!r}"
    kind, lo, hi, lo_inc, hi_inc = spec  # type: ignore[misc]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number, got {value!r}"
    if kind is int and not float(value).is_integer():
        return f"must be a whole number, got {value!r}"
    if lo is not None and (value < lo or (value == lo and not lo_inc)):
        return f"must be {'>=' if lo_inc else '>'} {lo}, got {value!r}"
    if hi is not None and (value > hi or (value == hi and not hi_inc)):
        return f"must be {'<=' if hi_inc else '<'} {hi}, got {value!r}"
    return None


def _problems(data: dict[str, Any]) -> list[tuple[tuple[str, ...], str]]:
    """Every (key path, message) wrong with the parameters of a parsed space."""
    catalog = XGBOOST_PARAMS if data.get("model", "xgboost") == "xgboost" else LINEAR_PARAMS
    out: list[tuple[tuple[str, ...], str]] = []

    def check(path: tuple[str, ...], name: str, value: Any) -> None:
        if (msg := _check_value(name, value, catalog[name])) is not None:
            out.append((path, msg))

    for name, value in (data.get("params") or {}).items():
        if name not in catalog:
            out.append((("params", name), f"unknown parameter; known: {sorted(catalog)}"))
        else:
            check(("params", name), name, value)
    space = data.get("space") or {}
    if not isinstance(space, dict):
        return [*out, (("space",), "must be a mapping of parameter to distribution")]
    for name, dist in space.items():
        path: tuple[str, ...] = ("space", name)
        if name not in catalog:
            out.append((path, f"unknown parameter; known: {sorted(catalog)}"))
            continue
        if name in (data.get("params") or {}):
            out.append((path, "is also fixed under params; keep one"))
        if not isinstance(dist, dict):
            check(path, name, dist)
            continue
        if len(dist) != 1 or next(iter(dist)) not in DISTRIBUTIONS:
            out.append((path, f"must be one mapping with one of {list(DISTRIBUTIONS)}"))
            continue
        (kind, arg), *_ = dist.items()
        path = (*path, kind)
        if not isinstance(arg, list) or not arg:
            out.append((path, "must be a non-empty list"))
            continue
        if kind in ("grid", "choice"):
            for v in arg:
                check(path, name, v)
            if len(set(map(repr, arg))) != len(arg):
                out.append((path, "has repeated values"))
        else:
            if len(arg) != 2:
                out.append((path, "must be [low, high]"))
                continue
            check(path, name, arg[0])
            check(path, name, arg[1])
            if isinstance(arg[0], int | float) and isinstance(arg[1], int | float):
                if arg[0] >= arg[1]:
                    out.append((path, f"low {arg[0]} must be below high {arg[1]}"))
                if kind == "loguniform" and arg[0] <= 0:
                    out.append((path, "low must be > 0 for a log-uniform range"))
        if kind != "grid" and data.get("search", "grid") == "grid":
            out.append((path, "a grid search takes only 'grid' values; use search: random"))
    if data.get("search", "grid") == "grid" and data.get("num_samples", 1) != 1:
        out.append((("num_samples",), "applies to search: random only"))
    return out


def _key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Line number (1-based) of every mapping key in a YAML document."""
    import yaml

    lines: dict[tuple[str, ...], int] = {}

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                sub = (*path, str(key.value))
                lines[sub] = key.start_mark.line + 1
                walk(value, sub)

    try:
        walk(yaml.compose(text), ())
    except yaml.YAMLError:
        pass
    return lines


def parse_space(text: str, source: str = "<search space>") -> SearchSpace:
    """Parse and validate a YAML search space.

    Raises:
        InvalidInputError: naming each offending key and its line.
    """
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise InvalidInputError(f"{source} is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise InvalidInputError(f"{source} must be a YAML mapping (model, search, space...).")
    lines = _key_lines(text)

    def where(path: tuple[str, ...]) -> str:
        for n in range(len(path), 0, -1):
            if path[:n] in lines:
                return f"line {lines[path[:n]]}: {'.'.join(path)}"
        return ".".join(path) or "(top level)"

    problems = [(where(p), m) for p, m in _problems(data)]
    if not problems:
        try:
            return SearchSpace.model_validate(data)
        except ValidationError as e:
            problems = [(where(tuple(map(str, err["loc"]))), err["msg"]) for err in e.errors()]
    details = "; ".join(f"{w}: {m}" for w, m in problems)
    raise InvalidInputError(f"{source} is not a valid search space: {details}.")


def load_space(path: str | Path) -> SearchSpace:
    """Read and validate a search-space YAML file.

    Example:
        >>> load_space("tune_configs/xgboost_grid.yaml").grid_size()  # doctest: +SKIP
        81
    """
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise InvalidInputError(f"Cannot read search space {str(p)!r}: {e.strerror}.") from None
    return parse_space(text, source=p.name)
