"""A throwaway one-node Ray cluster with a dashboard (the Jobs API), for job tests.

It is a separate cluster (own ports, own --temp-dir), started with
``ray start --head --block`` in its own process group, so stopping it (SIGTERM
to that group) never touches the session's shared cluster or anyone else's Ray
processes, as a machine-wide ``ray stop`` would.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import requests
from harness import free_port, processes_naming, wait_until

RAY = str(Path(sys.executable).with_name("ray"))


def head_env() -> dict[str, str]:
    """The environment of the head node and of `ray job submit` against it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    # A throwaway cluster bound to 127.0.0.1: no token auth, so the test needs no
    # credentials (a real cluster keeps Ray's default token authentication).
    env["RAY_AUTH_MODE"] = "disabled"
    # `python` in a job's entrypoint is this interpreter, as in an activated venv.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@contextmanager
def head_node(
    num_cpus: int = 2, *, gcs: list[str] | None = None, env: dict[str, str] | None = None
) -> Iterator[str]:
    """Start the cluster; yields the HTTP address of its dashboard (the Jobs API).

    ``gcs``, when given, receives the cluster's address for ``ray.init`` / ``--address``;
    ``env`` is added to the head's environment (every worker process inherits it)."""
    temp_dir = tempfile.mkdtemp(prefix="rj", dir="/tmp")  # short: socket paths are limited
    # Serve's HAProxy (the `rayops serve` default) runs detached from the cluster's process
    # group and outlives it: its files go to a directory of this cluster's own, so that its
    # processes are the ones whose command line names it.
    haproxy_dir = tempfile.mkdtemp(prefix="hpx", dir="/tmp")
    haproxy = {
        "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": f"{haproxy_dir}/haproxy.cfg",
        "RAY_SERVE_HAPROXY_SOCKET_PATH": f"{haproxy_dir}/admin.sock",
        "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": haproxy_dir,
        "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": f"{haproxy_dir}/server-state",
    }
    port, dash, agent = free_port(), free_port(), free_port()
    proc = subprocess.Popen(
        [RAY, "start", "--head", "--block", f"--port={port}", f"--num-cpus={num_cpus}",
         "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}",
         # The agent's HTTP port defaults to 52365: another cluster on this machine
         # may hold it, and then the Jobs API has "no available agent".
         f"--dashboard-agent-listen-port={agent}",
         f"--temp-dir={temp_dir}", "--disable-usage-stats"],
        env={**head_env(), **haproxy, **(env or {})}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    address = f"http://127.0.0.1:{dash}"
    if gcs is not None:
        gcs.append(f"127.0.0.1:{port}")

    def jobs_api_up() -> bool:
        try:
            return requests.get(f"{address}/api/jobs/", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    try:
        assert wait_until(jobs_api_up, timeout=90, interval=1.0), "head node did not start"
        yield address
    finally:
        # Only this cluster's process group: `ray stop` would kill every Ray on the machine.
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # gcs, raylet and workers of the group
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)
        for pid in processes_naming(haproxy_dir):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(temp_dir, ignore_errors=True)
        shutil.rmtree(haproxy_dir, ignore_errors=True)
