"""Classification data sets for tests: scikit-learn's bundled ones and a generated one.

All offline: ``load_breast_cancer``, ``load_iris`` and ``load_wine`` ship with
scikit-learn. Feature columns are ``x0..xN`` and the target is ``label``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _frame(X: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    frame["label"] = y
    return frame


def breast_cancer() -> pd.DataFrame:
    """569 rows, 30 features, binary ``label`` 0/1 (integers: needs --task binary)."""
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    return _frame(X, y)


def iris() -> pd.DataFrame:
    """150 rows, 4 features, ``label`` the species name (three strings)."""
    from sklearn.datasets import load_iris

    data = load_iris()
    return _frame(data.data, np.asarray(data.target_names)[data.target])


def wine() -> pd.DataFrame:
    """178 rows, 13 features, ``label`` a categorical of three cultivars."""
    from sklearn.datasets import load_wine

    X, y = load_wine(return_X_y=True)
    return _frame(X, pd.Categorical(np.array(["barolo", "grignolino", "barbera"])[y]))


def imbalanced(n: int = 2_000, *, seed: int = 0, positive: float = 0.15) -> pd.DataFrame:
    """A generated binary problem with ``positive`` share of ``"churned"`` rows (the rest
    ``"stayed"``), 10 numeric features and one string categorical with signal."""
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=n, n_features=10, n_informative=5, n_redundant=2,
        weights=[1 - positive], flip_y=0.01, random_state=seed,
    )  # fmt: skip
    frame = _frame(X, np.where(y == 1, "churned", "stayed"))
    rng = np.random.default_rng(seed)
    plan = np.where(y == 1, rng.choice(["basic", "pro"], n, p=[0.7, 0.3]),
                    rng.choice(["basic", "pro"], n, p=[0.3, 0.7]))  # fmt: skip
    frame.insert(10, "plan", plan)
    return frame
