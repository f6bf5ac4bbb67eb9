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
    from rayops.client import (
        Client,
        Prediction,
    )
    from rayops.config import (
        Settings,
    )
    from rayops.datasets import (
        ConceptDrift,
        CovariateDrift,
        load_diabetes,
        make_regression,
    )
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
    from rayops.features import (
        Expectations,
        FeatureSetVersion,
        FeatureStore,
    )
    from rayops.registry import (
        EnsembleSpec,
        ModelCard,
        ModelVersion,
        Registry,
        Stage,
        baseline_from_frame,
    )
    from rayops.serving import (
        Endpoints,
        Route,
        RoutingTable,
        Shadow,
    )
    from rayops.storage import (
        Storage,
        Versioned,
        open_storage,
    )
    from rayops.training.finetune import (
        FineTuneMode,
        FineTuneResult,
        fine_tune,
    )
    from rayops.training.fit import (
        TrainPath,
        TrainResult,
        train_model,
    )

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "baseline_from_frame": "rayops.registry",
    "fine_tune": "rayops.training.finetune",
    "load_diabetes": "rayops.datasets",
    "make_regression": "rayops.datasets",
    "open_storage": "rayops.storage",
    "train_model": "rayops.training.fit",
    "AlreadyExistsError": "rayops.errors",
    "Client": "rayops.client",
    "ConceptDrift": "rayops.datasets",
    "ConflictError": "rayops.errors",
    "CovariateDrift": "rayops.datasets",
    "Endpoints": "rayops.serving",
    "EnsembleSpec": "rayops.registry",
    "Expectations": "rayops.features",
    "FeatureSetVersion": "rayops.features",
    "FeatureStore": "rayops.features",
    "FineTuneMode": "rayops.training.finetune",
    "FineTuneResult": "rayops.training.finetune",
    "InvalidInputError": "rayops.errors",
    "InvalidNameError": "rayops.errors",
    "ModelCard": "rayops.registry",
    "ModelVersion": "rayops.registry",
    "NotFoundError": "rayops.errors",
    "Prediction": "rayops.client",
    "RayopsError": "rayops.errors",
    "Registry": "rayops.registry",
    "Route": "rayops.serving",
    "RoutingTable": "rayops.serving",
    "Settings": "rayops.config",
    "Shadow": "rayops.serving",
    "Stage": "rayops.registry",
    "Storage": "rayops.storage",
    "StorageError": "rayops.errors",
    "StoragePermissionError": "rayops.errors",
    "StorageUnavailableError": "rayops.errors",
    "TrainPath": "rayops.training.fit",
    "TrainResult": "rayops.training.fit",
    "UnsafeArtifactError": "rayops.errors",
    "Versioned": "rayops.storage",
}

__all__ = [
    "AlreadyExistsError",
    "Client",
    "ConceptDrift",
    "ConflictError",
    "CovariateDrift",
    "Endpoints",
    "EnsembleSpec",
    "Expectations",
    "FeatureSetVersion",
    "FeatureStore",
    "FineTuneMode",
    "FineTuneResult",
    "InvalidInputError",
    "InvalidNameError",
    "ModelCard",
    "ModelVersion",
    "NotFoundError",
    "Prediction",
    "RayopsError",
    "Registry",
    "Route",
    "RoutingTable",
    "Settings",
    "Shadow",
    "Stage",
    "Storage",
    "StorageError",
    "StoragePermissionError",
    "StorageUnavailableError",
    "TrainPath",
    "TrainResult",
    "UnsafeArtifactError",
    "Versioned",
    "__version__",
    "baseline_from_frame",
    "fine_tune",
    "load_diabetes",
    "make_regression",
    "open_storage",
    "train_model",
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
