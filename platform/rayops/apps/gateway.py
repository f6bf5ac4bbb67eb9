"""The gateway: one Ray Serve application (route prefix ``/``) for every endpoint.

Build it with :func:`build_app` (``serve run serve_apps.gateway:build_app``) and
deploy it with :func:`rayops.serving.deploy`, ``serve deploy serve_apps/rayops.yaml``
or ``rayops serve``. Each replica runs a :class:`GatewayService` (routing
snapshot, model cache, logs) behind the FastAPI app of :mod:`rayops.serving.api`.

Example:
    >>> from ray import serve  # doctest: +SKIP
    >>> serve.run(build_app({"storage": "s3://bucket/rayops"}), name="rayops")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from ray import serve
from ray.serve import Application

from rayops.config import Settings

__all__ = ["APP_NAME", "Gateway", "GatewayArgs", "build_app", "deploy_gateway", "gateway_api"]

#: The Serve application name rayops deploys under.
APP_NAME = "rayops"

logger = logging.getLogger(__name__)


class GatewayArgs(BaseModel):
    """Arguments of the gateway application (``serve run ... key=value`` or YAML ``args``)."""

    model_config = ConfigDict(extra="forbid")

    storage: str | None = Field(default=None, description="Storage root; default RAYOPS_STORAGE.")
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="Overrides of rayops Settings fields (the rest come from RAYOPS_* env vars).",
    )
    num_replicas: int = Field(default=1, ge=1)
    num_cpus: float = Field(default=1.0, ge=0, description="CPUs reserved per replica.")
    max_ongoing_requests: int = Field(default=64, ge=1)
    # Serve's default health check period is 10 s: a killed replica went unnoticed (and
    # unreplaced) for up to 10 s. The check is a thread-alive test, cheap at 2 s (issue 14).
    health_check_period_s: float = Field(
        default=2.0, gt=0, description="Seconds between Serve's health checks of a replica."
    )
    health_check_timeout_s: float = Field(
        default=30.0, gt=0, description="Seconds a health check may take before it fails."
    )


@serve.deployment(name="Gateway")
@serve.ingress()
class Gateway:
    """One gateway replica: a GatewayService and its HTTP API."""

    def __init__(self, settings: dict[str, Any]) -> None:
        from rayops.serving.metrics import GatewayMetrics
        from rayops.serving.service import GatewayService

        self._service = GatewayService(Settings(**settings), metrics=GatewayMetrics())
        self._service.start()

    def __serve_build_asgi_app__(self) -> Any:
        return gateway_api(self._service)

    def check_health(self) -> None:
        if not self._service.healthy():
            raise RuntimeError("The routing watcher thread stopped.")

    def __del__(self) -> None:
        service = getattr(self, "_service", None)
        if service is not None:
            service.close()


def gateway_api(service: Any) -> Any:
    """The FastAPI app a gateway replica serves: the endpoints' API and the dashboard."""
    from rayops.analytics.web import mount_dashboard
    from rayops.serving.api import create_api

    return create_api(service, extensions=[mount_dashboard])


def build_app(args: dict[str, Any] | GatewayArgs | None = None) -> Application:
    """The gateway application from ``args`` (see :class:`GatewayArgs`).

    Example:
        >>> serve.run(build_app({"storage": "/data/rayops", "num_cpus": 0.5}),  # doctest: +SKIP
        ...           name=APP_NAME, route_prefix="/")
    """
    parsed = args if isinstance(args, GatewayArgs) else GatewayArgs.model_validate(args or {})
    settings = dict(parsed.settings)
    if parsed.storage is not None:
        settings["storage"] = parsed.storage
    Settings(**settings)  # fail here, not in every replica, on a bad setting
    deployment: Any = Gateway  # @serve.deployment turned the class into a Deployment
    app: Application = deployment.options(
        num_replicas=parsed.num_replicas,
        max_ongoing_requests=parsed.max_ongoing_requests,
        health_check_period_s=parsed.health_check_period_s,
        health_check_timeout_s=parsed.health_check_timeout_s,
        ray_actor_options={"num_cpus": parsed.num_cpus},
    ).bind(settings)
    return app


def deploy_gateway(
    storage: str | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    replicas: int = 1,
    num_cpus: float = 1.0,
    settings: dict[str, Any] | None = None,
) -> str:
    """Start Serve's HTTP proxy on ``host:port`` and deploy the gateway; returns its URL.

    Needs a Ray session (the caller starts it). Redeploying replaces the running app.
    """
    serve.start(http_options={"host": host, "port": port})
    app = build_app(
        {"storage": storage, "num_replicas": replicas, "num_cpus": num_cpus,
         "settings": settings or {}}
    )  # fmt: skip
    serve.run(app, name=APP_NAME, route_prefix="/")
    return f"http://{host}:{port}"
