"""What a model answers for a request, per task, and how each protocol shows it.

* regression: one value per row;
* classification: the predicted label per row (decoded to the training values:
  the threshold on the second class for binary, the most probable class for
  multiclass) and the ``[N, K]`` class probabilities in ``classes`` order.

JSON predict::

    {"predictions": [51.2, ...]}                                      regression
    {"predictions": ["yes", ...], "classes": ["no", "yes"],
     "probabilities": [[0.2, 0.8], ...]}                              classification

OIP v2 outputs: ``prediction`` (FP64, ``[N]``) for regression; ``label`` (BYTES,
``[N]``) and ``probabilities`` (FP32, ``[N, K]``) for classification.

Example:
    >>> import numpy as np
    >>> from rayops.tasks import Task
    >>> a = Answer.classified(Task.of("binary"), np.array([[0.3, 0.7]]), ["no", "yes"], 0.5)
    >>> a.json()
    {'predictions': ['yes'], 'classes': ['no', 'yes'], 'probabilities': [[0.3, 0.7]]}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rayops.tasks import Label, Task, TaskKind
from rayops.telemetry.writers import Scored

if TYPE_CHECKING:
    import numpy as np

__all__ = ["CLASSIFIER_OUTPUTS", "REGRESSION_OUTPUT", "Answer", "answer_of"]

#: The OIP output of a regression model.
REGRESSION_OUTPUT = "prediction"
#: The OIP outputs of a classifier.
CLASSIFIER_OUTPUTS = ("label", "probabilities")


@dataclass(frozen=True)
class Answer:
    """One request's answer (see the module docstring)."""

    task: Task
    values: np.ndarray | None = None
    probabilities: np.ndarray | None = None
    classes: Sequence[Label] | None = None
    labels: Sequence[Label] | None = None

    @classmethod
    def regression(cls, values: np.ndarray) -> Answer:
        return cls(Task(TaskKind.REGRESSION), values=values)

    @classmethod
    def classified(
        cls, task: Task, probabilities: np.ndarray, classes: Sequence[Label], threshold: float
    ) -> Answer:
        index = task.predicted_index(probabilities, threshold=threshold)
        return cls(
            task,
            probabilities=probabilities,
            classes=list(classes),
            labels=[classes[int(i)] for i in index],
        )

    def __len__(self) -> int:
        data = self.values if self.values is not None else self.probabilities
        return 0 if data is None else len(data)

    @property
    def outputs(self) -> tuple[str, ...]:
        """The names of this answer's OIP outputs."""
        return CLASSIFIER_OUTPUTS if self.task.is_classification else (REGRESSION_OUTPUT,)

    def json(self) -> dict[str, Any]:
        """The answer's part of a JSON predict response."""
        if self.task.is_classification:
            assert self.probabilities is not None and self.classes is not None
            return {
                "predictions": list(self.labels or ()),
                "classes": list(self.classes),
                "probabilities": self.probabilities.tolist(),
            }
        assert self.values is not None
        return {"predictions": self.values.tolist()}

    def scored(self, extras: Any = None) -> Scored:
        """The answer as the prediction log stores it, with the request's
        :class:`~rayops.serving.extras.Extras` (bounds, sets, contributions) if any."""
        more = extras.logged() if extras is not None else {}
        if self.task.is_classification:
            return Scored(
                probabilities=self.probabilities, classes=self.classes, labels=self.labels, **more
            )
        return Scored(values=self.values, **more)


def answer_of(predictor: Any, output: np.ndarray, threshold: float | None = None) -> Answer:
    """The answer of ``predictor`` (a registry Predictor or EnsemblePredictor) for its
    ``output`` (``evaluate``'s), with ``threshold`` overriding the predictor's own."""
    task: Task = predictor.task
    if not task.is_classification:
        return Answer.regression(output)
    labels = predictor.labels
    return Answer.classified(
        task, output, labels.classes, predictor.threshold if threshold is None else threshold
    )
