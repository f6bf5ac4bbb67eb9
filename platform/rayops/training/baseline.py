"""The linear baseline every run is compared with.

A scikit-learn ``Pipeline``: numeric columns are median-imputed and standardised,
categoricals are most-frequent-imputed and one-hot encoded (unknown categories
ignored), then ordinary least squares (``alpha=0``) or ridge (``alpha>0``).

Example:
    >>> from rayops.datasets import load_diabetes
    >>> from rayops.training.cv import FoldPlan
    >>> df = load_diabetes()
    >>> X, y = df.drop(columns="target"), df["target"].to_numpy()
    >>> folds = score_linear(X, y, FoldPlan.kfold(len(df), folds=5, seed=0))
    >>> len(folds), 0.3 < sum(f["r2"] for f in folds) / 5 < 0.6
    (5, True)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rayops.training.cv import FoldPlan, regression_metrics

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["linear_pipeline", "score_linear"]


def linear_pipeline(X: pd.DataFrame, *, alpha: float = 0.0) -> Any:
    """An unfitted ``Pipeline(ColumnTransformer, LinearRegression | Ridge)`` for ``X``'s columns."""
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LinearRegression, Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c].dtype)]
    categorical = [c for c in X.columns if c not in numeric]
    transformers: list[tuple[str, Any, list[str]]] = []
    if numeric:
        transformers.append(
            (
                "numeric",
                Pipeline(
                    [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
                ),
                numeric,
            )
        )
    if categorical:
        transformers.append(
            (
                "categorical",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="most_frequent")),
                        ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
                    ]
                ),
                categorical,
            )
        )
    model = Ridge(alpha=alpha) if alpha > 0 else LinearRegression()
    return Pipeline([("prepare", ColumnTransformer(transformers)), ("model", model)])


def _as_objects(X: pd.DataFrame) -> pd.DataFrame:
    # SimpleImputer and OneHotEncoder want object columns with NaN, not pandas categoricals.
    import numpy as np
    import pandas as pd

    out = X.copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.CategoricalDtype):
            out[c] = out[c].astype(object).where(out[c].notna(), np.nan)
    return out


def score_linear(
    X: pd.DataFrame,
    y: np.ndarray,
    plan: FoldPlan,
    *,
    alpha: float = 0.0,
    tolerance: float = 5.0,
) -> list[dict[str, float]]:
    """Per-fold metrics of the linear pipeline on ``plan``'s folds."""
    Xo = _as_objects(X)
    out = []
    for train, test in plan.splits:
        pipe = linear_pipeline(Xo, alpha=alpha).fit(Xo.iloc[train], y[train])
        out.append(regression_metrics(y[test], pipe.predict(Xo.iloc[test]), tolerance=tolerance))
    return out
