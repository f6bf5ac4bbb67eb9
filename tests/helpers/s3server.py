"""Run moto's standalone S3 server as a child process on 127.0.0.1.

It runs through ``moto_atomic.py``, which makes moto's conditional PUT atomic as
on AWS S3 and MinIO; nothing else about moto changes.

A separate process (not an in-process mock) so that tests exercise real HTTP,
can be killed to simulate an outage, and restarted on the same port.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import requests

# moto's server with atomic conditional writes, as real S3 servers have (see the module).
_MOTO = Path(__file__).with_name("moto_atomic.py")


class S3Server:
    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host, self.port = host, port
        self.endpoint = f"http://{host}:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(_MOTO), "-H", self.host, "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto server exited with code {self.proc.returncode}")
            try:
                requests.get(self.endpoint, timeout=0.5)
                return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError(f"moto server did not answer on {self.endpoint} in {timeout}s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def create_bucket(self, name: str) -> None:
        import boto3

        boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1").create_bucket(
            Bucket=name
        )
