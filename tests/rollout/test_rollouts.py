"""Rollout operations on storage: deploy per strategy, promote, roll back, conflicts, history."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rollout_support import Clock

from rayops.errors import ConflictError, InvalidInputError, NotFoundError
from rayops.registry import Registry
from rayops.rollout import (
    EventKind,
    Rollouts,
    RolloutStatus,
    Strategy,
    parse_interval,
    parse_steps,
)
from rayops.serving import Endpoints
from rayops.storage import Storage


def weights(storage: Storage) -> dict[str, int]:
    return {r.ref: r.weight for r in Endpoints(storage, registry=False).get("shop").routes}


def production(storage: Storage) -> str:
    return Registry(storage).get("demand@production").version


def test_canary_deploy_sets_the_first_step(
    storage: Storage, rollouts: Rollouts, refs: dict[str, str], clock: Clock
) -> None:
    doc = rollouts.deploy("shop", refs["b"], strategy="canary", steps="10,50,100", interval="30s")
    assert (doc.stable, doc.candidate, doc.steps, doc.interval_s) == (
        refs["a"], refs["b"], [10, 50, 100], 30.0,
    )  # fmt: skip
    assert doc.next_analysis_at == clock.t + timedelta(seconds=30)
    assert weights(storage) == {refs["a"]: 90, refs["b"]: 10}
    assert [e.kind for e in rollouts.history("shop")] == [EventKind.DEPLOYED]
    status = rollouts.status("shop")
    assert status["weights"] == {refs["a"]: 90, refs["b"]: 10}
    assert status["rollout"]["status"] == "running"


def test_full_rollout_promotes_at_once_and_moves_the_alias(
    storage: Storage, rollouts: Rollouts, refs: dict[str, str]
) -> None:
    doc = rollouts.deploy("shop", refs["b"], strategy="full")
    assert doc.status is RolloutStatus.PROMOTED
    assert weights(storage) == {refs["a"]: 0, refs["b"]: 100}
    assert production(storage) == refs["b"].split("@")[1]
    kinds = [e.kind for e in rollouts.history("shop")]
    assert kinds == [EventKind.DEPLOYED, EventKind.PROMOTED]


def test_shadow_and_ab_routing(storage: Storage, rollouts: Rollouts, refs: dict[str, str]) -> None:
    rollouts.deploy("shop", refs["b"], strategy="shadow")
    table = Endpoints(storage, registry=False).get("shop")
    assert weights(storage) == {refs["a"]: 100} and table.shadow is not None
    assert table.shadow.ref == refs["b"]
    rollouts.abort("shop", reason="test")
    assert Endpoints(storage, registry=False).get("shop").shadow is None
    rollouts.deploy("shop", refs["b"], strategy="ab", steps="30")
    assert weights(storage) == {refs["a"]: 70, refs["b"]: 30}


def test_promote_keeps_the_old_version_ready_and_rollback_restores_it(
    storage: Storage, rollouts: Rollouts, refs: dict[str, str]
) -> None:
    rollouts.deploy("shop", refs["b"], strategy="canary")
    rollouts.promote("shop", reason="looks good")
    assert weights(storage) == {refs["a"]: 0, refs["b"]: 100}  # stable stays loaded at weight 0
    assert production(storage) == refs["b"].split("@")[1]
    doc = rollouts.rollback("shop", reason="complaints")
    assert doc.status is RolloutStatus.ROLLED_BACK
    assert weights(storage) == {refs["a"]: 100, refs["b"]: 0}
    assert production(storage) == refs["a"].split("@")[1]
    events = rollouts.history("shop")
    assert [e.kind for e in events] == [
        EventKind.DEPLOYED, EventKind.PROMOTED, EventKind.ROLLED_BACK,
    ]  # fmt: skip
    assert events[-1].reason == "complaints" and events[-1].weight == 0


def test_rollback_to_an_explicit_version(
    storage: Storage, rollouts: Rollouts, refs: dict[str, str]
) -> None:
    rollouts.deploy("shop", refs["b"])
    doc = rollouts.rollback("shop", to=refs["c"].split("@")[1], reason="known good")
    assert doc.target == refs["c"]
    assert weights(storage)[refs["c"]] == 100
    assert production(storage) == refs["c"].split("@")[1]
    with pytest.raises(InvalidInputError, match="already rolled back"):
        rollouts.rollback("shop")


def test_bad_requests_are_clear_errors(
    storage: Storage, rollouts: Rollouts, refs: dict[str, str]
) -> None:
    with pytest.raises(InvalidInputError, match="Unknown strategy 'blue-green'"):
        rollouts.deploy("shop", refs["b"], strategy="blue-green")
    with pytest.raises(InvalidInputError, match="already serves"):
        rollouts.deploy("shop", refs["a"])
    with pytest.raises(NotFoundError):
        rollouts.deploy("shop", "demand@9.9.9")
    with pytest.raises(NotFoundError):
        rollouts.deploy("nowhere", "demand@9.9.9")  # a new endpoint needs a real version
    assert "nowhere" not in Endpoints(storage).list()
    with pytest.raises(InvalidInputError, match="one split below 100"):
        rollouts.deploy("shop", refs["b"], strategy="ab", steps="10,50")
    with pytest.raises(InvalidInputError, match="Invalid thresholds"):
        rollouts.deploy("shop", refs["b"], thresholds={"max_error_rate": 7})
    with pytest.raises(NotFoundError, match="has no rollout"):
        rollouts.promote("shop")
    rollouts.deploy("shop", refs["b"])
    with pytest.raises(ConflictError, match="already rolling out"):
        rollouts.deploy("shop", refs["c"])
    rollouts.promote("shop")
    with pytest.raises(InvalidInputError, match="only a running or holding rollout"):
        rollouts.promote("shop")
    # A finished rollout makes room for the next one, over the version now serving.
    nxt = rollouts.deploy("shop", refs["c"], strategy="full")
    assert nxt.stable == refs["b"]


def test_parsers() -> None:
    assert parse_steps("5, 25,50,100") == [5, 25, 50, 100]
    assert parse_interval("500ms") == 0.5 and parse_interval("2h") == 7200.0
    for bad in ("50,25", "0,10", "5,x", "101"):
        with pytest.raises(InvalidInputError):
            parse_steps(bad)
    for bad in ("soon", "-5s", "0"):
        with pytest.raises(InvalidInputError):
            parse_interval(bad)


def test_deploy_creates_an_endpoint_that_does_not_exist(
    storage: Storage, rollouts: Rollouts, refs: dict[str, str]
) -> None:
    doc = rollouts.deploy("fresh", refs["b"], strategy="canary", reason="first")
    assert doc.status is RolloutStatus.PROMOTED and doc.strategy is Strategy.FULL
    assert doc.guard is None  # nothing was replaced, nothing to guard against
    assert {r.ref: r.weight for r in Endpoints(storage).get("fresh").routes} == {refs["b"]: 100}
    assert production(storage) == refs["b"].split("@")[1]
    assert [e.kind for e in rollouts.history("fresh")] == [EventKind.DEPLOYED]
    # Deploying again is an ordinary rollout over the version it created.
    again = rollouts.deploy("fresh", refs["c"], strategy="full")
    assert again.stable == refs["b"] and again.guard is not None
