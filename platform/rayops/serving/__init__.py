"""Serving on Ray Serve: endpoints, routing tables, the gateway and its logs.

Light to import (no Ray, pandas or XGBoost): :class:`Endpoints` and the routing
models. The Serve application lives in :mod:`rayops.apps.gateway`
(``build_app``), which imports Ray.

Example:
    >>> import tempfile
    >>> from rayops.storage import open_storage
    >>> Endpoints(open_storage(tempfile.mkdtemp())).list()
    []
"""

from __future__ import annotations

from rayops.serving.endpoints import EndpointEvent, Endpoints
from rayops.serving.errors import (
    InvalidFeatureError,
    NotReadyError,
    PayloadTooLargeError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
)
from rayops.serving.routing import Route, Router, RoutingTable, Shadow, bucket_of

__all__ = [
    "EndpointEvent",
    "Endpoints",
    "InvalidFeatureError",
    "NotReadyError",
    "PayloadTooLargeError",
    "Route",
    "Router",
    "RoutingTable",
    "Shadow",
    "UnauthorizedError",
    "UnsupportedMediaTypeError",
    "bucket_of",
]
