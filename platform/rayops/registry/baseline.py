"""Training-data statistics stored in the model card, for drift detection later.

For each numeric feature: count, missing, mean, std, min, max, quantiles and a
histogram (bin edges from the training data). For each categorical (or string /
boolean) feature: count, missing and the frequency of each category (the most
frequent ones; the rest are summed under ``"__other__"``).

Example:
    >>> import pandas as pd
    >>> b = baseline_from_frame(pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "c": list("aaab")}),
    ...                         ["x", "c"], bins=2, quantiles=(0.5,))
    >>> b["x"]["histogram"]
    {'edges': [1.0, 2.5, 4.0], 'counts': [2, 2]}
    >>> b["c"]["frequencies"]
    {'a': 0.75, 'b': 0.25}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rayops.config import Settings
from rayops.errors import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["baseline_from_frame"]


def baseline_from_frame(
    frame: pd.DataFrame,
    features: Sequence[str],
    *,
    bins: int | None = None,
    quantiles: Sequence[float] | None = None,
    max_categories: int | None = None,
) -> dict[str, Any]:
    """Per-feature baseline statistics of ``frame`` (JSON-ready).

    Defaults for ``bins``, ``quantiles`` and ``max_categories`` come from
    :class:`rayops.config.Settings` (``registry_baseline_*``).
    """
    import numpy as np
    import pandas as pd

    if bins is None or quantiles is None or max_categories is None:
        settings = Settings()
        bins = bins if bins is not None else settings.registry.baseline_bins
        quantiles = quantiles if quantiles is not None else settings.registry.baseline_quantiles
        if max_categories is None:
            max_categories = settings.registry.baseline_max_categories
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"Cannot compute a baseline: columns {missing} are not in the data."
        )
    out: dict[str, Any] = {}
    for name in features:
        col = frame[name]
        n_missing = int(col.isna().sum())
        present = col.dropna()
        is_numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
        if is_numeric and not isinstance(col.dtype, pd.CategoricalDtype):
            values = present.to_numpy(dtype=np.float64)
            values = values[np.isfinite(values)]
            stats: dict[str, Any] = {
                "kind": "numeric",
                "count": int(len(values)),
                "missing": n_missing,
            }
            if len(values):
                counts, edges = np.histogram(values, bins=bins)
                stats.update(
                    mean=float(values.mean()),
                    std=float(values.std()),
                    min=float(values.min()),
                    max=float(values.max()),
                    quantiles={str(q): float(np.quantile(values, q)) for q in quantiles},
                    histogram={
                        "edges": [float(e) for e in edges],
                        "counts": [int(c) for c in counts],
                    },
                )
            out[name] = stats
        else:
            freq = present.astype(str).value_counts(normalize=True, sort=True)
            top = freq.iloc[:max_categories]
            frequencies = {str(k): float(v) for k, v in top.items()}
            if len(freq) > max_categories:
                frequencies["__other__"] = float(freq.iloc[max_categories:].sum())
            out[name] = {
                "kind": "categorical",
                "count": int(len(present)),
                "missing": n_missing,
                "frequencies": frequencies,
            }
    return out
