"""A private local Ray cluster for CLI commands, when the default ports are taken.

``ray.init()`` starts a local cluster whose dashboard agent (which runs Ray Jobs)
listens on the fixed port 52365. When another Ray instance on this machine
already holds it — a notebook's ``ray.init()``, a test run — the new cluster
starts without a job agent and every ``ray job submit`` fails with "No available
agent". :func:`private_cluster` then starts the head with ``ray start --head`` on
free ports instead, in its own process group, and stops exactly that group at
the end (never ``ray stop``, which would stop every Ray on the machine).
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rayops.errors import RayopsError
from rayops.ports import free_port, port_free

__all__ = ["DEFAULT_AGENT_PORT", "port_free", "private_cluster", "stop_serve"]

#: Ray's default dashboard-agent HTTP port (ray_constants.DEFAULT_DASHBOARD_AGENT_LISTEN_PORT).
DEFAULT_AGENT_PORT = 52365


def _refresh_ray_config() -> None:
    """Make this process's Ray core re-read ``RAY_AUTH_MODE``/``RAY_AUTH_TOKEN``.

    Ray caches its config when ``ray`` is imported; ``ray.init(address=...)`` to an
    explicit address never turns token mode on by itself. This is what Ray's own
    token setup does (``authentication_token_setup._enable_token_auth``).
    """
    from ray._raylet import Config  # type: ignore[attr-defined]

    Config.initialize("")


@contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send this process's fd 1 (Python's and native code's writes) to fd 2 for a while."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def stop_serve() -> None:
    """Shut Serve down on the connected cluster, if it runs there, before the cluster stops.

    Serve's HAProxy ingress runs the ``haproxy`` binary as a child of its manager actor.
    Stopping the cluster kills the actor, not that child, which would live on holding
    the HTTP port; ``serve.shutdown()`` stops it. Only for clusters this process started.
    """
    import ray

    if not ray.is_initialized():
        return
    from ray.serve._private.constants import SERVE_CONTROLLER_NAME, SERVE_NAMESPACE

    try:
        ray.get_actor(SERVE_CONTROLLER_NAME, namespace=SERVE_NAMESPACE)
    except ValueError:  # Serve never started here
        return
    from ray import serve

    try:
        # Ray's core logs the controller's death to fd 1 ("...will be retried"): keep it
        # off stdout, which may carry a command's --json answer.
        with stdout_to_stderr():
            serve.shutdown()  # type: ignore[no-untyped-call]
    except Exception as e:  # the cluster stops anyway: say so, do not mask the real error
        logging.getLogger(__name__).warning("Serve did not shut down cleanly: %s", e)


def with_this_python(env: dict[str, str]) -> dict[str, str]:
    """``env`` with this interpreter's directory first on ``PATH``.

    A Ray job's entrypoint runs ``python`` from the cluster's PATH
    (:func:`rayops.runtime_env.module_entrypoint`). On a cluster the CLI starts
    itself, that must be the interpreter the CLI runs in (its virtualenv, which has
    Ray), even when the user called ``.venv/bin/rayops`` without activating it.
    """
    bindir = str(Path(sys.executable).parent)
    rest = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != bindir]
    return {**env, "PATH": os.pathsep.join([bindir, *rest])}


@contextmanager
def private_cluster(
    num_cpus: int | None = None, timeout_s: float = 120.0, env: dict[str, str] | None = None
) -> Iterator[str]:
    """Start a one-node cluster on free ports and join it (``ray.init``); yields its address.

    ``env`` is added to the head's environment, which every worker process inherits
    (e.g. Serve's ingress variables, :mod:`rayops.apps.ingress`).
    """
    import ray

    temp_dir = tempfile.mkdtemp(prefix="rayops-", dir="/tmp")  # short: socket paths are limited
    port, dashboard, agent = free_port(), free_port(), free_port()
    ray_exe = str(Path(sys.executable).with_name("ray"))
    cmd = [
        ray_exe, "start", "--head", "--block", f"--port={port}", "--include-dashboard=true",
        "--node-ip-address=127.0.0.1",
        "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}",
        f"--dashboard-agent-listen-port={agent}", f"--ray-client-server-port={free_port()}",
        f"--temp-dir={temp_dir}", "--disable-usage-stats",
        *([f"--num-cpus={num_cpus}"] if num_cpus else []),
    ]  # fmt: skip
    # Ray >= 2.59 authenticates local clusters with a token; the shared default file
    # (~/.ray/auth_token) may belong to the other cluster. This cluster gets a token of
    # its own, given to the head (and so to its workers) and to this driver.
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    saved = {k: os.environ.get(k) for k in auth}
    os.environ.update(auth)
    _refresh_ray_config()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env=with_this_python({**os.environ, **(env or {})}),
    )  # fmt: skip
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    try:
        while True:  # the driver can join once the head's GCS and raylet are up
            if proc.poll() is not None:
                raise RayopsError(f"`ray start --head` exited with code {proc.returncode}.")
            try:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
                break
            except ConnectionError:
                if time.monotonic() > deadline:
                    raise RayopsError("A local Ray head did not start in time.") from None
                time.sleep(1.0)
        yield address
    finally:
        if ray.is_initialized():
            stop_serve()
            with stdout_to_stderr():
                ray.shutdown()
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        _refresh_ray_config()
