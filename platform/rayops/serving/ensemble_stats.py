"""Computing ensembles' per-member stats from the logs: the ``ensembles`` control task.

For every ensemble an endpoint serves (a route, the shadow, or a member of
one), :class:`EnsembleStatsTask` takes the labeled rows of the last
``window_s`` from those endpoints' logs (prediction log joined with feedback,
any version: the features are what matters), at most
``serving_ensemble_max_rows`` of the newest, re-predicts every member on them
in this process, and writes the stats document of
:mod:`rayops.serving.ensembles`: each member's decayed mean of the task's
per-row loss (squared error, or the log loss of the true class for a classifier
ensemble, whose labels come from feedback's ``actual_label`` in the members'
class order). Each row counts with weight ``0.5 ** (age / half_life_s)``, so
recent errors dominate. The whole window is
recomputed on every tick: nothing is kept in memory, a restarted loop resumes,
and late feedback is picked up as it arrives.

Example:
    >>> import numpy as np
    >>> y = np.array([0.0, 1.0])
    >>> m = member_stats(Task.of("regression"), y, [y + [1.0, 0.0], y + [-2.0, 2.0]],
    ...                  np.array([1.0, 1.0]), 1.5)
    >>> [(s.loss, s.mse, s.accuracy) for s in m]
    [(0.5, 0.5, 1.0), (4.0, 4.0, 0.0)]
    >>> p = np.array([[0.9, 0.1], [0.2, 0.8]])
    >>> m = member_stats(Task.of("binary"), np.array([0, 1]), [p], np.array([1.0, 1.0]), 1.5)
    >>> round(m[0].loss, 4), m[0].accuracy, m[0].mse
    (0.1643, 1.0, None)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from rayops.controltask import ControlTask
from rayops.errors import RayopsError
from rayops.registry.card import ADAPTIVE_KINDS, EnsembleSpec
from rayops.serving.ensembles import (
    Combiner,
    EnsembleStats,
    MemberStats,
    Segmenter,
    SegmentStats,
    combiner_for,
    read_stats,
    stats_key,
)
from rayops.storage.base import Storage
from rayops.tasks import Labels, Task

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["EnsembleStatsTask", "compute_stats", "endpoint_performance", "member_stats"]

logger = logging.getLogger(__name__)

#: Baseline quantiles used as the edges of numeric context columns.
QUARTILES = ("0.25", "0.5", "0.75")


def member_stats(
    task: Task,
    y: np.ndarray,
    outputs: Sequence[np.ndarray],
    weights: np.ndarray,
    tolerance: float,
    *,
    threshold: float = 0.5,
) -> list[MemberStats]:
    """Decayed stats of each member's ``outputs`` (values ``[N]`` or probabilities
    ``[N, K]``) against ``y`` (targets, or class indices)."""
    import numpy as np

    total = float(weights.sum())

    def mean(v: np.ndarray) -> float:
        return float(np.dot(weights, v) / total) if total > 0 else 0.0

    out = []
    for output in outputs:
        loss = mean(task.row_loss(y, output)) if len(y) else 0.0
        if task.is_classification:
            right = task.predicted_index(output, threshold=threshold) == y
            out.append(
                MemberStats(
                    rows=len(y),
                    weight=total,
                    loss=loss,
                    accuracy=min(1.0, mean(right.astype(np.float64))),
                )  # fmt: skip
            )
            continue
        e = np.asarray(output, dtype=np.float64) - np.asarray(y, dtype=np.float64)
        out.append(
            MemberStats(
                rows=len(e),
                weight=total,
                loss=loss,
                mse=loss,
                mae=mean(np.abs(e)),
                bias=mean(e),
                accuracy=min(1.0, mean((np.abs(e) <= tolerance).astype(np.float64))),
            )
        )
    return out


def context_bins(
    spec: EnsembleSpec,
    numeric: Sequence[str],
    baselines: Sequence[Mapping[str, Any] | None],
    frame: pd.DataFrame,
) -> dict[str, list[float]]:
    """Edges per numeric context column: the spec's, else baseline quartiles, else the data's."""
    import numpy as np

    given = spec.adaptive_settings().bins
    out: dict[str, list[float]] = {}
    for column in spec.context:
        if column not in numeric:
            continue
        if column in given:
            out[column] = list(given[column])
            continue
        edges: list[float] = []
        for baseline in baselines:
            q = ((baseline or {}).get(column) or {}).get("quantiles") or {}
            if all(k in q for k in QUARTILES):
                edges = [float(q[k]) for k in QUARTILES]
                break
        if not edges:
            values = np.asarray(frame[column], dtype=np.float64)
            values = values[~np.isnan(values)]
            if len(values):
                edges = [float(v) for v in np.quantile(values, [0.25, 0.5, 0.75])]
        out[column] = sorted(set(edges)) or [0.0]
    return out


def compute_stats(
    ref: str,
    spec: EnsembleSpec,
    frame: pd.DataFrame,
    actual: np.ndarray,
    times: pd.Series,
    predictions: Mapping[str, np.ndarray],
    *,
    now: datetime,
    window_start: datetime,
    half_life_s: float,
    min_rows: int,
    tolerance: float,
    bins: dict[str, list[float]],
    endpoints: Sequence[str] = (),
    task: Task | str | None = None,
    threshold: float = 0.5,
) -> EnsembleStats:
    """The stats document of ``ref`` from labeled rows and every member's predictions on
    them; ``actual`` is the target (regression) or the class indices (``task`` a
    classification task, ``predictions`` ``[N, K]`` probabilities)."""
    import numpy as np
    import pandas as pd

    task = Task.of(task)
    age_s = (pd.Timestamp(now) - pd.to_datetime(times, utc=True)).dt.total_seconds().to_numpy()
    weights = np.power(0.5, np.maximum(age_s, 0.0) / half_life_s)
    y = np.asarray(actual, dtype=np.int64 if task.is_classification else np.float64)
    outputs = [np.asarray(predictions[m], dtype=np.float64) for m in spec.members]

    def level(mask: np.ndarray | slice) -> dict[str, MemberStats]:
        stats = member_stats(
            task, y[mask], [o[mask] for o in outputs], weights[mask], tolerance,
            threshold=threshold,
        )  # fmt: skip
        return dict(zip(spec.members, stats, strict=True))

    segments = []
    if spec.context and len(frame):
        labels = Segmenter(spec.context, bins).labels(frame)
        groups: dict[tuple[Any, ...], list[int]] = {}
        for i, key in enumerate(labels):
            groups.setdefault(key, []).append(i)
        for key in sorted(groups, key=lambda k: json.dumps(k)):
            idx = np.asarray(groups[key])
            segments.append(SegmentStats(values=list(key), rows=len(idx), members=level(idx)))
    return EnsembleStats(
        ensemble=ref,
        kind=spec.kind,
        task=task.kind.value,
        updated_at=now,
        window_start=window_start,
        window_end=now,
        half_life_s=half_life_s,
        min_rows=min_rows,
        tolerance=tolerance,
        members=list(spec.members),
        context=list(spec.context),
        bins=bins,
        endpoints=list(endpoints),
        rows=len(frame),
        overall=level(slice(None)) if len(frame) else {},
        segments=segments,
    )


class EnsembleStatsTask(ControlTask):
    """Recompute and store every served ensemble's per-member stats (see the module)."""

    name = "ensembles"

    def __init__(self, storage: Storage, settings: Any = None) -> None:
        super().__init__(storage, settings)
        from rayops.registry import Registry

        self.registry = Registry(storage, settings=self.settings)
        self._loaded: dict[str, Any] = {}

    @property
    def interval_s(self) -> float:
        return self.settings.serving.ensemble_stats_interval_s

    def _load(self, ref: str) -> Any:
        if ref not in self._loaded:
            if len(self._loaded) >= 4 * self.settings.serving.model_cache:
                self._loaded.clear()
            self._loaded[ref] = self.registry.load(ref)
        return self._loaded[ref]

    def served(self) -> dict[str, list[str]]:
        """Every ensemble an endpoint serves (also as a member) -> those endpoints."""
        from rayops.serving.endpoints import Endpoints

        eps = Endpoints(self.storage, registry=False, settings=self.settings)
        out: dict[str, list[str]] = {}

        def visit(predictor: Any, endpoint: str) -> None:
            if not hasattr(predictor, "members"):
                return
            out.setdefault(predictor.ref, [])
            if endpoint not in out[predictor.ref]:
                out[predictor.ref].append(endpoint)
            for member in predictor.members:
                visit(member, endpoint)

        for endpoint in eps.list():
            try:
                table = eps.get(endpoint)
                for ref in table.refs():
                    visit(self._load(ref), endpoint)
            except RayopsError as e:
                logger.warning("Skipping endpoint %s for ensemble stats: %s", endpoint, e)
        return out

    def tick(self, now: datetime) -> dict[str, Any] | None:
        from rayops.telemetry.readers import joined

        served = self.served()
        rows_cache: dict[tuple[str, float], pd.DataFrame] = {}
        written: dict[str, int] = {}
        for ref, endpoints in sorted(served.items()):
            predictor = self._load(ref)
            spec: EnsembleSpec = predictor.spec
            if spec.kind == "multi_target":
                continue  # per-target errors: rayops.telemetry.targets
            tuning = spec.adaptive_settings()
            window_s = tuning.window_s or self.settings.serving.ensemble_window_s
            start = now - timedelta(seconds=window_s)
            parts = []
            for endpoint in endpoints:
                key = (endpoint, window_s)
                if key not in rows_cache:
                    rows = joined(self.storage, endpoint, start, now)
                    label = rows["actual_label"] if "actual_label" in rows.columns else None
                    has = rows["actual"].notna()
                    if label is not None:
                        has |= label.notna()
                    rows_cache[key] = rows[has]
                parts.append(rows_cache[key])
            try:
                doc = self._stats(ref, predictor, parts, now, start, endpoints)
            except RayopsError as e:
                logger.warning("Ensemble stats of %s failed: %s", ref, e)
                continue
            stored = self.storage.update_json(
                stats_key(ref), _next_revision(doc), max_retries=self.settings.cas_max_retries
            )
            written[ref] = int(stored["rows"])
        return {"ensembles": len(written), "rows": written}

    def _stats(
        self,
        ref: str,
        predictor: Any,
        parts: list[pd.DataFrame],
        now: datetime,
        start: datetime,
        endpoints: list[str],
    ) -> EnsembleStats:
        import numpy as np
        import pandas as pd

        from rayops.serving.inputs import schema_of
        from rayops.serving.models import evaluate
        from rayops.telemetry.readers import features

        spec: EnsembleSpec = predictor.spec
        tuning = spec.adaptive_settings()
        task, labels = predictor.task, predictor.labels
        rows = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        if len(rows):
            rows = rows.sort_values("time", ascending=False)
            y, known = _targets(rows, task, labels)
            rows = rows[known].head(self.settings.serving.ensemble_max_rows)
            y = y[: len(rows)]
        schema = schema_of(predictor)
        frame = pd.DataFrame({f: pd.Series(dtype=np.float64) for f in schema.features})
        actual = np.empty(0)
        times = pd.Series([], dtype="datetime64[us, UTC]")
        if len(rows):
            # A feature a logging version did not have is null here: XGBoost's missing value.
            logged = features(rows, schema.features)
            columns = {f: logged[f].tolist() for f in schema.features}
            frame = schema.frame_from_columns(columns)
            actual = y
            times = rows["time"].reset_index(drop=True)
        combiners = self._nested_combiners(predictor)
        predictions = {
            m_ref: evaluate(member, frame, combiners)
            for m_ref, member in zip(spec.members, predictor.members, strict=True)
        }
        baselines = [self.registry.get(m).card.baseline for m in spec.members]
        numeric = [c for c in spec.context if not schema.is_categorical(c)]
        return compute_stats(
            ref,
            spec,
            frame,
            actual,
            times,
            predictions,
            now=now,
            window_start=start,
            half_life_s=tuning.half_life_s or self.settings.serving.ensemble_half_life_s,
            min_rows=tuning.min_rows or self.settings.serving.ensemble_min_rows,
            tolerance=self.settings.training.accuracy_tolerance,
            bins=context_bins(spec, numeric, baselines, frame),
            endpoints=endpoints,
            task=task,
            threshold=predictor.threshold,
        )

    def _nested_combiners(self, predictor: Any) -> dict[str, Combiner]:
        """Combiners of adaptive ensembles nested in ``predictor``'s members, from their stats."""
        out: dict[str, Combiner] = {}

        def visit(p: Any) -> None:
            for m in getattr(p, "members", []):
                if hasattr(m, "members"):
                    if m.spec.kind in ADAPTIVE_KINDS:
                        out[m.ref] = combiner_for(m.spec, read_stats(self.storage, m.ref))
                    visit(m)

        visit(predictor)
        return out


def _targets(
    rows: pd.DataFrame, task: Task, labels: Labels | None
) -> tuple[np.ndarray, np.ndarray]:
    """The target of each labeled row and which rows have one: the ``actual`` value, or
    the class index of ``actual_label`` (matched by text; another model's class is left
    out)."""
    import numpy as np

    if not task.is_classification or labels is None:
        values = rows["actual"].to_numpy(dtype=np.float64)
        known = ~np.isnan(values)
        return values[known], known
    lookup = {str(c): i for i, c in enumerate(labels.classes)}
    text = rows["actual_label"] if "actual_label" in rows.columns else [None] * len(rows)
    codes = np.array([lookup.get(v, -1) if isinstance(v, str) else -1 for v in text])
    known = codes >= 0
    return codes[known].astype(np.int64), known


def _next_revision(doc: EnsembleStats) -> Callable[[Any], Any]:
    """The compare-and-swap change that stores ``doc`` as the next revision."""

    def change(old: Any) -> Any:
        revision = int((old or {}).get("revision", 0)) + 1
        return doc.model_copy(update={"revision": revision}).model_dump(mode="json")

    return change


def endpoint_performance(storage: Storage, endpoint: str) -> dict[str, EnsembleStats | None]:
    """Per-member performance of every ensemble ``endpoint`` serves (None: no stats yet).

    Example:
        >>> endpoint_performance(storage, "churn")  # doctest: +SKIP
        {'blend@1.0.0': EnsembleStats(ensemble='blend@1.0.0', ...)}
    """
    from rayops.registry import Registry
    from rayops.serving.endpoints import Endpoints

    registry = Registry(storage)
    table = Endpoints(storage, registry=False).get(endpoint)
    out: dict[str, EnsembleStats | None] = {}

    def visit(ref: str) -> None:
        card = registry.get(ref).card
        if card.ensemble is None or ref in out:
            return
        out[ref] = read_stats(storage, ref)
        for m in card.ensemble.members:
            visit(m)

    for ref in table.refs():
        visit(ref)
    return out
