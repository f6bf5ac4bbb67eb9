"""Loaded model versions of a gateway replica, cached per ``name@version``.

Registered versions never change, so a loaded predictor stays valid for ever;
the cache only bounds memory (least recently used out). Ensembles load through
the registry's EnsemblePredictor, so every member is evaluated in this process,
not one network hop each.

Example:
    >>> import tempfile
    >>> from rayops.storage import open_storage
    >>> from rayops.registry import Registry
    >>> cache = ModelCache(Registry(open_storage(tempfile.mkdtemp())).load, capacity=4)
    >>> len(cache)
    0
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rayops.serving.inputs import FeatureSchema, schema_of

__all__ = ["LoadedModel", "ModelCache", "evaluate"]


def evaluate(predictor: Any, frame: Any) -> Any:
    """Predictions of a registry Predictor or EnsemblePredictor as a 1-D float64 array.

    The same numbers as ``predictor.predict(frame)``, computed with
    ``Booster.inplace_predict`` (no DMatrix per call, which dominates the cost of
    a single-row request); ensembles combine their members as their spec says.
    """
    import numpy as np
    import xgboost as xgb

    if hasattr(predictor, "members"):
        spec = predictor.spec
        columns = {
            ref: evaluate(m, frame) for ref, m in zip(spec.members, predictor.members, strict=True)
        }
        if spec.kind == "stacked":
            import pandas as pd

            return evaluate(predictor.meta, pd.DataFrame(columns, index=frame.index))
        weights = np.asarray(spec.normalized_weights(), dtype=np.float64)
        stacked = np.column_stack([columns[r] for r in spec.members]).astype(np.float64)
        return stacked @ weights
    x = frame[predictor.features] if predictor.features else frame
    if all(dtype.kind in "fiub" for dtype in x.dtypes):
        # All numeric: a float32 matrix in the booster's feature order is what XGBoost
        # uses internally anyway, and skips pandas handling per call.
        x = x.to_numpy(dtype=np.float32)
    try:
        out = predictor.booster.inplace_predict(x)
    except xgb.core.XGBoostError:
        # Linear boosters (gblinear, e.g. a stacking meta-learner) have no inplace path.
        return np.asarray(predictor.predict(frame), dtype=np.float64)
    return np.asarray(out, dtype=np.float64).reshape(len(frame), -1)[:, 0]


@dataclass(frozen=True)
class LoadedModel:
    """A predictor ready to serve and its input schema."""

    ref: str
    predictor: Any
    schema: FeatureSchema

    @property
    def kind(self) -> str:
        return "ensemble" if hasattr(self.predictor, "members") else "booster"


class ModelCache:
    """Thread-safe LRU of loaded versions; each version is loaded once even under races."""

    def __init__(
        self, load: Callable[[str], Any], *, capacity: int = 32, reject_missing: bool = False
    ) -> None:
        self._load = load
        self.capacity = capacity
        self.reject_missing = reject_missing
        self._models: OrderedDict[str, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    def __len__(self) -> int:
        return len(self._models)

    def __contains__(self, ref: object) -> bool:
        return ref in self._models

    def get(self, ref: str) -> LoadedModel:
        """The loaded ``ref``, loading it (through the registry's checks) if needed."""
        with self._lock:
            model = self._models.get(ref)
            if model is not None:
                self._models.move_to_end(ref)
                return model
            gate = self._loading.setdefault(ref, threading.Lock())
        with gate:
            with self._lock:
                model = self._models.get(ref)
            if model is None:
                predictor = self._load(ref)
                model = LoadedModel(
                    ref, predictor, schema_of(predictor, reject_missing=self.reject_missing)
                )
            with self._lock:
                self._models[ref] = model
                self._models.move_to_end(ref)
                while len(self._models) > self.capacity:
                    self._models.popitem(last=False)
                self._loading.pop(ref, None)
            return model

    def retain(self, refs: set[str]) -> None:
        """Drop every version not in ``refs`` (after a routing change)."""
        with self._lock:
            for ref in [r for r in self._models if r not in refs]:
                del self._models[ref]
