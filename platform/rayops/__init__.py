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
    from rayops.analytics import (
        AnalyticsReport,
        analyze,
    )
    from rayops.automation.policy import (
        RetrainPolicy,
    )
    from rayops.automation.retrainer import (
        Retrainer,
    )
    from rayops.client import (
        Client,
        Prediction,
    )
    from rayops.config import (
        Settings,
    )
    from rayops.control import (
        ControlLoop,
        ControlTask,
    )
    from rayops.datasets import (
        ConceptDrift,
        CovariateDrift,
        load_diabetes,
        make_classification,
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
    from rayops.monitoring import (
        AlertRule,
        HealthState,
        Monitor,
        Severity,
    )
    from rayops.online import (
        OnlineConfig,
        OnlineLearner,
        UpdateMode,
    )
    from rayops.registry import (
        EnsembleSpec,
        ModelCard,
        ModelVersion,
        Registry,
        Stage,
        baseline_from_frame,
    )
    from rayops.rollout import (
        Rollouts,
        RolloutStatus,
        Strategy,
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
    "analyze": "rayops.analytics",
    "baseline_from_frame": "rayops.registry",
    "fine_tune": "rayops.training.finetune",
    "load_diabetes": "rayops.datasets",
    "make_classification": "rayops.datasets",
    "make_regression": "rayops.datasets",
    "open_storage": "rayops.storage",
    "train_model": "rayops.training.fit",
    "AlertRule": "rayops.monitoring",
    "AlreadyExistsError": "rayops.errors",
    "AnalyticsReport": "rayops.analytics",
    "Client": "rayops.client",
    "ConceptDrift": "rayops.datasets",
    "ConflictError": "rayops.errors",
    "ControlLoop": "rayops.control",
    "ControlTask": "rayops.control",
    "CovariateDrift": "rayops.datasets",
    "Endpoints": "rayops.serving",
    "EnsembleSpec": "rayops.registry",
    "Expectations": "rayops.features",
    "FeatureSetVersion": "rayops.features",
    "FeatureStore": "rayops.features",
    "FineTuneMode": "rayops.training.finetune",
    "FineTuneResult": "rayops.training.finetune",
    "HealthState": "rayops.monitoring",
    "InvalidInputError": "rayops.errors",
    "InvalidNameError": "rayops.errors",
    "ModelCard": "rayops.registry",
    "ModelVersion": "rayops.registry",
    "Monitor": "rayops.monitoring",
    "NotFoundError": "rayops.errors",
    "OnlineConfig": "rayops.online",
    "OnlineLearner": "rayops.online",
    "Prediction": "rayops.client",
    "RayopsError": "rayops.errors",
    "Registry": "rayops.registry",
    "RetrainPolicy": "rayops.automation.policy",
    "Retrainer": "rayops.automation.retrainer",
    "RolloutStatus": "rayops.rollout",
    "Rollouts": "rayops.rollout",
    "Route": "rayops.serving",
    "RoutingTable": "rayops.serving",
    "Settings": "rayops.config",
    "Severity": "rayops.monitoring",
    "Shadow": "rayops.serving",
    "Stage": "rayops.registry",
    "Storage": "rayops.storage",
    "StorageError": "rayops.errors",
    "StoragePermissionError": "rayops.errors",
    "StorageUnavailableError": "rayops.errors",
    "Strategy": "rayops.rollout",
    "TrainPath": "rayops.training.fit",
    "TrainResult": "rayops.training.fit",
    "UnsafeArtifactError": "rayops.errors",
    "UpdateMode": "rayops.online",
    "Versioned": "rayops.storage",
}

__all__ = [
    "AlertRule",
    "AlreadyExistsError",
    "AnalyticsReport",
    "Client",
    "ConceptDrift",
    "ConflictError",
    "ControlLoop",
    "ControlTask",
    "CovariateDrift",
    "Endpoints",
    "EnsembleSpec",
    "Expectations",
    "FeatureSetVersion",
    "FeatureStore",
    "FineTuneMode",
    "FineTuneResult",
    "HealthState",
    "InvalidInputError",
    "InvalidNameError",
    "ModelCard",
    "ModelVersion",
    "Monitor",
    "NotFoundError",
    "OnlineConfig",
    "OnlineLearner",
    "Prediction",
    "RayopsError",
    "Registry",
    "RetrainPolicy",
    "Retrainer",
    "RolloutStatus",
    "Rollouts",
    "Route",
    "RoutingTable",
    "Settings",
    "Severity",
    "Shadow",
    "Stage",
    "Storage",
    "StorageError",
    "StoragePermissionError",
    "StorageUnavailableError",
    "Strategy",
    "TrainPath",
    "TrainResult",
    "UnsafeArtifactError",
    "UpdateMode",
    "Versioned",
    "__version__",
    "analyze",
    "baseline_from_frame",
    "fine_tune",
    "load_diabetes",
    "make_classification",
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
