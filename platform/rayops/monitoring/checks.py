"""One endpoint's drift check over a window, stored for analytics.

* **Features** of the window's (non-shadow) predicted rows, parsed from the
  prediction log, against the baseline in the model card of the endpoint's
  **main version** (the route with the most traffic).
* **Predictions** of the main version and **actuals** (target drift, when
  feedback exists), per its task (:func:`_drift_samples`: the predicted value for
  regression; the predicted-label distribution and the class probabilities for
  classifiers; the true labels' distribution for their target drift), against
  *references*: the card holds no prediction or target
  sample, so the first window in which the main version served at least
  ``monitoring_reference_rows`` predictions (labeled rows) is frozen as its
  reference, as a baseline of the same shape (histogram and quantiles), under
  ``monitoring/<endpoint>/reference/<model>/<version>.json``. Later windows are
  compared with it exactly as features are compared with the training baseline.

Reports are stored as JSON records (see :mod:`~rayops.monitoring.records`) under
``monitoring/<endpoint>/drift/`` and read back by :func:`read_drift_reports`.

Example:
    >>> import tempfile
    >>> from datetime import UTC, datetime
    >>> from rayops.storage import open_storage
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> read_drift_reports(open_storage(tempfile.mkdtemp()), "shop", t, t.replace(day=2))
    []
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rayops.config import Settings, settings_of
from rayops.errors import NotFoundError
from rayops.monitoring.drift import DriftKind, DriftReport, feature_drift
from rayops.monitoring.layout import drift_prefix, reference_key
from rayops.monitoring.records import read_records, write_record
from rayops.registry import Registry
from rayops.registry.baseline import baseline_from_frame
from rayops.serving import Endpoints
from rayops.storage.base import Storage
from rayops.telemetry.readers import feature_frame, joined
from rayops.telemetry.schema import probability_column

if TYPE_CHECKING:
    import pandas as pd


__all__ = ["DriftCheck", "check_drift", "read_drift_reports", "store_drift"]

PREDICTION = "prediction"
ACTUAL = "actual"


@dataclass(frozen=True)
class DriftCheck:
    """Feature, prediction and target drift of one endpoint over ``[start, end)``.

    A part is None when it could not be computed; ``notes`` says why (no
    baseline, reference frozen in this window, no feedback...).
    """

    endpoint: str
    ref: str
    start: datetime
    end: datetime
    rows: int
    features: DriftReport | None
    prediction: DriftReport | None
    target: DriftReport | None
    notes: list[str]

    @property
    def share(self) -> float | None:
        """Share of drifted features (None without a feature report)."""
        return self.features.share if self.features is not None else None

    def score(self, part: str, feature: str | None = None) -> float | None:
        """The flag statistic of ``feature`` in ``part`` (features/prediction/target)."""
        report: DriftReport | None = getattr(self, part)
        if report is None:
            return None
        name = feature or next(iter(report.features), None)
        found = report.features.get(name) if name else None
        return found.score if found is not None else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "ref": self.ref,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "rows": self.rows,
            "features": self.features.to_dict() if self.features else None,
            "prediction": self.prediction.to_dict() if self.prediction else None,
            "target": self.target.to_dict() if self.target else None,
            "drifted_features": self.features.drifted_features if self.features else [],
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> DriftCheck:
        def part(name: str) -> DriftReport | None:
            return DriftReport.from_dict(doc[name]) if doc.get(name) else None

        return cls(
            doc["endpoint"],
            doc["ref"],
            datetime.fromisoformat(doc["start"]),
            datetime.fromisoformat(doc["end"]),
            int(doc["rows"]),
            part("features"),
            part("prediction"),
            part("target"),
            list(doc.get("notes", [])),
        )


def _card(storage: Storage, ref: str) -> Any:
    try:
        return Registry(storage).get(ref).card
    except NotFoundError:
        return None


def _card_baseline(storage: Storage, ref: str) -> dict[str, Any] | None:
    card = _card(storage, ref)
    return (card.baseline or None) if card is not None else None


def _drift_samples(
    rows: pd.DataFrame, mine: Any, card: Any
) -> list[tuple[str, DriftKind, pd.Series]]:
    """What prediction and target drift compare, per the main version's task.

    Regression: the predicted value and the actual value (numeric). Classifiers: the
    predicted-label distribution (``label``, categorical: chi-square and
    Jensen-Shannon), the class probabilities (binary: ``p_<positive class>``;
    multiclass: ``p_<class>`` for every class, each numeric: PSI and KS) and, for
    target drift, the distribution of the true labels (``actual_label``).
    """
    import pandas as pd

    def col(name: str, where: Any = None) -> pd.Series:
        if name not in rows.columns or not len(rows):
            return pd.Series([], dtype=object)
        values = rows.loc[where, name] if where is not None else rows[name]
        return values.dropna()

    classes = list(card.classes or []) if card is not None else []
    if card is None or str(card.task) == "regression" or not classes:
        return [
            (PREDICTION, DriftKind.PREDICTION, col("prediction", mine).astype("float64")),
            (ACTUAL, DriftKind.TARGET, col("actual").astype("float64")),
        ]
    shown = classes[1:] if len(classes) == 2 else classes
    out = [("label", DriftKind.PREDICTION, col("label", mine).astype(str))]
    for c in shown:
        name = probability_column(c)
        out.append((name, DriftKind.PREDICTION, col(name, mine).astype("float64")))
    out.append(("actual_label", DriftKind.TARGET, col("actual_label").astype(str)))
    return out


def _merged(current: DriftReport | None, new: DriftReport) -> DriftReport:
    """Two drift reports of one kind as one (its parts in order; the share over all)."""
    if current is None:
        return new
    from dataclasses import replace

    features = {**current.features, **new.features}
    share = sum(f.drifted for f in features.values()) / len(features)
    drifted = any(f.drifted for f in features.values())  # any part of the model's output
    return replace(current, rows=max(current.rows, new.rows), features=features, share=share,
                   drifted=drifted)  # fmt: skip


def _reference_part(
    storage: Storage,
    endpoint: str,
    ref: str,
    part: str,
    values: pd.Series,
    settings: Settings,
    freeze: bool,
    when: datetime,
) -> tuple[dict[str, Any] | None, bool]:
    """The frozen reference entry of ``part``; freezes it from ``values`` when there is
    none yet and enough rows. Returns (entry, frozen_now)."""

    key = reference_key(endpoint, ref)
    try:
        doc: dict[str, Any] = storage.read_json(key)
    except NotFoundError:
        doc = {}
    if part in doc:
        return doc[part], False
    if not freeze or len(values) < settings.monitoring.reference_rows:
        return None, False
    import pandas as pd

    entry = baseline_from_frame(pd.DataFrame({part: values.to_numpy()}), [part])[part]
    entry = {**entry, "frozen_at": when.isoformat(), "rows": len(values)}

    def add(current: dict[str, Any] | None) -> dict[str, Any]:
        current = dict(current or {"ref": ref})
        current.setdefault(part, entry)  # a concurrent freeze wins; keep its entry
        return current

    stored = storage.update_json(key, add, max_retries=settings.cas_max_retries)
    return stored[part], stored[part] is entry


def check_drift(
    storage: Storage,
    endpoint: str,
    start: datetime,
    end: datetime,
    *,
    settings: Settings | None = None,
    freeze: bool = True,
    frame: pd.DataFrame | None = None,
) -> DriftCheck:
    """Drift of ``endpoint`` in ``[start, end)`` (see the module docstring).

    ``freeze=False`` never creates a reference (read-only checks, e.g. the CLI).
    ``frame`` is the window's joined log (:func:`~rayops.telemetry.readers.joined`),
    when the caller already read it.
    """
    import pandas as pd

    settings = settings_of(storage, settings)
    ref = Endpoints(storage, registry=False).get(endpoint).main.ref
    rows = joined(storage, endpoint, start, end) if frame is None else frame
    notes: list[str] = []
    features = None
    baseline = _card_baseline(storage, ref)
    if baseline is None:
        notes.append(f"{ref} has no baseline in its model card; feature drift is not checked.")
    elif not len(rows):
        notes.append("No predictions in the window.")
    else:
        values = feature_frame(rows)
        present = [f for f in baseline if f in values.columns]
        if present:
            features = feature_drift(values, baseline, features=present, settings=settings)
        else:
            notes.append(f"No logged feature of the window is in {ref}'s baseline.")
    parts: dict[str, DriftReport | None] = {PREDICTION: None, ACTUAL: None}
    model, _, version = ref.partition("@")
    mine = (rows["model"] == model) & (rows["version"] == version) if len(rows) else rows.index
    card = _card(storage, ref)
    for part, kind, sample in _drift_samples(rows, mine, card):
        entry, frozen = _reference_part(storage, endpoint, ref, part, sample, settings, freeze, end)
        what = kind.value if part in (PREDICTION, ACTUAL) else f"{kind.value} ({part})"
        if entry is None:
            need = settings.monitoring.reference_rows
            notes.append(f"No {what} reference yet ({len(sample)} of {need} rows).")
        elif frozen:
            notes.append(f"The {what} reference of {ref} was frozen from this window.")
        elif len(sample):
            one = pd.DataFrame({part: sample.to_numpy()})
            found = feature_drift(one, {part: entry}, settings=settings, kind=kind)
            slot = PREDICTION if kind is DriftKind.PREDICTION else ACTUAL
            parts[slot] = _merged(parts[slot], found)
    return DriftCheck(
        endpoint, ref, start, end, len(rows), features, parts[PREDICTION], parts[ACTUAL], notes
    )


def store_drift(storage: Storage, check: DriftCheck) -> None:
    """Append ``check`` to the endpoint's drift history (stamped with its window end)."""
    key_id = uuid.uuid4().hex[:12]
    write_record(storage, drift_prefix(check.endpoint), check.end, key_id, check.to_dict())


def read_drift_reports(
    storage: Storage, endpoint: str, start: datetime, end: datetime
) -> list[DriftCheck]:
    """Stored drift checks of ``endpoint`` whose window ended in ``[start, end)``, oldest first.

    ``check.to_dict()`` gives the JSON form; ``check.features.features[name].score``
    one feature's statistic.
    """
    docs = read_records(storage, drift_prefix(endpoint), start, end)
    return [DriftCheck.from_dict(d) for d in docs]
