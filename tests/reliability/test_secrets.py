"""Credentials never appear in error messages or logs of failing operations.

The S3 secret key (from the AWS chain) and the API token are set to unique values; then
operations fail against a cut network, a missing bucket and a gateway that is down. Every
exception (with its whole chain, as a traceback prints it), everything logged at DEBUG and
above, and the CLI's output are searched for the secrets.

(``rayops config`` hiding the token is tests/test_cli.py::test_api_token_is_never_printed;
every HTTP answer and every log of a Ray cluster running the gateway with a token are
searched in tests/reliability/test_http_surface.py.)
"""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import pytest
import xgboost as xgb
from harness import BUCKET, free_port
from s3server import S3Server
from tcpproxy import TcpProxy
from typer.testing import CliRunner

import rayops
from rayops.cli import app
from rayops.config import Settings
from rayops.errors import RayopsError
from rayops.features import FeatureStore
from rayops.registry import Registry
from rayops.storage import open_storage

SECRET_KEY = f"s3-secret-{uuid.uuid4().hex}"
ACCESS_KEY = f"AKIA{uuid.uuid4().hex[:16].upper()}"
TOKEN = f"api-token-{uuid.uuid4().hex}"


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("RAYOPS_API_TOKEN", TOKEN)
    caplog.set_level(logging.DEBUG)  # botocore, urllib3, rayops: everything
    yield
    format = logging.Formatter("%(name)s %(message)s").format  # with any traceback logged
    logged = "\n".join(format(r) for r in caplog.get_records("call"))
    assert logged, "nothing was logged: the capture is not working"
    assert SECRET_KEY not in logged and TOKEN not in logged


def _failure_text(call: Callable[[], Any]) -> str:
    with pytest.raises(RayopsError) as caught:
        call()
    text = "".join(traceback.format_exception(caught.value))  # the chain, as printed
    return f"{caught.value}\n{caught.value!r}\n{text}"


def _assert_clean(text: str) -> None:
    assert SECRET_KEY not in text and TOKEN not in text
    assert ACCESS_KEY not in text  # the key id is not secret, but no message needs it


def test_storage_failures_name_no_credentials(secrets: None, s3_server: S3Server) -> None:
    proxy = TcpProxy(s3_server.port)
    try:
        settings = Settings(s3_endpoint_url=proxy.endpoint, s3_region="us-east-1")
        storage = open_storage(f"s3://{BUCKET}/secrets-{uuid.uuid4().hex[:8]}", settings)
        df = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [1.0, 2.0, 3.0]})
        booster = xgb.train({"nthread": 1}, xgb.DMatrix(df[["x"]], label=df["y"]), 1)
        proxy.cut()
        texts = [
            _failure_text(lambda: FeatureStore(storage).write("fs", df)),
            _failure_text(lambda: FeatureStore(storage).read("fs@1")),
            _failure_text(lambda: Registry(storage).register("m", booster)),
            _failure_text(lambda: Registry(storage).load("m@1.0.0")),
        ]
        proxy.restore()
        proxy.cut_after(200)  # mid-request this time
        texts.append(_failure_text(lambda: Registry(storage).register("m", booster)))
    finally:
        proxy.close()
    missing = open_storage(
        "s3://no-such-bucket-rayops/x",
        Settings(s3_endpoint_url=s3_server.endpoint, s3_region="us-east-1"),
    )
    texts.append(_failure_text(lambda: FeatureStore(missing).write("fs", df)))
    assert "Cannot reach the S3 endpoint" in texts[0] and "does not exist" in texts[-1]
    for text in texts:
        _assert_clean(text)


def test_gateway_client_failures_name_no_token(secrets: None, tmp_path: Any) -> None:
    client = rayops.Client(str(tmp_path), url=f"http://127.0.0.1:{free_port()}", retries=1)
    assert client.token == TOKEN  # taken from RAYOPS_API_TOKEN
    _assert_clean(repr(client))
    _assert_clean(_failure_text(lambda: client.predict("e", [{"x": 1.0}])))
    _assert_clean(_failure_text(lambda: client.feedback("e", "r", [1.0])))
    settings = Settings()
    _assert_clean(f"{settings!r} {settings} {settings.model_dump_json()} {settings.describe()}")


def test_cli_failures_print_no_credentials(secrets: None, s3_server: S3Server) -> None:
    proxy = TcpProxy(s3_server.port)
    proxy.cut()
    try:
        result = CliRunner().invoke(
            app,
            ["features", "list", "--json", "--storage", f"s3://{BUCKET}/cli"],
            env={"RAYOPS_S3_ENDPOINT_URL": proxy.endpoint, "RAYOPS_S3_REGION": "us-east-1"},
        )
    finally:
        proxy.close()
    assert result.exit_code != 0 and "Cannot reach the S3 endpoint" in result.output
    _assert_clean(result.output + (result.stderr if result.stderr_bytes else ""))
