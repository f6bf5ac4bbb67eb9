"""Predictors returned by :meth:`Registry.load`, and the one function that evaluates them.

A :class:`Predictor` wraps one XGBoost booster, the feature list from its card
and its :class:`~rayops.tasks.Task`; an :class:`EnsemblePredictor` combines
member predictors as its :class:`~rayops.registry.card.EnsembleSpec` says.
Both take a pandas DataFrame (extra columns are ignored, missing ones are an
error). Their output is the task's: ``[N]`` values for regression, ``[N, K]``
class probabilities (in ``labels.classes`` order) for classification.

:func:`evaluate` is the only evaluation path, used by ``predict`` here and by
every gateway replica: ``Booster.inplace_predict`` on a float32 matrix built
once per feature list (no DMatrix per call, which dominates a one-row request),
and for linear boosters (``gblinear``, e.g. a stacking meta-learner, which have
no in-place path) their coefficients applied with numpy
(:class:`~rayops.registry.linear.LinearBooster`; a DMatrix only for one it
cannot reproduce). Ensembles:

* ``weighted`` — the weighted mean of the members' outputs (probabilities for
  classifiers);
* ``stacked`` — the meta-learner over the members' outputs: one column per
  member (named by its ``name@version``) for regression and binary (its value,
  or its probability of the second class), one per member and class
  (``name@version[class]``) for multiclass;
* ``dynamic`` / ``voting`` — per-row member weights from a combiner
  (``combiners[ref].weights(frame)``; serving passes the ones built from recent
  feedback, without one it is the weighted mean of the spec's weights);
* ``multi_target`` — the primary target's member (:func:`evaluate_targets` for all).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from rayops.errors import InvalidInputError
from rayops.registry.card import ADAPTIVE_KINDS, EnsembleSpec
from rayops.registry.fused import FusedTrees
from rayops.registry.linear import LinearBooster
from rayops.registry.rows import Rows, as_frame
from rayops.tasks import Label, Labels, Task

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import xgboost as xgb

__all__ = [
    "Combiner",
    "EnsemblePredictor",
    "Predictor",
    "evaluate",
    "evaluate_targets",
    "meta_columns",
]


class Combiner(Protocol):
    """Per-row member weights of a dynamic or voting ensemble."""

    def weights(self, frame: pd.DataFrame) -> np.ndarray:
        """A ``[rows, members]`` matrix whose rows sum to 1."""
        ...


class _Outputs:
    """What every predictor knows about its output: task, labels and threshold."""

    ref: str
    task: Task
    labels: Labels | None
    threshold: float
    features: list[str]

    @property
    def n_classes(self) -> int:
        return len(self.labels) if self.labels is not None else 0

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Values ``[N]`` (regression) or class probabilities ``[N, K]`` for ``frame``."""
        return evaluate(self, frame)

    def predict_labels(self, frame: pd.DataFrame) -> list[Label]:
        """Predicted labels of a classifier, decoded to the training values.

        Example:
            >>> predictor.predict_labels(df)  # doctest: +SKIP
            ['no', 'yes', 'no']
        """
        if self.labels is None:
            raise InvalidInputError(f"{self.ref} is a regression model; it has no labels.")
        index = self.task.predicted_index(self.predict(frame), threshold=self.threshold)
        return self.labels.decode(index)


class Predictor(_Outputs):
    """One booster and the features it was trained on.

    Attributes:
        ref: ``name@version`` it was loaded from.
        booster: the ``xgboost.Booster``.
        features: input columns, in training order.
        feature_types: XGBoost feature types (``"float"``, ``"int"``, ``"c"``...), if known.
        task: regression, binary or multiclass.
        labels: the classes of a classifier (None for regression).
        threshold: a binary classifier's decision threshold on the second class.
    """

    def __init__(
        self,
        ref: str,
        booster: xgb.Booster,
        features: Sequence[str],
        feature_types: Sequence[str] | None = None,
        nthread: int | None = None,
        *,
        task: Task | str | None = None,
        labels: Labels | Sequence[Label] | None = None,
        threshold: float = 0.5,
    ) -> None:
        self.ref = ref
        self.booster = booster
        self.features: list[str] = list(features)
        self.feature_types = list(feature_types) if feature_types is not None else None
        self.nthread = nthread
        self.task = Task.of(task)
        self.labels = _labels(self.task, labels)
        self.threshold = threshold
        # A linear booster's numpy form (False: none; None: not looked at yet).
        self._linear: LinearBooster | bool | None = None

    def set_threads(self, nthread: int) -> None:
        """Predict with ``nthread`` XGBoost (OpenMP) threads."""
        self.nthread = nthread
        self.booster.set_param({"nthread": nthread})

    def matrix(self, frame: pd.DataFrame | Rows) -> Any:
        """The input of ``inplace_predict``: a float32 matrix in feature order when every
        column is numeric, else the frame's feature columns (categoricals)."""
        import numpy as np

        if isinstance(frame, Rows):
            if frame.numeric:
                return frame.matrix_for(self.features or frame.columns)
            frame = frame.frame()
        missing = [f for f in self.features if f not in frame.columns]
        if missing:
            raise InvalidInputError(
                f"{self.ref} needs columns {missing} that the data does not have; "
                f"it was trained on {self.features}."
            )
        same = not self.features or list(frame.columns) == self.features
        x = frame if same else frame[self.features]
        if all(dtype.kind in "fiub" for dtype in x.dtypes):
            # What XGBoost uses internally anyway; skips pandas handling per call.
            return x.to_numpy(dtype=np.float32)
        return x

    def raw(self, x: Any, frame: Callable[[], pd.DataFrame | Rows]) -> np.ndarray:
        """The booster's output for matrix ``x``, shaped as the task's output."""
        import numpy as np
        import xgboost as xgb

        if self._linear is None:  # the first call: is this a linear booster numpy can run?
            self._linear = LinearBooster.of(self.booster) or False
        linear = self._linear
        if isinstance(linear, LinearBooster) and isinstance(x, np.ndarray) and linear.takes(x):
            return self.task.probabilities(linear.predict(x), self.n_classes)
        try:
            out = self.booster.inplace_predict(x)
        except xgb.core.XGBoostError:
            # Linear boosters (gblinear) have no inplace path.
            if isinstance(x, np.ndarray) and not self.booster.feature_names:
                # A nameless booster (a multiclass stacking meta-learner, whose ref[class]
                # columns XGBoost refuses as names) takes the matrix as it is.
                matrix = xgb.DMatrix(x, nthread=self.nthread or 0)
            else:
                data = as_frame(frame())
                data = data[self.features] if self.features else data
                matrix = xgb.DMatrix(data, enable_categorical=True, nthread=self.nthread or 0)
            out = self.booster.predict(matrix)
        return self.task.probabilities(np.asarray(out), self.n_classes)

    def __repr__(self) -> str:
        return f"Predictor({self.ref!r}, {self.task}, features={len(self.features)})"


class EnsemblePredictor(_Outputs):
    """Members' outputs combined by an :class:`EnsembleSpec`.

    Attributes:
        ref: ``name@version`` of the ensemble.
        spec: the ensemble definition.
        members: member predictors, in ``spec.members`` order.
        meta: the meta-learner of a stacked ensemble (else None).
        features: union of the members' features, in first-seen order.
        task, labels, threshold: the members' (all members share them).
    """

    def __init__(
        self,
        ref: str,
        spec: EnsembleSpec,
        members: Sequence[Predictor | EnsemblePredictor],
        meta: Predictor | None = None,
        *,
        threshold: float | None = None,
    ) -> None:
        self.ref = ref
        self.spec = spec
        self.members = list(members)
        self.meta = meta
        seen: dict[str, None] = {}
        for m in self.members:
            seen.update(dict.fromkeys(m.features))
        self.features: list[str] = list(seen)
        first = self.members[0]
        if spec.kind != "multi_target":
            for m in self.members[1:]:
                if m.task != first.task or m.labels != first.labels:
                    raise InvalidInputError(
                        f"The members of {ref} must share one task and class list: "
                        f"{first.ref} is {first.task} {first.labels}, {m.ref} is "
                        f"{m.task} {m.labels}."
                    )
        self.task = first.task
        self.labels = first.labels
        self.threshold = threshold if threshold is not None else first.threshold
        # The tree members as one booster (False: they cannot be; None: not tried yet).
        self._fused: FusedTrees | bool | None = None

    def fused(self) -> FusedTrees | None:
        """The members predicted in one XGBoost call, when every member is a tree booster
        over the same feature list (see :mod:`~rayops.registry.fused`); else None."""
        if self._fused is None:
            plain = [m for m in self.members if isinstance(m, Predictor)]
            fused = None
            if len(plain) == len(self.members) and all(
                m.features == plain[0].features for m in plain
            ):
                fused = FusedTrees.of([m.booster for m in plain], plain[0].nthread)
            self._fused = fused or False
        return self._fused if isinstance(self._fused, FusedTrees) else None

    def set_threads(self, nthread: int) -> None:
        """Predict with ``nthread`` XGBoost threads in every booster (members, meta)."""
        for m in self.members:
            m.set_threads(nthread)
        if self.meta is not None:
            self.meta.set_threads(nthread)
        self._fused = None  # fused again with the new thread count on the next call

    def member_outputs(
        self,
        frame: pd.DataFrame | Rows,
        combiners: Mapping[str, Combiner] | None = None,
        *,
        _memo: dict[tuple[str, ...], Any] | None = None,
    ) -> list[np.ndarray]:
        """Every member's output on ``frame``, in member order (one XGBoost call for
        fused members on an all-numeric matrix)."""
        import numpy as np

        memo = {} if _memo is None else _memo
        fused = self.fused() if len(frame) else None
        first = self.members[0]
        if fused is not None and isinstance(first, Predictor):
            key = tuple(first.features)
            x = memo.get(key)
            if x is None:
                x = memo[key] = first.matrix(frame)
            if isinstance(x, np.ndarray):
                return [m.task.probabilities(out, m.n_classes)
                        for m, out in zip(self.members, fused.predict(x), strict=True)]  # fmt: skip
        return [evaluate(m, frame, combiners, _memo=memo) for m in self.members]

    def member_predictions(self, frame: pd.DataFrame | Rows) -> pd.DataFrame:
        """The meta-learner's input: members' outputs as columns (see :func:`meta_columns`)."""
        import pandas as pd

        columns: dict[str, Any] = {}
        outputs = self.member_outputs(frame)
        for ref, m, out in zip(self.spec.members, self.members, outputs, strict=True):
            columns.update(_meta_input(ref, m, out))
        return pd.DataFrame(columns, index=frame.index)

    @property
    def targets(self) -> list[str] | None:
        """The targets of a multi_target ensemble (None for a single target)."""
        return list(self.spec.targets) if self.spec.targets else None

    def predict_targets(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Every target's output (a single-target ensemble: its one output,
        named ``prediction``)."""
        if self.spec.targets is None:
            return {"prediction": self.predict(frame)}
        return evaluate_targets(self, frame)

    def __repr__(self) -> str:
        return (
            f"EnsemblePredictor({self.ref!r}, kind={self.spec.kind!r}, members={self.spec.members})"
        )


def _labels(task: Task, labels: Labels | Sequence[Label] | None) -> Labels | None:
    if not task.is_classification:
        if labels is not None:
            raise InvalidInputError("A regression model has no classes.")
        return None
    if labels is None:
        raise InvalidInputError(f"A {task} model needs its class list.")
    return labels if isinstance(labels, Labels) else Labels(labels)


def meta_columns(members: Sequence[str], task: Task, labels: Labels | None) -> list[str]:
    """The stacking meta-learner's feature names for ``members`` of ``task``.

    Example:
        >>> meta_columns(["a@1.0.0", "b@1.0.0"], Task.of("regression"), None)
        ['a@1.0.0', 'b@1.0.0']
        >>> meta_columns(["a@1.0.0"], Task.of("multiclass"), Labels(["x", "y", "z"]))
        ['a@1.0.0[x]', 'a@1.0.0[y]', 'a@1.0.0[z]']
    """
    if task.kind.value == "multiclass":
        assert labels is not None
        return [f"{m}[{c}]" for m in members for c in labels.classes]
    return list(members)


def _meta_input(ref: str, member: Any, out: np.ndarray) -> dict[str, Any]:
    """One member's output as meta-learner columns (binary: P(second class))."""
    task, labels = member.task, member.labels
    if not task.is_classification:
        return {ref: out}
    if task.kind.value == "binary":
        return {ref: out[:, 1]}
    names = meta_columns([ref], task, labels)
    return {name: out[:, j] for j, name in enumerate(names)}


def evaluate(
    predictor: Any,
    frame: pd.DataFrame | Rows,
    combiners: Mapping[str, Combiner] | None = None,
    *,
    _memo: dict[tuple[str, ...], Any] | None = None,
) -> np.ndarray:
    """The output of a Predictor or EnsemblePredictor on ``frame`` (see the module docstring).

    The float32 matrix of a feature list is built once and shared by every member
    with that list.
    """
    import numpy as np

    memo = {} if _memo is None else _memo
    if isinstance(predictor, EnsemblePredictor):
        spec = predictor.spec
        if spec.kind == "multi_target":
            return evaluate(predictor.members[0], frame, combiners, _memo=memo)
        if spec.kind in ADAPTIVE_KINDS:
            return _adaptive(predictor, frame, combiners or {}, memo)
        outputs = predictor.member_outputs(frame, combiners, _memo=memo)
        if spec.kind == "stacked":
            meta = predictor.meta
            assert meta is not None
            columns: dict[str, Any] = {}
            for ref, m, out in zip(spec.members, predictor.members, outputs, strict=True):
                columns.update(_meta_input(ref, m, out))
            names = meta.features or list(columns)
            matrix = np.column_stack([columns[f] for f in names]).astype(np.float32)

            def meta_frame() -> pd.DataFrame:
                import pandas as pd

                return pd.DataFrame(columns, index=frame.index)

            return meta.raw(matrix, meta_frame)
        weights = np.asarray(spec.normalized_weights(), dtype=np.float64)
        return np.tensordot(weights, np.stack(outputs), axes=1)
    if not len(frame):
        k = predictor.n_classes
        return np.empty((0, k) if k else 0, dtype=np.float64)
    key = tuple(predictor.features)
    x = memo.get(key)
    if x is None:
        x = predictor.matrix(frame)
        memo[key] = x
    result: np.ndarray = predictor.raw(x, lambda: frame)
    return result


def _adaptive(
    predictor: EnsemblePredictor,
    frame: pd.DataFrame | Rows,
    combiners: Mapping[str, Combiner],
    memo: dict[Any, Any],
) -> np.ndarray:
    """Dynamic selection / confidence-weighted voting: per-row member weights."""
    import numpy as np

    combiner = combiners.get(predictor.ref)
    spec = predictor.spec
    if combiner is None:
        weights = np.tile(np.asarray(spec.normalized_weights()), (len(frame), 1))
    else:
        weights = combiner.weights(frame)
    out: np.ndarray | None = None
    for j, member in enumerate(predictor.members):
        w = weights[:, j]
        if not w.any():  # a dynamic ensemble evaluates only the members it picked
            continue
        value = evaluate(member, frame, combiners, _memo=memo)
        part = value * (w[:, None] if value.ndim == 2 else w)
        out = part if out is None else out + part
    if out is None:  # no rows
        k = predictor.n_classes
        return np.zeros((len(frame), k) if k else len(frame), dtype=np.float64)
    return out


def evaluate_targets(
    predictor: EnsemblePredictor,
    frame: pd.DataFrame | Rows,
    combiners: Mapping[str, Combiner] | None = None,
) -> dict[str, np.ndarray]:
    """Every target's output of a multi-target ensemble, by target name."""
    spec = predictor.spec
    assert spec.targets is not None
    memo: dict[tuple[str, ...], Any] = {}
    return {
        t: evaluate(m, frame, combiners, _memo=memo)
        for t, m in zip(spec.targets, predictor.members, strict=True)
    }
