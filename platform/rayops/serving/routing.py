"""Routing tables and the weighted, sticky choice of a version per request.

A :class:`RoutingTable` says which registered versions of an endpoint get what
share of traffic, and optionally which version shadows a share of it. A
:class:`Router` turns a table into a decision per request:

* With a ``key``, the key is hashed (BLAKE2b of ``endpoint NUL key``) into a
  bucket 0..9999 and the routes are laid out over the buckets in list order.
  The same key lands on the same version for as long as the table does not
  change, and a route whose weight only grows keeps every key it had when it is
  the first or the last route (the canary case: ``[stable, canary]``).
* Without a key, the bucket is random, so the split follows the weights.

Example:
    >>> table = RoutingTable(endpoint="churn", routes=[Route(ref="churn@1.0.0", weight=90),
    ...                                                Route(ref="churn@1.1.0", weight=10)])
    >>> router = Router(table)
    >>> router.choose("customer-42") == router.choose("customer-42")
    True
    >>> bucket_of("churn", "customer-42")
    9159
"""

from __future__ import annotations

import hashlib
import random
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rayops.errors import InvalidInputError, NotFoundError
from rayops.names import validate_name

__all__ = ["BUCKETS", "Route", "Router", "RoutingTable", "Shadow", "bucket_of", "split_ref"]

#: Resolution of a split: weights are percentages, so 100 buckets per point.
BUCKETS = 10_000

_STRICT = ConfigDict(extra="forbid", frozen=True)


def split_ref(ref: str) -> tuple[str, str]:
    """``("name", "1.2.0")`` from ``"name@1.2.0"``; the version must be explicit."""
    name, sep, version = ref.partition("@")
    if not sep or not version or "@" in version:
        raise InvalidInputError(f"{ref!r} is not a model version: use NAME@VERSION.")
    validate_name(name, "model name")
    validate_name(version, "model version")
    return name, version


class Route(BaseModel):
    """One version of an endpoint and its share of traffic in percent."""

    model_config = _STRICT

    ref: str = Field(description="Registered model version, 'name@version'.")
    weight: int = Field(ge=0, le=100, description="Share of traffic in percent.")

    @field_validator("ref")
    @classmethod
    def _ref(cls, v: str) -> str:
        split_ref(v)
        return v

    @property
    def model(self) -> str:
        return split_ref(self.ref)[0]

    @property
    def version(self) -> str:
        return split_ref(self.ref)[1]


class Shadow(BaseModel):
    """A version that receives a copy of ``share`` of the traffic; its answers are only logged."""

    model_config = _STRICT

    ref: str = Field(description="Registered model version, 'name@version'.")
    share: float = Field(default=1.0, gt=0, le=1, description="Fraction of requests mirrored.")

    @field_validator("ref")
    @classmethod
    def _ref(cls, v: str) -> str:
        split_ref(v)
        return v


class RoutingTable(BaseModel):
    """The routing of one endpoint, stored at ``endpoints/<name>/routing.json``."""

    model_config = _STRICT

    endpoint: str
    routes: list[Route] = Field(min_length=1)
    shadow: Shadow | None = None
    revision: int = Field(default=1, ge=1, description="Bumped by every change.")
    updated_at: datetime | None = None
    updated_by: str | None = None
    reason: str | None = None

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str) -> str:
        return validate_name(v, "endpoint name")

    @model_validator(mode="after")
    def _weights(self) -> RoutingTable:
        refs = [r.ref for r in self.routes]
        if len(set(refs)) != len(refs):
            raise ValueError(f"each version may appear once in the routes, got {refs}")
        total = sum(r.weight for r in self.routes)
        if total != 100:
            raise ValueError(f"route weights must sum to 100, got {total}")
        if self.shadow is not None and self.shadow.ref in refs:
            raise ValueError(f"the shadow {self.shadow.ref} already gets live traffic")
        return self

    @property
    def main(self) -> Route:
        """The endpoint's main version: the route with the most traffic, the first on a tie.

        The one decider of "which version is this endpoint" for everything that needs
        one version (input schema, targets, feedback, monitoring's reference, the
        stable side of a new rollout, online learning). After a promotion the table
        is ``{old: 0, new: 100}``, so the main version is the new one; during a
        canary ``{stable: 95, canary: 5}`` it is the stable one; an A/B test at
        50/50 keeps the first (stable) route.

        Example:
            >>> t = RoutingTable(endpoint="e", routes=[Route(ref="m@1.0.0", weight=0),
            ...                                        Route(ref="m@2.0.0", weight=100)])
            >>> t.main.ref
            'm@2.0.0'
        """
        return max(self.routes, key=lambda r: r.weight)  # max keeps the first of equals

    def refs(self) -> list[str]:
        """Every version this table needs loaded: every route, then the shadow.

        A weight-0 route is a standby (the version a promotion replaced): it stays
        loaded so that a rollback to it is instant.
        """
        return [r.ref for r in self.routes] + ([self.shadow.ref] if self.shadow else [])


def bucket_of(endpoint: str, key: str) -> int:
    """A stable bucket in ``0..BUCKETS-1`` for ``key`` (same on every machine and run)."""
    digest = hashlib.blake2b(f"{endpoint}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


class Router:
    """Weighted, sticky choice of a route for each request of one endpoint."""

    def __init__(self, table: RoutingTable, rng: random.Random | None = None) -> None:
        self.table = table
        self._rng = rng or random.Random()
        self._bounds: list[tuple[int, Route]] = []
        upper = 0
        for route in table.routes:
            upper += route.weight * (BUCKETS // 100)
            if route.weight > 0:
                self._bounds.append((upper, route))

    def choose(self, key: str | None = None) -> Route:
        """The route for a request with sticky ``key`` (random when None)."""
        bucket = (
            bucket_of(self.table.endpoint, key) if key is not None else self._rng.randrange(BUCKETS)
        )
        for upper, route in self._bounds:
            if bucket < upper:
                return route
        return self._bounds[-1][1]  # unreachable: weights sum to 100

    def choose_version(self, version: str) -> Route:
        """The route pinned by ``version`` (OIP ``versions/{v}``); the shadow is not routable."""
        for route in self.table.routes:
            if route.version == version or route.ref == version:
                return route
        served = ", ".join(r.version for r in self.table.routes)
        raise NotFoundError(
            f"Endpoint {self.table.endpoint!r} does not serve version {version!r}; "
            f"it serves {served}."
        )

    def mirror(self) -> bool:
        """Whether this request is also sent to the shadow."""
        shadow = self.table.shadow
        return shadow is not None and self._rng.random() < shadow.share
