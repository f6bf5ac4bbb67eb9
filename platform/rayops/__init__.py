"""rayops: the whole MLOps loop for tabular models, on Ray.

The public API is listed in ``__all__``. Names are imported lazily, so
``import rayops`` stays cheap and never pulls in Ray, XGBoost or pyarrow until
a name that needs them is used.

Example:
    >>> import rayops
    >>> rayops.Settings(storage="/tmp/x").storage
    '/tmp/x'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from rayops._version import __version__

if TYPE_CHECKING:
    from rayops.config import Settings
    from rayops.datasets import ConceptDrift, CovariateDrift, load_diabetes, make_regression
    from rayops.errors import (
        AlreadyExistsError,
        ConflictError,
        InvalidInputError,
        InvalidNameError,
        NotFoundError,
        RayopsError,
        StorageError,
        StoragePermissionError,
        StorageUnavailableError,
        UnsafeArtifactError,
    )
    from rayops.storage import Storage, Versioned, open_storage

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "AlreadyExistsError": "rayops.errors",
    "ConceptDrift": "rayops.datasets",
    "ConflictError": "rayops.errors",
    "CovariateDrift": "rayops.datasets",
    "InvalidInputError": "rayops.errors",
    "InvalidNameError": "rayops.errors",
    "NotFoundError": "rayops.errors",
    "RayopsError": "rayops.errors",
    "Settings": "rayops.config",
    "Storage": "rayops.storage",
    "StorageError": "rayops.errors",
    "StoragePermissionError": "rayops.errors",
    "StorageUnavailableError": "rayops.errors",
    "UnsafeArtifactError": "rayops.errors",
    "Versioned": "rayops.storage",
    "load_diabetes": "rayops.datasets",
    "make_regression": "rayops.datasets",
    "open_storage": "rayops.storage",
}

__all__ = [
    "AlreadyExistsError",
    "ConceptDrift",
    "ConflictError",
    "CovariateDrift",
    "InvalidInputError",
    "InvalidNameError",
    "NotFoundError",
    "RayopsError",
    "Settings",
    "Storage",
    "StorageError",
    "StoragePermissionError",
    "StorageUnavailableError",
    "UnsafeArtifactError",
    "Versioned",
    "__version__",
    "load_diabetes",
    "make_regression",
    "open_storage",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rayops' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
