"""Run ``mlflow server`` as a child process on 127.0.0.1, the way a team would host one.

A SQLite backend store (MLflow's recommended local database) and an artifact
root the server proxies over HTTP (``--artifacts-destination``): clients reach
runs, the model registry and the model files only through the REST API, never
through the file system. Job execution (which needs ``huey``) is off.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests


class MlflowServer:
    def __init__(self, root: Path, port: int, host: str = "127.0.0.1") -> None:
        self.root, self.host, self.port = root, host, port
        self.url = f"http://{host}:{port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = root / "server.log"

    def start(self, timeout: float = 180.0) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        }
        cmd = [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}",
            "--artifacts-destination", str(self.root / "artifacts"),
            "--host", self.host, "--port", str(self.port), "--workers", "1",
        ]  # fmt: skip
        with self.log.open("wb") as out:
            # Its own session: stop() ends the server and any worker it started, nothing else.
            self.proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"mlflow server exited with code {self.proc.returncode}:\n"
                    + self.log.read_text()[-3000:]
                )
            try:
                if requests.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"mlflow server did not answer on {self.url} in {timeout}s")

    def stop(self) -> None:
        if self.proc is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break  # the whole group is gone
            try:
                self.proc.wait(15)
                break
            except subprocess.TimeoutExpired:
                continue
        self.proc = None
