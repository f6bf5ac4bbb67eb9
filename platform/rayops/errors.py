"""Every error rayops raises on purpose.

The hierarchy, and when to catch each::

    RayopsError                      anything rayops raised on purpose
    ├── InvalidInputError            the caller passed something wrong (ValueError): fix the call
    │   └── InvalidNameError         a name that would become a storage path is unsafe
    ├── NotFoundError                a feature set, model, version or key does not exist (KeyError)
    ├── ConflictError                someone else wrote first: re-read and try again
    │   └── AlreadyExistsError       put-if-absent lost: the key exists
    ├── LeaseLostError               a control loop lost its lease: its writes are refused
    ├── StorageError                 the storage root misbehaved
    │   ├── StorageUnavailableError  the endpoint cannot be reached or the bucket is missing
    │   ├── StoragePermissionError   credentials are missing, wrong or not allowed
    │   └── ConditionalWritesUnsupportedError  the server ignores If-None-Match / If-Match
    └── UnsafeArtifactError          a stored artifact failed its integrity or format check

Each message is a sentence that says what went wrong and what to do. Every class
carries ``http_status`` so the HTTP layer can turn it into the right 4xx/5xx
without a lookup table of its own.
"""

from __future__ import annotations

__all__ = [
    "EXIT_CODES",
    "AlreadyExistsError",
    "ConditionalWritesUnsupportedError",
    "ConflictError",
    "InvalidInputError",
    "InvalidNameError",
    "LeaseLostError",
    "NotFoundError",
    "RayopsError",
    "StorageError",
    "StoragePermissionError",
    "StorageUnavailableError",
    "UnsafeArtifactError",
    "exit_code",
]


class RayopsError(Exception):
    """Root of every error rayops raises on purpose.

    Catch this to handle any rayops failure; catch a subclass to handle one kind.
    """

    http_status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidInputError(RayopsError, ValueError):
    """The caller passed a value rayops cannot use. Fix the input and call again."""

    http_status = 400


class InvalidNameError(InvalidInputError):
    """A name that becomes part of a storage path is empty, too long or unsafe."""


class NotFoundError(RayopsError, KeyError):
    """The thing asked for does not exist."""

    http_status = 404

    # KeyError quotes its argument in str(); keep the plain sentence instead.
    __str__ = RayopsError.__str__


class ConflictError(RayopsError):
    """A concurrent writer changed the object first. Re-read it and try again."""

    http_status = 409


class AlreadyExistsError(ConflictError):
    """Put-if-absent lost: the key was already there."""


class LifecycleError(ConflictError):
    """The version's lifecycle stage forbids it: routing a draft or archived version, or
    archiving one that is routed or aliased (HTTP 409). The message says what to do."""


class LeaseLostError(RayopsError):
    """A control loop's lease expired or passed to a newer holder; its write was refused.

    Not a :class:`ConflictError` on purpose: retrying cannot succeed, so code that
    retries conflicts must let this one through. The loop that gets it stops its pass.
    """

    http_status = 409


class StorageError(RayopsError):
    """The storage root failed in a way that is not the caller's fault."""

    http_status = 503

    def __init__(self, message: str, *, uri: str | None = None) -> None:
        super().__init__(message)
        self.uri = uri


class StorageUnavailableError(StorageError):
    """The storage endpoint cannot be reached, or the bucket does not exist."""


class StoragePermissionError(StorageError):
    """The credentials are missing, invalid, or not allowed to do this."""

    http_status = 503


class ConditionalWritesUnsupportedError(StorageError):
    """The S3 server accepted a conditional write it should have refused.

    It ignores ``If-None-Match: *`` or ``If-Match: <etag>`` on PutObject, so
    put-if-absent and compare-and-swap would silently overwrite: version claims
    and aliases would race. Not retryable: use a server that supports them.
    """


class UnsafeArtifactError(RayopsError):
    """A stored artifact is corrupt, tampered with, or not in an allowed format."""

    http_status = 422


#: Process exit codes for the CLI and job entry points (0 is success, 1 a bug).
EXIT_CODES: dict[type[RayopsError], int] = {
    InvalidInputError: 2,
    NotFoundError: 3,
    ConflictError: 4,
    StorageError: 5,
}


def exit_code(error: RayopsError) -> int:
    """The exit code for ``error``: 2 invalid, 3 not found, 4 conflict, 5 storage, 1 other."""
    for kind, code in EXIT_CODES.items():
        if isinstance(error, kind):
            return code
    return 1
