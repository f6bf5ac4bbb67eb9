"""Aliases: compare-and-swap moves, stale writers retried, history, time travel, rollback."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from registry_workers import Clock

from rayops.errors import ConflictError, InvalidInputError, NotFoundError
from rayops.registry import Registry
from rayops.storage import Storage, Versioned


class InterleavingStorage(Storage):
    """A real storage that runs ``interloper`` just before its first swap of ``key``.

    This places another writer's move exactly between our read and our
    compare-and-swap: the stale-read race, made deterministic.
    """

    def __init__(self, inner: Storage, key: str, interloper: Callable[[], object]) -> None:
        self.inner, self.key, self.interloper = inner, key, interloper
        self.uri = inner.uri
        self.fired = False
        self.swaps: list[bool] = []  # outcome of each of our swaps of ``key``

    def compare_and_swap(self, key: str, data: bytes, expected: str | None) -> str:
        if key != self.key:
            return self.inner.compare_and_swap(key, data, expected)
        if not self.fired:
            self.fired = True
            self.interloper()
        try:
            token = self.inner.compare_and_swap(key, data, expected)
        except ConflictError:
            self.swaps.append(False)
            raise
        self.swaps.append(True)
        return token

    def read_versioned(self, key: str) -> Versioned:
        return self.inner.read_versioned(key)

    def write_bytes(self, key: str, data: bytes) -> None:
        self.inner.write_bytes(key, data)

    def put_if_absent(self, key: str, data: bytes) -> None:
        self.inner.put_if_absent(key, data)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def list_keys(self, prefix: str = "") -> list[str]:
        return self.inner.list_keys(prefix)

    def list_children(self, prefix: str = "") -> list[str]:
        return self.inner.list_children(prefix)

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def arrow_filesystem(self) -> Any:
        return self.inner.arrow_filesystem()

    def write_parquet(self, key: str, data: Any, **kw: Any) -> None:
        self.inner.write_parquet(key, data, **kw)

    def check(self) -> None:
        self.inner.check()


def _three_versions(reg: Registry, booster: Any) -> list[str]:
    return [reg.register("churn", booster).version for _ in range(3)]


def test_stale_alias_update_is_rejected_then_retried_on_fresh_state(
    storage: Storage, booster: Any, clock: Clock
) -> None:
    base = Registry(storage, now=clock)
    v1, v2, v3 = _three_versions(base, booster)
    base.set_alias("churn", "production", v1, actor="ann")

    # The raw primitive: a swap from a stale read is refused.
    key = "models/churn/aliases/production.json"
    stale = storage.read_versioned(key)
    base.set_alias("churn", "production", v2, actor="bob")
    with pytest.raises(ConflictError, match="re-read"):
        storage.compare_and_swap(key, b"{}", stale.token)

    # Through the registry: bob moves it to v3 between our read and our swap.
    racing = InterleavingStorage(
        storage,
        key,
        lambda: base.set_alias("churn", "production", v3, actor="bob", reason="hotfix"),
    )
    ours = Registry(racing, now=clock).set_alias(
        "churn", "production", v1, actor="ann", reason="revert"
    )
    assert racing.swaps == [False, True]  # lost once, then won
    assert (ours.version, ours.previous, ours.revision) == (v1, v3, 4)  # built on bob's move
    history = base.alias_history("churn", "production")
    assert [(s.revision, s.version, s.previous, s.actor) for s in history] == [
        (1, v1, None, "ann"),
        (2, v2, v1, "bob"),
        (3, v3, v2, "bob"),
        (4, v1, v3, "ann"),
    ]


def test_concurrent_alias_moves_lose_no_revision(reg: Registry, booster: Any) -> None:
    versions = _three_versions(reg, booster)
    movers = 8
    barrier = threading.Barrier(movers)

    def move(i: int) -> int:
        barrier.wait()
        return reg.set_alias("churn", "champion", versions[i % 3], actor=f"m{i}").revision

    with ThreadPoolExecutor(movers) as pool:
        revisions = list(pool.map(move, range(movers)))
    assert sorted(revisions) == list(range(1, movers + 1))
    history = reg.alias_history("churn", "champion")
    assert [s.revision for s in history] == list(range(1, movers + 1))
    # every move saw the one before it: the chain of "previous" is unbroken
    for before, after in zip(history, history[1:], strict=False):
        assert after.previous == before.version
    assert reg.aliases("churn")["champion"].version == history[-1].version


def test_which_version_was_production_at_time_t_with_three_promotions(
    reg: Registry, booster: Any, clock: Clock
) -> None:
    v1, v2, v3 = _three_versions(reg, booster)
    day = datetime(2026, 4, 1, tzinfo=UTC)
    for version, when in [(v1, day), (v2, day + timedelta(days=7)), (v3, day + timedelta(days=14))]:
        clock.set(when)
        reg.set_alias("churn", "production", version, actor="ann", reason=f"promote {version}")
    assert reg.alias_at("churn", "production", day - timedelta(seconds=1)) is None
    assert reg.alias_at("churn", "production", day + timedelta(seconds=1)) == v1
    assert reg.alias_at("churn", "production", day + timedelta(days=6, hours=23)) == v1
    assert reg.alias_at("churn", "production", day + timedelta(days=7, seconds=1)) == v2
    assert reg.alias_at("churn", "production", day + timedelta(days=10)) == v2
    assert reg.alias_at("churn", "production", day + timedelta(days=30)) == v3
    # naive datetimes are read as UTC
    assert reg.alias_at("churn", "production", datetime(2026, 4, 9)) == v2
    assert reg.get("churn@production").version == v3
    assert reg.get(f"churn@{v3}").aliases == ["production"]


def test_rollback_returns_alias_to_previous_version(reg: Registry, booster: Any) -> None:
    v1, v2, _ = _three_versions(reg, booster)
    with pytest.raises(NotFoundError, match="no alias 'production' to roll back"):
        reg.rollback_alias("churn", "production")
    reg.set_alias("churn", "production", v1)
    with pytest.raises(InvalidInputError, match="nothing to roll back to"):
        reg.rollback_alias("churn", "production")
    reg.set_alias("churn", "production", v2, reason="promote")
    back = reg.rollback_alias("churn", "production", actor="oncall")
    assert (back.version, back.previous, back.reason, back.actor) == (v1, v2, "rollback", "oncall")
    assert reg.load("churn@production").ref == f"churn@{v1}"
    kinds = [(e.kind, e.alias, e.version) for e in reg.history("churn") if e.kind == "alias"]
    assert kinds == [
        ("alias", "production", v1),
        ("alias", "production", v2),
        ("alias", "production", v1),
    ]


def test_alias_validation(reg: Registry, booster: Any) -> None:
    reg.register("churn", booster)
    for bad in ["1.0.0", "latest", "../x"]:
        with pytest.raises(InvalidInputError):
            reg.set_alias("churn", bad, "1.0.0")
    with pytest.raises(NotFoundError, match="no version 2.0.0"):
        reg.set_alias("churn", "production", "2.0.0")
    reg.set_alias("churn", "staging", "1.0.0")
    # an alias may be set from another alias
    assert reg.set_alias("churn", "production", "staging").version == "1.0.0"


def test_alias_history_heals_a_move_whose_writer_died_after_the_swap(
    reg: Registry, storage: Storage, booster: Any, clock: Clock
) -> None:
    v1, v2, v3 = _three_versions(reg, booster)
    reg.set_alias("churn", "production", v1)
    # a writer swapped the pointer to v2 (revision 2) and died before recording it
    clock.set(datetime(2026, 5, 1, tzinfo=UTC))
    doc = storage.read_json("models/churn/aliases/production.json")
    storage.write_json(
        "models/churn/aliases/production.json",
        {**doc, "version": v2, "previous": v1, "revision": 2, "set_at": clock().isoformat()},
    )
    assert [s.version for s in reg.alias_history("churn", "production")] == [v1, v2]
    assert reg.alias_at("churn", "production", datetime(2026, 5, 2, tzinfo=UTC)) == v2
    reg.set_alias("churn", "production", v3)  # the next move writes the missing record
    assert storage.exists("models/churn/alias-history/production/0000000002.json")
    assert [s.revision for s in reg.alias_history("churn", "production")] == [1, 2, 3]
