"""Storage on S3 or any S3-compatible server (MinIO, Ceph RGW, moto...).

Small objects go through boto3, which speaks S3's conditional writes:

* put-if-absent: ``PutObject`` with ``If-None-Match: *`` (412 if the key exists);
* compare-and-swap: ``PutObject`` with ``If-Match: <etag>`` (412 if it changed).

Before its first conditional write, a process verifies once per (endpoint,
bucket) that the server honours both headers (a few requests on a probe key
under ``_rayops/probe/``): a server that ignores them would let version claims
and alias moves silently overwrite each other, so it is refused with
:class:`~rayops.errors.ConditionalWritesUnsupportedError` instead. Probing at
every open would cost round trips for read-only users; ``check()`` always
tests the semantics afresh.

Parquet is written by spooling to a temporary file and uploading it with boto3
(multipart, aborted on failure), so a reader never sees part of an object; it
is read through ``pyarrow.fs.S3FileSystem`` (column projection and filters are
pushed into the reader).

Credentials: botocore's chain (environment, profile, ``credential_process``,
SSO, web identity/IRSA, container or instance role) is the single source. boto3
clients sign every request with botocore's refreshable credentials object; the
pyarrow filesystem is rebuilt whenever botocore's current credentials differ
from the ones it was built with (a cheap comparison under a lock), so rotated
or expiring credentials never break a long-lived process.

Every botocore/pyarrow failure is translated into a rayops error naming the URI
and what to check; timeouts and retries come from :class:`rayops.config.Settings`
so an unreachable endpoint is reported within seconds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from rayops.config import Settings
from rayops.errors import (
    AlreadyExistsError,
    ConditionalWritesUnsupportedError,
    ConflictError,
    NotFoundError,
    RayopsError,
    StorageError,
    StoragePermissionError,
    StorageUnavailableError,
)
from rayops.names import validate_key
from rayops.storage.base import Storage, Versioned

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.fs as pafs

    from rayops.storage.check import StorageCheck

__all__ = ["S3Storage"]

T = TypeVar("T")

_PERMISSION_CODES = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "AllAccessDisabled",
    "403",
}
_MISSING_KEY_CODES = {"NoSuchKey", "404", "NotFound"}
_PRECONDITION_CODES = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}


# (endpoint, bucket) pairs whose server this process has seen honour conditional writes.
_VERIFIED: set[tuple[str | None, str]] = set()
_VERIFY_LOCKS: dict[tuple[str | None, str], threading.Lock] = {}
_VERIFY_LOCKS_GUARD = threading.Lock()


def _raiser(exc: BaseException) -> Callable[[], Any]:
    def go() -> Any:
        raise exc

    return go


class S3Storage(Storage):
    """A storage root at ``s3://bucket/prefix``.

    Args:
        uri: ``s3://bucket`` or ``s3://bucket/some/prefix``.
        settings: endpoint, region and timeouts; defaults to ``Settings()``.

    Credentials come from botocore's chain (environment, profile,
    ``credential_process``, web identity, instance role) and are refreshed as they
    expire, for boto3 calls and the pyarrow filesystem alike. The bucket must
    exist: rayops never creates buckets. Pickles (e.g. to Ray tasks) carry only
    the configuration; each process resolves its own credentials.
    """

    settings: Settings

    def __init__(self, uri: str, settings: Settings | None = None) -> None:
        from urllib.parse import urlparse

        parsed = urlparse(uri)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise StorageError(f"{uri!r} is not an s3://bucket/prefix URI.", uri=uri)
        self.settings = settings or Settings()
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        self.uri = f"s3://{self.bucket}" + (f"/{self.prefix}" if self.prefix else "")
        self.endpoint_url = self.settings.s3.endpoint_url
        self.region = self.settings.s3.region or "us-east-1"
        self._init_runtime()

    def _init_runtime(self) -> None:
        self._fs_lock = threading.Lock()
        # The pyarrow filesystem and the frozen credentials it was built with.
        self._fs: tuple[Any, pafs.S3FileSystem] | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Clients hold sockets, locks and credentials; ship only the configuration
        # (e.g. to Ray tasks), which resolve credentials from their own environment.
        state = self.__dict__.copy()
        for cached in ("_session", "_client", "_fs", "_fs_lock"):
            state.pop(cached, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_runtime()

    # --- clients -----------------------------------------------------------------
    @cached_property
    def _session(self) -> Any:
        import boto3

        return boto3.session.Session(region_name=self.region)

    @cached_property
    def _client(self) -> Any:
        from botocore.config import Config

        s = self.settings
        config = Config(
            connect_timeout=s.s3.connect_timeout_s,
            read_timeout=s.s3.read_timeout_s,
            retries={"max_attempts": s.s3.max_attempts, "mode": "standard"},
            # MinIO and most self-hosted servers need path-style addressing.
            s3={"addressing_style": "path" if self.endpoint_url else "auto"},
            max_pool_connections=64,
        )
        return self._session.client("s3", endpoint_url=self.endpoint_url, config=config)

    def _frozen_credentials(self) -> Any:
        """botocore's current credentials (it refreshes refreshable ones near expiry)."""
        from botocore.exceptions import NoCredentialsError

        creds = self._session.get_credentials()
        if creds is None:
            raise NoCredentialsError()
        return creds.get_frozen_credentials()

    def _arrow_fs(self) -> pafs.S3FileSystem:
        """The pyarrow filesystem, rebuilt when botocore's credentials have changed.

        pyarrow takes static keys only, so the filesystem is a snapshot: when the
        credentials rotate (instance role, STS, ``credential_process``...), the next
        call builds a new one. Comparing frozen credentials is cheap; botocore only
        calls its provider when they are close to expiry.
        """
        frozen = self._translate(self._frozen_credentials)
        with self._fs_lock:
            if self._fs is None or self._fs[0] != frozen:
                self._fs = (frozen, self._new_arrow_fs(frozen))
            return self._fs[1]

    def _new_arrow_fs(self, frozen: Any) -> pafs.S3FileSystem:
        import pyarrow.fs as pafs

        kwargs: dict[str, Any] = {
            "region": self.region,
            "connect_timeout": self.settings.s3.connect_timeout_s,
            "request_timeout": self.settings.s3.read_timeout_s,
            "retry_strategy": pafs.AwsStandardS3RetryStrategy(
                max_attempts=self.settings.s3.max_attempts
            ),
            "access_key": frozen.access_key,
            "secret_key": frozen.secret_key,
        }
        if frozen.token:
            kwargs["session_token"] = frozen.token
        if self.endpoint_url:
            scheme, _, host = self.endpoint_url.partition("://")
            kwargs.update(endpoint_override=host.rstrip("/"), scheme=scheme)
        return pafs.S3FileSystem(**kwargs)

    def _key(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _strip(self, full: str) -> str:
        return full[len(self.prefix) + 1 :] if self.prefix else full

    # --- error translation ---------------------------------------------------------
    def _where(self) -> str:
        return f"{self.uri} (endpoint {self.endpoint_url or 'AWS S3'})"

    def _translate(self, fn: Callable[[], T], key: str | None = None) -> T:
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            CredentialRetrievalError,
            NoCredentialsError,
            PartialCredentialsError,
        )
        from botocore.exceptions import (
            ConnectionError as BotoConnectionError,
        )

        try:
            return fn()
        except RayopsError:
            raise
        except ClientError as e:
            code = str(e.response.get("Error", {}).get("Code", ""))
            status = str(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
            # HEAD responses carry no error body: a bare 404 on a bucket call means no bucket.
            if code == "NoSuchBucket" or (key is None and status == "404"):
                raise StorageUnavailableError(
                    f"Bucket {self.bucket!r} does not exist at {self._where()}: create it or "
                    "fix RAYOPS_STORAGE.",
                    uri=self.uri,
                ) from None
            if code in _PERMISSION_CODES or status == "403":
                raise StoragePermissionError(
                    f"Access to {self._where()} was refused ({code}): check the AWS "
                    "credentials and the bucket policy.",
                    uri=self.uri,
                ) from None
            if code in _MISSING_KEY_CODES or status == "404":
                raise NotFoundError(f"No object {key!r} in {self.uri}.") from None
            if code in _PRECONDITION_CODES or status in ("409", "412"):
                raise ConflictError(
                    f"{key!r} was changed by another writer; re-read it and retry."
                ) from None
            raise StorageError(
                f"S3 request on {self._where()} failed: {code or status} "
                f"{e.response.get('Error', {}).get('Message', '')}".rstrip(),
                uri=self.uri,
            ) from None
        except S3UploadFailedError as e:
            # boto3's transfer manager wraps the real cause; translate that instead.
            inner = e.__cause__ or e.__context__
            if isinstance(inner, (ClientError, BotoCoreError)):
                self._translate(_raiser(inner), key)
            raise StorageError(f"Upload to {self._where()} failed: {e}", uri=self.uri) from None
        except (NoCredentialsError, PartialCredentialsError):
            raise StoragePermissionError(
                f"No usable AWS credentials for {self._where()}: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or a profile or instance role.",
                uri=self.uri,
            ) from None
        except CredentialRetrievalError as e:
            # Its message may quote the provider's output: name only the provider.
            raise StoragePermissionError(
                f"Could not get AWS credentials for {self._where()} from "
                f"{e.kwargs.get('provider', 'the configured provider')}: check the profile, "
                "credential_process or role configuration.",
                uri=self.uri,
            ) from None
        except BotoConnectionError:
            raise StorageUnavailableError(
                f"Cannot reach the S3 endpoint for {self._where()}: check that the server is "
                "running and that AWS_ENDPOINT_URL / RAYOPS_S3_ENDPOINT_URL is right.",
                uri=self.uri,
            ) from None
        except BotoCoreError as e:
            raise StorageError(f"S3 request on {self._where()} failed: {e}", uri=self.uri) from None
        except OSError as e:
            # pyarrow's S3 layer raises OSError with the AWS error text in it.
            text = str(e)
            if (
                "NoSuchBucket" in text
                or "does not exist" in text.lower()
                and "bucket" in text.lower()
            ):
                raise StorageUnavailableError(
                    f"Bucket {self.bucket!r} does not exist at {self._where()}.", uri=self.uri
                ) from None
            squashed = text.upper().replace("_", "")
            if "403" in text or any(
                code in squashed
                for code in ("ACCESSDENIED", "INVALIDACCESSKEYID", "SIGNATUREDOESNOTMATCH")
            ):
                raise StoragePermissionError(
                    f"Access to {self._where()} was refused: check the AWS credentials.",
                    uri=self.uri,
                ) from None
            if "Path does not exist" in text or "NOSUCHKEY" in squashed:
                raise NotFoundError(f"No object {key!r} in {self.uri}.") from None
            if "connect" in text.lower() or "curl" in text.lower() or "timeout" in text.lower():
                raise StorageUnavailableError(
                    f"Cannot reach the S3 endpoint for {self._where()}: check that the server "
                    "is running and that AWS_ENDPOINT_URL / RAYOPS_S3_ENDPOINT_URL is right.",
                    uri=self.uri,
                ) from None
            raise StorageError(f"S3 I/O on {self._where()} failed: {text}", uri=self.uri) from None

    # --- bytes ---------------------------------------------------------------------
    def read_versioned(self, key: str) -> Versioned:
        def go() -> Versioned:
            r = self._client.get_object(Bucket=self.bucket, Key=self._key(key))
            return Versioned(r["Body"].read(), r["ETag"])

        return self._translate(go, key)

    def write_bytes(self, key: str, data: bytes) -> None:
        self._translate(
            lambda: self._client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data),
            key,
        )

    def put_if_absent(self, key: str, data: bytes) -> None:
        self._require_conditional_writes()
        self._put_if_absent(key, data)

    def compare_and_swap(self, key: str, data: bytes, expected: str | None) -> str:
        self._require_conditional_writes()
        return self._compare_and_swap(key, data, expected)

    def _put_if_absent(self, key: str, data: bytes) -> None:
        try:
            self._translate(
                lambda: self._client.put_object(
                    Bucket=self.bucket, Key=self._key(key), Body=data, IfNoneMatch="*"
                ),
                key,
            )
        except ConflictError as e:
            raise AlreadyExistsError(f"{key!r} already exists in {self.uri}.") from e

    def _compare_and_swap(self, key: str, data: bytes, expected: str | None) -> str:
        cond = {"IfNoneMatch": "*"} if expected is None else {"IfMatch": expected}
        try:
            r = self._translate(
                lambda: self._client.put_object(
                    Bucket=self.bucket, Key=self._key(key), Body=data, **cond
                ),
                key,
            )
        except NotFoundError as e:  # If-Match on a key that was deleted meanwhile
            raise ConflictError(
                f"{key!r} was deleted by another writer since it was read; re-read it and retry."
            ) from e
        return str(r["ETag"])

    # --- conditional-write support -------------------------------------------------
    def _require_conditional_writes(self) -> None:
        """Verify, once per process and (endpoint, bucket), that the server honours
        If-None-Match and If-Match; raise ConditionalWritesUnsupportedError if not.

        Only a success is remembered: a failure (or an outage) is probed again on
        the next conditional write, so a fixed server needs no restart.
        """
        ident = (self.endpoint_url, self.bucket)
        if ident in _VERIFIED:
            return
        with _VERIFY_LOCKS_GUARD:
            lock = _VERIFY_LOCKS.setdefault(ident, threading.Lock())
        with lock:
            if ident not in _VERIFIED:
                self._probe_conditional_writes()
                _VERIFIED.add(ident)

    def _probe_conditional_writes(self) -> None:
        import uuid

        from rayops.storage.check import CONDITIONAL_WRITES_ADVICE, PROBE_PREFIX

        key = f"{PROBE_PREFIX}/{uuid.uuid4().hex}/conditional"
        # A well-formed ETag no object has: a correct server must refuse If-Match with it.
        wrong_etag = '"' + "0" * 32 + '"'

        def refused(**cond: str) -> bool:
            def put() -> Any:
                return self._client.put_object(
                    Bucket=self.bucket, Key=self._key(key), Body=b"probe", **cond
                )

            try:
                self._translate(put, key)
            except (ConflictError, NotFoundError):  # 412/409, or 404 for If-Match on nothing
                return True
            return False

        def unsupported(what: str) -> ConditionalWritesUnsupportedError:
            return ConditionalWritesUnsupportedError(
                f"The S3 server at {self._where()} {what}. {CONDITIONAL_WRITES_ADVICE}",
                uri=self.uri,
            )

        try:
            if refused(IfNoneMatch="*"):  # the key is fresh: this one must succeed
                raise StorageError(
                    f"The S3 server at {self._where()} refused to create a fresh probe key "
                    "with If-None-Match: *.",
                    uri=self.uri,
                )
            if not refused(IfNoneMatch="*"):
                raise unsupported("ignores If-None-Match: * (a second put-if-absent overwrote)")
            if not refused(IfMatch=wrong_etag):
                raise unsupported("ignores If-Match (a write with a wrong ETag overwrote)")
            self.delete(key)
            if not refused(IfMatch=wrong_etag):
                raise unsupported(
                    "ignores If-Match on a missing key (a compare-and-swap recreated a deleted key)"
                )
        finally:
            try:
                self.delete(key)
            except RayopsError:
                pass  # the probe's own error says more; an orphan probe key is harmless

    def exists(self, key: str) -> bool:
        try:
            self._translate(
                lambda: self._client.head_object(Bucket=self.bucket, Key=self._key(key)), key
            )
        except NotFoundError:
            return False
        return True

    def list_keys(self, prefix: str = "") -> list[str]:
        return [key for key, _ in self._list_sizes(prefix)]

    def _list_sizes(self, prefix: str) -> list[tuple[str, int | None]]:
        full = self._key(prefix) if prefix else (f"{self.prefix}/" if self.prefix else "")

        def go() -> list[tuple[str, int | None]]:
            out: list[tuple[str, int | None]] = []
            for page in self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full
            ):
                out.extend(
                    (self._strip(o["Key"]), int(o["Size"])) for o in page.get("Contents", [])
                )
            return sorted(out)

        return self._translate(go, prefix)

    def list_children(self, prefix: str = "") -> list[str]:
        full = (
            (self._key(prefix.rstrip("/")) + "/")
            if prefix.strip("/")
            else (f"{self.prefix}/" if self.prefix else "")
        )

        def go() -> list[str]:
            names: set[str] = set()
            for page in self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full, Delimiter="/"
            ):
                names.update(
                    p["Prefix"][len(full) :].rstrip("/") for p in page.get("CommonPrefixes", [])
                )
                names.update(o["Key"][len(full) :] for o in page.get("Contents", []))
            return sorted(n for n in names if n)

        return self._translate(go, prefix)

    def delete(self, key: str) -> None:
        self._translate(
            lambda: self._client.delete_object(Bucket=self.bucket, Key=self._key(key)), key
        )

    def delete_prefix(self, prefix: str) -> int:
        keys = self.list_keys(prefix)
        for i in range(0, len(keys), 1000):
            chunk = [{"Key": self._key(k)} for k in keys[i : i + 1000]]

            def go(chunk: list[dict[str, str]] = chunk) -> Any:
                return self._client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": chunk, "Quiet": True}
                )

            self._translate(go, prefix)
        return len(keys)

    # --- Parquet -------------------------------------------------------------------
    def arrow_filesystem(self) -> tuple[pafs.FileSystem, str]:
        """The pyarrow filesystem with botocore's current credentials, and the base path.

        Ask again for each read rather than keeping one: a filesystem holds the
        credentials of the moment it was built.
        """
        return self._arrow_fs(), f"{self.bucket}/{self.prefix}".rstrip("/")

    def write_parquet(
        self,
        key: str,
        data: pa.Table | Iterable[pa.RecordBatch],
        *,
        schema: pa.Schema | None = None,
        compression: str | Mapping[str, str] = "zstd",
        row_group_size: int | None = None,
    ) -> None:
        import os
        import tempfile

        from rayops.storage._parquet import write_stream

        # Spool to a local temp file, then upload. pyarrow's S3 output stream has no
        # abort: an error mid-write would still complete the upload and publish a
        # truncated file. boto3 aborts a failed multipart upload, so a reader sees
        # the whole object or nothing, and memory stays bounded for large streams.
        fd, tmp = tempfile.mkstemp(prefix="rayops-", suffix=".parquet")
        try:
            with os.fdopen(fd, "wb") as f:
                write_stream(
                    f, data, schema=schema, compression=compression, row_group_size=row_group_size
                )
            self._translate(lambda: self._client.upload_file(tmp, self.bucket, self._key(key)), key)
        finally:
            os.unlink(tmp)

    # --- health ----------------------------------------------------------------------
    def _check_operations(
        self,
    ) -> tuple[Callable[[str, bytes], None], Callable[[str, bytes, str | None], str]]:
        # The check tests the conditional semantics itself, every time.
        return self._put_if_absent, self._compare_and_swap

    def check(self, *, raise_on_failure: bool = True) -> StorageCheck:
        report = super().check(raise_on_failure=False)
        if report.ok:  # it just proved what the lazy probe would
            _VERIFIED.add((self.endpoint_url, self.bucket))
        return report.raise_for_failure() if raise_on_failure else report
