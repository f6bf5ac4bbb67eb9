"""A request's answer with what it asked for beyond the prediction, in both protocols.

:func:`answer_with_extras` turns a model's raw output into the served
:class:`~rayops.serving.answers.Answer` (calibrated probabilities when the
version has a calibration in force and the request did not say
``calibrate: false``) and the :class:`Extras`: contributions, interval bounds,
prediction sets. :func:`check_options` runs first, before any work, so asking
a model for what it cannot give is a 422 that costs nothing.

JSON predict response fields (beside ``predictions``)::

    "explanations": {...}                 see rayops.serving.explaining
    "interval": 0.9, "lower": [...], "upper": [...]          regression
    "prediction_set": 0.9, "prediction_sets": [["a"], ["a", "b"], ...]   classification
    "calibration": "isotonic"             when served probabilities are calibrated

OIP outputs: ``contributions`` FP32 ``[N, F + 1]`` (and ``top_features``), ``lower``
and ``upper`` FP64 ``[N]``, ``prediction_set`` BYTES ``[N]`` — each element the
set's JSON list text, e.g. ``["setosa", "versicolor"]``, the same text the
prediction log's ``pset`` column holds.

Example:
    >>> import numpy as np
    >>> Extras(lower=np.array([1.0]), upper=np.array([3.0]), interval=0.9).json(None)
    {'interval': 0.9, 'lower': [1.0], 'upper': [3.0]}
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rayops.serving.answers import Answer, answer_of
from rayops.serving.confidence import Confidence, set_text
from rayops.serving.explaining import (
    check_explainable,
    contribution_tensors,
    explain,
    explanation_json,
    link_of,
)
from rayops.serving.options import InvalidOptionError, RequestOptions

if TYPE_CHECKING:
    import numpy as np

    from rayops.registry.explain import Contributions

__all__ = [
    "EXTRA_OUTPUTS",
    "Extras",
    "answer_with_extras",
    "check_options",
    "unknown_output",
]

logger = logging.getLogger(__name__)

#: Versions whose contributions the log asked for but that cannot explain (warned once).
_UNEXPLAINED: set[str] = set()

#: OIP output names an option adds, and the option that produces each.
EXTRA_OUTPUTS = {
    "contributions": "explain",
    "top_features": "top_k",
    "lower": "interval",
    "upper": "interval",
    "prediction_set": "prediction_set",
}


@dataclass(frozen=True)
class Extras:
    """What one request got beyond its prediction (each None when not asked)."""

    contributions: Contributions | None = None
    top_k: int | None = None
    approx: bool = False
    link: str = "identity"
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    interval: float | None = None
    sets: list[list[Any]] | None = None
    prediction_set: float | None = None
    calibration: str | None = None
    explained: bool = False  # contributions were asked for (not only computed for the log)
    log_contributions: bool = False  # the endpoint logs them (c_<feature> columns)

    def json(self, classes: Sequence[Any] | None) -> dict[str, Any]:
        """The fields this adds to a JSON predict response."""
        out: dict[str, Any] = {}
        if self.explained and self.contributions is not None:
            out["explanations"] = explanation_json(
                self.contributions, classes, top_k=self.top_k, approx=self.approx, link=self.link
            )
        if self.lower is not None and self.upper is not None:
            out.update(interval=self.interval, lower=self.lower.tolist(),
                       upper=self.upper.tolist())  # fmt: skip
        if self.sets is not None:
            out.update(prediction_set=self.prediction_set, prediction_sets=self.sets)
        if self.calibration is not None:
            out["calibration"] = self.calibration
        return out

    def tensors(self) -> list[dict[str, Any]]:
        """The OIP output tensors this adds."""
        out: list[dict[str, Any]] = []
        if self.explained and self.contributions is not None:
            out += contribution_tensors(self.contributions, self.top_k)
        if self.lower is not None and self.upper is not None:
            for name, values in (("lower", self.lower), ("upper", self.upper)):
                out.append({"name": name, "shape": [len(values)], "datatype": "FP64",
                            "data": values.tolist()})  # fmt: skip
        if self.sets is not None:
            out.append({"name": "prediction_set", "shape": [len(self.sets)], "datatype": "BYTES",
                        "data": [set_text(s) for s in self.sets]})  # fmt: skip
        return out

    def logged(self) -> dict[str, Any]:
        """What the prediction log stores of these extras: ``lower``/``upper``, ``pset``
        (each set's JSON list text) and, for an endpoint that logs them, ``contributions``
        as ``(features, [N, F + 1])`` (multiclass: the predicted, highest-margin class's)."""
        import numpy as np

        out: dict[str, Any] = {"lower": self.lower, "upper": self.upper}
        if self.sets is not None:
            out["pset"] = [set_text(s) for s in self.sets]
        c = self.contributions
        if self.log_contributions and c is not None:
            values = c.values
            if values.ndim == 3:
                values = values[np.arange(len(values)), c.margin.argmax(axis=1)]
            out["contributions"] = (list(c.features), np.asarray(values, dtype=np.float64))
        return out


def _confidence(model: Any) -> Confidence:
    found: Confidence | None = getattr(model, "confidence", None)
    if found is not None:
        return found
    predictor = model.predictor
    labels = getattr(predictor, "labels", None)
    spec = getattr(predictor, "spec", None)
    return Confidence(model.ref, predictor.task, labels.classes if labels is not None else None,
                      kind=spec.kind if spec is not None else "booster")  # fmt: skip


def _for_the_log(model: Any, rows: Any, combiners: Mapping[str, Any] | None) -> Any:
    """Contributions only the log asked for: a model that cannot explain logs none
    (the request it serves must not fail for a logging setting)."""
    try:
        return explain(model.predictor, rows, approx=False, combiners=combiners)
    except InvalidOptionError as e:
        if model.ref not in _UNEXPLAINED:
            _UNEXPLAINED.add(model.ref)
            logger.warning("serving_log_contributions: %s; its rows are logged without them.", e)
        return None


def check_options(model: Any, options: RequestOptions) -> None:
    """A 422 when the loaded ``model`` cannot give what ``options`` ask (before any work)."""
    if not options.extras:
        return
    if model.targets:
        raise InvalidOptionError(
            f"{model.ref} is a multi-target model: explanations, intervals and prediction sets "
            "are given per single-target model; serve one target's model to get them."
        )
    confidence = _confidence(model)
    if options.explain:
        check_explainable(model.predictor, len(model.schema.features), options.top_k)
    if options.interval is not None:
        confidence.check_interval(options.interval)
    if options.prediction_set is not None:
        confidence.check_set()


def answer_with_extras(
    model: Any,
    rows: Any,
    output: np.ndarray,
    options: RequestOptions,
    combiners: Mapping[str, Any] | None,
    *,
    log_contributions: bool = False,
) -> tuple[Answer, Extras | None]:
    """The served answer of ``model`` for its raw ``output`` on ``rows``, and the extras
    (None when there are none: a plain, uncalibrated answer)."""
    confidence: Confidence | None = getattr(model, "confidence", None)
    calibration = None
    if confidence is not None and confidence.calibrator is not None and options.calibrate:
        output = confidence.calibrate(output)
        calibration = confidence.calibration
    answer = answer_of(model.predictor, output)
    if not options.extras and not log_contributions and calibration is None:
        return answer, None
    contributions = None
    if options.explain:
        contributions = explain(model.predictor, rows, approx=options.approx, combiners=combiners)
    elif log_contributions:
        contributions = _for_the_log(model, rows, combiners)
    lower = upper = None
    if options.interval is not None:
        assert answer.values is not None
        lower, upper = _confidence(model).interval(answer.values, options.interval, rows)
    sets = None
    if options.prediction_set is not None:
        assert answer.probabilities is not None
        sets = _confidence(model).prediction_sets(answer.probabilities, options.prediction_set)
    return answer, Extras(
        contributions=contributions, top_k=options.top_k, approx=options.approx,
        link=link_of(model.predictor), lower=lower, upper=upper, interval=options.interval,
        sets=sets, prediction_set=options.prediction_set, calibration=calibration,
        explained=options.explain, log_contributions=log_contributions,
    )  # fmt: skip


def unknown_output(name: str, options: RequestOptions) -> str | None:
    """Why an extra output ``name`` cannot be returned for ``options`` (None: it can)."""
    need = EXTRA_OUTPUTS.get(name)
    if need is None:
        return None
    asked = {
        "explain": options.explain, "top_k": options.top_k is not None,
        "interval": options.interval is not None,
        "prediction_set": options.prediction_set is not None,
    }  # fmt: skip
    if asked[need]:
        return None
    return f"Output {name!r} needs the request parameter {need!r}."
