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

__all__ = [
    "LoadedModel",
    "ModelCache",
    "ensembles_in",
    "evaluate",
    "evaluate_targets",
    "replica_threads",
]


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


def replica_threads() -> int | None:
    """The whole CPUs Ray reserved for this worker (a gateway replica's ``num_cpus``,
    at least 1), or None outside a Ray worker that reserved any.

    XGBoost predicts with every core by default; a replica that reserved one CPU then
    contends with the proxy, the other replicas and its own log writer. On the shared
    2-core machine of ``bench/serving.py`` a 10k-row ``inplace_predict`` took 20-30 ms
    on one thread against 40-55 ms on two.
    """
    import sys

    ray = sys.modules.get("ray")  # never imported here: only a Ray worker has it loaded
    if ray is None or not ray.is_initialized():
        return None
    try:
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
    except Exception:  # a driver, or a Ray without the call: keep XGBoost's default
        return None
    return max(1, int(cpus)) if cpus else None


class ModelCache:
    """Thread-safe LRU of loaded versions; each version is loaded once even under races."""

    def __init__(
        self,
        load: Callable[[str], Any],
        *,
        capacity: int = 32,
        reject_missing: bool = False,
        uncertainty: Callable[[str], dict[str, Any] | None] | None = None,
        threads: int | None = None,
    ) -> None:
        self._load = load
        self.threads = threads if threads is not None else replica_threads()
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
                if self.threads is not None:
                    predictor.set_threads(self.threads)
                for ensemble in ensembles_in(predictor):
                    ensemble.fused()  # at load, not on the first request (~0.1 s a model)
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
