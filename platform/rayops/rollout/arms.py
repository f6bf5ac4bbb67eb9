"""The two arms of a rollout over one window of traffic, as the analysis judges them.

An :class:`Arm` is one version's share of the window: how its requests went
(count, latency percentiles, failed share, from
:func:`rayops.monitoring.metrics.endpoint_metrics`) and its labeled rows as its
task sees them (:func:`rayops.telemetry.labeled.labeled_rows`): the per-row loss
the promotion gate tests (squared error, or the log loss of the true class), the
request of each row (the gate tests per request) and the task's metrics.

:func:`measure` reads the window's joined log once for both arms. Each arm is
scored with its own card: its task, its classes and, for a binary model, the
decision threshold in force.

Example:
    >>> import numpy as np
    >>> arm = Arm.of("m@1.0.0", "regression", y=[1.0, 2.0], output=[1.5, 2.0])
    >>> arm.labeled, arm.losses.tolist(), arm.metrics["rmse"]
    (2, [0.25, 0.0], 0.3535533905932738)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rayops.monitoring.metrics import endpoint_metrics
from rayops.tasks import Labels, Task
from rayops.telemetry.labeled import labeled_rows
from rayops.telemetry.readers import joined

if TYPE_CHECKING:
    import numpy as np

    from rayops.registry import Registry
    from rayops.storage.base import Storage

__all__ = ["Arm", "measure", "row_refs"]

_OPS = ("requests", "rows", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "error_rate")


def _empty() -> np.ndarray:
    import numpy as np

    return np.empty(0)


@dataclass(frozen=True)
class Arm:
    """One version in a rollout window (see the module docstring).

    ``keys`` holds ``request_id:row`` of each labeled row, so a shadow's rows can be
    paired with the live version's answers to the same requests.
    """

    ref: str
    task: Task
    requests: int = 0
    rows: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_p99_ms: float | None = None
    error_rate: float | None = None
    losses: np.ndarray = field(default_factory=_empty, repr=False)
    request_ids: np.ndarray = field(default_factory=_empty, repr=False)
    keys: np.ndarray = field(default_factory=_empty, repr=False)
    metrics: dict[str, Any] = field(default_factory=dict)
    #: Labeled rows per class (classifiers), for the floors' significance tests.
    class_counts: tuple[int, ...] = ()

    @property
    def labeled(self) -> int:
        """Labeled rows in the window."""
        return len(self.losses)

    @classmethod
    def of(
        cls,
        ref: str,
        task: Task | str,
        *,
        y: Any,
        output: Any,
        labels: Labels | None = None,
        request_ids: Any = None,
        tolerance: float = 5.0,
        threshold: float = 0.5,
        **ops: Any,
    ) -> Arm:
        """An arm from targets (class indices) and outputs: losses and metrics computed here.

        ``ops`` are the operational fields (``requests``, ``latency_p95_ms``...).
        """
        import numpy as np

        task = Task.of(task)
        y = np.asarray(y)
        out = np.asarray(output, dtype=np.float64)
        ids = np.arange(len(y)).astype(str) if request_ids is None else np.asarray(request_ids)
        metrics = task.metrics(y, out, labels=labels, tolerance=tolerance, threshold=threshold)
        return cls(
            ref, task, losses=task.row_loss(y, out), request_ids=ids, keys=ids,
            metrics=metrics, class_counts=_class_counts(task, y, out),
            **{"requests": len(y), "rows": len(y), **ops},
        )  # fmt: skip

    def summary(self) -> dict[str, Any]:
        """JSON-ready fields for the rollout document: operations, labeled rows, metrics."""
        out: dict[str, Any] = {name: getattr(self, name) for name in _OPS}
        out.update(task=self.task.kind.value, labeled=self.labeled)
        for name, value in self.metrics.items():
            out[name] = None if value is None else float(value)
        return out


def row_refs(frame: Any) -> np.ndarray:
    """The ``model@version`` of every row of a joined log."""
    import numpy as np

    if not len(frame):
        return np.empty(0, dtype=object)
    out: np.ndarray = (frame["model"].astype(str) + "@" + frame["version"].astype(str)).to_numpy()
    return out


def measure(
    storage: Storage,
    registry: Registry,
    endpoint: str,
    refs: list[str],
    start: datetime,
    end: datetime,
    *,
    tolerance: float,
    include_shadow: bool = False,
    frame: Any = None,
) -> dict[str, Arm]:
    """The arms of ``refs`` over ``[start, end)`` of ``endpoint``'s logs (a ref with no
    traffic in the window is left out); ``frame``: that window, already read."""
    import numpy as np

    if frame is None:
        frame = joined(storage, endpoint, start, end, include_shadow=include_shadow)
    ops = endpoint_metrics(
        storage, endpoint, start, end, tolerance=tolerance, include_shadow=include_shadow,
        frame=frame,
    )  # fmt: skip
    refs_of_rows = row_refs(frame)
    out: dict[str, Arm] = {}
    for ref in refs:
        found = ops.get(ref)
        if found is None:
            continue
        version = registry.get(ref)
        card = version.card
        task, labels = Task.of(card.task), card.labels
        part = frame[refs_of_rows == ref]
        rows = labeled_rows(part, task, labels)
        keyed = part.loc[rows.index]
        keys = (
            (keyed["request_id"].astype(str) + ":" + keyed["row"].astype(str)).to_numpy()
            if len(keyed)
            else np.empty(0, dtype=object)
        )
        threshold = version.threshold if version.threshold is not None else 0.5
        metrics = rows.metrics(task, labels, tolerance=tolerance, threshold=threshold)
        out[ref] = Arm(
            ref, task, losses=rows.loss, request_ids=rows.request_id, keys=keys,
            metrics=metrics, class_counts=_class_counts(task, rows.y, rows.output),
            **{name: getattr(found, name) for name in _OPS},
        )  # fmt: skip
    return out


def _class_counts(task: Task, y: Any, output: Any) -> tuple[int, ...]:
    """Labeled rows per class index (classifiers; ``()`` for regression)."""
    import numpy as np

    if not task.is_classification or not len(y):
        return ()
    k = max(int(np.asarray(output).shape[-1]) if np.ndim(output) == 2 else 2, 2)
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=k)
    return tuple(int(c) for c in counts)
