"""Importance over time: which features the served models lean on, per version and hour.

The control loop's ``attribution`` task (:class:`AttributionTask`) explains a
bounded sample of the logged rows of every completed hour, per version: at most
``monitoring_explain_sample_rows`` rows (a uniform sample, seeded by version and
hour, so a repeated pass picks the same rows), through the registry's TreeSHAP
(:func:`rayops.registry.explain.importance`). The cost is one ``pred_contribs``
pass over that many rows per version-hour, whatever the traffic. Each result — mean
|contribution| per feature, the rows explained and the rows served — is stored
once as an aggregate record under ``monitoring/<endpoint>/attribution/`` (day
partitions, :mod:`~rayops.monitoring.records`); a cursor
(``monitoring/<endpoint>/attribution_cursor.json``) remembers the last hour done,
and at most ``monitoring_attribution_lookback_s`` is filled in after a pause.

**Attribution drift** (:func:`attribution_drift`): over a window, the rows-weighted
mean |contribution| of the hours inside it, as each feature's share of the total,
against the training shares of the version's card (``mean_abs_contribution`` on the
holdout, else XGBoost's gain). ``shift`` is the largest move of one feature's share;
``rank_changed`` says whether the order of the top ``monitoring_attribution_top_k``
features changed. The built-in rules ``default-attribution`` (shift above
``monitoring_attribution_threshold``) and ``default-attribution-rank`` read them.

Example:
    >>> import tempfile
    >>> from datetime import UTC, datetime
    >>> from rayops.storage import open_storage
    >>> AttributionTask(open_storage(tempfile.mkdtemp())).tick(datetime(2026, 1, 1, tzinfo=UTC))
    {'endpoints': {}}
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from rayops.config import Settings, settings_of
from rayops.controltask import ControlTask
from rayops.errors import NotFoundError, RayopsError
from rayops.monitoring.layout import attribution_cursor_key, attribution_prefix
from rayops.monitoring.records import read_records, write_record

if TYPE_CHECKING:
    import pandas as pd

    from rayops.storage.base import Storage

__all__ = [
    "AttributionDrift",
    "AttributionTask",
    "attribution_drift",
    "read_attribution",
    "training_importance",
]

logger = logging.getLogger(__name__)

HOUR = timedelta(hours=1)


def _hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def read_attribution(
    storage: Storage, endpoint: str, start: datetime, end: datetime, ref: str | None = None
) -> list[dict[str, Any]]:
    """The stored hourly attribution records of ``endpoint`` (one version's, or all),
    whose hour starts in ``[start, end)``, oldest first."""
    records = read_records(storage, attribution_prefix(endpoint), start, end)
    return [r for r in records if ref is None or r.get("ref") == ref]


def training_importance(storage: Storage, ref: str) -> dict[str, float]:
    """The card's importance of ``ref``: mean |contribution| on the holdout, else gain."""
    from rayops.registry import Registry

    try:
        card = Registry(storage).get(ref).card
    except (NotFoundError, ValueError):
        return {}
    found = card.importance or {}
    for kind in ("mean_abs_contribution", "gain"):
        if found.get(kind):
            return {str(k): float(v) for k, v in found[kind].items()}
    return {}


def _shares(scores: Mapping[str, float]) -> dict[str, float]:
    from rayops.registry.explain import shares

    return shares(scores)


def _top(shares: Mapping[str, float], k: int) -> list[str]:
    return [f for f, _ in sorted(shares.items(), key=lambda kv: (-kv[1], kv[0]))[:k]]


@dataclass(frozen=True)
class AttributionDrift:
    """How far a version's attribution over a window moved from its training attribution."""

    ref: str
    rows: int
    hours: int
    current: dict[str, float]
    training: dict[str, float]
    shift: float
    feature: str | None
    top_current: list[str] = field(default_factory=list)
    top_training: list[str] = field(default_factory=list)

    @property
    def rank_changed(self) -> bool:
        return bool(self.top_training) and self.top_current != self.top_training

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rank_changed": self.rank_changed}


def attribution_drift(
    storage: Storage,
    endpoint: str,
    ref: str,
    start: datetime,
    end: datetime,
    *,
    settings: Settings | None = None,
    training: Mapping[str, float] | None = None,
) -> AttributionDrift | None:
    """``ref``'s attribution over ``[start, end)`` against its training shares (see the
    module docstring); None when no hour of the window was explained.

    Example:
        >>> import tempfile
        >>> from datetime import UTC, datetime
        >>> from rayops.storage import open_storage
        >>> t = datetime(2026, 1, 1, tzinfo=UTC)
        >>> attribution_drift(open_storage(tempfile.mkdtemp()), "shop", "m@1.0.0",
        ...                   t.replace(day=1), t.replace(day=2)) is None
        True
    """
    k = settings_of(storage, settings).monitoring.attribution_top_k
    records = read_attribution(storage, endpoint, start, end, ref)
    total: dict[str, float] = {}
    rows = 0
    for r in records:
        n = int(r.get("explained", 0))
        for f, v in r.get("mean_abs_contribution", {}).items():
            total[f] = total.get(f, 0.0) + float(v) * n
        rows += n
    if not rows:
        return None
    current = _shares({f: v / rows for f, v in total.items()})
    base = _shares(training if training is not None else training_importance(storage, ref))
    features = sorted(set(current) | set(base))
    moves = {f: abs(current.get(f, 0.0) - base.get(f, 0.0)) for f in features}
    worst = max(moves, key=lambda f: moves[f]) if base and moves else None
    return AttributionDrift(
        ref=ref, rows=rows, hours=len(records), current=current, training=base,
        shift=moves[worst] if worst is not None else 0.0, feature=worst,
        top_current=_top(current, k), top_training=_top(base, k) if base else [],
    )  # fmt: skip


def _sample(frame: pd.DataFrame, n: int, seed: str) -> pd.DataFrame:
    if len(frame) <= n:
        return frame
    return frame.sample(n=n, random_state=zlib.crc32(seed.encode()) & 0x7FFFFFFF)


def _explainable(rows: pd.DataFrame) -> pd.DataFrame:
    """Logged features as XGBoost takes them: text columns as pandas categoricals."""
    out = rows.copy()
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = out[c].astype("category")
    return out


class AttributionTask(ControlTask):
    """Explains a bounded sample of every version's logged rows per hour (module docstring).

    Args:
        storage: the storage root.
        settings: tunables (``monitoring_explain_sample_rows``, ``..._attribution_*``).
    """

    name = "attribution"

    def __init__(self, storage: Storage, settings: Settings | None = None) -> None:
        super().__init__(storage, settings)
        self._predictors: dict[str, Any] = {}

    @property
    def interval_s(self) -> float:
        return self.settings.monitoring.interval_s

    def tick(self, now: datetime) -> dict[str, Any]:
        from rayops.monitoring.task import per_endpoint

        return {"endpoints": per_endpoint(self.storage, self.check, now, "Attribution")}

    def _predictor(self, ref: str) -> Any:
        if ref not in self._predictors:
            from rayops.registry import Registry

            self._predictors[ref] = Registry(self.storage, settings=self.settings).load(ref)
        return self._predictors[ref]

    def check(self, endpoint: str, now: datetime) -> dict[str, Any]:
        """Explain every completed hour of ``endpoint`` not done yet; returns a summary."""
        m = self.settings.monitoring
        end = _hour(now - timedelta(seconds=m.log_lag_s))
        key = attribution_cursor_key(endpoint)
        try:
            done = datetime.fromisoformat(self.storage.read_json(key)["done_until"])
        except NotFoundError:
            done = end - timedelta(seconds=m.attribution_lookback_s)
        hour = max(_hour(done), _hour(end - timedelta(seconds=m.attribution_lookback_s)))
        explained: list[dict[str, Any]] = []
        while hour + HOUR <= end:
            explained += self._explain_hour(endpoint, hour)
            hour += HOUR
            self.storage.write_json(key, {"done_until": hour.isoformat()})
        return {"hours": explained}

    def _explain_hour(self, endpoint: str, hour: datetime) -> list[dict[str, Any]]:
        from rayops.monitoring.metrics import _refs
        from rayops.registry.explain import importance
        from rayops.telemetry.readers import features, read_predictions

        frame = read_predictions(self.storage, endpoint, hour, hour + HOUR)
        if not len(frame):
            return []
        refs = _refs(frame)
        out = []
        for ref in sorted(set(refs.dropna())):
            part = frame[(refs == ref).to_numpy(dtype=bool)]
            rows = _sample(part, self.settings.monitoring.explain_sample_rows, f"{ref}|{hour}")
            try:
                predictor = self._predictor(ref)
                found = importance(predictor, _explainable(features(rows, predictor.features)))
            except (RayopsError, ValueError) as e:  # not explainable, or rows it cannot read
                out.append({"ref": ref, "hour": hour.isoformat(), "error": str(e)})
                continue
            doc = {
                "ref": ref, "endpoint": endpoint, "hour": hour.isoformat(),
                "explained": len(rows), "served": len(part),
                "mean_abs_contribution": found.get("mean_abs_contribution", {}),
            }  # fmt: skip
            write_record(self.storage, attribution_prefix(endpoint), hour, ref.replace("@", "_"),
                         doc)  # fmt: skip
            out.append({"ref": ref, "hour": hour.isoformat(), "explained": len(rows)})
        return out
