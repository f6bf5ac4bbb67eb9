"""Which targets a request of a multi-target endpoint asks for, or gives feedback on.

A multi-target endpoint serves a ``multi_target`` ensemble: ``{"targets":
["cost"]}`` in a predict body (or OIP ``outputs``) picks targets, by default all
of them; feedback ``actuals`` is a list (the primary target, ``targets[0]``) or
``{target: [one per row]}``. Single-target endpoints refuse both forms with a 400.

Example:
    >>> wanted_targets("perf", ["latency", "cost"], None)
    ['latency', 'cost']
    >>> split_actuals("perf", ["latency", "cost"], {"cost": [2.0]})
    ([], {'cost': [2.0]})
"""

from __future__ import annotations

import math
from typing import Any

from rayops.errors import InvalidInputError
from rayops.serving.errors import InvalidFeatureError
from rayops.tasks import Labels

__all__ = ["check_labels", "numbers", "split_actuals", "wanted_targets"]


def wanted_targets(endpoint: str, targets: list[str] | None, asked: list[str] | None) -> list[str]:
    """The targets a predict request gets (all by default); raises a 400 for a bad ask."""
    if asked is None:
        return list(targets or [])
    if not targets:
        raise InvalidInputError(
            f"Endpoint {endpoint!r} predicts one value per row; leave 'targets' out."
        )
    if not asked:
        raise InvalidInputError(f"'targets' must name at least one of {targets}.")
    unknown = [t for t in asked if t not in targets]
    if unknown:
        raise InvalidInputError(
            f"Endpoint {endpoint!r} has no target {unknown[0]!r}; it predicts {targets}."
        )
    return list(dict.fromkeys(asked))


def split_actuals(
    endpoint: str, targets: list[str] | None, actuals: list[float] | dict[str, list[float]]
) -> tuple[list[float], dict[str, list[float]] | None]:
    """(primary series, per-target series) of one feedback body."""
    if not targets:
        if isinstance(actuals, dict):
            raise InvalidInputError(
                f"Endpoint {endpoint!r} predicts one target: send 'actuals' as a list."
            )
        return actuals, None
    given = actuals if isinstance(actuals, dict) else {targets[0]: actuals}
    unknown = sorted(set(given) - set(targets))
    if unknown:
        raise InvalidInputError(
            f"Endpoint {endpoint!r} has no target {unknown[0]!r}; it predicts {targets}."
        )
    return list(given.get(targets[0], [])), dict(given)


def numbers(actuals: Any) -> Any:
    """Numeric actuals (a list, or lists by target), refused with the first bad value named."""
    if isinstance(actuals, dict):
        return {t: numbers_of(f"actuals[{t!r}]", v) for t, v in actuals.items()}
    return numbers_of("actuals", actuals)


def numbers_of(name: str, values: list[Any]) -> list[float]:
    for i, v in enumerate(values):
        if type(v) not in (int, float) or not math.isfinite(v):
            raise InvalidInputError(f"{name}[{i}] is {v!r}; every actual must be a finite number.")
    return [float(v) for v in values]


def check_labels(labels: Labels, actuals: list[Any]) -> None:
    """Refuse (422, naming it) the first actual that is not one of a classifier's classes."""
    for i, v in enumerate(actuals):
        try:
            labels.index_of(v, where=f"actuals[{i}]")
        except InvalidInputError as e:
            raise InvalidFeatureError(str(e)) from None
