"""Credentials that rotate under a long-lived storage object, against an S3 server that
enforces them.

The server is moto's standalone server (its own process, not the session's) with IAM
authentication switched on after the set-up (``POST /moto-api/reset-auth 0``): from then
on every request must be signed with an access key moto's IAM knows, with a policy that
allows the action. The storage gets its credentials from a ``credential_process`` in an
AWS config file (a shell script printing the current key with a five-minute expiry, so
botocore asks again on every use); the tests rotate the key under it.
"""

from __future__ import annotations

import json
import os
import pickle
import stat
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
import requests
from botocore.exceptions import ClientError
from harness import free_port
from s3server import S3Server

from rayops.config import Settings
from rayops.errors import StoragePermissionError
from rayops.storage import open_storage
from rayops.storage.check import ProbeStatus

BUCKET = "rayops-creds"
ALLOW_ALL = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
S3_ALL = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
}
# A reader: what AWS needs for GET/LIST/HEAD (moto names HEAD on a bucket "HeadBucket").
READ_ONLY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:ListBucket", "s3:HeadBucket"],
            "Resource": "*",
        }
    ],
}


@dataclass
class AuthServer:
    endpoint: str
    admin: dict[str, str]  # AccessKeyId / SecretAccessKey of a user allowed everything
    reader: dict[str, str]  # a user allowed s3:GetObject and s3:ListBucket only

    def client(self, service: str, key: dict[str, str]) -> Any:
        # A fresh session: boto3's default one caches the config file it first read.
        return boto3.session.Session().client(
            service,
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
        )

    def iam(self) -> Any:
        return self.client("iam", self.admin)

    def new_user(self) -> str:
        """A fresh user allowed s3:* and holding no access key yet (AWS allows two)."""
        name = f"app-{uuid.uuid4().hex[:8]}"
        self.iam().create_user(UserName=name)
        self.iam().put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(S3_ALL))
        return name


def _user(iam: Any, name: str, policy: dict[str, Any]) -> dict[str, str]:
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}


@pytest.fixture(scope="module")
def auth_server() -> Iterator[AuthServer]:
    server = S3Server(port=free_port())
    server.start()
    try:
        anyone = {"AccessKeyId": "setup", "SecretAccessKey": "setup"}
        boot = AuthServer(server.endpoint, anyone, anyone)
        boot.client("s3", anyone).create_bucket(Bucket=BUCKET)
        iam = boot.client("iam", anyone)
        admin = _user(iam, "admin", ALLOW_ALL)
        reader = _user(iam, "reader", READ_ONLY)
        # From here on moto checks every request's signature and IAM policy.
        r = requests.post(f"{server.endpoint}/moto-api/reset-auth", data=b"0", timeout=10)
        r.raise_for_status()
        yield AuthServer(server.endpoint, admin, reader)
    finally:
        server.stop()


def test_the_server_really_enforces_credentials(auth_server: AuthServer) -> None:
    unknown = {"AccessKeyId": "AKIANOBODY", "SecretAccessKey": "x"}
    with pytest.raises(ClientError) as info:
        auth_server.client("s3", unknown).list_objects_v2(Bucket=BUCKET)
    assert info.value.response["Error"]["Code"] == "InvalidAccessKeyId"
    forged = {**auth_server.admin, "SecretAccessKey": "wrong"}
    with pytest.raises(ClientError) as info:
        auth_server.client("s3", forged).list_objects_v2(Bucket=BUCKET)
    assert info.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    with pytest.raises(ClientError) as info:
        auth_server.client("s3", auth_server.reader).put_object(Bucket=BUCKET, Key="x", Body=b"")
    assert info.value.response["Error"]["Code"] == "AccessDenied"
    auth_server.client("s3", auth_server.admin).list_objects_v2(Bucket=BUCKET)


class RotatingSource:
    """A ``credential_process`` whose current key the test switches."""

    def __init__(self, folder: Path) -> None:
        self.current = folder / "current.env"
        self.calls = folder / "calls.log"
        self.script = folder / "credentials.sh"
        self.script.write_text(
            "#!/bin/sh\n"
            "set -e\n"
            f". '{self.current}'\n"
            f"echo \"$KEY\" >> '{self.calls}'\n"
            'printf \'{"Version": 1, "AccessKeyId": "%s", "SecretAccessKey": "%s", '
            '"Expiration": "%s"}\' "$KEY" "$SECRET" '
            "\"$(date -u -d '+5 minutes' +%Y-%m-%dT%H:%M:%SZ)\"\n"
        )
        self.script.chmod(self.script.stat().st_mode | stat.S_IXUSR)
        self.config = folder / "config"
        self.config.write_text(f"[profile rotating]\ncredential_process = {self.script}\n")

    def serve(self, key: dict[str, str]) -> None:
        tmp = self.current.with_suffix(".tmp")
        tmp.write_text(f"KEY='{key['AccessKeyId']}'\nSECRET='{key['SecretAccessKey']}'\n")
        os.replace(tmp, self.current)  # the script never sees half a file

    def served(self) -> list[str]:
        return self.calls.read_text().split() if self.calls.exists() else []


@pytest.fixture
def rotating(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RotatingSource:
    source = RotatingSource(tmp_path)
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(source.config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_PROFILE", "rotating")
    return source


def _static_fs(endpoint: str, key: dict[str, str]) -> pafs.S3FileSystem:
    """What the storage used to keep: a filesystem holding one copy of the keys."""
    return pafs.S3FileSystem(
        access_key=key["AccessKeyId"],
        secret_key=key["SecretAccessKey"],
        endpoint_override=endpoint.split("://", 1)[1],
        scheme="http",
        region="us-east-1",
        retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=1),
    )


def test_rotated_credentials_keep_every_path_working(
    auth_server: AuthServer, rotating: RotatingSource
) -> None:
    iam, user = auth_server.iam(), auth_server.new_user()
    key = iam.create_access_key(UserName=user)["AccessKey"]
    rotating.serve(key)
    uri = f"s3://{BUCKET}/rot-{uuid.uuid4().hex[:8]}"
    storage = open_storage(
        uri, Settings(s3_endpoint_url=auth_server.endpoint, s3_region="us-east-1")
    )
    table = pa.table({"i": pa.array(range(100), pa.int64())})

    def use(round_: int) -> None:
        """Every path: boto3 reads/writes, conditional writes, Parquet both ways, listing."""
        storage.write_json(f"docs/{round_}.json", {"round": round_})
        assert storage.read_json(f"docs/{round_}.json") == {"round": round_}
        storage.put_if_absent(f"claims/{round_}.json", b"mine")
        storage.update_json("counter.json", lambda d: {"n": (d or {"n": 0})["n"] + 1})
        storage.write_parquet(f"parts/{round_}.parquet", table)
        got = storage.read_parquet("parts/")  # pyarrow.dataset over the listing
        assert got.num_rows == 100 * (round_ + 1)
        assert sum(b.num_rows for b in storage.iter_batches(f"parts/{round_}.parquet")) == 100
        fs, base = storage.arrow_filesystem()  # what Ray Data / Train readers get
        assert pq.read_table(f"{base}/parts/{round_}.parquet", filesystem=fs).equals(table)

    use(0)
    for round_ in (1, 2):
        old, old_fs = key, storage.arrow_filesystem()[0]
        key = iam.create_access_key(UserName=user)["AccessKey"]
        rotating.serve(key)
        iam.delete_access_key(UserName=user, AccessKeyId=old["AccessKeyId"])

        # The server really refuses the old key, on both kinds of client...
        with pytest.raises(ClientError) as info:
            auth_server.client("s3", old).list_objects_v2(Bucket=BUCKET)
        assert info.value.response["Error"]["Code"] == "InvalidAccessKeyId"
        path = f"{BUCKET}/{storage.prefix}/parts/0.parquet"
        for stale in (_static_fs(auth_server.endpoint, old), old_fs):
            with pytest.raises(OSError, match="ACCESS_DENIED|InvalidAccessKeyId"):
                pq.read_table(path, filesystem=stale)

        # ...and the same storage object, never reopened, carries on with the new key.
        use(round_)
        assert storage.arrow_filesystem()[0] is not old_fs
        assert storage.read_json("counter.json") == {"n": round_ + 1}
        assert rotating.served()[-1] == key["AccessKeyId"]
    assert {old["AccessKeyId"], key["AccessKeyId"]} <= set(rotating.served())


def test_a_pickled_storage_resolves_its_own_credentials(
    auth_server: AuthServer, rotating: RotatingSource
) -> None:
    iam, user = auth_server.iam(), auth_server.new_user()
    key = iam.create_access_key(UserName=user)["AccessKey"]
    rotating.serve(key)
    storage = open_storage(
        f"s3://{BUCKET}/pickle-{uuid.uuid4().hex[:8]}",
        Settings(s3_endpoint_url=auth_server.endpoint, s3_region="us-east-1"),
    )
    storage.write_parquet("t.parquet", pa.table({"a": [1]}))  # clients and filesystem exist
    blob = pickle.dumps(storage)  # as Ray ships it to a task
    assert key["SecretAccessKey"].encode() not in blob
    assert key["AccessKeyId"].encode() not in blob
    new = iam.create_access_key(UserName=user)["AccessKey"]
    rotating.serve(new)
    iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
    copy = pickle.loads(blob)
    assert copy.read_parquet("t.parquet").column("a").to_pylist() == [1]
    copy.put_if_absent("claim.json", b"x")
    assert storage.read_bytes("claim.json") == b"x"


def test_check_fails_with_read_only_credentials_that_head_bucket_accepts(
    auth_server: AuthServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", auth_server.reader["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", auth_server.reader["SecretAccessKey"])
    # The old check was this one request, and it passes:
    auth_server.client("s3", auth_server.reader).head_bucket(Bucket=BUCKET)
    storage = open_storage(
        f"s3://{BUCKET}/ro", Settings(s3_endpoint_url=auth_server.endpoint, s3_region="us-east-1")
    )
    report = storage.check(raise_on_failure=False)
    assert not report.ok
    assert report.probes[0].status is ProbeStatus.FAILED
    assert report.probes[0].error == "StoragePermissionError"
    assert all(p.status is ProbeStatus.SKIPPED for p in report.probes[1:])
    with pytest.raises(StoragePermissionError, match="refused"):
        storage.check()


def test_a_failing_credential_process_is_reported_without_its_output(
    rotating: RotatingSource, s3_settings: Settings
) -> None:
    rotating.script.write_text("#!/bin/sh\necho 'token SECRET-FROM-STDERR' >&2\nexit 3\n")
    storage = open_storage(f"s3://{BUCKET}/x", s3_settings)
    for op in (lambda: storage.read_bytes("a.json"), lambda: storage.read_parquet("t/")):
        with pytest.raises(StoragePermissionError, match="Could not get AWS credentials") as info:
            op()
        assert "credential_process" in str(info.value)
        assert "SECRET-FROM-STDERR" not in str(info.value)
