"""Start, promote, roll back and inspect rollouts: the SDK behind ``rayops deploy``.

The rollout document (``endpoints/<name>/rollout.json``) is the source of truth
and the routing table is derived from it (:func:`routes_for`). Every change
writes the document first with compare-and-swap, then the routing table, then
re-reads the document and re-applies if someone else changed it meanwhile: two
writers (an operator and the controller) therefore always converge on the
routing of the latest document, and an endpoint is never left without a version
to serve.

Example:
    >>> import tempfile
    >>> from rayops.storage import open_storage
    >>> Rollouts(open_storage(tempfile.mkdtemp())).list()
    []
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from rayops.clock import utc_now
from rayops.config import Settings, settings_of
from rayops.durations import seconds
from rayops.errors import AlreadyExistsError, ConflictError, InvalidInputError, NotFoundError
from rayops.registry import Registry
from rayops.registry.registry import PRODUCTION
from rayops.rollout.state import (
    AnalysisPoint,
    EventKind,
    GuardState,
    Rollout,
    RolloutEvent,
    RolloutStatus,
    RolloutStore,
    Strategy,
    Thresholds,
)
from rayops.serving.endpoints import Endpoints
from rayops.serving.routing import RoutingTable, Shadow, split_ref
from rayops.storage.base import Storage

__all__ = ["Rollouts", "parse_interval", "parse_steps", "routes_for"]

#: How many versions the guard rolled back an endpoint remembers (automation skips them).
REJECTED_KEPT = 20


def parse_interval(value: str | float | timedelta) -> float:
    """Seconds of a rollout interval (:func:`rayops.durations.seconds`).

    Example:
        >>> parse_interval("5m"), parse_interval(30)
        (300.0, 30.0)
    """
    return seconds(value, what="interval")


def parse_steps(value: str | Sequence[int]) -> list[int]:
    """Canary steps from ``"5,25,50,100"`` or a list: strictly increasing percentages.

    Example:
        >>> parse_steps("5,25,50")
        [5, 25, 50]
    """
    try:
        steps = [int(s) for s in value.split(",")] if isinstance(value, str) else list(value)
    except ValueError:
        raise InvalidInputError(f"Steps {value!r}: use percentages like 5,25,50,100.") from None
    if not steps or any(not 1 <= s <= 100 for s in steps):
        raise InvalidInputError(f"Steps {steps} must be percentages between 1 and 100.")
    if any(b <= a for a, b in zip(steps, steps[1:], strict=False)):
        raise InvalidInputError(f"Steps {steps} must increase strictly, e.g. 5,25,50,100.")
    return steps


def _others(doc: Rollout, keep: str) -> dict[str, int]:
    return {ref: 0 for ref in (doc.stable, doc.candidate) if ref != keep}


def routes_for(doc: Rollout) -> tuple[dict[str, int], Shadow | None]:
    """The routing a rollout document implies: ``({ref: weight}, shadow)``.

    Versions that lost their traffic stay in the table with weight 0 (standby),
    so the table names where a rollback would go. Stable comes first, so a
    growing canary keeps every sticky key it already had.
    """
    if doc.status is RolloutStatus.PROMOTED:
        guard = doc.guard
        if guard is not None and guard.watching and guard.shadow_share > 0:
            # Shadow-mode guarding: the replaced version keeps scoring a share of the
            # requests, so the guard compares both on the same rows (a shadow cannot be a
            # route as well, so the standby route waits until the guard ends).
            reference = guard.reference_of(doc)
            return {doc.candidate: 100}, Shadow(ref=reference, share=guard.shadow_share)
        return {doc.stable: 0, doc.candidate: 100}, None
    if doc.status is RolloutStatus.ROLLED_BACK:
        target = doc.target or doc.stable
        return {target: 100, **_others(doc, target)}, None
    if doc.status is RolloutStatus.ABORTED:
        return {doc.stable: 100, doc.candidate: 0}, None
    if doc.strategy is Strategy.SHADOW:
        return {doc.stable: 100}, Shadow(ref=doc.candidate)
    w = doc.weight
    return {doc.stable: 100 - w, doc.candidate: w}, None


class Rollouts:
    """Rollouts of every endpoint in one storage root.

    Args:
        storage: the storage root.
        registry: a :class:`~rayops.registry.Registry` (default: one on ``storage``).
        now: the clock; inject one in tests.
        settings: tunables (defaults for steps, interval and thresholds).
    """

    def __init__(
        self,
        storage: Storage,
        *,
        registry: Registry | None = None,
        now: Callable[[], datetime] | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.storage = storage
        self.settings = settings_of(storage, settings)
        self._now = now or utc_now
        self.registry = registry or Registry(storage, now=self._now, settings=self.settings)
        self.endpoints = Endpoints(
            storage, registry=self.registry, now=self._now, settings=self.settings
        )
        self.store = RolloutStore(storage, max_retries=self.settings.cas_max_retries)

    # --- read ------------------------------------------------------------------------
    def get(self, endpoint: str) -> Rollout:
        """The rollout of ``endpoint`` (the latest, finished or not); NotFoundError if none."""
        return self.store.read(endpoint)[0]

    def list(self) -> list[str]:
        """Endpoints that have had a rollout, sorted."""
        return self.store.endpoints()

    def history(self, endpoint: str) -> builtins.list[RolloutEvent]:
        """Every rollout event of ``endpoint``, oldest first.

        Example:
            >>> [e.kind.value for e in rollouts.history("churn")]  # doctest: +SKIP
            ['deployed', 'step', 'step', 'promoted']
        """
        return self.store.events(endpoint)

    def status(self, endpoint: str) -> dict[str, Any]:
        """The rollout, the live routing table and the verdict so far, JSON-ready.

        Example:
            >>> rollouts.status("churn")["weights"]  # doctest: +SKIP
            {'churn@1.0.0': 75, 'churn@1.1.0': 25}
        """
        doc = self.get(endpoint)
        table = self.endpoints.get(endpoint)
        return {
            "rollout": doc.model_dump(mode="json"),
            "weights": {r.ref: r.weight for r in table.routes},
            "shadow": table.shadow.ref if table.shadow else None,
            "routing_revision": table.revision,
            "analyses": [p.model_dump(mode="json") for p in self.analyses(endpoint)],
        }

    def analyses(self, endpoint: str) -> builtins.list[AnalysisPoint]:
        """Every analysis of the endpoint's latest rollout (canary steps, then the guard's
        checks), oldest first: what ``rayops status`` and the dashboard draw.

        Example:
            >>> [p.phase for p in rollouts.analyses("churn")]  # doctest: +SKIP
            ['canary', 'canary', 'guard', 'guard']
        """
        doc = self.store.get(endpoint)
        return [] if doc is None else self.store.analyses(endpoint, doc.id)

    # --- write -------------------------------------------------------------------------
    def deploy(
        self,
        endpoint: str,
        candidate: str,
        *,
        strategy: Strategy | str = Strategy.CANARY,
        steps: str | Sequence[int] | None = None,
        interval: str | float | timedelta | None = None,
        auto_promote: bool = False,
        thresholds: dict[str, Any] | None = None,
        actor: str | None = None,
        reason: str | None = None,
        automatic: bool = False,
    ) -> Rollout:
        """Start rolling ``candidate`` out on ``endpoint`` over the version serving now.

        ``full`` promotes at once; ``canary`` ramps through ``steps`` (default
        ``rollout_steps``), one analysis per ``interval``; ``ab`` splits
        traffic (``steps=[50]`` or ``rollout_ab_split``) until the test decides;
        ``shadow`` mirrors every request to the candidate.

        An endpoint that does not exist yet is created serving ``candidate`` (like
        ``kubectl apply``): there is nothing to roll out over, so the strategy does not
        apply and the result is a promoted ``full`` rollout with no guard.

        ``automatic`` marks a deploy by automation (online learning, retraining): it is
        refused for a version the post-deploy guard rolled back on this endpoint, so a
        rolled-back version comes back only by an operator's hand.

        Example:
            >>> rollouts.deploy("churn", "churn@1.1.0", strategy="canary",  # doctest: +SKIP
            ...                 steps="5,25,50,100", interval="60s").weight
            5
        """
        try:
            strategy = Strategy(strategy)
        except ValueError:
            raise InvalidInputError(
                f"Unknown strategy {strategy!r}: use one of {', '.join(s.value for s in Strategy)}."
            ) from None
        try:
            table = self.endpoints.get(endpoint)
        except NotFoundError:
            return self._create(endpoint, candidate, actor=actor, reason=reason)
        stable = table.main.ref
        candidate = str(self.registry.get(candidate).ref)
        if candidate == stable:
            raise InvalidInputError(
                f"{candidate} already serves {endpoint!r}; nothing to roll out."
            )
        existing = self.store.get(endpoint)
        token = None
        if existing is not None:
            if not existing.finished:
                raise ConflictError(
                    f"Endpoint {endpoint!r} is already rolling out {existing.candidate} "
                    f"({existing.status.value}); promote or roll it back first."
                )
            token = self.store.read(endpoint)[1]
            if automatic and candidate in existing.rejected:
                raise ConflictError(
                    f"{candidate} was rolled back by the post-deploy guard on {endpoint!r}; "
                    "automation does not deploy it again (an operator can)."
                )
        if strategy is Strategy.FULL:
            plan = [100]
        elif strategy is Strategy.SHADOW:
            plan = [0]
        elif strategy is Strategy.AB:
            plan = parse_steps(steps) if steps is not None else [self.settings.rollout.ab_split]
            if len(plan) != 1 or plan[0] >= 100:
                raise InvalidInputError("An A/B test takes one split below 100, e.g. --steps 50.")
        else:
            plan = parse_steps(steps if steps is not None else self.settings.rollout.steps)
        seconds = parse_interval(
            interval if interval is not None else self.settings.rollout.interval_s
        )
        now = self._now()
        try:
            limits = Thresholds.from_settings(self.settings, **(thresholds or {}))
        except (TypeError, ValueError) as e:
            raise InvalidInputError(f"Invalid thresholds {thresholds}: {e}") from None
        doc = Rollout(
            id=uuid.uuid4().hex[:12],
            endpoint=endpoint,
            strategy=strategy,
            stable=stable,
            candidate=candidate,
            steps=plan,
            interval_s=seconds,
            thresholds=limits,
            auto_promote=auto_promote,
            status=RolloutStatus.PROMOTED if strategy is Strategy.FULL else RolloutStatus.RUNNING,
            started_at=now,
            updated_at=now,
            step_started_at=now,
            next_analysis_at=now + timedelta(seconds=seconds),
            reason=reason,
            actor=actor,
            rejected=existing.rejected if existing is not None else [],
        )
        if doc.status is RolloutStatus.PROMOTED:
            over = (
                existing
                if existing is not None and existing.status is (RolloutStatus.PROMOTED)
                else None
            )
            doc = self._start_guard(doc, now, over=over)
        try:
            self.store.write(doc, token)
        except ConflictError:
            raise ConflictError(
                f"Another rollout of {endpoint!r} started at the same moment; check "
                f"`rayops status {endpoint}`."
            ) from None
        self.apply(doc, actor=actor, reason=reason or f"{strategy.value} rollout of {candidate}")
        self.record(doc, EventKind.DEPLOYED, reason=reason, actor=actor)
        if doc.status is RolloutStatus.PROMOTED:
            self._move_alias(doc.candidate, f"full rollout on {endpoint}", actor)
            self.record(doc, EventKind.PROMOTED, reason="full rollout", actor=actor)
        return doc

    def _create(self, endpoint: str, ref: str, *, actor: str | None, reason: str | None) -> Rollout:
        """Deploy on a new endpoint: create it serving ``ref`` and record a full rollout."""
        candidate = str(self.registry.get(ref).ref)
        why = reason or f"endpoint created by deploying {candidate}"
        try:
            self.endpoints.create(endpoint, candidate, actor=actor or "rollout", reason=why)
        except AlreadyExistsError:  # created meanwhile: deploy over it like any other
            return self.deploy(endpoint, candidate, strategy=Strategy.FULL, actor=actor,
                               reason=reason)  # fmt: skip
        now = self._now()
        doc = Rollout(
            id=uuid.uuid4().hex[:12], endpoint=endpoint, strategy=Strategy.FULL,
            stable=candidate, candidate=candidate, steps=[100],
            interval_s=self.settings.rollout.interval_s,
            thresholds=Thresholds.from_settings(self.settings),
            status=RolloutStatus.PROMOTED, started_at=now, updated_at=now, step_started_at=now,
            next_analysis_at=now, reason=why, actor=actor,
        )  # fmt: skip
        existing = self.store.get(endpoint)  # a rollout left by a deleted endpoint
        token = self.store.read(endpoint)[1] if existing is not None else None
        self.store.write(doc, token)
        self.record(doc, EventKind.DEPLOYED, reason=why, actor=actor)
        self._move_alias(candidate, why, actor)
        return doc

    def _start_guard(self, doc: Rollout, now: datetime, *, over: Rollout | None = None) -> Rollout:
        """``doc`` (just promoted) with its post-deploy guard watching, if guarding is on.

        ``over`` is the promoted rollout ``doc`` replaces: if its guard still watches, the
        new guard keeps that guard's reference version and baseline.
        """
        s = self.settings.rollout
        if not s.guard or doc.stable == doc.candidate:
            return doc
        reference, start, end = None, now - timedelta(seconds=s.guard_baseline_s), None
        previous = over.guard if over is not None else None
        if over is not None and previous is not None and previous.watching:
            reference = previous.reference_of(over)
            start, end = previous.baseline_start, previous.baseline_end or previous.started_at
            if reference == doc.candidate:  # back to the reference: nothing to guard
                return doc
        guard = GuardState(
            reference=reference, baseline_end=end, started_at=now, baseline_start=start,
            window_rows=s.guard_window_rows, window_s=s.guard_window_s,
            interval_s=s.guard_interval_s, failures_needed=s.guard_failures,
            shadow_share=s.guard_shadow_share,
            next_analysis_at=now + timedelta(seconds=s.guard_interval_s),
        )  # fmt: skip
        return doc.model_copy(update={"guard": guard})

    def promote(
        self, endpoint: str, *, actor: str | None = None, reason: str | None = None
    ) -> Rollout:
        """Send 100% of traffic to the candidate and point ``production`` at it.

        The stable version stays in the routing table with weight 0, ready for rollback.

        Example:
            >>> rollouts.promote("churn", reason="A/B winner").status.value  # doctest: +SKIP
            'promoted'
        """

        def change(doc: Rollout) -> Rollout:
            if doc.status is not RolloutStatus.RUNNING and doc.status is not RolloutStatus.HOLDING:
                raise InvalidInputError(
                    f"The rollout of {doc.candidate} on {endpoint!r} is {doc.status.value}; "
                    "only a running or holding rollout can be promoted."
                )
            return doc.model_copy(
                update={
                    "status": RolloutStatus.PROMOTED,
                    "updated_at": self._now(),
                    "reason": reason or "promoted by an operator",
                    "actor": actor,
                }
            )

        return self.transition(endpoint, change, EventKind.PROMOTED, actor=actor)

    def rollback(
        self,
        endpoint: str,
        *,
        to: str | None = None,
        reason: str | None = None,
        actor: str | None = None,
    ) -> Rollout:
        """Put 100% of traffic back on the stable version (or ``to``) at once; alias follows.

        Works on a running rollout and after a promotion. ``to`` is ``name@version``
        or a bare version of the stable model.

        Example:
            >>> rollouts.rollback("churn", reason="complaints").status.value  # doctest: +SKIP
            'rolled_back'
        """
        target = None
        if to is not None:
            ref = to if "@" in to else f"{split_ref(self.get(endpoint).stable)[0]}@{to}"
            target = str(self.registry.get(ref).ref)
            if target == self.get(endpoint).candidate:
                raise InvalidInputError(
                    f"{target} is the candidate; to give it all traffic use promote."
                )

        def change(doc: Rollout) -> Rollout:
            if doc.status is RolloutStatus.ROLLED_BACK and target in (None, doc.target):
                raise InvalidInputError(
                    f"The rollout of {doc.candidate} on {endpoint!r} is already rolled back."
                )
            return doc.model_copy(
                update={
                    "status": RolloutStatus.ROLLED_BACK,
                    "updated_at": self._now(),
                    "reason": reason or "rolled back by an operator",
                    "actor": actor,
                    "target": target if target != doc.stable else None,
                }
            )

        return self.transition(endpoint, change, EventKind.ROLLED_BACK, actor=actor)

    def abort(
        self, endpoint: str, *, reason: str | None = None, actor: str | None = None
    ) -> Rollout:
        """Stop a rollout without moving aliases; traffic returns to the stable version."""

        def change(doc: Rollout) -> Rollout:
            if doc.finished:
                raise InvalidInputError(f"The rollout on {endpoint!r} is already {doc.status}.")
            return doc.model_copy(
                update={
                    "status": RolloutStatus.ABORTED,
                    "updated_at": self._now(),
                    "reason": reason or "aborted",
                    "actor": actor,
                }
            )

        return self.transition(endpoint, change, EventKind.ABORTED, actor=actor)

    # --- shared by the operations and the controller ----------------------------------
    def transition(
        self,
        endpoint: str,
        change: Callable[[Rollout], Rollout | None],
        kind: EventKind,
        *,
        actor: str | None = None,
        metrics: dict[str, Any] | None = None,
        record: bool = True,
    ) -> Rollout:
        """Move the rollout: apply ``change`` to the document (CAS), then make the routing,
        the production alias and the event history follow it. Every change of a rollout
        goes through here: steps and holds as well as promotion, rollback and abort.

        ``change`` returns None to leave the document alone (nothing else happens then).
        A document that becomes promoted here starts its post-deploy guard.
        """

        def guarded(current: Rollout) -> Rollout | None:
            new = change(current)
            if (
                new is not None
                and new.status is RolloutStatus.PROMOTED
                and current.status is not RolloutStatus.PROMOTED
            ):
                new = self._start_guard(new, self._now())
            return new

        doc = self.store.update(endpoint, guarded)
        if doc is None:
            return self.get(endpoint)
        # The event first, right after the document's compare-and-swap: a loop killed
        # while it rewrites the routing table must not leave a step without its event.
        if record:
            self.record(doc, kind, reason=doc.reason, actor=actor, metrics=metrics)
        self.apply(doc, actor=actor, reason=doc.reason)
        if doc.status is RolloutStatus.PROMOTED:
            self._move_alias(doc.candidate, doc.reason, actor)
        elif doc.status is RolloutStatus.ROLLED_BACK:
            self._move_alias(doc.target or doc.stable, doc.reason, actor)
        return doc

    def apply(self, doc: Rollout, *, actor: str | None = None, reason: str | None = None) -> None:
        """Make the routing table match ``doc``, then re-apply if the document moved on."""
        for _ in range(self.settings.cas_max_retries):
            routes, shadow = routes_for(doc)
            current = self.endpoints.get(doc.endpoint)
            if not _same(current, routes, shadow):
                self.endpoints.set_routes(
                    doc.endpoint, routes, shadow=shadow, actor=actor or "rollout", reason=reason
                )
            latest = self.store.get(doc.endpoint)
            if latest is None or latest.revision == doc.revision:
                return
            doc = latest
        raise ConflictError(f"The rollout of {doc.endpoint!r} keeps changing; try again.")

    def record(
        self,
        doc: Rollout,
        kind: EventKind,
        *,
        reason: str | None = None,
        actor: str | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> RolloutEvent:
        routes, _ = routes_for(doc)
        event = RolloutEvent(
            endpoint=doc.endpoint,
            rollout_id=doc.id,
            kind=kind,
            time=self._now(),
            step=doc.step,
            weight=routes.get(doc.candidate, 0),
            status=doc.status,
            stable=doc.stable,
            candidate=doc.candidate,
            reason=reason,
            metrics=metrics,
            actor=actor,
            revision=doc.revision,
        )
        self.store.record(event)
        return event

    def _move_alias(self, ref: str, reason: str | None, actor: str | None) -> None:
        name, version = split_ref(ref)
        try:
            current = self.registry.aliases(name).get(PRODUCTION)
        except NotFoundError:
            current = None
        if current is not None and current.version == version:
            return
        self.registry.set_alias(name, PRODUCTION, version, reason=reason, actor=actor or "rollout")


def _same(table: RoutingTable, routes: dict[str, int], shadow: Shadow | None) -> bool:
    have = {r.ref: r.weight for r in table.routes}
    return have == routes and (table.shadow.ref if table.shadow else None) == (
        shadow.ref if shadow else None
    )
