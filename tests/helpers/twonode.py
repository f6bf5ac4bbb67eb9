"""A throwaway 2-node Ray cluster on this machine, where rayops is NOT installed.

The head (``ray start --head``, its own ports and ``--temp-dir``, a dashboard for
the Jobs API) and a worker node (``ray start --address=...`` with a custom
resource ``worker_node``) each get one CPU and run in their own process group, so
killing the worker node (SIGKILL to its group: raylet, object store, workers) is a
real node death that touches no other Ray on the machine, and stopping the
cluster never needs ``ray stop``.

Both nodes run a *clean* interpreter: a venv whose only entry is this venv's
site-packages directory, added without running its ``.pth`` files, so Ray,
XGBoost and pyarrow import but rayops (an editable install, i.e. a ``.pth``)
does not. rayops reaches the cluster only through a job's or a driver's
``runtime_env`` (``py_modules``), as on a cluster that never installed it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import requests
from harness import free_port, processes_naming, wait_until

#: The custom resource only the worker node has (pins work to it in tests).
WORKER_RESOURCE = "worker_node"


def clean_python(root: Path) -> Path:
    """A venv interpreter that sees this venv's packages except rayops."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    purelib = sysconfig.get_paths()["purelib"]
    site = next((root / "lib").glob("python3*/site-packages"))
    # A path line in a .pth adds the directory; the .pth files inside it are not run,
    # so the editable install's path to platform/ never gets onto sys.path.
    (site / "shared-packages.pth").write_text(purelib + "\n")
    python = root / "bin" / "python"
    probe = subprocess.run([str(python), "-c", "import rayops"], capture_output=True, text=True)
    assert probe.returncode != 0, "the clean interpreter must not import rayops"
    return python


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group, then SIGKILL to whatever is left of it."""
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            pass


class TwoNodeCluster:
    """Start with :meth:`start`; ``address`` (GCS), ``dashboard`` (Jobs API), ``env``."""

    def __init__(self, env: dict[str, str]) -> None:
        self.temp_dir = tempfile.mkdtemp(prefix="r2n", dir="/tmp")  # short: socket paths
        self.python = clean_python(Path(self.temp_dir) / "py")
        self.port, dash = free_port(), free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.dashboard = f"http://127.0.0.1:{dash}"
        self.env = {k: v for k, v in env.items() if not k.startswith("RAY_")}
        self.env.update(
            RAY_USAGE_STATS_ENABLED="0",
            RAY_AUTH_MODE="disabled",  # 127.0.0.1 only; a real cluster keeps its tokens
            # A dead node is declared dead after ~3 s of missed health checks (Ray's
            # default is ~15 s), so the chaos tests wait for recovery, not for detection.
            RAY_health_check_period_ms="1000",
            RAY_health_check_timeout_ms="1000",
            RAY_health_check_failure_threshold="3",
            # `python` in a job's entrypoint is the clean interpreter.
            PATH=f"{self.python.parent}{os.pathsep}{env.get('PATH', '')}",
        )
        self._dash_port = dash
        self._log = open(Path(self.temp_dir) / "nodes.log", "ab")  # noqa: SIM115
        self.head: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self._dead: set[str] = set()

    def _ray(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [str(self.python), "-m", "ray.scripts.scripts", "start", "--block",
             "--num-cpus=1", "--disable-usage-stats",
             f"--dashboard-agent-listen-port={free_port()}", *args],
            env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def start(self) -> TwoNodeCluster:
        self.head = self._ray(
            "--head", f"--port={self.port}", f"--temp-dir={self.temp_dir}",
            "--include-dashboard=true", "--dashboard-host=127.0.0.1",
            f"--dashboard-port={self._dash_port}", f"--ray-client-server-port={free_port()}",
        )  # fmt: skip

        def jobs_api_up() -> bool:
            try:
                return requests.get(f"{self.dashboard}/api/jobs/", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        assert wait_until(jobs_api_up, timeout=120, interval=1.0), "head node did not start"
        self.start_worker()
        return self

    def alive_nodes(self) -> list[str]:
        """Ids of the cluster's alive nodes (Ray's state API on the dashboard)."""
        from ray.util.state import list_nodes

        try:
            nodes = list_nodes(address=self.dashboard, limit=1000, timeout=10,
                               raise_on_missing_output=False)  # fmt: skip
        except Exception:  # the dashboard is still starting, or too busy to answer in time
            return []
        return [n.node_id for n in nodes if n.state == "ALIVE"]

    def _log_tail(self) -> str:
        self._log.flush()
        return (Path(self.temp_dir) / "nodes.log").read_text(errors="replace")[-2000:]

    def start_worker(self) -> None:
        """Start (or replace) the worker node and wait until the cluster has two nodes."""
        self.worker = self._ray(
            f"--address={self.address}", f'--resources={{"{WORKER_RESOURCE}": 1}}'
        )
        worker = self.worker

        def joined() -> bool:
            if worker.poll() is not None:  # `ray start` gave up: no point in waiting
                raise AssertionError(f"the worker node exited: {self._log_tail()}")
            # A killed node stays "alive" until its heartbeats are missed: do not count it.
            return len(set(self.alive_nodes()) - self._dead) == 2

        # Under both CI tiers' load, with a Train job recovering on the 1-CPU head, the
        # dashboard that answers the node list once took over 90 s.
        assert wait_until(joined, timeout=240, interval=1.0), (
            f"the worker node did not join: {self._log_tail()}"
        )

    def kill_worker(self) -> None:
        """A node death: SIGKILL to every process of the worker node at once."""
        assert self.worker is not None
        self._dead.add(self.worker_node_id())
        os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait(timeout=10)
        self.worker = None

    def worker_node_id(self) -> str:
        """The id of the (current) worker node."""
        from ray.util.state import list_nodes

        nodes = list_nodes(address=self.dashboard, limit=1000, raise_on_missing_output=False)
        (worker,) = [
            n.node_id for n in nodes
            if n.state == "ALIVE" and not n.is_head_node and n.node_id not in self._dead
        ]  # fmt: skip
        return worker

    def stop(self) -> None:
        for proc in (self.worker, self.head):
            if proc is not None:
                _kill_group(proc)
        # Workers Ray started in sessions of their own: ours by their temp dir, by pid.
        for pid in processes_naming(self.temp_dir):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._log.close()
        shutil.rmtree(self.temp_dir, ignore_errors=True)
