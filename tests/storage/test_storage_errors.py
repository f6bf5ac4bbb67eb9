"""Storage failures become rayops errors that name the URI and say what to check."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from harness import BUCKET, free_port

from rayops.config import Settings
from rayops.errors import (
    InvalidInputError,
    StorageError,
    StoragePermissionError,
    StorageUnavailableError,
)
from rayops.storage import open_storage
from rayops.storage.local import LocalStorage
from rayops.storage.s3 import S3Storage


def test_unreachable_s3_endpoint_fails_clearly_within_10_seconds() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    storage = open_storage("s3://some-bucket/pre", Settings(s3_endpoint_url=endpoint))
    for op in (
        lambda: storage.read_bytes("a.json"),
        lambda: storage.put_if_absent("a.json", b"x"),
        lambda: storage.list_keys("a/"),
        storage.check,
    ):
        started = time.monotonic()
        with pytest.raises(StorageUnavailableError) as info:
            op()
        assert time.monotonic() - started < 10
        assert "s3://some-bucket/pre" in str(info.value)
        assert endpoint in str(info.value)
        assert "AWS_ENDPOINT_URL" in str(info.value)


def test_unreachable_endpoint_on_parquet_write_is_clear(tmp_path: Path) -> None:
    import pyarrow as pa

    endpoint = f"http://127.0.0.1:{free_port()}"
    storage = open_storage("s3://some-bucket", Settings(s3_endpoint_url=endpoint))
    started = time.monotonic()
    with pytest.raises(StorageUnavailableError, match="Cannot reach"):
        storage.write_parquet("x.parquet", pa.table({"a": [1]}))
    assert time.monotonic() - started < 10


def test_missing_bucket_is_reported(s3_settings: Settings) -> None:
    storage = open_storage("s3://no-such-bucket-here/x", s3_settings)
    with pytest.raises(StorageUnavailableError, match="no-such-bucket-here.*does not exist"):
        storage.check()
    with pytest.raises(StorageUnavailableError, match="does not exist"):
        storage.write_bytes("a.json", b"{}")


def test_missing_credentials_are_reported(
    s3_settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    storage = open_storage(f"s3://{BUCKET}/x", s3_settings)
    with pytest.raises(StoragePermissionError, match="credentials"):
        storage.read_bytes("a.json")


def test_secret_never_appears_in_errors(
    s3_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "TOP-SECRET-VALUE-123")
    endpoint = f"http://127.0.0.1:{free_port()}"
    storage = open_storage("s3://b", Settings(s3_endpoint_url=endpoint))
    with pytest.raises(StorageUnavailableError) as info:
        storage.read_bytes("k")
    assert "TOP-SECRET-VALUE-123" not in str(info.value)
    assert "TOP-SECRET-VALUE-123" not in repr(storage)


def test_uri_schemes(tmp_path: Path) -> None:
    assert isinstance(open_storage(str(tmp_path)), LocalStorage)
    local = open_storage(f"file://{tmp_path}/x")
    assert isinstance(local, LocalStorage) and local.uri == f"{tmp_path}/x"
    s3 = open_storage("s3://bucket/a/b/", Settings())
    assert isinstance(s3, S3Storage) and (s3.bucket, s3.prefix) == ("bucket", "a/b")
    with pytest.raises(InvalidInputError, match="Unsupported storage URI"):
        open_storage("gs://bucket/x")


def test_default_storage_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RAYOPS_STORAGE", str(tmp_path / "env-root"))
    assert open_storage().uri == str(tmp_path / "env-root")


def test_local_root_blocked_by_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    storage = open_storage(str(tmp_path / "file"))
    with pytest.raises(StorageError, match="RAYOPS_STORAGE"):
        storage.write_bytes("a/b.json", b"{}")
    with pytest.raises(StorageError, match="RAYOPS_STORAGE"):
        storage.put_if_absent("a/b.json", b"{}")
    assert (tmp_path / "file").read_text() == "x"
