"""The online-learning SDK: settings, status, the update log, and one update cycle.

:class:`OnlineLearner` is what ``rayops online ...`` and the control loop's
:class:`~rayops.online.task.OnlineTask` call. One cycle of an endpoint
(:meth:`OnlineLearner.step`):

1. read the buffer's size from the feedback log (cheap); unless it holds
   ``buffer_size`` samples, or its oldest is ``max_age_s`` old (with at least
   ``min_samples``), stop here;
2. join the buffered feedback with the logged features; hold out the most recent
   ``holdout_fraction`` of the samples (by feedback position) — they judge this
   update, stay buffered and train the next one;
3. adapt the serving booster in this process on the rest plus a replay sample of
   older applied samples (:mod:`rayops.online.update`), optionally weighted by age;
4. the promotion gate (:func:`rayops.gate.compare`, paired) compares parent and
   candidate on the holdout's per-row losses (squared error, or log loss for a
   classifier whose labels come from feedback's ``actual_label`` in the card's
   class order); a rejected candidate is discarded and serving is untouched;
5. an accepted one is registered as a **patch** version (parent lineage) and
   deployed with :meth:`rayops.rollout.Rollouts.deploy` (``strategy="full"``,
   ``actor="online"``): the routing table moves with compare-and-swap, the
   gateway loads the version before it takes traffic, and ``rayops rollback``
   undoes it like any deploy. A canary or A/B test in progress is never
   disturbed: the cycle is recorded as *skipped: rollout in progress* and the
   samples wait;
6. the attempt goes to the update log, the applied samples to the replay window,
   and the cursor moves past them (compare-and-swap);
7. if the serving model's holdout primary metric (RMSE or log loss) stays high —
   more than ``escalation_degradation`` above the holdout figure of the trained
   version it descends from, or above ``escalation_limit`` when set (see
   :func:`rayops.online.cycle.still_high`) — for ``escalation_updates`` consecutive
   updates, a full retrain is requested
   (:func:`rayops.automation.requests.request_retrain`, source ``online``).

Example:
    >>> import tempfile
    >>> from rayops.storage import open_storage
    >>> learner = OnlineLearner(open_storage(tempfile.mkdtemp()))
    >>> learner.endpoints()
    []
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from rayops.clock import utc_now
from rayops.config import Settings, settings_of
from rayops.errors import ConflictError, InvalidInputError, NotFoundError
from rayops.names import validate_name
from rayops.online.buffer import Buffer, join_buffer, read_buffer
from rayops.online.config import (
    ROOT,
    OnlineConfig,
    OnlineConfigDoc,
    config_key,
    effective_config,
    read_config,
    write_config,
)
from rayops.online.records import UpdateRecord, read_updates
from rayops.online.state import Claim, OnlineState, SampleKey, read_state, update_state
from rayops.registry import Registry
from rayops.storage.base import Storage

__all__ = ["ACTOR", "OnlineLearner", "due"]

#: The actor recorded on online deploys and registrations.
ACTOR = "online"


def due(buffer: Buffer, config: OnlineConfig, now: datetime) -> str | None:
    """Why the buffer should be flushed now (``"full"`` or ``"age"``), or None.

    Example:
        >>> import pandas as pd
        >>> from rayops.config import Settings
        >>> cfg = effective_config(Settings().online, {"buffer_size": 3})
        >>> t = datetime(2026, 1, 1, tzinfo=UTC)
        >>> due(Buffer(pd.DataFrame(), 3, 0, 0, t, joined=False), cfg, t)
        'full'
    """
    if buffer.size >= config.buffer_size:
        return "full"
    if buffer.oldest is not None and buffer.size >= config.min_samples:
        if (now - buffer.oldest).total_seconds() >= config.max_age_s:
            return "age"
    return None


class OnlineLearner:
    """Online learning of every endpoint in one storage root.

    Args:
        storage: the storage root.
        settings: defaults (``online_*``) and tunables.
        now: the clock; inject one in tests.
        registry: a :class:`~rayops.registry.Registry` (default: one on ``storage``).
    """

    def __init__(
        self,
        storage: Storage,
        settings: Settings | None = None,
        now: Callable[[], datetime] | None = None,
        *,
        registry: Registry | None = None,
    ) -> None:
        from rayops.registry import Registry

        self.storage = storage
        self.settings = settings_of(storage, settings)
        self._clock = now or utc_now
        self.registry = registry or Registry(storage, now=self.now, settings=self.settings)

    def now(self) -> datetime:
        """The learner's clock, in UTC."""
        t = self._clock()
        return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)

    def rollouts(self) -> Any:
        """The rollouts this learner's hot-swaps go through (its registry and clock)."""
        from rayops.rollout import Rollouts

        return Rollouts(self.storage, registry=self.registry, now=self.now, settings=self.settings)

    # --- settings --------------------------------------------------------------------
    def enable(
        self,
        endpoint: str,
        *,
        actor: str | None = None,
        reason: str | None = None,
        **overrides: Any,
    ) -> dict[str, Any]:
        """Turn online learning on for ``endpoint`` (optionally overriding settings).

        The first enable starts the buffer at this moment; a later one resumes it.

        Example:
            >>> learner.enable("shop", buffer_size=50, mode="both")["enabled"]  # doctest: +SKIP
            True
        """
        from rayops.serving.endpoints import Endpoints

        Endpoints(self.storage, registry=False, settings=self.settings).get(endpoint)
        now = self.now()
        self._write(endpoint, True, overrides, actor=actor, reason=reason)

        def start(state: OnlineState | None) -> OnlineState | None:
            if state is not None:
                return None
            return OnlineState(endpoint=endpoint, cursor=SampleKey(time=now))

        update_state(self.storage, endpoint, start, max_retries=self.settings.cas_max_retries)
        return self.status(endpoint)

    def disable(
        self, endpoint: str, *, actor: str | None = None, reason: str | None = None
    ) -> dict[str, Any]:
        """Turn online learning off; the buffer (the logs after the cursor) is kept."""
        if read_config(self.storage, endpoint) is None:
            raise NotFoundError(
                f"Online learning was never enabled for {endpoint!r}; nothing to disable."
            )
        self._write(endpoint, False, {}, actor=actor, reason=reason)
        return self.status(endpoint)

    def configure(
        self, endpoint: str, *, actor: str | None = None, **overrides: Any
    ) -> OnlineConfig:
        """Override settings of ``endpoint`` (a value of None returns to the default)."""
        doc = read_config(self.storage, endpoint)
        enabled = doc.enabled if doc is not None else False
        self._write(endpoint, enabled, overrides, actor=actor, reason="configure")
        return self.config(endpoint)

    def _write(
        self,
        endpoint: str,
        enabled: bool,
        overrides: dict[str, Any],
        *,
        actor: str | None,
        reason: str | None,
    ) -> OnlineConfigDoc:
        def change(doc: OnlineConfigDoc) -> OnlineConfigDoc:
            merged = {**doc.overrides, **overrides}
            merged = {k: v for k, v in merged.items() if v is not None}
            if "mode" in merged:
                merged["mode"] = str(merged["mode"])
            return doc.model_copy(
                update={"enabled": enabled, "overrides": merged, "actor": actor, "reason": reason}
            )

        validate_name(endpoint, "endpoint name")
        return write_config(self.storage, endpoint, change, now=self.now(), settings=self.settings)

    def config(self, endpoint: str) -> OnlineConfig:
        """The effective settings of ``endpoint`` (defaults plus its overrides)."""
        doc = read_config(self.storage, endpoint)
        return effective_config(self.settings.online, doc.overrides if doc else None)

    def endpoints(self, *, enabled_only: bool = False) -> list[str]:
        """Endpoints with an online-learning config (only enabled ones if asked), sorted."""
        names = [
            n for n in self.storage.list_children(f"{ROOT}/") if self.storage.exists(config_key(n))
        ]
        if not enabled_only:
            return names
        return [n for n in names if (doc := read_config(self.storage, n)) and doc.enabled]

    # --- read ------------------------------------------------------------------------
    def status(self, endpoint: str) -> dict[str, Any]:
        """Settings, buffer and progress of ``endpoint``, JSON-ready.

        Example:
            >>> learner.status("shop")["buffer"]["size"]  # doctest: +SKIP
            37
        """
        doc = read_config(self.storage, endpoint)
        if doc is None:
            raise NotFoundError(
                f"Online learning was never enabled for {endpoint!r}; run "
                f"`rayops online enable {endpoint}`."
            )
        config = effective_config(self.settings.online, doc.overrides)
        state = read_state(self.storage, endpoint)
        now = self.now()
        out: dict[str, Any] = {
            "endpoint": endpoint,
            "enabled": doc.enabled,
            "config": config.model_dump(mode="json"),
            "overrides": doc.overrides,
            "serving": self.serving(endpoint),
        }
        if state is None:
            return {**out, "buffer": None, "state": None}
        buf = read_buffer(self.storage, endpoint, state.cursor, now, self.settings)
        out["buffer"] = {
            "size": buf.size,
            "capacity": config.buffer_size,
            "feedback": buf.feedback,
            "waiting": buf.waiting,
            "dropped": buf.dropped,
            "oldest": buf.oldest.isoformat() if buf.oldest else None,
            "age_s": round((now - buf.oldest).total_seconds(), 3) if buf.oldest else None,
            "max_age_s": config.max_age_s,
            "due": due(buf, config, now),
        }
        out["state"] = state.model_dump(mode="json")
        return out

    def log(self, endpoint: str, *, limit: int | None = None) -> list[UpdateRecord]:
        """The update log of ``endpoint``, oldest first."""
        validate_name(endpoint, "endpoint name")
        return read_updates(self.storage, endpoint, limit=limit)

    def serving(self, endpoint: str) -> str | None:
        """The version ``endpoint`` serves (its main route), or None without the endpoint."""
        from rayops.serving.endpoints import Endpoints

        try:
            table = Endpoints(self.storage, registry=False, settings=self.settings).get(endpoint)
        except NotFoundError:
            return None
        return table.main.ref

    # --- act -------------------------------------------------------------------------
    def step(self, endpoint: str) -> UpdateRecord | None:
        """One cycle: update ``endpoint`` if it is enabled and its buffer is due."""
        doc = read_config(self.storage, endpoint)
        state = read_state(self.storage, endpoint)
        if doc is None or not doc.enabled or state is None:
            return None
        config = effective_config(self.settings.online, doc.overrides)
        now = self.now()
        light = read_buffer(self.storage, endpoint, state.cursor, now, self.settings, join=False)
        if due(light, config, now) is None:
            return None
        buf = join_buffer(self.storage, endpoint, light, now, self.settings)
        trigger = due(buf, config, now)
        if trigger is None:
            self._skip_dropped(endpoint, state, buf)
            return None
        return self._attempt(endpoint, config, state, buf, trigger)

    def update_now(self, endpoint: str) -> UpdateRecord:
        """Update ``endpoint`` now with whatever is buffered (at least ``min_samples``),
        enabled or not.

        Raises:
            NotFoundError: online learning was never enabled for the endpoint.
            InvalidInputError: too few samples are buffered.
        """
        doc = read_config(self.storage, endpoint)
        state = read_state(self.storage, endpoint)
        if doc is None or state is None:
            raise NotFoundError(
                f"Online learning was never enabled for {endpoint!r}; run "
                f"`rayops online enable {endpoint}` first."
            )
        config = effective_config(self.settings.online, doc.overrides)
        buf = read_buffer(self.storage, endpoint, state.cursor, self.now(), self.settings)
        if buf.size < max(2, config.min_samples):
            raise InvalidInputError(
                f"{endpoint!r} has {buf.size} buffered samples; an update needs at least "
                f"{max(2, config.min_samples)} (min_samples). Send more feedback first."
            )
        record = self._attempt(endpoint, config, state, buf, "manual")
        if record is None:
            raise ConflictError(f"Another update of {endpoint!r} is running; try again shortly.")
        return record

    def _skip_dropped(self, endpoint: str, state: OnlineState, buf: Buffer) -> None:
        """Move the cursor past feedback whose prediction never reached the log."""
        if buf.skip_to is None or len(buf.samples):
            return

        def move(current: OnlineState | None) -> OnlineState | None:
            if current is None or current.cursor != state.cursor or current.claim is not None:
                return None
            return current.model_copy(update={"cursor": buf.skip_to})

        update_state(self.storage, endpoint, move, max_retries=self.settings.cas_max_retries)

    def _claim(self, endpoint: str, state: OnlineState) -> str | None:
        """Mark an update of ``endpoint`` as running; None if another one holds it."""
        claim_id = uuid.uuid4().hex[:12]
        now = self.now()
        stale = timedelta(seconds=self.settings.control.lease_s)

        def take(current: OnlineState | None) -> OnlineState | None:
            if current is None or current.cursor != state.cursor:
                return None  # someone applied these samples meanwhile
            if current.claim is not None and now - current.claim.started_at < stale:
                return None
            return current.model_copy(update={"claim": Claim(id=claim_id, started_at=now)})

        taken = update_state(
            self.storage, endpoint, take, max_retries=self.settings.cas_max_retries
        )
        return claim_id if taken is not None else None

    def _release(self, endpoint: str, claim_id: str, **changes: Any) -> None:
        def done(current: OnlineState | None) -> OnlineState | None:
            if current is None or current.claim is None or current.claim.id != claim_id:
                return None
            return current.model_copy(update={**changes, "claim": None})

        update_state(self.storage, endpoint, done, max_retries=self.settings.cas_max_retries)

    def _attempt(
        self,
        endpoint: str,
        config: OnlineConfig,
        state: OnlineState,
        buf: Buffer,
        trigger: str,
    ) -> UpdateRecord | None:
        import xgboost as xgb

        from rayops.online.cycle import run_cycle

        claim_id = self._claim(endpoint, state)
        if claim_id is None:
            return None
        started = time.perf_counter()
        try:
            # One XGBoost thread from loading the parent to saving the candidate: on a busy
            # machine an idle OpenMP pool turns 2 ms model loads into 20 ms.
            with xgb.config_context(nthread=self.settings.online.nthread):
                result = run_cycle(self, endpoint, config, state, buf, trigger, started)
        except BaseException:
            self._release(endpoint, claim_id)
            raise
        self._release(endpoint, claim_id, **result.state_changes)
        return result.record
