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
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from ray import serve
from ray.serve import Application

from rayops.apps.ingress import Ingress
from rayops.config import Settings
from rayops.errors import InvalidInputError

__all__ = [
    "APP_NAME",
    "Gateway",
    "GatewayArgs",
    "Ingress",
    "build_app",
    "deploy_gateway",
    "gateway_api",
    "start_serve",
]

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
    num_replicas: int | Literal["auto"] | None = Field(
        default=None,
        description=(
            "Replicas: a number, or 'auto' for Serve's autoscaling (its defaults, overridden "
            "by autoscaling_config). Default 1, or autoscaled when autoscaling_config is set."
        ),
    )
    autoscaling_config: dict[str, Any] | None = Field(
        default=None,
        description=(
            "Serve's autoscaling_config (min_replicas, max_replicas, target_ongoing_requests, "
            "...); not together with a number of replicas."
        ),
    )
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
    graceful_shutdown_wait_loop_s: float = Field(
        default=2.0,
        gt=0,
        description=(
            "Seconds a stopping replica waits before it checks, and between checks, that its "
            "requests have finished (Serve's option; its default 2 s gives the proxies time "
            "to stop routing to it). A delete or scale-down takes at least this long."
        ),
    )

    @field_validator("num_replicas", mode="before")
    @classmethod
    def _count_or_auto(cls, v: Any) -> Any:
        if isinstance(v, str) and v.strip().isdigit():
            v = int(v)
        if v is None or v == "auto" or (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
            return v
        raise ValueError(f"must be a number of replicas (>= 1) or 'auto', not {v!r}")

    @model_validator(mode="after")
    def _one_way_to_size(self) -> GatewayArgs:
        n = self.num_replicas
        if isinstance(n, int) and self.autoscaling_config is not None:
            raise ValueError(
                f"num_replicas={n} and autoscaling_config both size the gateway: give one "
                "(num_replicas='auto' with autoscaling_config autoscales within its bounds)"
            )
        if self.autoscaling_config is not None:
            from ray.serve.config import AutoscalingConfig

            unknown = sorted(set(self.autoscaling_config) - set(AutoscalingConfig.model_fields))
            if unknown:
                raise ValueError(
                    f"autoscaling_config has unknown keys {unknown}; Serve's keys are "
                    f"{sorted(AutoscalingConfig.model_fields)}"
                )
            AutoscalingConfig.model_validate(self.autoscaling_config)  # min <= max, ...
        return self

    def replica_options(self) -> dict[str, Any]:
        """The ``num_replicas``/``autoscaling_config`` options for ``Deployment.options``."""
        if self.autoscaling_config is not None:
            options: dict[str, Any] = {"autoscaling_config": dict(self.autoscaling_config)}
            if self.num_replicas == "auto":
                options["num_replicas"] = "auto"
            return options
        return {"num_replicas": 1 if self.num_replicas is None else self.num_replicas}


@serve.deployment(name="Gateway")
@serve.ingress()
class Gateway:
    """One gateway replica: a GatewayService and its HTTP API."""

    def __init__(self, settings: dict[str, Any]) -> None:
        from rayops.serving.metrics import GatewayMetrics
        from rayops.serving.service import GatewayService

        self._service = GatewayService(Settings(**settings), metrics=GatewayMetrics())
        self._service.start()
        freeze_startup_heap()

    def __serve_build_asgi_app__(self) -> Any:
        return gateway_api(self._service)

    def check_health(self) -> None:
        if not self._service.healthy():
            raise RuntimeError("The routing watcher thread stopped.")

    def __del__(self) -> None:
        service = getattr(self, "_service", None)
        if service is not None:
            service.close()


def freeze_startup_heap() -> int:
    """Move every object alive now (modules, the app, the service) out of reach of the
    cyclic garbage collector (:func:`gc.freeze`, after one collection so that no garbage
    is kept); returns how many objects are frozen.

    A replica buffers every request's log entry until the next flush, and those survivors
    set off full collections that walked the whole start-up heap each time: up to 2 µs
    of every 1-row request's log cost (``bench/telemetry.py`` (c)). The start-up objects
    live as long as the replica, so the collector had nothing to gain from them.

    Example:
        >>> import gc
        >>> freeze_startup_heap() > 0 and gc.get_freeze_count() > 0
        True
        >>> gc.unfreeze()
    """
    import gc

    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


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
    try:
        parsed = args if isinstance(args, GatewayArgs) else GatewayArgs.model_validate(args or {})
    except ValidationError as e:
        problems = "; ".join(
            ".".join(map(str, err["loc"][:1])) + (": " if err["loc"] else "")
            + err["msg"].removeprefix("Value error, ")
            for err in e.errors()
        )  # fmt: skip
        raise InvalidInputError(f"Invalid gateway arguments: {problems}.") from None
    settings = dict(parsed.settings)
    if parsed.storage is not None:
        settings["storage"] = parsed.storage
    Settings(**settings)  # fail here, not in every replica, on a bad setting
    deployment: Any = Gateway  # @serve.deployment turned the class into a Deployment
    app: Application = deployment.options(
        **parsed.replica_options(),
        max_ongoing_requests=parsed.max_ongoing_requests,
        health_check_period_s=parsed.health_check_period_s,
        health_check_timeout_s=parsed.health_check_timeout_s,
        graceful_shutdown_wait_loop_s=parsed.graceful_shutdown_wait_loop_s,
        ray_actor_options={"num_cpus": parsed.num_cpus},
    ).bind(settings)
    return app


def start_serve(
    host: str = "127.0.0.1", port: int = 8000, ingress: Ingress | str = Ingress.AUTO
) -> Ingress:
    """Start Serve's HTTP ingress on ``host:port`` in the ``ingress`` mode; returns the mode.

    ``auto`` is HAProxy with direct ingress to the replicas when the HAProxy binary
    runs here, else Serve's default proxy, with one log line that says why. The mode
    is fixed when Serve's controller starts (see :mod:`rayops.apps.ingress`): when
    Serve already runs on the cluster, ``auto`` keeps its mode and an explicit other
    mode is an :class:`~rayops.apps.ingress.IngressMismatchError` saying what to set.
    """
    from rayops.apps.ingress import (
        IngressMismatchError,
        controller_options,
        mismatch_message,
        resolve,
        running_ingress,
    )

    requested = Ingress(ingress)
    running = running_ingress()
    if running is not None:
        if requested not in (Ingress.AUTO, running):
            raise IngressMismatchError(mismatch_message(running, requested))
        serve.start(http_options={"host": host, "port": port})
        return running
    mode, fallback = resolve(requested)
    if fallback is not None:
        logger.warning("Serving with Ray Serve's default proxy, not HAProxy: %s.", fallback)
    serve.start(
        http_options={"host": host, "port": port}, controller_options=controller_options(mode)
    )
    return mode


def deploy_gateway(
    storage: str | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    replicas: int | Literal["auto"] | None = None,
    num_cpus: float = 1.0,
    settings: dict[str, Any] | None = None,
    autoscaling_config: dict[str, Any] | None = None,
    ingress: Ingress | str = Ingress.AUTO,
) -> str:
    """Start Serve's HTTP ingress on ``host:port`` and deploy the gateway; returns its URL.

    Needs a Ray session (the caller starts it). Redeploying replaces the running app.
    ``ingress`` is chosen as :func:`start_serve` says; ``replicas`` and
    ``autoscaling_config`` as :class:`GatewayArgs` says.
    """
    app = build_app(
        {"storage": storage, "num_replicas": replicas, "num_cpus": num_cpus,
         "settings": settings or {}, "autoscaling_config": autoscaling_config}
    )  # fmt: skip
    start_serve(host, port, ingress)
    serve.run(app, name=APP_NAME, route_prefix="/")
    return f"http://{host}:{port}"
