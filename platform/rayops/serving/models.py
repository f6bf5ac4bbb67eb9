"""Loaded model versions of a gateway replica, cached per ``name@version``.

Registered versions never change, so a loaded predictor stays valid for ever;
the cache only bounds memory (least recently used out). Ensembles load through
the registry's EnsemblePredictor, so every member is evaluated in this process,
not one network hop each, by the registry's one evaluation path
(:func:`rayops.registry.predictor.evaluate`, re-exported here). With an
``uncertainty`` reader, each load also builds the version's
:class:`~rayops.serving.confidence.Confidence` (calibration, intervals, sets) once.

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

from rayops.registry.predictor import EnsemblePredictor, evaluate, evaluate_targets
from rayops.serving.confidence import Confidence
from rayops.serving.inputs import FeatureSchema, schema_of

__all__ = ["LoadedModel", "ModelCache", "ensembles_in", "evaluate", "evaluate_targets"]


@dataclass(frozen=True)
class LoadedModel:
    """A predictor ready to serve, its input schema and its uncertainty (if read)."""

    ref: str
    predictor: Any
    schema: FeatureSchema
    confidence: Confidence | None = None

    @property
    def kind(self) -> str:
        return "ensemble" if isinstance(self.predictor, EnsemblePredictor) else "booster"

    @property
    def targets(self) -> list[str] | None:
        """Target names of a multi-target model (None: one target)."""
        return getattr(self.predictor, "targets", None)


def ensembles_in(predictor: Any) -> list[Any]:
    """Every ensemble predictor in ``predictor`` (itself included), outermost first."""
    if not isinstance(predictor, EnsemblePredictor):
        return []
    out = [predictor]
    for m in predictor.members:
        out += ensembles_in(m)
    return out


class ModelCache:
    """Thread-safe LRU of loaded versions; each version is loaded once even under races."""

    def __init__(
        self,
        load: Callable[[str], Any],
        *,
        capacity: int = 32,
        reject_missing: bool = False,
        uncertainty: Callable[[str], dict[str, Any] | None] | None = None,
    ) -> None:
        self._load = load
        self._uncertainty = uncertainty
        self.capacity = capacity
        self.reject_missing = reject_missing
        self._models: OrderedDict[str, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    def __len__(self) -> int:
        return len(self._models)

    def __contains__(self, ref: object) -> bool:
        return ref in self._models

    def peek(self, ref: str) -> LoadedModel | None:
        """The loaded ``ref`` if it is in memory (never loads)."""
        return self._models.get(ref)

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
                    ref,
                    predictor,
                    schema_of(predictor, reject_missing=self.reject_missing),
                    self._confidence_of(ref, predictor),
                )
            with self._lock:
                self._models[ref] = model
                self._models.move_to_end(ref)
                while len(self._models) > self.capacity:
                    self._models.popitem(last=False)
                self._loading.pop(ref, None)
            return model

    def _confidence_of(self, ref: str, predictor: Any) -> Confidence | None:
        if self._uncertainty is None:
            return None
        labels = getattr(predictor, "labels", None)
        spec = getattr(predictor, "spec", None)
        return Confidence.of(
            ref, predictor.task, labels.classes if labels is not None else None,
            self._uncertainty(ref), kind=spec.kind if spec is not None else "booster",
        )  # fmt: skip

    def retain(self, refs: set[str]) -> None:
        """Drop every version not in ``refs`` (after a routing change)."""
        with self._lock:
            for ref in [r for r in self._models if r not in refs]:
                del self._models[ref]
