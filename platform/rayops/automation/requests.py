"""Retrain requests: how monitoring and online learning ask for a full retrain.

A request is an immutable JSON object, written once::

    automation/requests/<model>/<time>-<id>.json

and *handled* when the retrain controller writes its outcome next to it
(``.../<time>-<id>.handled.json``, put-if-absent, so exactly one controller
handles each request). Filing a request is cheap and never starts work by
itself: the retrain controller applies its guards (one retrain per model at a
time, minimum new samples, ...) and records what it decided.

Example:
    >>> import tempfile
    >>> from rayops.storage import open_storage
    >>> s = open_storage(tempfile.mkdtemp())
    >>> r = request_retrain(s, "demand", reason="MAE 7.1 > 5.0 after 3 updates", source="online")
    >>> [p.reason for p in pending_requests(s, "demand")]
    ['MAE 7.1 > 5.0 after 3 updates']
    >>> mark_handled(s, r, decision="started", job_id="raysubmit_1")
    True
    >>> pending_requests(s, "demand")
    []
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rayops.automation.layout import REQUESTS, requests_prefix
from rayops.clock import utc_now
from rayops.errors import AlreadyExistsError, NotFoundError
from rayops.names import validate_name
from rayops.storage.base import Storage, dumps

__all__ = [
    "RetrainRequest",
    "mark_handled",
    "pending_requests",
    "request_retrain",
]


class RetrainRequest(BaseModel):
    """A request for a full retrain of ``model``, with who asked and why."""

    model_config = ConfigDict(extra="forbid")

    id: str
    model: str
    endpoint: str | None = None
    source: str = Field(description="Who asked: 'alert', 'online', 'operator', ...")
    reason: str
    time: datetime
    details: dict[str, Any] = Field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{requests_prefix(self.model)}{self.time:%Y%m%dT%H%M%S%fZ}-{self.id}.json"

    @property
    def handled_key(self) -> str:
        return self.key[: -len(".json")] + ".handled.json"


def request_retrain(
    storage: Storage,
    model: str,
    *,
    reason: str,
    source: str,
    endpoint: str | None = None,
    details: dict[str, Any] | None = None,
    now: Callable[[], datetime] | None = None,
) -> RetrainRequest:
    """File a retrain request for ``model``; returns it (nothing runs until a controller acts)."""
    req = RetrainRequest(
        id=uuid.uuid4().hex[:12],
        model=validate_name(model, "model name"),
        endpoint=validate_name(endpoint, "endpoint name") if endpoint else None,
        source=source,
        reason=reason,
        time=(now or utc_now)(),
        details=details or {},
    )
    storage.put_if_absent(req.key, dumps(req.model_dump(mode="json")))
    return req


def pending_requests(storage: Storage, model: str | None = None) -> list[RetrainRequest]:
    """Requests not handled yet, oldest first (of ``model``, or of every model)."""
    prefix = requests_prefix(model) if model else REQUESTS
    keys = storage.list_keys(prefix)
    handled = {k[: -len(".handled.json")] for k in keys if k.endswith(".handled.json")}
    out = []
    for key in keys:
        if key.endswith(".handled.json") or not key.endswith(".json"):
            continue
        if key[: -len(".json")] in handled:
            continue
        try:
            out.append(RetrainRequest.model_validate(storage.read_json(key)))
        except NotFoundError:
            continue
    return sorted(out, key=lambda r: r.time)


def mark_handled(storage: Storage, request: RetrainRequest, **outcome: Any) -> bool:
    """Record what was done with ``request``; False if another controller handled it first."""
    doc = {"request": request.id, "handled_at": datetime.now(UTC).isoformat(), **outcome}
    try:
        storage.put_if_absent(request.handled_key, dumps(doc))
    except AlreadyExistsError:
        return False
    return True
