"""Weighted, sticky routing decisions (no Serve needed)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from rayops.serving import Route, Router, RoutingTable, bucket_of
from rayops.serving.routing import BUCKETS


def table(*weights: int, endpoint: str = "ep") -> RoutingTable:
    routes = [Route(ref=f"m@1.{i}.0", weight=w) for i, w in enumerate(weights)]
    return RoutingTable(endpoint=endpoint, routes=routes)


@pytest.mark.parametrize("weights", [(90, 10), (50, 50), (70, 20, 10), (1, 99)])
@pytest.mark.parametrize("keyed", [True, False])
def test_split_within_3_points_over_5k_decisions(weights: tuple[int, ...], keyed: bool) -> None:
    router = Router(table(*weights), rng=random.Random(1))
    picks = Counter(router.choose(f"user-{i}" if keyed else None).ref for i in range(5000))
    for i, w in enumerate(weights):
        share = 100 * picks[f"m@1.{i}.0"] / 5000
        assert abs(share - w) <= 3, (weights, i, share)


def test_a_key_stays_on_its_version() -> None:
    router = Router(table(50, 50))
    first = {k: router.choose(f"k{k}").ref for k in range(500)}
    again = Router(table(50, 50))  # another replica, same table
    assert all(again.choose(f"k{k}").ref == v for k, v in first.items())


@pytest.mark.parametrize("first_grows", [False, True])
def test_a_growing_canary_keeps_every_key_it_had(first_grows: bool) -> None:
    keys = [f"user-{i}" for i in range(3000)]
    steps = [5, 10, 25, 50, 100]
    canary_keys: set[str] = set()
    for w in steps:
        weights = (w, 100 - w) if first_grows else (100 - w, w)
        canary = "m@1.0.0" if first_grows else "m@1.1.0"
        router = Router(table(*weights))
        now = {k for k in keys if router.choose(k).ref == canary}
        assert canary_keys <= now  # no key ever leaves the canary while it grows
        canary_keys = now
    assert len(canary_keys) == len(keys)


def test_bucket_is_stable_and_in_range() -> None:
    assert bucket_of("churn", "customer-42") == 9159  # fixed forever: sticky across releases
    assert all(0 <= bucket_of("e", str(i)) < BUCKETS for i in range(1000))
    assert bucket_of("a", "k") != bucket_of("b", "k") or bucket_of("a", "j") != bucket_of("b", "j")


def test_zero_weight_routes_get_nothing_and_pinning_works() -> None:
    router = Router(table(100, 0))
    assert {router.choose(str(i)).ref for i in range(500)} == {"m@1.0.0"}
    assert router.choose_version("1.1.0").ref == "m@1.1.0"
    with pytest.raises(KeyError, match="does not serve version '2.0.0'"):
        router.choose_version("2.0.0")


@pytest.mark.parametrize(
    ("routes", "shadow", "message"),
    [
        ([("m@1.0.0", 60), ("m@1.1.0", 30)], None, "sum to 100"),
        ([("m@1.0.0", 50), ("m@1.0.0", 50)], None, "once"),
        ([("m", 100)], None, "NAME@VERSION"),
        ([("m@1.0.0", 101)], None, "less than or equal to 100"),
        ([("m@1.0.0", 100)], {"ref": "m@1.0.0"}, "already gets live traffic"),
        ([("m@1.0.0", 100)], {"ref": "m@2.0.0", "share": 0}, "greater than 0"),
    ],
)
def test_invalid_tables_are_refused(
    routes: list[tuple[str, int]], shadow: dict[str, object] | None, message: str
) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        RoutingTable.model_validate(
            {
                "endpoint": "e",
                "routes": [{"ref": r, "weight": w} for r, w in routes],
                "shadow": shadow,
            }
        )


def test_extra_fields_are_forbidden() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="Extra inputs"):
        RoutingTable.model_validate(
            {"endpoint": "e", "routes": [{"ref": "m@1.0.0", "weight": 100, "x": 1}]}
        )


def test_shadow_share_is_respected() -> None:
    t = RoutingTable.model_validate(
        {
            "endpoint": "e",
            "routes": [{"ref": "m@1.0.0", "weight": 100}],
            "shadow": {"ref": "m@2.0.0", "share": 0.25},
        }
    )
    router = Router(t, rng=random.Random(3))
    mirrored = sum(router.mirror() for _ in range(4000))
    assert abs(mirrored / 4000 - 0.25) < 0.03
