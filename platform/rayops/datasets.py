"""Seeded tabular data for tests, examples and benchmarks.

:func:`make_regression` draws a regression problem with numeric and categorical
features, entity ids and event times, and can inject two kinds of drift at an
exact row:

* **covariate drift** (:class:`CovariateDrift`): the distribution of chosen
  features moves (numeric: mean shift in units of the feature's standard
  deviation and/or a scale change; categorical: the probability mass moves to
  the last category). The feature→target relation stays the same.
* **concept drift** (:class:`ConceptDrift`): the feature→target relation changes
  (new weights, categorical effects reversed); feature distributions stay the same.

Rows before ``at_row`` are bit-for-bit the rows you would get without drift.

Example:
    >>> drift = CovariateDrift(at_row=500, features=("num_0",), shift=3.0)
    >>> df = make_regression(1000, seed=1, covariate_drift=drift)
    >>> x = df["num_0"]
    >>> round((x[500:].mean() - x[:500].mean()) / x[:500].std())  # shift is in standard deviations
    3
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rayops.errors import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ConceptDrift",
    "CovariateDrift",
    "load_diabetes",
    "make_classification",
    "make_regression",
]

TARGET = "target"


@dataclass(frozen=True)
class CovariateDrift:
    """Shift the distribution of ``features`` from row ``at_row`` on.

    Numeric features become ``mean + scale * (x - mean) + shift * std``;
    categorical features draw ``category_shift`` of their rows from the last category.
    """

    at_row: int
    features: tuple[str, ...]
    shift: float = 2.0
    scale: float = 1.0
    category_shift: float = 0.6


@dataclass(frozen=True)
class ConceptDrift:
    """Change the feature→target relation from row ``at_row`` on.

    ``strength`` 1.0 draws entirely new numeric weights and reverses categorical
    effects; 0.5 moves half way.
    """

    at_row: int
    strength: float = 1.0


@dataclass(frozen=True)
class _Relation:
    intercept: float
    weights: tuple[float, ...]
    cat_effects: tuple[tuple[float, ...], ...]
    interaction: float = field(default=2.0)


def _relation(rng: object, n_numeric: int, n_categorical: int, n_categories: int) -> _Relation:
    import numpy as np

    assert isinstance(rng, np.random.Generator)
    return _Relation(
        intercept=50.0,
        weights=tuple(float(w) for w in rng.normal(0.0, 3.0, n_numeric)),
        cat_effects=tuple(
            tuple(float(e) for e in rng.normal(0.0, 4.0, n_categories))
            for _ in range(n_categorical)
        ),
    )


def make_regression(
    n_rows: int = 10_000,
    *,
    n_numeric: int = 8,
    n_categorical: int = 2,
    n_categories: int = 4,
    n_entities: int = 100,
    noise: float = 1.0,
    seed: int = 0,
    start: datetime = datetime(2026, 1, 1, tzinfo=UTC),
    interval_s: float = 60.0,
    covariate_drift: CovariateDrift | None = None,
    concept_drift: ConceptDrift | None = None,
) -> pd.DataFrame:
    """Draw a seeded regression data set.

    Columns: ``entity_id`` (int), ``event_time`` (UTC, one row every ``interval_s``
    seconds from ``start``), ``num_0..num_{n_numeric-1}`` (float),
    ``cat_0..cat_{n_categorical-1}`` (pandas categorical of ``"c0".."c{k-1}"``), and
    ``target``: ``50 + w·x + 2·num_0·num_1 + category effects + N(0, noise)``,
    with target values on a scale where "within ±5" is a meaningful accuracy.

    Args:
        n_rows: number of rows.
        n_numeric, n_categorical, n_categories: feature counts.
        n_entities: distinct entity ids (for point-in-time joins).
        noise: standard deviation of the target noise.
        seed: the same seed gives the same frame.
        covariate_drift, concept_drift: optional drift to inject.

    Raises:
        InvalidInputError: if a drift row is outside the data or names an unknown feature.
    """
    import numpy as np
    import pandas as pd

    if n_rows < 1 or n_numeric < 2 or n_categorical < 0 or n_categories < 2:
        raise InvalidInputError(
            "make_regression needs n_rows >= 1, n_numeric >= 2, n_categorical >= 0 and "
            "n_categories >= 2."
        )
    numeric = [f"num_{i}" for i in range(n_numeric)]
    categorical = [f"cat_{i}" for i in range(n_categorical)]
    for drift in (covariate_drift, concept_drift):
        if drift is not None and not 0 <= drift.at_row <= n_rows:
            raise InvalidInputError(f"Drift at row {drift.at_row} is outside 0..{n_rows}.")
    if covariate_drift is not None:
        unknown = sorted(set(covariate_drift.features) - set(numeric) - set(categorical))
        if unknown:
            raise InvalidInputError(
                f"Covariate drift names unknown features {unknown}; known: {numeric + categorical}."
            )

    # Separate streams, so that drift settings never change the undrifted draws.
    rng_struct, rng_x, rng_cat, rng_noise, rng_ent, rng_concept = (
        np.random.default_rng([seed, i]) for i in range(6)
    )
    means = rng_struct.uniform(-5.0, 5.0, n_numeric)
    stds = rng_struct.uniform(0.5, 3.0, n_numeric)
    cat_probs = [rng_struct.dirichlet(np.full(n_categories, 5.0)) for _ in categorical]
    before = _relation(rng_struct, n_numeric, n_categorical, n_categories)

    x = means + stds * rng_x.standard_normal((n_rows, n_numeric))
    u = rng_cat.random((n_rows, n_categorical))
    cats = np.empty((n_rows, n_categorical), dtype=np.int64)
    for j, probs in enumerate(cat_probs):
        cats[:, j] = np.searchsorted(np.cumsum(probs), u[:, j], side="right").clip(
            0, n_categories - 1
        )

    if covariate_drift is not None:
        at = covariate_drift.at_row
        for name in covariate_drift.features:
            if name in numeric:
                j = numeric.index(name)
                x[at:, j] = (
                    means[j]
                    + covariate_drift.scale * (x[at:, j] - means[j])
                    + covariate_drift.shift * stds[j]
                )
            else:
                j = categorical.index(name)
                moved = rng_cat.random(n_rows - at) < covariate_drift.category_shift
                cats[at:, j] = np.where(moved, n_categories - 1, cats[at:, j])

    # Standardised features keep every weight on a comparable scale.
    z = (x - means) / stds

    def target_of(rel: _Relation, rows: slice) -> Any:
        zz = z[rows]
        y = rel.intercept + zz @ np.asarray(rel.weights) + rel.interaction * zz[:, 0] * zz[:, 1]
        for j, effects in enumerate(rel.cat_effects):
            y = y + np.asarray(effects)[cats[rows, j]]
        return y

    y = target_of(before, slice(0, n_rows))
    if concept_drift is not None:
        at, s = concept_drift.at_row, concept_drift.strength
        fresh = _relation(rng_concept, n_numeric, n_categorical, n_categories)
        after = _Relation(
            intercept=before.intercept,
            weights=tuple(
                (1 - s) * a + s * b for a, b in zip(before.weights, fresh.weights, strict=True)
            ),
            cat_effects=tuple(
                tuple((1 - 2 * s) * e for e in effects) for effects in before.cat_effects
            ),
            interaction=(1 - 2 * s) * before.interaction,
        )
        y[at:] = target_of(after, slice(at, n_rows))
    y = y + noise * rng_noise.standard_normal(n_rows)

    frame: dict[str, object] = {
        "entity_id": rng_ent.integers(0, n_entities, n_rows),
        "event_time": pd.date_range(start, periods=n_rows, freq=pd.Timedelta(seconds=interval_s)),
    }
    for j, name in enumerate(numeric):
        frame[name] = x[:, j]
    labels = [f"c{k}" for k in range(n_categories)]
    for j, name in enumerate(categorical):
        frame[name] = pd.Categorical.from_codes(cats[:, j], categories=labels)
    frame[TARGET] = y
    return pd.DataFrame(frame)


def load_diabetes(features: Sequence[str] | None = None) -> pd.DataFrame:
    """scikit-learn's bundled diabetes data (442 rows, 10 features) with a ``target`` column.

    Real, small and shipped with scikit-learn, so it works offline.

    Example:
        >>> df = load_diabetes()
        >>> df.shape
        (442, 11)
    """
    from sklearn.datasets import load_diabetes as _load

    bunch = _load(as_frame=True, scaled=True)
    frame = bunch.frame.rename(columns={"target": TARGET})
    if features is not None:
        frame = frame[[*features, TARGET]]
    return frame


def make_classification(
    n_rows: int = 10_000,
    *,
    positive_rate: float = 0.2,
    labels: tuple[str, str] = ("no", "yes"),
    separation: float = 1.5,
    seed: int = 0,
    covariate_drift: CovariateDrift | None = None,
    concept_drift: ConceptDrift | None = None,
    **regression: Any,
) -> pd.DataFrame:
    """A seeded binary classification data set with string labels and class imbalance.

    The features, times, entities and drift are :func:`make_regression`'s; the label
    is drawn from a logistic model of its (standardised) target: ``labels[1]`` with
    probability ``sigmoid(separation * z + b)``, ``b`` chosen so that about
    ``positive_rate`` of the rows before any drift are positive. Concept drift
    changes the relation behind the label, covariate drift the features.

    Example:
        >>> df = make_classification(2000, seed=1)
        >>> sorted(df["target"].unique()), round(float((df["target"] == "yes").mean()), 1)
        (['no', 'yes'], 0.2)
    """
    import numpy as np
    from scipy.optimize import brentq

    if not 0 < positive_rate < 1:
        raise InvalidInputError(f"positive_rate must be in (0, 1), got {positive_rate}.")
    frame = make_regression(
        n_rows, seed=seed, covariate_drift=covariate_drift, concept_drift=concept_drift,
        noise=0.0, **regression,
    )  # fmt: skip
    score = frame[TARGET].to_numpy(dtype=np.float64)
    cut = covariate_drift.at_row if covariate_drift is not None else n_rows
    cut = min(cut, concept_drift.at_row) if concept_drift is not None else cut
    ref = score[: max(cut, 10)]
    z = (score - ref.mean()) / (ref.std() or 1.0)

    def rate(b: float) -> float:
        return float(np.mean(1 / (1 + np.exp(-(separation * z[: max(cut, 10)] + b)))))

    bias = brentq(lambda b: rate(b) - positive_rate, -50.0, 50.0)
    p = 1 / (1 + np.exp(-(separation * z + bias)))
    draws = np.random.default_rng([seed, 99]).random(n_rows) < p
    frame[TARGET] = np.where(draws, labels[1], labels[0])
    return frame
