"""Errors of the HTTP gateway that have no place in the core hierarchy.

Each subclasses a :mod:`rayops.errors` class and carries the HTTP status the
gateway answers with::

    InvalidInputError (400)
    ├── InvalidFeatureError (422)     a feature value has the wrong type or is not finite
    ├── PayloadTooLargeError (413)    the body is above ``serving_max_body_bytes``
    └── UnsupportedMediaTypeError (415)  the body is not ``application/json``
    RayopsError
    ├── UnauthorizedError (401)       ``RAYOPS_API_TOKEN`` is set and the bearer token is wrong
    └── NotReadyError (503)           the endpoint's models are not loaded (yet)
"""

from __future__ import annotations

from rayops.errors import InvalidInputError, RayopsError

__all__ = [
    "InvalidFeatureError",
    "NotReadyError",
    "PayloadTooLargeError",
    "UnauthorizedError",
    "UnsupportedMediaTypeError",
]


class InvalidFeatureError(InvalidInputError):
    """A feature value cannot be used (wrong type, infinite, or missing when rejected)."""

    http_status = 422


class PayloadTooLargeError(InvalidInputError):
    """The request body is larger than the gateway accepts."""

    http_status = 413


class UnsupportedMediaTypeError(InvalidInputError):
    """The request body is not JSON."""

    http_status = 415


class UnauthorizedError(RayopsError):
    """The route needs ``Authorization: Bearer <token>`` and it is missing or wrong."""

    http_status = 401


class NotReadyError(RayopsError):
    """The gateway or the endpoint's models are not loaded yet; retry shortly."""

    http_status = 503
