"""Talking to one MLflow tracking store: its URI, a scoped session, its errors as rayops errors.

MLflow keeps its tracking and registry URIs in process globals (and mirrors them
into ``MLFLOW_TRACKING_URI`` / ``MLFLOW_REGISTRY_URI``). :func:`mlflow_session`
points both at one store for the length of a ``with`` block and puts everything
back afterwards, so an export never leaves a caller's MLflow configuration
changed. Inside it, MLflow's own errors become rayops errors with a sentence.
Being process globals, they make one session per process at a time: do not run
exports to different stores from several threads at once.

``mlflow`` itself is imported here, on first use, never at import time: the CLI's
``--help`` must stay light and rayops runs without MLflow installed.

Example:
    >>> tracking_uri("/tmp/mlruns")
    'file:///tmp/mlruns'
    >>> tracking_uri("http://127.0.0.1:5000/")
    'http://127.0.0.1:5000'
    >>> shown_uri("https://ann:s3cret@mlflow.example.com")
    'https://***@mlflow.example.com'
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from rayops.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    RayopsError,
    StorageUnavailableError,
)

__all__ = [
    "experiment_id_for",
    "import_mlflow",
    "is_local_store",
    "mlflow_session",
    "quiet_stdout",
    "shown_uri",
    "tracking_uri",
    "translated",
]

_TRACKING_ENV = "MLFLOW_TRACKING_URI"
_REGISTRY_ENV = "MLFLOW_REGISTRY_URI"
_ALLOW_FILE_STORE_ENV = "MLFLOW_ALLOW_FILE_STORE"
_SCOPED_ENV = (_TRACKING_ENV, _REGISTRY_ENV, _ALLOW_FILE_STORE_ENV)

#: How to install what this module needs, quoted in errors.
INSTALL_HINT = "pip install 'rayops[mlflow]' (or: pip install mlflow-skinny)"


def tracking_uri(uri: str) -> str:
    """The tracking URI for ``uri``: a directory becomes ``file:///abs/path``, URLs stay.

    Anything with a scheme (``file:``, ``http(s):``, ``sqlite:``, ``databricks``...) is
    passed to MLflow as given (a trailing ``/`` dropped from server URLs).
    """
    text = uri.strip()
    if not text:
        raise InvalidInputError("The MLflow URI is empty; give a directory or a server URL.")
    if text == "databricks" or "://" in text or text.startswith("file:"):
        return text.rstrip("/") if text.startswith(("http://", "https://")) else text
    return Path(text).expanduser().resolve().as_uri()


def is_local_store(uri: str) -> bool:
    """True for a file store (``file:`` URI), which MLflow only opens when allowed to."""
    return uri.startswith("file:")


def shown_uri(uri: str) -> str:
    """``uri`` without the password or token it may carry, for messages and output."""
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def import_mlflow() -> ModuleType:
    """The ``mlflow`` module, with telemetry off; a clear error when it is not installed."""
    # rayops drives MLflow as a library on the user's behalf: the only traffic it should
    # cause goes to the store the user named. An explicit setting of the user's wins.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    try:
        import mlflow
    except ImportError:
        raise InvalidInputError(
            f"MLflow interop needs MLflow's client library, which is not installed: {INSTALL_HINT}."
        ) from None
    return mlflow


@contextmanager
def mlflow_session(uri: str) -> Iterator[ModuleType]:
    """``mlflow`` pointed at ``uri`` (tracking and registry) for the block, then restored.

    A file store is opened with ``MLFLOW_ALLOW_FILE_STORE=true``: MLflow 3 refuses the
    file backend unless asked, and naming a directory is that request. MLflow's
    exceptions inside the block are raised as rayops errors (see :func:`translated`).
    """
    mlflow = import_mlflow()
    saved = {name: os.environ.get(name) for name in _SCOPED_ENV}
    if is_local_store(uri):
        os.environ[_ALLOW_FILE_STORE_ENV] = "true"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        with translated(uri), warnings.catch_warnings():
            # MLflow warns about its own type hints when log_model imports its agent
            # types; nothing a rayops user can act on.
            warnings.filterwarnings("ignore", ".*Any type hint is inferred", UserWarning)
            yield mlflow
    finally:
        # The setters also write the environment; restore both to what they were.
        mlflow.set_tracking_uri(saved[_TRACKING_ENV])
        mlflow.set_registry_uri(saved[_REGISTRY_ENV])  # type: ignore[arg-type]
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# MLflow's error codes (mlflow.protos.databricks_pb2 names) and what they are here.
_NOT_FOUND = {"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND", "ENDPOINT_NOT_FOUND"}
_CONFLICT = {"RESOURCE_ALREADY_EXISTS", "ABORTED", "RESOURCE_CONFLICT"}
_INVALID = {
    "INVALID_PARAMETER_VALUE",
    "BAD_REQUEST",
    "INVALID_STATE",
    "MALFORMED_REQUEST",
    "FEATURE_DISABLED",
    "PERMISSION_DENIED",
    "UNAUTHENTICATED",
}
_UNREACHABLE_HINTS = ("Max retries exceeded", "Connection refused", "Failed to establish")


@contextmanager
def translated(uri: str) -> Iterator[None]:
    """MLflow's exceptions as rayops errors naming the store (without its credentials)."""
    mlflow = import_mlflow()
    try:
        yield
    except mlflow.exceptions.MlflowException as e:
        where = shown_uri(uri)
        message = str(e.message if hasattr(e, "message") else e).strip()
        code = str(getattr(e, "error_code", ""))
        if any(h in message for h in _UNREACHABLE_HINTS):
            raise StorageUnavailableError(
                f"Cannot reach the MLflow tracking server at {where}: is it running, and is "
                "the URL right (http vs https, port)?",
                uri=where,
            ) from None
        text = f"MLflow at {where}: {message}"
        if code in _NOT_FOUND:
            raise NotFoundError(text) from None
        if code in _CONFLICT:
            raise ConflictError(text) from None
        if code in _INVALID:
            raise InvalidInputError(text) from None
        raise RayopsError(text) from None


def experiment_id_for(client: Any, name: str) -> str:
    """The id of experiment ``name``, created if missing (losing a creation race is fine)."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is None:
        try:
            return str(client.create_experiment(name))
        except MlflowException:
            found = client.get_experiment_by_name(name)
            if found is None:
                raise
    if found.lifecycle_stage == "deleted":
        raise InvalidInputError(
            f"The MLflow experiment {name!r} is deleted; restore it or pass --experiment NAME."
        )
    return str(found.experiment_id)


@contextmanager
def quiet_stdout() -> Iterator[None]:
    # MLflow prints progress ("Successfully registered...", run links); stdout stays the
    # caller's (--json).
    with contextlib.redirect_stdout(sys.stderr):
        yield
