"""What one gateway replica does, without the HTTP: route, predict, log, watch.

:class:`GatewayService` keeps a snapshot of every endpoint's :class:`Router`.
A routing thread learns of every change of a routing table: from the routing
watcher actor (:mod:`rayops.serving.watch`, one reader of storage for all
replicas) or, when that is off or unavailable, by reading the tables itself
every ``serving_poll_interval_s``. When a table's storage token changes it loads
the versions the new table needs *first*, then swaps the snapshot in one
assignment. A request reads the snapshot
once, so it sees the old table or the new one, and never a version that is
still loading: a routing change fails no request.

Example:
    >>> import tempfile
    >>> from rayops.config import Settings
    >>> service = GatewayService(Settings(storage=tempfile.mkdtemp()))
    >>> service.refresh()
    >>> service.endpoint_names()
    []
    >>> service.close()
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rayops.config import Settings
from rayops.errors import InvalidInputError, NotFoundError, RayopsError
from rayops.serving.answers import Answer
from rayops.serving.batching import RowBatcher
from rayops.serving.endpoints import Endpoints
from rayops.serving.ensembles import StatsCache
from rayops.serving.errors import NotReadyError
from rayops.serving.extras import Extras, answer_with_extras, check_options
from rayops.serving.inputs import FeatureSchema
from rayops.serving.models import (
    LoadedModel,
    ModelCache,
    ensembles_in,
    evaluate,
    evaluate_targets,
)
from rayops.serving.options import NONE, RequestOptions
from rayops.serving.routing import Route, Router, RoutingTable
from rayops.serving.targets import check_labels, numbers, split_actuals, wanted_targets
from rayops.serving.watch import RoutingChanges, RoutingFeed, RoutingSource, WatcherClient
from rayops.storage.base import Storage
from rayops.tasks import TaskKind
from rayops.telemetry.writers import FeedbackLog, PredictionLog, RequestLog

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["GatewayService", "ServedPrediction"]

logger = logging.getLogger(__name__)

#: Requests with at most this many rows are batched with concurrent ones.
_BATCHABLE_ROWS = 16

#: Shadow predictions allowed to wait; more are skipped (counted in shadow_dropped).
_SHADOW_QUEUE = 256


@dataclass(frozen=True)
class ServedPrediction:
    """The answer to one predict request."""

    request_id: str
    endpoint: str
    route: Route
    answer: Answer
    latency_ms: float
    outputs: dict[str, list[float]] | None = None  # multi-target: the asked-for targets
    extras: Extras | None = None  # explanations, intervals, sets, calibration (if any)

    @property
    def predictions(self) -> list[Any]:
        """Values (regression) or labels (classification), one per row."""
        out: list[Any] = self.answer.json()["predictions"]
        return out


class _ModelBatcher(RowBatcher):
    """A RowBatcher bound to one loaded model."""

    def __init__(self, model: LoadedModel, max_rows: int, stats: StatsCache) -> None:
        super().__init__(
            lambda frame: evaluate(model.predictor, frame, stats.combiners), max_rows=max_rows
        )
        self.model = model


@dataclass(frozen=True)
class _Live:
    router: Router
    token: str


class GatewayService:
    """Routing snapshot, model cache and logs of one gateway replica.

    Args:
        settings: tunables and the storage root.
        storage: the storage root (default: opened from ``settings``).
        metrics: a :class:`~rayops.serving.metrics.GatewayMetrics` (None: no metrics).
    """

    def __init__(
        self, settings: Settings, storage: Storage | None = None, metrics: Any = None
    ) -> None:
        from rayops.registry import Registry
        from rayops.storage import open_storage

        self.settings = settings
        self.metrics = metrics
        self.storage = storage or open_storage(settings.storage, settings)
        self.registry = Registry(self.storage, settings=settings)
        self.endpoints = Endpoints(self.storage, registry=False, settings=settings)
        self.models = ModelCache(
            self.registry.load,
            capacity=settings.serving.model_cache,
            reject_missing=settings.serving.reject_missing,
            uncertainty=self.registry.uncertainty,
        )
        self._log_contributions = settings.serving.contribution_endpoints()
        self.log = PredictionLog(
            self.storage,
            flush_s=settings.serving.log_flush_s,
            max_rows=settings.serving.log_max_rows,
        )
        self.requests = RequestLog(
            self.storage,
            flush_s=settings.serving.log_flush_s,
            max_rows=settings.serving.log_max_rows,
        )
        self._feedback: FeedbackLog | None = None
        self.ensemble_stats = StatsCache(self.storage, settings.serving.ensemble_poll_s)
        self._live: dict[str, _Live] = {}
        self._errors: dict[str, str] = {}
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._refresh_lock = threading.Lock()
        self._shadow = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rayops-shadow")
        self._watcher: threading.Thread | None = None
        self._feed: RoutingFeed | None = None
        self._read_at: dict[str, float] = {}  # endpoint -> when this replica read its table
        self._shadow_pending = 0
        self._batchers: dict[str, _ModelBatcher] = {}
        self._batchers_lock = threading.Lock()
        self.shadow_dropped = 0
        self._thresholds_checked = -math.inf

    # --- lifecycle -----------------------------------------------------------------
    def start(self) -> None:
        """Load every endpoint once, then follow the routing tables in the background
        (through the routing watcher when ``serving_routing_watcher`` is on and Ray is
        initialised, else by reading storage every ``serving_poll_interval_s``)."""
        try:
            self.refresh()
        except RayopsError:
            logger.exception("First load of the routing tables failed; the watcher retries.")
        self._feed = RoutingFeed(
            self.settings,
            WatcherClient(self.storage.uri, self.settings),
            apply=self._apply_changes,
            refresh=self.refresh,
            stop=self._stop,
        )
        self._watcher = threading.Thread(target=self._feed.run, name="rayops-routing", daemon=True)
        self._watcher.start()

    @property
    def routing_source(self) -> RoutingSource:
        """Where the routing tables come from now: the watcher actor or storage."""
        return self._feed.source if self._feed is not None else RoutingSource.STORAGE

    def close(self) -> None:
        """Stop watching and flush the prediction log."""
        self._stop.set()
        self._shadow.shutdown(wait=True)
        self.log.close()
        self.requests.close()

    @property
    def ready(self) -> bool:
        """Whether the routing tables were loaded at least once."""
        return self._ready.is_set()

    def healthy(self) -> bool:
        return self._watcher is None or self._watcher.is_alive()

    # --- routing snapshot --------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read every routing table from storage; swap in the ones whose token changed."""
        with self._refresh_lock:
            names = self.endpoints.list()
            live = {name: e for name, e in self._live.items() if name in names}
            self._read_at = {n: t for n, t in self._read_at.items() if n in names}
            for name in names:
                self._refresh_one(name, live)
            self._publish(live)

    def _apply_changes(self, changes: RoutingChanges) -> bool:
        """Swap in the tables the routing watcher says changed (no storage read); False
        if a version could not load yet."""
        with self._refresh_lock:
            # A table this replica read itself after the watcher's scan (a request for a new
            # endpoint, or the storage fallback) is newer than what the watcher says of it.
            scanned = time.monotonic() - changes.scan_age_s
            self._read_at = {n: t for n, t in self._read_at.items() if t >= scanned}
            names = set(changes.names) | set(self._read_at)
            live = {name: e for name, e in self._live.items() if name in names}
            complete = True
            for name, (table, token) in changes.changed.items():
                if name not in self._read_at:
                    complete = self._install(name, table, token, live) and complete
            self._publish(live)
        return complete

    def _publish(self, live: dict[str, _Live]) -> None:
        needed = {ref for e in live.values() for ref in e.router.table.refs()}
        self._refresh_stats(needed)  # before a new ensemble goes live
        self._live = live  # one assignment: requests see the old or the new snapshot
        self.models.retain(needed)
        with self._batchers_lock:
            self._batchers = {r: b for r, b in self._batchers.items() if r in needed}
        self._ready.set()

    def _refresh_one(self, name: str, live: dict[str, _Live]) -> None:
        try:
            table, token = self.endpoints.read_versioned(name)
        except NotFoundError:
            live.pop(name, None)
            return
        self._read_at[name] = time.monotonic()  # only names that exist: a bounded dict
        self._install(name, table, token, live)

    def _install(self, name: str, table: RoutingTable, token: str, live: dict[str, _Live]) -> bool:
        """Put ``table`` in ``live`` once its versions are loaded; False if one cannot load."""
        current = live.get(name)
        if current is not None and current.token == token:
            return True
        try:
            for ref in table.refs():
                self.models.get(ref)  # load before the table goes live
        except RayopsError as e:
            self._errors[name] = str(e)
            logger.error("Endpoint %s revision %s cannot load: %s", name, table.revision, e)
            return False
        self._errors.pop(name, None)
        live[name] = _Live(Router(table), token)
        return True

    def _refresh_thresholds(self, refs: set[str]) -> None:
        """Binary versions' decision thresholds, re-read every ``serving_ensemble_poll_s``
        (``rayops models set-threshold`` takes effect within about that long)."""
        now = time.monotonic()
        if now - self._thresholds_checked < self.settings.serving.ensemble_poll_s:
            return
        self._thresholds_checked = now
        for ref in refs:
            model = self.models.peek(ref)
            predictor = model.predictor if model is not None else None
            if predictor is None or predictor.task.kind is not TaskKind.BINARY:
                continue
            try:
                override = self.registry.threshold_override(ref)
            except RayopsError:
                continue  # storage hiccup: keep the threshold in force
            if override is not None:
                predictor.threshold = override

    def _refresh_stats(self, refs: set[str]) -> None:
        self._refresh_thresholds(refs)
        ensembles: dict[str, Any] = {}
        for ref in refs:
            model = self.models.peek(ref)
            for p in ensembles_in(model.predictor if model is not None else None):
                ensembles[p.ref] = p.spec
        try:
            self.ensemble_stats.refresh(ensembles, time.monotonic())
        except RayopsError:
            logger.exception("Reading ensemble stats failed; keeping the current ones.")

    def live_router(self, endpoint: str) -> Router | None:
        """The live router from the snapshot, without any I/O (None if not loaded)."""
        live = self._live.get(endpoint)
        return live.router if live is not None else None

    def router(self, endpoint: str) -> Router:
        """The live router of ``endpoint``; an endpoint created a moment ago is read now."""
        live = self._live.get(endpoint)
        if live is None:
            with self._refresh_lock:
                snapshot = dict(self._live)
                self._refresh_one(endpoint, snapshot)
                self._live = snapshot
            live = self._live.get(endpoint)
        if live is None:
            if endpoint in self._errors:
                raise NotReadyError(f"Endpoint {endpoint!r} is not ready: {self._errors[endpoint]}")
            self.endpoints.get(endpoint)  # raises NotFoundError naming the known endpoints
            raise NotReadyError(f"Endpoint {endpoint!r} is not loaded yet; retry shortly.")
        return live.router

    def endpoint_names(self) -> list[str]:
        return sorted(self._live)

    def table(self, endpoint: str) -> RoutingTable:
        return self.router(endpoint).table

    def error(self, endpoint: str) -> str | None:
        return self._errors.get(endpoint)

    def model(self, ref: str) -> LoadedModel:
        return self.models.get(ref)

    def targets(self, endpoint: str, version: str | None = None) -> list[str] | None:
        """Target names of a multi-target endpoint (None: one target); see :meth:`schema`."""
        router = self.router(endpoint)
        route = router.choose_version(version) if version else router.table.main
        return self.models.get(route.ref).targets

    def performance(self, endpoint: str) -> dict[str, Any]:
        """Per-member stats of the ensembles ``endpoint`` serves, as this replica has them."""
        out: dict[str, Any] = {}
        for ref in self.router(endpoint).table.refs():
            model = self.models.peek(ref)
            for p in ensembles_in(model.predictor if model is not None else None):
                stats = self.ensemble_stats.stats(p.ref)
                out[p.ref] = stats.model_dump(mode="json") if stats is not None else None
        return out

    def schema(self, endpoint: str, version: str | None = None) -> FeatureSchema:
        """Input schema of a pinned version, else of the endpoint's main version."""
        router = self.router(endpoint)
        route = router.choose_version(version) if version else router.table.main
        return self.models.get(route.ref).schema

    # --- predict -------------------------------------------------------------------------
    def predict(
        self,
        endpoint: str,
        make_frame: Any,
        *,
        key: str | None = None,
        version: str | None = None,
        protocol: str = "json",
        targets: list[str] | None = None,
        router: Router | None = None,
        options: RequestOptions = NONE,
    ) -> ServedPrediction:
        """Route one request, predict, log it and mirror it to the shadow if drawn.

        ``make_frame(schema)`` builds the input rows for the chosen model; it raises
        a 4xx error for bad input. ``targets`` picks the targets a multi-target
        endpoint returns (default: all; every target is computed and logged).
        ``router`` is the one the caller already resolved (resolved here if None).
        ``options`` asks for explanations, intervals or sets
        (:mod:`rayops.serving.extras`); what the version cannot give is a 422.
        """
        start = time.perf_counter()
        router = router if router is not None else self.router(endpoint)
        request_id = uuid.uuid4().hex
        routed: str | None = None
        # From here the endpoint exists, so its outcome is recorded (the error rate).
        try:
            route = router.choose_version(version) if version else router.choose(key)
            routed = route.ref
            model = self.models.get(route.ref)
            wanted = wanted_targets(endpoint, model.targets, targets)
            check_options(model, options)
            frame = make_frame(model.schema)
            outputs, extras = None, None
            if model.targets:
                combiners = self.ensemble_stats.combiners
                all_targets = evaluate_targets(model.predictor, frame, combiners)
                outputs = {t: v.tolist() for t, v in all_targets.items()}
                answer = Answer.regression(all_targets[model.targets[0]])
            else:
                answer, extras = answer_with_extras(
                    model, frame, self._evaluate(model, frame), options,
                    self.ensemble_stats.combiners,
                    log_contributions=self._logs_contributions(endpoint),
                )  # fmt: skip
        except RayopsError as e:
            self.requests.record(
                request_id=request_id, endpoint=endpoint, ref=routed, status=e.http_status
            )
            raise
        except Exception:
            self.requests.record(request_id=request_id, endpoint=endpoint, ref=routed, status=500)
            raise
        latency_ms = (time.perf_counter() - start) * 1000
        self.requests.record(request_id=request_id, endpoint=endpoint, ref=route.ref, status=200)
        self.log.record(
            request_id=request_id,
            endpoint=endpoint,
            ref=route.ref,
            frame=frame,
            predictions=answer.scored(extras),
            latency_ms=latency_ms,
            key=key,
            targets=outputs,
        )
        if self.metrics is not None:
            self.metrics.answered(endpoint, route.version, protocol, len(answer), latency_ms)
        if version is None and router.mirror():
            assert router.table.shadow is not None
            self._mirror(endpoint, router.table.shadow.ref, request_id, key, frame)
        chosen = {t: outputs[t] for t in wanted} if outputs is not None and wanted else None
        return ServedPrediction(request_id, endpoint, route, answer, latency_ms, chosen, extras)

    def _logs_contributions(self, endpoint: str) -> bool:
        chosen = self._log_contributions
        return bool(chosen) and ("*" in chosen or endpoint in chosen)

    def _evaluate(self, model: LoadedModel, frame: pd.DataFrame) -> Any:
        limit = self.settings.serving.batch_max_rows
        if not limit or len(frame) > _BATCHABLE_ROWS or model.schema.categorical:
            return evaluate(model.predictor, frame, self.ensemble_stats.combiners)
        with self._batchers_lock:
            batcher = self._batchers.get(model.ref)
            if batcher is None or batcher.model is not model:
                batcher = _ModelBatcher(model, limit, self.ensemble_stats)
                self._batchers[model.ref] = batcher
        return batcher.predict(frame)

    def _mirror(
        self, endpoint: str, ref: str, request_id: str, key: str | None, frame: pd.DataFrame
    ) -> None:
        # A slow shadow must never slow live traffic: beyond a small queue, skip it.
        if self._shadow_pending >= _SHADOW_QUEUE:
            self.shadow_dropped += 1
            return
        self._shadow_pending += 1

        def run() -> None:
            try:
                start = time.perf_counter()
                model = self.models.get(ref)
                combiners = self.ensemble_stats.combiners
                outputs = None
                if model.targets:
                    found = evaluate_targets(model.predictor, frame, combiners)
                    outputs = {t: v.tolist() for t, v in found.items()}
                    answer = Answer.regression(found[model.targets[0]])
                else:
                    answer, _ = answer_with_extras(
                        model, frame, evaluate(model.predictor, frame, combiners), NONE, combiners
                    )
                self.log.record(
                    request_id=request_id,
                    endpoint=endpoint,
                    ref=ref,
                    frame=frame,
                    predictions=answer.scored(),
                    latency_ms=(time.perf_counter() - start) * 1000,
                    key=key,
                    shadow=True,
                    targets=outputs,
                )
            except Exception:
                logger.exception("Shadow %s failed on request %s.", ref, request_id)
            finally:
                self._shadow_pending -= 1

        try:
            self._shadow.submit(run)
        except RuntimeError:  # shutting down
            pass

    def record_rejected(self, endpoint: str, status: int) -> None:
        """Record a predict request of a loaded endpoint rejected before prediction
        (bad body, too large...), so the error rate sees it."""
        if self.live_router(endpoint) is not None:
            self.requests.record(
                request_id=uuid.uuid4().hex, endpoint=endpoint, ref=None, status=status
            )

    # --- feedback ------------------------------------------------------------------------
    async def feedback(
        self, endpoint: str, request_id: str, actuals: list[Any] | dict[str, list[float]]
    ) -> None:
        """Store actual values durably; returns after the write (group commit).

        ``actuals`` is a list (one target, or a multi-target endpoint's primary
        target) or ``{target: [...]}`` for a multi-target endpoint. A classifier's
        actuals are labels as in training: an unknown label or a wrong type is a 422
        naming it, and nothing of the request is stored.
        """
        router = self.router(endpoint)  # 404 for an unknown endpoint
        ref = router.table.main.ref
        model = self.models.peek(ref)
        if model is None:
            model = await asyncio.to_thread(self.models.get, ref)
        if self._feedback is None:
            self._feedback = FeedbackLog(self.storage)
        labels = getattr(model.predictor, "labels", None)
        if labels is not None and not model.targets:
            if isinstance(actuals, dict):
                raise InvalidInputError(
                    f"Endpoint {endpoint!r} has one target; send 'actuals' as a list of labels."
                )
            check_labels(labels, actuals)
            await self._feedback.write(endpoint, request_id, actuals, labels=True)
            return
        primary, per_target = split_actuals(endpoint, model.targets, numbers(actuals))
        await self._feedback.write(endpoint, request_id, primary, targets=per_target)
