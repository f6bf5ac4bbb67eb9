"""Recent per-member performance of ensembles, and how dynamic and voting ensembles use it.

The control loop's ``ensembles`` task (:mod:`rayops.serving.ensemble_stats`)
re-predicts every member of each served ensemble on recently logged rows that
have feedback and writes, with compare-and-swap, one stats document per
ensemble version::

    ensembles/<name>/<version>/stats.json

It holds, per context **segment** and for all rows together (the ``global``
level), each member's decayed mean **loss** — the task's per-row loss: squared
error for regression (so ``loss`` is the MSE), the log loss of the true class for
classifiers — and its accuracy (within ±``accuracy_tolerance`` for regression,
the share of labels predicted right for classifiers); regression members also
carry their MSE, MAE and bias. Gateway replicas re-read it on their
routing poll (at most every ``serving_ensemble_poll_s``), so a request never
touches storage.

**Segments.** A row's segment is the tuple of its context values: a categorical
value as it is (null stays null), a numeric value as the index of its bin
(``bisect_right`` over the edges; NaN is null). Edges come from the spec's
``settings.bins``, else the quartiles of the first member's training baseline,
else the quartiles of the logged rows; the stats document records the edges
used, and serving bins with exactly those.

**Rules** (per row, by :class:`Combiner`):

* ``dynamic``: the member with the lowest decayed loss in the row's segment;
  ties go to the member listed first. A segment with fewer than ``min_rows``
  labeled rows, or not seen at all, uses the global level; with no stats (cold
  start) or too few rows overall, the weighted mean of the spec's ``weights``
  (equal when omitted).
* ``voting``: the members' mean weighted by ``1 / max(loss, 1e-12)`` of the
  row's segment, with the same fallbacks.

A classifier ensemble combines the members' class probabilities (``[N, K]``)
with these per-row weights (:func:`rayops.registry.predictor.evaluate`), and the
label is the argmax, or the threshold for a binary one.

Example:
    >>> seg = Segmenter(["region", "load"], {"load": [10.0, 20.0]})
    >>> import pandas as pd
    >>> seg.labels(pd.DataFrame({"region": ["eu", None], "load": [15.0, 25.0]}))
    [('eu', 1), (None, 2)]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rayops.errors import NotFoundError
from rayops.names import validate_name
from rayops.registry.card import ADAPTIVE_KINDS
from rayops.storage.base import Storage

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "MIN_LOSS",
    "MIN_MSE",
    "Combiner",
    "EnsembleStats",
    "MemberStats",
    "SegmentStats",
    "Segmenter",
    "StatsCache",
    "combiner_for",
    "read_stats",
    "stats_key",
]

#: Floor of a member's loss in voting weights (a perfect member would get infinity).
MIN_LOSS = 1e-12
#: The name it had when the loss was always the MSE.
MIN_MSE = MIN_LOSS

_STRICT = ConfigDict(extra="forbid")

SegmentValue = str | int | None


def stats_key(ref: str) -> str:
    """``ensembles/<name>/<version>/stats.json`` of ensemble ``name@version``."""
    name, _, version = ref.partition("@")
    validate_name(name, "model name")
    validate_name(version, "model version")
    return f"ensembles/{name}/{version}/stats.json"


class MemberStats(BaseModel):
    """One member's recent performance on one segment's labeled rows.

    ``loss`` is what dynamic selection and voting read, for every task. Documents
    written before it existed (regression only) carry ``mse``, which is that loss,
    and read the same.

    Example:
        >>> MemberStats.model_validate({"rows": 3, "weight": 2.0, "mse": 0.25, "mae": 0.4,
        ...                             "bias": 0.0, "accuracy": 1.0}).loss
        0.25
    """

    model_config = _STRICT

    rows: int = Field(ge=0, description="Labeled rows in the window.")
    weight: float = Field(ge=0, description="Sum of the rows' decay weights.")
    loss: float = Field(
        ge=0,
        description=(
            "Decayed mean per-row loss of the task: squared error (regression; the MSE) or "
            "log loss of the true class (classifiers)."
        ),
    )
    mse: float | None = Field(default=None, ge=0, description="Regression: decayed MSE.")
    mae: float | None = Field(default=None, ge=0, description="Regression: decayed MAE.")
    bias: float | None = Field(
        default=None, description="Regression: decayed mean of prediction - actual."
    )
    accuracy: float = Field(
        ge=0,
        le=1,
        description=(
            "Decayed share of rows with |error| <= tolerance (regression) or with the label "
            "predicted right (classifiers)."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _older(cls, data: Any) -> Any:
        if isinstance(data, dict) and "loss" not in data and data.get("mse") is not None:
            return {**data, "loss": data["mse"]}
        return data

    @property
    def rmse(self) -> float | None:
        return math.sqrt(self.mse) if self.mse is not None else None


class SegmentStats(BaseModel):
    """Every member's stats on the rows of one segment."""

    model_config = _STRICT

    values: list[SegmentValue] = Field(description="Context values (bin index if numeric).")
    rows: int = Field(ge=0)
    members: dict[str, MemberStats]


class EnsembleStats(BaseModel):
    """The stats document of one ensemble version (see the module docstring)."""

    model_config = _STRICT

    ensemble: str = Field(description="name@version of the ensemble.")
    kind: str
    task: str = Field(
        default="regression", description="The members' task: which loss ``loss`` is."
    )
    revision: int = Field(default=1, ge=1, description="Bumped by every write.")
    updated_at: datetime
    window_start: datetime
    window_end: datetime
    half_life_s: float = Field(gt=0)
    min_rows: int = Field(ge=1)
    tolerance: float = Field(ge=0, description="accuracy: |error| within this.")
    members: list[str]
    context: list[str] = Field(default_factory=list)
    bins: dict[str, list[float]] = Field(
        default_factory=dict, description="Edges used for each numeric context column."
    )
    endpoints: list[str] = Field(default_factory=list, description="Logs the rows came from.")
    rows: int = Field(ge=0, description="Labeled rows used.")
    overall: dict[str, MemberStats] = Field(
        default_factory=dict, description="Every member on all rows (the 'global' level)."
    )
    segments: list[SegmentStats] = Field(default_factory=list)

    def best_member(self, values: Sequence[SegmentValue] | None = None) -> str | None:
        """The member a dynamic ensemble picks for a segment (None: the fallback)."""
        weights = _level(self, tuple(values) if values is not None else None)
        if weights is None:
            return None
        return min(self.members, key=lambda m: (weights[m].loss, self.members.index(m)))


def _level(
    stats: EnsembleStats, values: tuple[SegmentValue, ...] | None
) -> dict[str, MemberStats] | None:
    """A segment's member stats if it has enough rows, else the global level, else None."""
    if values is not None:
        for seg in stats.segments:
            if tuple(seg.values) == values and seg.rows >= stats.min_rows:
                return seg.members
    if stats.rows >= stats.min_rows and stats.overall:
        return stats.overall
    return None


def read_stats(storage: Storage, ref: str) -> EnsembleStats | None:
    """The stored stats of ensemble ``ref`` (``name@version``), or None if none yet.

    Example:
        >>> import tempfile
        >>> from rayops.storage import open_storage
        >>> read_stats(open_storage(tempfile.mkdtemp()), "blend@1.0.0") is None
        True
    """
    try:
        return EnsembleStats.model_validate(storage.read_json(stats_key(ref)))
    except NotFoundError:
        return None


class Segmenter:
    """Context values of rows as segment labels (the rule of the module docstring)."""

    def __init__(self, context: Sequence[str], bins: dict[str, list[float]]) -> None:
        self.context = list(context)
        self.bins = {c: list(e) for c, e in bins.items()}

    def column(self, name: str, values: Any) -> list[SegmentValue]:
        """Labels of one context column's values."""
        import numpy as np
        import pandas as pd

        edges = self.bins.get(name)
        if edges is not None:
            x = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=np.float64)
            idx = np.searchsorted(np.asarray(edges, dtype=np.float64), x, side="right")
            return [None if math.isnan(v) else int(i) for v, i in zip(x, idx, strict=True)]
        out: list[SegmentValue] = []
        for v in list(values):
            if v is None or (isinstance(v, float) and math.isnan(v)):
                out.append(None)
            else:
                out.append(str(v))
        return out

    def labels(self, frame: pd.DataFrame) -> list[tuple[SegmentValue, ...]]:
        """One segment (tuple of labels) per row of ``frame``."""
        if not self.context:
            return [()] * len(frame)
        columns = [self.column(c, frame[c]) for c in self.context]
        return list(zip(*columns, strict=True))


class Combiner:
    """Per-row member weights of a dynamic or voting ensemble, compiled from its stats.

    Built once per stats document on the routing poll; :meth:`weights` is pure
    computation. ``stats=None`` is the cold start: the spec's weights for every row.
    """

    def __init__(
        self,
        kind: str,
        members: Sequence[str],
        fallback: Sequence[float],
        context: Sequence[str],
        stats: EnsembleStats | None = None,
    ) -> None:
        import numpy as np

        self.kind = kind
        self.members = list(members)
        self.stats = stats
        raw = np.asarray(fallback, dtype=np.float64)
        self.fallback = raw / raw.sum()
        self._segments: dict[tuple[SegmentValue, ...], np.ndarray] = {}
        if stats is None or stats.members != self.members:
            self.segmenter = Segmenter(context, {})
            self.default = self.fallback
            self.adaptive = False
            return
        self.adaptive = True
        self.segmenter = Segmenter(stats.context, stats.bins)
        overall = _level(stats, None)
        self.default = self._vector(overall) if overall is not None else self.fallback
        for seg in stats.segments:
            if seg.rows >= stats.min_rows:
                self._segments[tuple(seg.values)] = self._vector(seg.members)

    def _vector(self, level: dict[str, MemberStats]) -> np.ndarray:
        import numpy as np

        loss = np.array([level[m].loss for m in self.members], dtype=np.float64)
        if self.kind == "dynamic":
            out = np.zeros(len(self.members))
            out[int(np.argmin(loss))] = 1.0  # argmin: the first of equal losses wins
            return out
        inverse = 1.0 / np.maximum(loss, MIN_LOSS)
        return np.asarray(inverse / inverse.sum(), dtype=np.float64)

    def weights(self, frame: pd.DataFrame) -> np.ndarray:
        """A ``[rows, members]`` matrix of weights; each row sums to 1."""
        import numpy as np

        if not self._segments:
            return np.tile(self.default, (len(frame), 1))
        default = self.default
        segments = self._segments
        return np.stack([segments.get(k, default) for k in self.segmenter.labels(frame)])

    def member_for(self, values: Sequence[SegmentValue]) -> str | None:
        """The member a dynamic ensemble uses for a segment (None: a mean of several)."""
        vector = self._segments.get(tuple(values), self.default)
        nonzero = [m for m, w in zip(self.members, vector, strict=True) if w > 0]
        return nonzero[0] if len(nonzero) == 1 else None


def combiner_for(spec: Any, stats: EnsembleStats | None) -> Combiner:
    """The serving combiner of a dynamic/voting ``EnsembleSpec`` with its (maybe missing) stats."""
    return Combiner(spec.kind, spec.members, spec.normalized_weights(), spec.context, stats)


class StatsCache:
    """A gateway replica's copy of its ensembles' stats, refreshed on the routing poll.

    :meth:`refresh` re-reads a stats document only every ``poll_s`` seconds (at
    once for an ensemble it has not seen) and rebuilds a combiner only when the
    document's storage token changed. ``combiners`` is swapped in one assignment,
    so a request reads one consistent snapshot without any I/O.
    """

    def __init__(self, storage: Storage, poll_s: float) -> None:
        self.storage = storage
        self.poll_s = poll_s
        self.combiners: dict[str, Combiner] = {}
        self._docs: dict[str, tuple[str | None, EnsembleStats | None]] = {}
        self._checked = -math.inf

    def refresh(self, ensembles: dict[str, Any], now: float) -> None:
        """Bring the stats of ``ensembles`` (``{ref: EnsembleSpec}``) up to date."""
        import logging

        from pydantic import ValidationError

        due = now - self._checked >= self.poll_s
        if not due and all(ref in self._docs for ref in ensembles):
            return
        docs = {ref: d for ref, d in self._docs.items() if ref in ensembles}
        combiners = {ref: c for ref, c in self.combiners.items() if ref in ensembles}
        for ref, spec in ensembles.items():
            if not due and ref in docs:
                continue
            try:
                found = self.storage.read_versioned(stats_key(ref))
                token: str | None = found.token
            except NotFoundError:
                found, token = None, None
            if ref in docs and docs[ref][0] == token:
                continue
            try:
                doc = EnsembleStats.model_validate(found.json()) if found is not None else None
            except (ValidationError, ValueError) as e:
                logging.getLogger(__name__).error("Ignoring invalid stats of %s: %s", ref, e)
                continue
            docs[ref] = (token, doc)
            if spec.kind in ADAPTIVE_KINDS:
                combiners[ref] = combiner_for(spec, doc)
        self._docs = docs
        self.combiners = combiners
        if due:
            self._checked = now

    def stats(self, ref: str) -> EnsembleStats | None:
        """The loaded stats of ``ref`` (None: none yet or not loaded)."""
        entry = self._docs.get(ref)
        return entry[1] if entry is not None else None
