"""The control loop as a one-replica Ray Serve deployment.

Serve keeps exactly one replica of :class:`Controller` alive and restarts it
when it dies or fails its health check (the loop thread stopped, or no pass
finished for a minute). The replica has no HTTP route; it is reached through
its deployment handle (``rayops controller status``) and otherwise just runs
:class:`~rayops.control.loop.ControlLoop` over the tasks of
:func:`~rayops.control.tasks.default_tasks`.

Example:
    >>> from ray import serve  # doctest: +SKIP
    >>> serve.run(build_controller_app({"storage": "s3://bucket/rayops"}),  # doctest: +SKIP
    ...           name=CONTROLLER_APP, route_prefix=None)
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from ray import serve
from ray.serve import Application

from rayops.config import Settings

__all__ = [
    "CONTROLLER_APP",
    "Controller",
    "ControllerArgs",
    "build_controller_app",
    "controller_handle",
    "deploy_controller",
]

#: The Serve application name of the control loop.
CONTROLLER_APP = "rayops-controller"


class ControllerArgs(BaseModel):
    """Arguments of the controller application (``serve run`` key=value or YAML ``args``)."""

    model_config = ConfigDict(extra="forbid")

    storage: str | None = Field(default=None, description="Storage root; default RAYOPS_STORAGE.")
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="Overrides of rayops Settings fields (the rest come from RAYOPS_* env vars).",
    )
    tasks: list[str] | None = Field(
        default=None, description="Names of the tasks to run; default every task."
    )
    num_cpus: float = Field(
        default=0.0,
        ge=0,
        description=(
            "CPUs reserved for the replica. Default 0: the loop mostly waits on storage (and "
            "runs one-thread online updates), and a reservation would only keep retrain "
            "jobs off the CPUs they need (rayops.automation.resources)."
        ),
    )


@serve.deployment(name="Controller", num_replicas=1, health_check_period_s=5)
class Controller:
    """The one replica that runs the control loop."""

    def __init__(self, settings: dict[str, Any], tasks: list[str] | None = None) -> None:
        from rayops.control.loop import ControlLoop
        from rayops.control.tasks import default_tasks
        from rayops.storage import open_storage

        parsed = Settings(**settings)
        storage = open_storage(parsed.storage, parsed)
        self._loop = ControlLoop(  # the tasks write through the loop's fenced view
            storage, lambda fenced: default_tasks(fenced, parsed, names=tasks), settings=parsed
        )
        self._loop.start()

    def check_health(self) -> None:
        if not self._loop.alive():
            raise RuntimeError("The control loop thread stopped or is stuck.")

    def status(self) -> dict[str, Any]:
        """The loop's holder, leadership and each task's last result."""
        return self._loop.status()

    def run_once(self) -> dict[str, Any]:
        """Run every task now (if this replica holds the lease)."""
        return self._loop.run_once(force=True)

    def __del__(self) -> None:
        loop = getattr(self, "_loop", None)
        if loop is not None:
            loop.stop()


def build_controller_app(args: dict[str, Any] | ControllerArgs | None = None) -> Application:
    """The controller application from ``args`` (see :class:`ControllerArgs`)."""
    parsed = args if isinstance(args, ControllerArgs) else ControllerArgs.model_validate(args or {})
    settings = dict(parsed.settings)
    if parsed.storage is not None:
        settings["storage"] = parsed.storage
    Settings(**settings)  # fail here, not in the replica, on a bad setting
    if parsed.tasks is not None:
        from rayops.control.tasks import TASKS

        unknown = sorted(set(parsed.tasks) - set(TASKS))
        if unknown:
            from rayops.errors import InvalidInputError

            raise InvalidInputError(f"Unknown control tasks {unknown}; known: {sorted(TASKS)}.")
    deployment: Any = Controller
    app: Application = deployment.options(ray_actor_options={"num_cpus": parsed.num_cpus}).bind(
        settings, parsed.tasks
    )
    return app


def deploy_controller(
    storage: str | None = None,
    *,
    settings: dict[str, Any] | None = None,
    tasks: list[str] | None = None,
    num_cpus: float = 0.0,
) -> None:
    """Deploy (or redeploy) the controller application on the current Ray session."""
    app = build_controller_app(
        {"storage": storage, "settings": settings or {}, "tasks": tasks, "num_cpus": num_cpus}
    )
    serve.run(app, name=CONTROLLER_APP, route_prefix=None)


def controller_handle() -> Any:
    """The deployment handle of the running controller (``handle.status.remote()``)."""
    return serve.get_deployment_handle("Controller", app_name=CONTROLLER_APP)
