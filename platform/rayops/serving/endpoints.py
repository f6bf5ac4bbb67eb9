"""Endpoints: named routing tables in storage, changed with compare-and-swap.

Keys under the storage root::

    endpoints/<name>/routing.json               the current table (compare-and-swap)
    endpoints/<name>/history/<ts>-<id>.json     one event per change (append-only)

The table is the single source of truth: gateway replicas poll it and swap to a
new table without a restart. Every version a table names must be registered;
aliases (``churn@production``) are resolved to fixed versions when written, so a
table never changes under its users when an alias moves.

Example:
    >>> import tempfile
    >>> from rayops.storage import open_storage
    >>> eps = Endpoints(open_storage(tempfile.mkdtemp()))
    >>> eps.list()
    []
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from rayops.clock import utc_now
from rayops.config import Settings, settings_of
from rayops.errors import AlreadyExistsError, ConflictError, InvalidInputError, NotFoundError
from rayops.names import validate_name
from rayops.serving.routing import Route, RoutingTable, Shadow
from rayops.storage.base import Storage, dumps
from rayops.storage.retry import pause

__all__ = ["ROOT", "EndpointEvent", "Endpoints", "history_prefix", "routing_key"]

ROOT = "endpoints"

RouteSpec = Mapping[str, int] | Iterable[Route | tuple[str, int] | Mapping[str, Any]] | str


def routing_key(endpoint: str) -> str:
    return f"{ROOT}/{validate_name(endpoint, 'endpoint name')}/routing.json"


def history_prefix(endpoint: str) -> str:
    return f"{ROOT}/{validate_name(endpoint, 'endpoint name')}/history/"


class EndpointEvent(BaseModel):
    """One change of an endpoint's routing, as kept in its history."""

    model_config = ConfigDict(extra="forbid")

    endpoint: str
    action: Literal["created", "updated", "deleted"]
    time: datetime
    revision: int
    table: RoutingTable | None = None
    previous: RoutingTable | None = None
    actor: str | None = None
    reason: str | None = None


def _routes(spec: RouteSpec) -> list[Route]:
    """Routes from ``"a@1.0.0"``, ``{"a@1.0.0": 90, ...}``, pairs, dicts or Route objects."""
    if isinstance(spec, str):
        return [Route(ref=spec, weight=100)]
    if isinstance(spec, Mapping):
        return [Route(ref=str(r), weight=int(w)) for r, w in spec.items()]
    out = []
    for item in spec:
        if isinstance(item, Route):
            out.append(item)
        elif isinstance(item, tuple):
            out.append(Route(ref=item[0], weight=item[1]))
        else:
            out.append(Route.model_validate(dict(item)))
    return out


def _table(**fields: Any) -> RoutingTable:
    try:
        return RoutingTable(**fields)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInputError(
            f"Invalid routing table{' at ' + where if where else ''}: {first['msg']}."
        ) from None


class Endpoints:
    """Create, change and read endpoints' routing tables in one storage root.

    Args:
        storage: the storage root.
        registry: checks that every version exists (default: a Registry on ``storage``);
            pass ``False`` to skip the check (tests of routing alone).
        now: the clock; inject one in tests.
        settings: tunables (compare-and-swap retries); default: the storage's
            (:func:`~rayops.config.settings_of`).
    """

    def __init__(
        self,
        storage: Storage,
        *,
        registry: Any = None,
        now: Callable[[], datetime] | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.storage = storage
        self.settings = settings_of(storage, settings)
        self._now = now or utc_now
        if registry is None:
            from rayops.registry import Registry

            registry = Registry(storage, settings=self.settings)
        self._registry = registry or None

    # --- validation ------------------------------------------------------------------
    def _pin(self, ref: str) -> str:
        """``name@version`` for a registered version or alias; raises NotFoundError."""
        if self._registry is None:
            return ref
        if "@" not in ref:
            raise InvalidInputError(f"{ref!r} names no version: use NAME@VERSION or NAME@ALIAS.")
        mv = self._registry.get(ref)
        self._registry.check_routable(mv.ref)  # 409 for draft and archived versions
        return str(mv.ref)

    def _build(
        self,
        endpoint: str,
        routes: RouteSpec,
        shadow: str | Mapping[str, Any] | Shadow | None,
        revision: int,
        actor: str | None,
        reason: str | None,
    ) -> RoutingTable:
        try:
            parsed = _routes(routes)
            if isinstance(shadow, str):
                shadow = Shadow(ref=shadow)
            elif isinstance(shadow, Mapping):
                shadow = Shadow.model_validate(dict(shadow))
        except ValidationError as e:
            first = e.errors()[0]
            raise InvalidInputError(f"Invalid route: {first['msg']}.") from None
        except (TypeError, ValueError) as e:
            raise InvalidInputError(f"Invalid routes {routes!r}: {e}.") from None
        parsed = [r.model_copy(update={"ref": self._pin(r.ref)}) for r in parsed]
        if shadow is not None:
            shadow = shadow.model_copy(update={"ref": self._pin(shadow.ref)})
        self._same_targets([r.ref for r in parsed] + ([shadow.ref] if shadow else []))
        return _table(
            endpoint=endpoint,
            routes=parsed,
            shadow=shadow,
            revision=revision,
            updated_at=self._now(),
            updated_by=actor,
            reason=reason,
        )

    def _same_targets(self, refs: builtins.list[str]) -> None:
        """Every version of an endpoint answers with the same targets (multi-target or not),
        so a routing change or rollout never changes the shape of an answer."""
        if self._registry is None:
            return
        seen: dict[str, builtins.list[str] | None] = {}
        for ref in refs:
            card = self._registry.get(ref).card
            multi = card.ensemble is not None and card.ensemble.kind == "multi_target"
            seen[ref] = builtins.list(card.ensemble.targets or []) if multi else None
        shapes = {tuple(t) if t else None for t in seen.values()}
        if len(shapes) > 1:
            described = "; ".join(f"{r} predicts {t or 'one value'}" for r, t in seen.items())
            raise InvalidInputError(
                f"The versions of an endpoint must predict the same targets: {described}."
            )

    def _record(
        self,
        endpoint: str,
        action: Literal["created", "updated", "deleted"],
        table: RoutingTable | None,
        previous: RoutingTable | None,
        actor: str | None,
        reason: str | None,
    ) -> None:
        when = self._now()
        revision = (table or previous).revision if (table or previous) else 0  # type: ignore[union-attr]
        event = EndpointEvent(
            endpoint=endpoint,
            action=action,
            time=when,
            revision=revision,
            table=table,
            previous=previous,
            actor=actor,
            reason=reason,
        )
        stamp = when.strftime("%Y%m%dT%H%M%S%fZ")
        key = f"{history_prefix(endpoint)}{stamp}-{uuid.uuid4().hex[:8]}.json"
        self.storage.put_if_absent(key, dumps(event.model_dump(mode="json")))

    def _remember(self, table: RoutingTable) -> None:
        """Tell the registry which versions this endpoint routes (archive protection)."""
        if self._registry is not None:
            self._registry.record_routes(table.endpoint, table.refs())

    # --- write -------------------------------------------------------------------------
    def create(
        self,
        endpoint: str,
        routes: RouteSpec,
        *,
        shadow: str | Mapping[str, Any] | Shadow | None = None,
        actor: str | None = None,
        reason: str | None = None,
    ) -> RoutingTable:
        """Create an endpoint; fails with AlreadyExistsError if it exists.

        ``routes`` is a ref (all traffic), ``{"churn@1.0.0": 90, "churn@1.1.0": 10}``,
        a list of ``(ref, weight)`` pairs or of :class:`Route`.

        Example:
            >>> eps.create("churn", "churn@1.0.0")  # doctest: +SKIP
            RoutingTable(endpoint='churn', routes=[Route(ref='churn@1.0.0', weight=100)], ...)
        """
        validate_name(endpoint, "endpoint name")
        table = self._build(endpoint, routes, shadow, 1, actor, reason)
        try:
            self.storage.compare_and_swap(
                routing_key(endpoint), dumps(table.model_dump(mode="json")), None
            )
        except ConflictError:
            raise AlreadyExistsError(
                f"Endpoint {endpoint!r} already exists; change its routes with set_routes()."
            ) from None
        self._record(endpoint, "created", table, None, actor, reason)
        self._remember(table)
        return table

    def set_routes(
        self,
        endpoint: str,
        routes: RouteSpec,
        *,
        shadow: str | Mapping[str, Any] | Shadow | None = None,
        keep_shadow: bool = False,
        actor: str | None = None,
        reason: str | None = None,
    ) -> RoutingTable:
        """Replace the routes (and shadow) of an existing endpoint with compare-and-swap.

        The shadow is removed unless given again or ``keep_shadow=True``.

        Example:
            >>> eps.set_routes("churn", {"churn@1.0.0": 90, "churn@1.1.0": 10})  # doctest: +SKIP
        """
        validate_name(endpoint, "endpoint name")
        key = routing_key(endpoint)
        for attempt in range(self.settings.cas_max_retries):
            current, token = self._read(endpoint)
            new_shadow = shadow if shadow is not None or not keep_shadow else current.shadow
            table = self._build(endpoint, routes, new_shadow, current.revision + 1, actor, reason)
            try:
                self.storage.compare_and_swap(key, dumps(table.model_dump(mode="json")), token)
            except ConflictError:
                pause(attempt, self.settings)
                continue
            self._record(endpoint, "updated", table, current, actor, reason)
            self._remember(table)
            return table
        raise ConflictError(
            f"Gave up changing endpoint {endpoint!r} after {self.settings.cas_max_retries} "
            "conflicting writes; try again."
        )

    def delete(self, endpoint: str, *, actor: str | None = None, reason: str | None = None) -> None:
        """Remove an endpoint's routing table (its history and logs stay)."""
        current, _ = self._read(endpoint)
        self.storage.delete(routing_key(endpoint))
        self._record(endpoint, "deleted", None, current, actor, reason)
        if self._registry is not None:
            self._registry.record_routes(endpoint, [])

    # --- read --------------------------------------------------------------------------
    def _read(self, endpoint: str) -> tuple[RoutingTable, str]:
        try:
            v = self.storage.read_versioned(routing_key(endpoint))
        except NotFoundError:
            known = self.list()
            raise NotFoundError(
                f"No endpoint named {endpoint!r}"
                + (f"; endpoints: {', '.join(known)}." if known else "; there are no endpoints.")
            ) from None
        return RoutingTable.model_validate(v.json()), v.token

    def get(self, endpoint: str) -> RoutingTable:
        """The current routing table of ``endpoint``; NotFoundError if there is none."""
        return self._read(validate_name(endpoint, "endpoint name"))[0]

    def read_versioned(self, endpoint: str) -> tuple[RoutingTable, str]:
        """The table and its storage token (to detect changes cheaply)."""
        return self._read(validate_name(endpoint, "endpoint name"))

    def list(self) -> list[str]:
        """Names of every endpoint that has a routing table, sorted."""
        out = []
        for child in self.storage.list_children(ROOT):
            try:
                validate_name(child)
            except InvalidInputError:
                continue
            if self.storage.exists(f"{ROOT}/{child}/routing.json"):
                out.append(child)
        return out

    def performance(self, endpoint: str) -> dict[str, Any]:
        """Recent per-member performance of every ensemble ``endpoint`` serves.

        ``{"blend@1.0.0": EnsembleStats | None}`` (None: the control loop's
        ``ensembles`` task has not written stats yet); see
        :mod:`rayops.serving.ensembles`.

        Example:
            >>> eps.performance("churn")["blend@1.0.0"].overall["a@1.0.0"].mae  # doctest: +SKIP
            0.41
        """
        from rayops.serving.ensemble_stats import endpoint_performance

        return dict(endpoint_performance(self.storage, endpoint))

    def history(self, endpoint: str) -> builtins.list[EndpointEvent]:
        """Every change of ``endpoint``, oldest first."""
        keys = self.storage.list_keys(history_prefix(endpoint))
        return [EndpointEvent.model_validate(self.storage.read_json(k)) for k in sorted(keys)]
