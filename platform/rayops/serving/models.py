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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rayops.registry.card import ADAPTIVE_KINDS
from rayops.serving.ensembles import Combiner
from rayops.serving.inputs import FeatureSchema, schema_of

__all__ = ["LoadedModel", "ModelCache", "ensembles_in", "evaluate", "evaluate_targets"]


def evaluate(
    predictor: Any,
    frame: Any,
    combiners: Mapping[str, Combiner] | None = None,
    *,
    _memo: dict[tuple[str, ...], Any] | None = None,
) -> Any:
    """Predictions of a registry Predictor or EnsemblePredictor as a 1-D float64 array.

    The same numbers as ``predictor.predict(frame)``, computed with
    ``Booster.inplace_predict`` (no DMatrix per call, which dominates the cost of
    a single-row request); ensembles combine their members as their spec says,
    converting the frame to a matrix once for all members that share features.
    Dynamic and voting ensembles use their :class:`~rayops.serving.ensembles.Combiner`
    from ``combiners`` (by ``name@version``; missing: the cold-start weighted mean).
    A multi-target ensemble gives its primary target (see :func:`evaluate_targets`).
    """
    import numpy as np

    if hasattr(predictor, "members"):
        memo = {} if _memo is None else _memo
        spec = predictor.spec
        if spec.kind == "multi_target":
            return evaluate(predictor.members[0], frame, combiners, _memo=memo)
        if spec.kind in ADAPTIVE_KINDS:
            return _adaptive(predictor, frame, combiners or {}, memo)
        columns = {
            ref: evaluate(m, frame, combiners, _memo=memo)
            for ref, m in zip(spec.members, predictor.members, strict=True)
        }
        if spec.kind == "stacked":
            meta = predictor.meta
            names = meta.features or list(spec.members)
            matrix = np.column_stack([columns[f] for f in names]).astype(np.float32)

            def meta_frame() -> Any:
                import pandas as pd

                return pd.DataFrame(columns, index=frame.index)

            return _booster_predict(meta, matrix, meta_frame)
        weights = np.asarray(spec.normalized_weights(), dtype=np.float64)
        stacked = np.column_stack([columns[r] for r in spec.members]).astype(np.float64)
        return stacked @ weights
    if not len(frame):
        return np.empty(0, dtype=np.float64)
    key = tuple(predictor.features)
    x = _memo.get(key) if _memo is not None else None
    if x is None:
        same = not predictor.features or list(frame.columns) == predictor.features
        x = frame if same else frame[predictor.features]
        if all(dtype.kind in "fiub" for dtype in x.dtypes):
            # All numeric: a float32 matrix in the booster's feature order is what XGBoost
            # uses internally anyway, and skips pandas handling per call.
            x = x.to_numpy(dtype=np.float32)
        if _memo is not None:
            _memo[key] = x
    return _booster_predict(predictor, x, lambda: frame)


def _booster_predict(predictor: Any, x: Any, frame: Callable[[], Any]) -> Any:
    import numpy as np
    import xgboost as xgb

    try:
        out = predictor.booster.inplace_predict(x)
    except xgb.core.XGBoostError:
        # Linear boosters (gblinear, e.g. a stacking meta-learner) have no inplace path.
        return np.asarray(predictor.predict(frame()), dtype=np.float64)
    return np.asarray(out, dtype=np.float64).reshape(len(x), -1)[:, 0]


def _adaptive(
    predictor: Any, frame: Any, combiners: Mapping[str, Combiner], memo: dict[Any, Any]
) -> Any:
    """Dynamic selection / confidence-weighted voting: per-row member weights."""
    import numpy as np

    combiner = combiners.get(predictor.ref)
    if combiner is None:
        spec = predictor.spec
        combiner = Combiner(spec.kind, spec.members, spec.normalized_weights(), spec.context)
    weights = combiner.weights(frame)
    out = np.zeros(len(frame), dtype=np.float64)
    for j, member in enumerate(predictor.members):
        w = weights[:, j]
        if w.any():  # a dynamic ensemble evaluates only the members it picked
            out += w * evaluate(member, frame, combiners, _memo=memo)
    return out


def evaluate_targets(
    predictor: Any, frame: Any, combiners: Mapping[str, Combiner] | None = None
) -> dict[str, Any]:
    """Every target's predictions of a multi-target ensemble, by target name."""
    spec = predictor.spec
    pairs = zip(spec.targets, predictor.members, strict=True)
    memo: dict[tuple[str, ...], Any] = {}
    return {t: evaluate(m, frame, combiners, _memo=memo) for t, m in pairs}


@dataclass(frozen=True)
class LoadedModel:
    """A predictor ready to serve and its input schema."""

    ref: str
    predictor: Any
    schema: FeatureSchema

    @property
    def kind(self) -> str:
        return "ensemble" if hasattr(self.predictor, "members") else "booster"

    @property
    def targets(self) -> list[str] | None:
        """Target names of a multi-target model (None: one target)."""
        return getattr(self.predictor, "targets", None)


def ensembles_in(predictor: Any) -> list[Any]:
    """Every ensemble predictor in ``predictor`` (itself included), outermost first."""
    if predictor is None or not hasattr(predictor, "members"):
        return []
    out = [predictor]
    for m in predictor.members:
        out += ensembles_in(m)
    return out


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
