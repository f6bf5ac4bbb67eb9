"""The linear baseline every run is compared with.

A scikit-learn ``Pipeline``: numeric columns are median-imputed and standardised,
categoricals are most-frequent-imputed and one-hot encoded (unknown categories
ignored), then ordinary least squares (``alpha=0``) or ridge (``alpha>0``) for
regression, and logistic regression for classification (L2 penalty
``C = 1 / alpha``; ``alpha=0`` keeps scikit-learn's ``C=1``, because an
unpenalised logistic regression diverges on separable data).

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

from rayops.training.cv import FoldPlan, Scoring

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["linear_pipeline", "score_linear"]


#: Iterations of the logistic baseline's solver (lbfgs on standardised columns).
LOGISTIC_MAX_ITER = 2_000


def linear_pipeline(X: pd.DataFrame, *, alpha: float = 0.0, classifier: bool = False) -> Any:
    """An unfitted ``Pipeline(ColumnTransformer, LinearRegression | Ridge | LogisticRegression)``
    for ``X``'s columns."""
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
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
    model: Any
    if classifier:
        model = LogisticRegression(C=1.0 / alpha if alpha > 0 else 1.0, max_iter=LOGISTIC_MAX_ITER)
    else:
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
    scoring: Scoring | None = None,
) -> list[dict[str, float]]:
    """Per-fold metrics of the linear pipeline on ``plan``'s folds (the task's metrics:
    ``scoring``, default regression with ``tolerance``)."""
    import numpy as np

    scoring = scoring or Scoring(tolerance=tolerance)
    classifier = scoring.task.is_classification
    Xo = _as_objects(X)
    out = []
    for train, test in plan.splits:
        pipe = linear_pipeline(Xo, alpha=alpha, classifier=classifier)
        pipe.fit(Xo.iloc[train], y[train])
        if not classifier:
            out.append(scoring.score(y[test], pipe.predict(Xo.iloc[test])))
            continue
        # Columns by class index: a fold's training rows may lack a class (time folds).
        proba = np.zeros((len(test), scoring.n_classes))
        proba[:, pipe.classes_.astype(np.int64)] = pipe.predict_proba(Xo.iloc[test])
        out.append(scoring.score(y[test], proba))
    return out
