"""Deployment overview, the timeline of events, alerts and health, for analytics.

The timeline merges several **sources**, each a function of a
:class:`TimelineContext` returning :class:`~rayops.analytics.report.TimelineEvent`
objects: routing changes (endpoint history), rollout decisions, registry events
(registrations, stage and alias moves) and retrain requests. A capability that
keeps its own history (for example the retrain controller under
``automation/``) adds one entry to :data:`TIMELINE_SOURCES`; nothing else changes.
A source that fails is reported in the report's notes instead of failing it.

Example:
    >>> sorted(TIMELINE_SOURCES)
    ['registry', 'retrain', 'rollout', 'routing']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rayops.analytics.report import (
    AlertOut,
    DeploymentOut,
    HealthOut,
    RolloutOut,
    RouteOut,
    TimelineEvent,
    TimelineKind,
)
from rayops.config import Settings
from rayops.errors import NotFoundError, RayopsError
from rayops.storage.base import Storage

__all__ = [
    "TIMELINE_SOURCES",
    "RegistryView",
    "TimelineContext",
    "alerts_of",
    "deployment_of",
    "health_of",
    "timeline",
]


class RegistryView:
    """Registry lookups cached for the length of one report."""

    def __init__(self, storage: Storage, settings: Settings) -> None:
        from rayops.registry import Registry

        self.registry = Registry(storage, settings=settings)
        self._versions: dict[str, Any] = {}

    def version(self, ref: str) -> Any:
        """The :class:`~rayops.registry.ModelVersion` of ``ref``, or None if unknown."""
        if ref not in self._versions:
            try:
                self._versions[ref] = self.registry.get(ref)
            except RayopsError:
                self._versions[ref] = None
        return self._versions[ref]

    def stage(self, ref: str) -> tuple[str | None, list[str]]:
        mv = self.version(ref)
        return (str(mv.stage), list(mv.aliases)) if mv is not None else (None, [])


@dataclass
class TimelineContext:
    """What a timeline source may read."""

    storage: Storage
    endpoints: list[str]
    models: list[str]
    start: datetime
    end: datetime
    settings: Settings
    notes: list[str] = field(default_factory=list)


def _routing(ctx: TimelineContext) -> list[TimelineEvent]:
    from rayops.serving.endpoints import Endpoints

    eps = Endpoints(ctx.storage, registry=False, settings=ctx.settings)
    out = []
    for ep in ctx.endpoints:
        for e in eps.history(ep):
            split = ", ".join(f"{r.ref} {r.weight}%" for r in e.table.routes) if e.table else ""
            out.append(
                TimelineEvent(
                    time=e.time,
                    kind=TimelineKind.ROUTING,
                    endpoint=ep,
                    title=f"routing {e.action} (revision {e.revision})",
                    detail="; ".join(x for x in (split, e.reason or "") if x) or None,
                    actor=e.actor,
                )
            )
    return out


def _rollout(ctx: TimelineContext) -> list[TimelineEvent]:
    from rayops.rollout.state import RolloutStore

    store = RolloutStore(ctx.storage)
    out = []
    for ep in ctx.endpoints:
        for e in store.events(ep):
            out.append(
                TimelineEvent(
                    time=e.time,
                    kind=TimelineKind.ROLLOUT,
                    endpoint=ep,
                    ref=e.candidate,
                    title=f"rollout {e.kind.value}: {e.candidate} at {e.weight}%",
                    detail=e.reason,
                    actor=e.actor,
                )
            )
    return out


def _registry(ctx: TimelineContext) -> list[TimelineEvent]:
    from rayops.registry import Registry

    reg = Registry(ctx.storage, settings=ctx.settings)
    out = []
    for name in ctx.models:
        try:
            events = reg.history(name)
        except NotFoundError:
            continue
        for e in events:
            ref = f"{name}@{e.version}" if e.version else None
            if e.kind == "stage":
                title = f"{ref}: {e.from_stage} → {e.to_stage}"
            elif e.kind == "alias":
                title = f"{name}@{e.alias} → {e.version}"
            else:
                title = f"{ref or name} {e.kind}"
            out.append(
                TimelineEvent(
                    time=e.time,
                    kind=TimelineKind.REGISTRY,
                    ref=ref,
                    title=title,
                    detail=e.reason,
                    actor=e.actor,
                )
            )
    return out


def _retrain(ctx: TimelineContext) -> list[TimelineEvent]:
    from rayops.automation.requests import pending_requests

    out = []
    for name in ctx.models:
        for r in pending_requests(ctx.storage, name):
            out.append(
                TimelineEvent(
                    time=r.time,
                    kind=TimelineKind.RETRAIN,
                    endpoint=r.endpoint,
                    ref=name,
                    title=f"retrain of {name} requested ({r.source}), pending",
                    detail=r.reason,
                )
            )
    return out


#: name -> source; append yours (see the module docstring).
TIMELINE_SOURCES: dict[str, Callable[[TimelineContext], list[TimelineEvent]]] = {
    "routing": _routing,
    "rollout": _rollout,
    "registry": _registry,
    "retrain": _retrain,
}


def timeline(ctx: TimelineContext) -> list[TimelineEvent]:
    """Every source's events, oldest first (events of every age; callers cut to a window)."""
    out: list[TimelineEvent] = []
    for name, source in TIMELINE_SOURCES.items():
        try:
            out.extend(source(ctx))
        except (RayopsError, ImportError, ValueError) as e:
            ctx.notes.append(f"Timeline source {name!r} failed: {e}")
    return sorted(out, key=lambda e: e.time)


def deployment_of(
    storage: Storage,
    endpoint: str,
    registry: RegistryView,
    settings: Settings,
) -> DeploymentOut:
    """Current routing (weights, stages, shadow) and the rollout of ``endpoint``
    (``last_events`` is left for the caller, who has the timeline)."""
    from rayops.rollout.state import RolloutStore
    from rayops.serving.endpoints import Endpoints

    out = DeploymentOut(endpoint=endpoint)
    try:
        table = Endpoints(storage, registry=False, settings=settings).get(endpoint)
    except NotFoundError:
        return out  # deleted, or never created: logs only
    out.revision, out.updated_at = table.revision, table.updated_at
    for r in table.routes:
        stage, aliases = registry.stage(r.ref)
        out.routes.append(RouteOut(ref=r.ref, weight=r.weight, stage=stage, aliases=aliases))
    if table.shadow is not None:
        out.shadow_ref, out.shadow_share = table.shadow.ref, table.shadow.share
    rollout = RolloutStore(storage).get(endpoint)
    if rollout is not None:
        out.rollout = RolloutOut(
            id=rollout.id,
            strategy=rollout.strategy.value,
            status=rollout.status.value,
            stable=rollout.stable,
            candidate=rollout.candidate,
            weight=rollout.weight,
            step=rollout.step,
            started_at=rollout.started_at,
            updated_at=rollout.updated_at,
            reason=rollout.reason,
        )
    return out


def alerts_of(
    storage: Storage, endpoint: str, start: datetime, end: datetime, notes: list[str]
) -> list[AlertOut]:
    """Alerts fired on ``endpoint`` in the window (:func:`rayops.monitoring.alerts.read_alerts`),
    newest first."""
    from rayops.monitoring.alerts import read_alerts

    try:
        found = read_alerts(storage, endpoint=endpoint, since=start, until=end)
    except RayopsError as e:
        notes.append(f"Alerts of {endpoint!r} could not be read: {e}")
        return []
    fields = set(AlertOut.model_fields)
    out = [
        AlertOut.model_validate({k: v for k, v in a.model_dump().items() if k in fields})
        for a in found
    ]
    return sorted(out, key=lambda a: a.time, reverse=True)


def health_of(
    storage: Storage, endpoint: str, end: datetime, settings: Settings, notes: list[str]
) -> list[HealthOut]:
    """Health per version at ``end`` (:func:`rayops.monitoring.health.endpoint_health`, over
    ``monitoring_window``), with the checks that are not healthy as reasons."""
    from rayops.monitoring.health import endpoint_health

    try:
        reports = endpoint_health(storage, endpoint, now=end, settings=settings)
    except RayopsError as e:
        notes.append(f"Health of {endpoint!r} could not be computed: {e}")
        return []
    out = []
    for ref, report in reports.items():
        reasons = [
            f"{c.metric} {c.value:.4g} ({c.state.value})"
            for c in report.checks
            if c.value is not None and c.state.value not in ("healthy", "unknown")
        ]
        out.append(HealthOut(ref=str(ref), state=report.state.value, reasons=reasons))
    return out
