"""Adaptive conformal inference in the control loop: each served version's level, from
delayed feedback.

The ``aci`` task (:class:`AdaptiveLevelTask`) runs, every monitoring interval, over
each endpoint's predictions of the last ``monitoring_aci_horizon_s`` whose feedback
arrived since its last pass (by feedback time, the order labels reach rayops). Per
version with an uncertainty document, each newly labeled row, oldest feedback
first, is judged at the level then in force (the logged ``lower``/``upper`` or
``pset`` when serving logged them, else the interval or set recomputed at the
adapted level) and fed to :class:`~rayops.uncertainty.aci.AdaptiveLevel`
(``α ← α + γ(α* − miss)``, ``γ = monitoring_aci_gamma``, ``α`` kept within
``[monitoring_aci_alpha_min, monitoring_aci_alpha_max]``).

The state lives in one JSON document per version,
:func:`rayops.uncertainty.aci.level_key` (``uncertainty/levels/<model>/<version>.json``),
updated with compare-and-swap (with one feedback cursor per endpoint, so a version
served on two endpoints learns from both); its ``level`` is what serving uses **once
``active``**, i.e. after ``monitoring_aci_min_labels`` labels (until then it serves
``monitoring_coverage_level``). Every change of the served level is recorded once
under ``uncertainty/levels/<model>/<version>/history/`` (:func:`level_history`).

Example:
    >>> import tempfile
    >>> from datetime import UTC, datetime
    >>> from rayops.storage import open_storage
    >>> AdaptiveLevelTask(open_storage(tempfile.mkdtemp())).tick(datetime(2026, 1, 1, tzinfo=UTC))
    {'endpoints': {}}
    >>> level_at([{"time": "2026-01-01T00:00:00+00:00", "level": 0.93}],
    ...          datetime(2026, 1, 2, tzinfo=UTC), nominal=0.9)
    0.93
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from rayops.controltask import ControlTask
from rayops.errors import NotFoundError
from rayops.monitoring.coverage import prediction_sets, served_set_rows, version_uncertainty
from rayops.monitoring.metrics import _refs
from rayops.monitoring.quality import version_info
from rayops.monitoring.records import read_records, write_record
from rayops.monitoring.task import per_endpoint
from rayops.tasks import normalized
from rayops.telemetry.labeled import labeled_rows
from rayops.telemetry.readers import features, joined, probabilities
from rayops.uncertainty.aci import AdaptiveLevel, level_key
from rayops.uncertainty.intervals import segment_keys

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from rayops.monitoring.coverage import VersionUncertainty
    from rayops.monitoring.quality import VersionInfo
    from rayops.storage.base import Storage

__all__ = ["AdaptiveLevelTask", "history_prefix", "level_at", "level_history", "read_level"]

logger = logging.getLogger(__name__)


def history_prefix(ref: str) -> str:
    return level_key(ref).removesuffix(".json") + "/history/"


def read_level(storage: Storage, ref: str) -> dict[str, Any] | None:
    """``ref``'s served-level document, or None before the task first wrote it."""

    try:
        doc: dict[str, Any] = storage.read_json(level_key(ref))
    except NotFoundError:
        return None
    return doc


def level_history(
    storage: Storage, ref: str, start: datetime | None = None, end: datetime | None = None
) -> list[dict[str, Any]]:
    """Every recorded change of ``ref``'s served level, oldest first."""
    return read_records(storage, history_prefix(ref), start, end)


def level_at(history: list[dict[str, Any]], when: datetime, *, nominal: float) -> float:
    """The level served at ``when`` by a version with this :func:`level_history` (the
    latest change at or before it; nominal before the first)."""
    level = nominal
    for record in history:
        if datetime.fromisoformat(record["time"]) > when:
            break
        level = float(record["level"])
    return level


def _misses(
    rows: pd.DataFrame, info: VersionInfo, unc: VersionUncertainty, aci: AdaptiveLevel,
    calibrated: bool,
) -> None:  # fmt: skip
    """Feed ``rows`` (labeled, oldest feedback first) to ``aci``, each judged at the level in
    force when it comes."""
    import numpy as np

    if not info.task.is_classification:
        model = unc.intervals
        if model is None:
            return
        pred = rows["prediction"].to_numpy(np.float64)
        actual = rows["actual"].to_numpy(np.float64)
        segments = (
            segment_keys(features(rows, model.context), model.context) if model.segments else None
        )
        logged = _logged_bounds(rows)
        for i in range(len(rows)):
            if logged is not None and np.isfinite(logged[0][i]) and np.isfinite(logged[1][i]):
                covered = logged[0][i] <= actual[i] <= logged[1][i]
            else:
                q = model.half_width(aci.level, segments[i] if segments else None)
                covered = abs(actual[i] - pred[i]) <= q
            aci.update(covered=bool(covered))
        return
    sets = unc.sets
    if sets is None or info.labels is None:
        return
    labeled = labeled_rows(rows, info.task, info.labels)
    classes = [str(c) for c in info.labels.classes]
    proba = normalized(probabilities(rows.loc[labeled.index], classes))
    if unc.calibrator is not None and not calibrated:
        proba = unc.calibrator.apply(proba)
    logged = served_set_rows(rows.loc[labeled.index], classes)
    for i in range(len(labeled)):
        if logged is not None and logged[1][i]:  # the set serving answered
            covered = bool(logged[0][i, labeled.y[i]])
        else:
            covered = bool(prediction_sets(sets, proba[i : i + 1], aci.level)[0][labeled.y[i]])
        aci.update(covered=covered)


def _logged_bounds(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray] | None:
    import pandas as pd

    if "lower" not in rows.columns or "upper" not in rows.columns:
        return None
    lo = pd.to_numeric(rows["lower"], errors="coerce").to_numpy("float64")
    hi = pd.to_numeric(rows["upper"], errors="coerce").to_numpy("float64")
    return lo, hi


class AdaptiveLevelTask(ControlTask):
    """Adapts each served version's level from delayed feedback (see the module docstring).

    Args:
        storage: the storage root.
        settings: tunables (``monitoring_aci_*``, ``monitoring_coverage_level``).
    """

    name = "aci"

    @property
    def interval_s(self) -> float:
        return self.settings.monitoring.interval_s

    def tick(self, now: datetime) -> dict[str, Any]:
        if not self.settings.monitoring.aci:
            return {"endpoints": {}, "off": True}
        return {"endpoints": per_endpoint(self.storage, self.check, now, "Adaptive conformal")}

    def check(self, endpoint: str, now: datetime) -> dict[str, Any]:
        """One pass over ``endpoint``: returns each version's labels used and level."""
        import pandas as pd

        m = self.settings.monitoring
        end = now - timedelta(seconds=m.log_lag_s)
        frame = joined(self.storage, endpoint, end - timedelta(seconds=m.aci_horizon_s), end,
                       feedback_grace=timedelta(0))  # fmt: skip
        if not len(frame):
            return {}
        labeled = frame[frame["feedback_time"].notna()].copy()
        labeled["feedback_time"] = pd.to_datetime(labeled["feedback_time"], utc=True)
        refs = _refs(labeled)
        out: dict[str, Any] = {}
        for ref in sorted(set(refs.dropna())):
            unc = version_uncertainty(self.storage, ref, self.settings)
            if unc.empty:
                continue
            info = version_info(self.storage, ref, self.settings)
            part = labeled[(refs == ref).to_numpy(dtype=bool)]
            rows = part.sort_values("feedback_time", kind="stable")
            out[ref] = self._update(endpoint, ref, rows, info, unc, end)
        return out

    def _update(
        self, endpoint: str, ref: str, rows: pd.DataFrame, info: VersionInfo,
        unc: VersionUncertainty, end: datetime,
    ) -> dict[str, Any]:  # fmt: skip
        m = self.settings.monitoring
        before: dict[str, Any] = {}

        def change(doc: dict[str, Any] | None) -> dict[str, Any]:
            before.clear()
            before.update(doc or {})
            state = (doc or {}).get("state")
            aci = (
                AdaptiveLevel.from_json(state)
                if state is not None
                else AdaptiveLevel(target=m.coverage_level, gamma=m.aci_gamma)
            )
            aci.target, aci.gamma = m.coverage_level, m.aci_gamma
            aci.alpha_min, aci.alpha_max = m.aci_alpha_min, m.aci_alpha_max
            # one cursor per endpoint: a version served on two endpoints learns from both
            cursors = dict((doc or {}).get("feedback_cursors") or {})
            cursor = cursors.get(endpoint)
            fresh = rows
            if cursor is not None:
                fresh = rows[rows["feedback_time"] > datetime.fromisoformat(cursor)]
            _misses(fresh, info, unc, aci, m.probabilities_calibrated)
            active = aci.labels >= m.aci_min_labels
            if len(fresh):
                cursors[endpoint] = fresh["feedback_time"].max().isoformat()
            return {
                "ref": ref, "nominal": m.coverage_level,
                "level": aci.level if active else m.coverage_level, "active": active,
                "labels": aci.labels, "misses": aci.misses, "updated": end.isoformat(),
                "feedback_cursors": cursors, "state": aci.to_json(),
            }  # fmt: skip

        doc = self.storage.update_json(level_key(ref), change)
        if before.get("level") != doc["level"]:
            write_record(
                self.storage, history_prefix(ref), end, f"{doc['labels']:09d}",
                {"time": end.isoformat(), "level": doc["level"], "previous": before.get("level"),
                 "active": doc["active"], "labels": doc["labels"], "misses": doc["misses"]},
            )  # fmt: skip
        return {"labels": doc["labels"], "level": doc["level"], "active": doc["active"]}
