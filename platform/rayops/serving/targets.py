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

from rayops.errors import InvalidInputError

__all__ = ["split_actuals", "wanted_targets"]


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
