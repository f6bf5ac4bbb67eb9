"""The routing watcher: one reader of storage for every replica, and the fallback.

Gateway services run in this process on the shared Ray session (the watcher is a real
detached actor); the storage they get is the real local storage behind a proxy that
counts the calls, and the watcher counts its own reads (it lives in another process).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import wait_until
from serving_support import FEATURES, instances, make_frame, post_predict, train

from rayops.config import Settings
from rayops.registry import Registry
from rayops.serving.endpoints import Endpoints
from rayops.serving.routing import RoutingTable, split_ref
from rayops.serving.service import GatewayService
from rayops.serving.watch import NAMESPACE, RoutingScan, RoutingSource, watcher_name
from rayops.storage import Storage, open_storage

ENDPOINTS = [f"ep{i}" for i in range(5)]

#: The calls that read storage (the rest write or describe the root).
READS = frozenset(
    {"read_versioned", "read_bytes", "read_json", "exists", "list_keys", "list_children"}
)


class CountingStorage:
    """Real storage underneath; counts the read calls made on it, by method, and those
    of the routing tables (keys under ``endpoints/``) apart."""

    def __init__(self, inner: Storage) -> None:
        self._inner = inner
        self.calls: Counter[str] = Counter()
        self.routing: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in READS:
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            if args and str(args[0]).startswith("endpoints"):
                self.routing[name] += 1
            return attr(*args, **kwargs)

        return counted

    @property
    def reads(self) -> int:
        return sum(self.calls.values())

    @property
    def routing_reads(self) -> int:
        return sum(self.routing.values())


@pytest.fixture(scope="module")
def refs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A root with two versions of one regression model (copied per test)."""
    path = tmp_path_factory.mktemp("watcher-models") / "root"
    reg = Registry(open_storage(str(path)))
    df = make_frame()
    v1 = reg.register("demand", train(df, FEATURES, depth=2, seed=1)).ref
    v2 = reg.register("demand", train(df, FEATURES, depth=3, seed=2)).ref
    return path, v1, v2


@pytest.fixture
def root(refs: tuple[Path, str, str], tmp_path: Path, ray_cluster: Any) -> Iterator[Storage]:
    """A fresh root with five endpoints on v1; its watcher actor is killed afterwards."""
    import shutil

    import ray

    path, v1, _ = refs
    shutil.copytree(path, tmp_path / "root")
    storage = open_storage(str(tmp_path / "root"))
    endpoints = Endpoints(storage)
    for name in ENDPOINTS:
        endpoints.create(name, v1)
    yield storage
    try:
        ray.kill(ray.get_actor(watcher_name(storage.uri), namespace=NAMESPACE))
    except ValueError:
        pass  # never created, or already gone


def services(
    root: Storage, n: int, **settings: Any
) -> list[tuple[GatewayService, CountingStorage]]:
    out = []
    for _ in range(n):
        counting = CountingStorage(root)
        s = Settings(storage=root.uri, **settings)
        service = GatewayService(s, storage=counting)  # type: ignore[arg-type]
        service.start()
        out.append((service, counting))
    return out


def watcher_reads(root: Storage) -> int:
    import ray

    actor = ray.get_actor(watcher_name(root.uri), namespace=NAMESPACE)
    return int(ray.get(actor.stats.remote())["reads"])


def following(running: list[tuple[GatewayService, CountingStorage]], timeout: float = 60) -> bool:
    return wait_until(
        lambda: all(s.routing_source is RoutingSource.WATCHER for s, _ in running), timeout
    )


def main_ref(service: GatewayService, endpoint: str) -> str:
    router = service.live_router(endpoint)
    return router.table.main.ref if router is not None else ""


# --- the actor's bookkeeping, without Ray ---------------------------------------------------
def _table(name: str, ref: str = "m@1.0.0") -> RoutingTable:
    return RoutingTable.model_validate({"endpoint": name, "routes": [{"ref": ref, "weight": 100}]})


def test_scan_numbers_changes_and_sends_only_what_changed() -> None:
    scan = RoutingScan()
    assert scan.update({"a": (_table("a"), "t1"), "b": (_table("b"), "t1")}, now=1.0)
    first = scan.changes("", 0, now=1.5)
    assert (first.names, set(first.changed), first.scan_age_s) == (("a", "b"), {"a", "b"}, 0.5)
    assert not scan.update({"a": (_table("a"), "t1"), "b": (_table("b"), "t1")}, now=2.0)
    assert scan.changes(first.epoch, first.version, now=2.0).changed == {}
    # b changes: only b is sent to a replica that holds the first version
    assert scan.update({"a": (_table("a"), "t1"), "b": (_table("b", "m@2.0.0"), "t2")}, now=3.0)
    second = scan.changes(first.epoch, first.version, now=3.0)
    assert set(second.changed) == {"b"} and second.changed["b"][1] == "t2"
    # a table that could not be read keeps the last one; a deleted one disappears
    assert scan.update({"a": None}, now=4.0)
    third = scan.changes(first.epoch, second.version, now=4.0)
    assert (third.names, third.changed) == (("a",), {})
    # another epoch (a restarted watcher) gets every table
    assert set(scan.changes("other", third.version, now=4.0).changed) == {"a"}


# --- the actor and the replicas ---------------------------------------------------------------
def _reads_per_s(
    running: list[tuple[GatewayService, CountingStorage]], root: Storage | None, window: float
) -> tuple[float, float]:
    """(replicas' reads/s, watcher's reads/s) over ``window`` seconds of idle polling."""
    before = [c.reads for _, c in running]
    watcher_before = watcher_reads(root) if root is not None else 0
    time.sleep(window)  # a measurement window, not a wait for anything
    replicas = sum(c.reads for _, c in running) - sum(before)
    watcher = (watcher_reads(root) - watcher_before) if root is not None else 0
    return replicas / window, watcher / window


def test_storage_reads_do_not_grow_with_replicas(root: Storage) -> None:
    fast = {"serving_poll_interval_s": 0.25, "serving_routing_watcher_retry_s": 0.5}
    window = 2.0
    rates: dict[tuple[str, int], float] = {}
    for n in (1, 3):
        running = services(root, n, serving_routing_watcher=False, **fast)
        try:
            replicas, _ = _reads_per_s(running, None, window)
            rates[("storage", n)] = replicas
        finally:
            for s, _ in running:
                s.close()
        running = services(root, n, **fast)
        try:
            assert following(running)
            replicas, watcher = _reads_per_s(running, root, window)
            rates[("watcher", n)] = replicas + watcher
            rates[("watcher-replicas", n)] = replicas
        finally:
            for s, _ in running:
                s.close()
    print("storage reads/s:", {f"{k[0]} N={k[1]}": round(v, 1) for k, v in rates.items()})
    # Without the watcher each replica reads 1 + 2 x 5 objects per poll: N-proportional.
    assert rates[("storage", 3)] >= 2.0 * rates[("storage", 1)] > 0
    # With it, the replicas read nothing and the watcher's 1 + 5 per poll do not depend on N.
    assert rates[("watcher-replicas", 3)] == 0
    assert rates[("watcher", 3)] <= 1.5 * rates[("watcher", 1)]
    assert rates[("watcher", 3)] < 0.5 * rates[("storage", 3)]


def test_a_change_arrives_through_the_watcher_within_a_second(
    root: Storage, refs: tuple[Path, str, str]
) -> None:
    _, v1, v2 = refs
    running = services(root, 2)  # default poll interval (0.5 s)
    try:
        assert following(running)
        reads = [c.routing_reads for _, c in running]
        Endpoints(root).set_routes("ep3", {v1: 0, v2: 100})
        changed = time.monotonic()
        assert wait_until(lambda: all(main_ref(s, "ep3") == v2 for s, _ in running), 10)
        took = time.monotonic() - changed
        print(f"routing change in effect on 2 replicas after {took:.2f} s via the watcher")
        assert took <= 2.0  # ~0.5 s poll + one actor call; the bound allows a loaded machine
        # no replica read a routing table (loading v2 reads its artifacts, as it must)
        assert [c.routing_reads for _, c in running] == reads
        assert all(s.routing_source is RoutingSource.WATCHER for s, _ in running)
    finally:
        for s, _ in running:
            s.close()


@pytest.mark.parametrize(
    "no_restart",
    [
        pytest.param(True, id="killed"),
        pytest.param(False, id="restarted-by-ray", marks=pytest.mark.slow),
    ],
)
def test_replicas_survive_the_watcher_death(
    root: Storage,
    refs: tuple[Path, str, str],
    no_restart: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import ray

    caplog.set_level(logging.INFO, logger="rayops.serving.watch")
    _, v1, v2 = refs
    fast = {"serving_routing_watcher_retry_s": 1.0}
    running = services(root, 2, **fast)
    endpoints = Endpoints(root)
    try:
        assert following(running)
        ray.kill(ray.get_actor(watcher_name(root.uri), namespace=NAMESPACE), no_restart=no_restart)
        endpoints.set_routes("ep1", {v1: 0, v2: 100})
        changed = time.monotonic()
        # picked up all the same: the replicas read storage themselves meanwhile
        assert wait_until(lambda: all(main_ref(s, "ep1") == v2 for s, _ in running), 10)
        print(f"change picked up {time.monotonic() - changed:.2f} s after the watcher's death")
        assert any("is unavailable" in r.getMessage() for r in caplog.records)
        # ...and the watcher comes back (re-created, or restarted by Ray), and is followed
        assert following(running)
        reads = [c.routing_reads for _, c in running]
        endpoints.set_routes("ep1", {v1: 100, v2: 0})
        assert wait_until(lambda: all(main_ref(s, "ep1") == v1 for s, _ in running), 10)
        assert [c.routing_reads for _, c in running] == reads
        switches = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Routing:")]
        # per replica: follow, lose, follow again (one line each)
        assert len(switches) == 3 * len(running), switches
    finally:
        for s, _ in running:
            s.close()


def test_without_ray_or_with_the_setting_off_replicas_read_storage(root: Storage) -> None:
    ((service, counting),) = services(root, 1, serving_routing_watcher=False)
    try:
        before = counting.reads
        assert wait_until(lambda: counting.reads > before + 11, timeout=10)
        assert service.routing_source is RoutingSource.STORAGE
        assert sorted(service.endpoint_names()) == ENDPOINTS
    finally:
        service.close()


@pytest.mark.slow
def test_serve_replicas_follow_the_watcher(
    root: Storage, refs: tuple[Path, str, str], serve_url: str
) -> None:
    """Two Serve replicas of the gateway: they create and follow the watcher, and a
    change is answered over HTTP within about a second."""
    import ray
    from gateway import deploy_gateway_app

    _, v1, v2 = refs
    deploy_gateway_app(serve_url, root.uri, replicas=2)
    body = {"instances": instances(make_frame(rows=2), FEATURES)}

    def watcher_calls() -> int:
        try:
            actor = ray.get_actor(watcher_name(root.uri), namespace=NAMESPACE)
            return int(ray.get(actor.stats.remote(), timeout=10)["calls"])
        except (ValueError, ray.exceptions.RayError):
            return 0

    assert wait_until(lambda: watcher_calls() > 10, timeout=60)
    assert post_predict(serve_url, "ep2", body).json()["version"] == split_ref(v1)[1]
    Endpoints(root).set_routes("ep2", {v1: 0, v2: 100})
    changed = time.monotonic()

    def answered_by_v2() -> bool:
        # every replica: a few requests in a row all answered by the new version
        return all(
            post_predict(serve_url, "ep2", body).json()["version"] == split_ref(v2)[1]
            for _ in range(6)
        )

    assert wait_until(answered_by_v2, timeout=10)
    took = time.monotonic() - changed
    print(f"routing change answered over HTTP by 2 Serve replicas after {took:.2f} s")
    assert took <= 3.0


def test_a_table_read_after_the_watcher_scan_wins_over_it(
    root: Storage, refs: tuple[Path, str, str]
) -> None:
    """A replica that read a table itself (a request for an endpoint created a moment
    ago) keeps it until the watcher has scanned after that read."""
    from rayops.serving.watch import RoutingChanges

    _, v1, _ = refs
    service = GatewayService(Settings(storage=root.uri, serving_routing_watcher=False))
    try:
        service.refresh()
        Endpoints(root).create("fresh", v1)
        assert service.router("fresh").table.main.ref == v1  # read now, from storage
        names = tuple(ENDPOINTS)
        older = RoutingChanges("e", 1, names, {}, scan_age_s=60.0)  # scanned before the read
        assert service._apply_changes(older)
        assert service.live_router("fresh") is not None
        newer = RoutingChanges("e", 2, names, {}, scan_age_s=0.0)  # scanned after: it is gone
        assert service._apply_changes(newer)
        assert service.live_router("fresh") is None
        assert sorted(service.endpoint_names()) == ENDPOINTS
    finally:
        service.close()


def test_an_idle_watcher_removes_itself(root: Storage) -> None:
    """Once no replica asks (the gateway was deleted), the detached actor goes away."""
    import ray

    from rayops.serving.watch import RoutingWatcher

    name = watcher_name(root.uri)
    actor = (
        ray.remote(RoutingWatcher)
        .options(name=name, namespace=NAMESPACE, lifetime="detached", max_restarts=-1, num_cpus=0)
        .remote(root.uri, Settings(storage=root.uri), idle_exit_s=1.0)
    )
    assert ray.get(actor.stats.remote(), timeout=60)["epoch"]

    def gone() -> bool:
        try:
            ray.get_actor(name, namespace=NAMESPACE)
        except ValueError:
            return True
        return False

    assert wait_until(gone, timeout=30)  # not restarted although max_restarts=-1
