"""Shared fixtures: one Ray cluster and one S3-compatible server per test session.

Nothing here mocks Ray, S3 or HTTP: the S3 server is moto's standalone server
(a separate process speaking S3 over HTTP on 127.0.0.1), the same way MinIO or
AWS would be reached through an endpoint URL.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Helper modules (worker functions for process pools) live next to this file.
sys.path.insert(0, str(Path(__file__).parent / "helpers"))

from harness import BUCKET, free_port  # noqa: E402
from s3server import S3Server  # noqa: E402

from rayops.config import Settings  # noqa: E402

# Fake credentials for the local S3 server (moto accepts any; real servers need
# real ones), and no waiting on the EC2 metadata service that is not there.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "rayops-test")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "rayops-test-secret")
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
from rayops.storage import Storage, open_storage  # noqa: E402


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A real S3-compatible server (moto, standalone process) with one bucket."""
    server = S3Server(port=free_port())
    server.start()
    server.create_bucket(BUCKET)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_settings(s3_server: S3Server) -> Settings:
    return Settings(s3_endpoint_url=s3_server.endpoint, s3_region="us-east-1")


@pytest.fixture
def s3_uri(s3_server: S3Server) -> str:
    """A fresh, empty prefix in the test bucket."""
    return f"s3://{BUCKET}/t-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    """The same test against a local directory and against the S3 server."""
    if request.param == "local":
        return open_storage(str(tmp_path / "root"))
    settings = request.getfixturevalue("s3_settings")
    return open_storage(request.getfixturevalue("s3_uri"), settings)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[object]:
    """One local Ray cluster (2 CPUs) shared by every Ray-backed test."""
    import ray

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        runtime_env={"env_vars": {"AWS_EC2_METADATA_DISABLED": "true"}},
    )
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def head_node() -> Iterator[str]:
    """A separate one-node Ray cluster with a dashboard (the Jobs API), for `ray job
    submit` tests; yields its HTTP address. Started on first use, once per session."""
    from headnode import head_node as start_head_node

    with start_head_node() as address:
        yield address


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
