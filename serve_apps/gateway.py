"""The rayops gateway as a Serve application builder.

Run it locally (from the repository root)::

    serve run serve_apps.gateway:build_app storage=s3://bucket/rayops

or deploy ``serve_apps/rayops.yaml`` with ``serve deploy`` (it imports the same
builder from the installed package, so it works on any node that has rayops).
``rayops serve`` does the same from the CLI.
"""

from __future__ import annotations

from typing import Any

from ray.serve import Application

from rayops.apps.gateway import APP_NAME, GatewayArgs
from rayops.apps.gateway import build_app as _build

__all__ = ["APP_NAME", "GatewayArgs", "build_app"]


def build_app(args: dict[str, Any]) -> Application:
    """Serve's application builder: ``args`` are :class:`GatewayArgs` fields."""
    return _build(args)
