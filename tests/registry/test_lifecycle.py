"""Lifecycle: allowed moves, refused ones (with the allowed targets named), event history."""

from __future__ import annotations

from typing import Any

import pytest

from rayops.errors import InvalidInputError, LifecycleError
from rayops.registry import ALLOWED, Registry, Stage


def test_transition_table_is_total_and_documented() -> None:
    assert set(ALLOWED) == set(Stage)
    assert Stage.PRODUCTION not in ALLOWED[Stage.TRAINED]  # only through staging
    assert Stage.STAGING in ALLOWED[Stage.PRODUCTION]  # roll back
    assert all(Stage.ARCHIVED in ALLOWED[s] for s in Stage if s is not Stage.ARCHIVED)


def test_illegal_transitions_are_refused_naming_allowed_ones(reg: Registry, booster: Any) -> None:
    mv = reg.register("churn", booster)
    assert mv.stage is Stage.TRAINED
    with pytest.raises(
        InvalidInputError,
        match=r"Cannot move churn@1\.0\.0 from trained to production; "
        r"allowed from trained: staging, archived\.",
    ):
        reg.transition(mv.ref, Stage.PRODUCTION, reason="skip staging", actor="ann")
    with pytest.raises(InvalidInputError, match="already trained; allowed from trained"):
        reg.transition(mv.ref, "trained")
    with pytest.raises(InvalidInputError, match="Unknown stage 'live'.*draft, trained"):
        reg.transition(mv.ref, "live")
    assert reg.get(mv.ref).stage is Stage.TRAINED  # nothing changed
    assert [e.kind for e in reg.history("churn")] == ["registered"]


def test_full_lifecycle_records_events_with_actor_and_reason(reg: Registry, booster: Any) -> None:
    ref = reg.register("churn", booster, author="ann").ref
    reg.transition(ref, Stage.STAGING, reason="passed CV", actor="ann")
    reg.transition(ref, "production", reason="canary ok", actor="bob")
    assert reg.production("churn").ref == ref  # the alias follows the stage
    with pytest.raises(LifecycleError, match="production alias points at"):
        reg.transition(ref, Stage.STAGING, reason="rollback: latency", actor="bob")
    newer = reg.register("churn", booster, author="ann").ref
    reg.transition(newer, Stage.STAGING, actor="ann")
    reg.transition(newer, Stage.PRODUCTION, reason="better", actor="bob")
    assert reg.get(ref).stage is Stage.STAGING  # replaced: back to staging
    with pytest.raises(InvalidInputError, match="allowed from staging: production, trained"):
        reg.transition(ref, Stage.DRAFT)
    reg.archive(ref, reason="superseded", actor="cid")
    with pytest.raises(InvalidInputError, match="allowed from archived: trained"):
        reg.transition(ref, Stage.PRODUCTION)
    moves = [
        (e.version, e.from_stage, e.to_stage, e.actor, e.reason)
        for e in reg.history("churn")
        if e.kind == "stage"
    ]
    assert moves == [
        ("1.0.0", Stage.TRAINED, Stage.STAGING, "ann", "passed CV"),
        ("1.0.0", Stage.STAGING, Stage.PRODUCTION, "bob", "canary ok"),
        ("1.1.0", Stage.TRAINED, Stage.STAGING, "ann", None),
        ("1.1.0", Stage.STAGING, Stage.PRODUCTION, "bob", "better"),
        ("1.0.0", Stage.PRODUCTION, Stage.STAGING, "bob", "production alias: better"),
        ("1.0.0", Stage.STAGING, Stage.ARCHIVED, "cid", "superseded"),
    ]
    times = [e.time for e in reg.history("churn")]
    assert times == sorted(times)


def test_routed_versions_cannot_be_archived_and_drafts_cannot_be_routed(
    reg: Registry, booster: Any
) -> None:
    a = reg.register("churn", booster).ref
    reg.record_routes("churn-api", [a])
    assert reg.routed_by(a) == ["churn-api"]
    with pytest.raises(LifecycleError, match="endpoints churn-api route traffic to it"):
        reg.archive(a)
    reg.record_routes("churn-api", [])
    assert reg.routed_by(a) == []
    reg.archive(a)
    with pytest.raises(LifecycleError, match="archived and cannot take traffic"):
        reg.check_routable(a)
    reg.record_routes("stale-api", [a])  # an endpoint that still names it
    with pytest.raises(LifecycleError, match="endpoints stale-api route traffic to it"):
        reg.delete(a)
    assert reg.get(a).stage is Stage.ARCHIVED  # nothing lost


def test_archive_keeps_artifacts_and_only_archived_can_be_deleted(
    reg: Registry, booster: Any, frame: Any
) -> None:
    a = reg.register("churn", booster).ref
    b = reg.register("churn", booster).ref
    with pytest.raises(InvalidInputError, match="Only archived versions can be deleted"):
        reg.delete(a)
    reg.set_alias("churn", "champion", "1.0.0")
    with pytest.raises(LifecycleError, match="aliases champion point at it"):
        reg.archive(a)
    reg.set_alias("churn", "champion", "1.1.0")
    reg.archive(a, reason="old")
    assert reg.load(a).predict(frame.head(3)).shape == (3,)  # artifacts kept
    with pytest.raises(InvalidInputError, match="archived; restore it"):
        reg.set_alias("churn", "champion", "1.0.0")
    reg.delete(a, reason="cleanup", actor="ann")
    assert [m.version for m in reg.versions("churn")] == ["1.1.0"]
    with pytest.raises(KeyError, match="no version 1.0.0; registered: 1.1.0"):
        reg.get(a)
    # the number is never handed out again
    assert reg.register("churn", booster, bump="patch", parent=b).version == "1.1.1"
    assert reg.register("churn", booster).version == "1.2.0"
    assert [e.kind for e in reg.history("churn")][-3:] == ["deleted", "registered", "registered"]


def test_concurrent_promotions_of_one_version_exactly_one_wins(reg: Registry, booster: Any) -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    ref = reg.register("churn", booster).ref
    reg.transition(ref, Stage.STAGING)
    barrier = threading.Barrier(8)

    def promote(i: int) -> str:
        barrier.wait()
        try:
            reg.transition(ref, Stage.PRODUCTION, actor=f"op{i}")
            return "won"
        except InvalidInputError as e:
            assert "already production" in str(e)
            return "refused"

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(promote, range(8)))
    assert outcomes.count("won") == 1 and outcomes.count("refused") == 7
    assert sum(e.to_stage is Stage.PRODUCTION for e in reg.history("churn")) == 1
