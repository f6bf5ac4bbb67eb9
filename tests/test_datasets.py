"""The data generator puts drift exactly where it is asked for, and nowhere else."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from rayops.datasets import ConceptDrift, CovariateDrift, load_diabetes, make_regression
from rayops.errors import InvalidInputError

N, AT = 20_000, 12_000
NUMERIC = [f"num_{i}" for i in range(8)]


def test_same_seed_same_frame_and_schema() -> None:
    a, b = make_regression(2000, seed=3), make_regression(2000, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == ["entity_id", "event_time", *NUMERIC, "cat_0", "cat_1", "target"]
    assert isinstance(a["cat_0"].dtype, pd.CategoricalDtype)
    assert str(a["event_time"].dt.tz) == "UTC"
    assert a["event_time"].is_monotonic_increasing
    assert not make_regression(2000, seed=4)["target"].equals(a["target"])


def test_covariate_drift_shifts_only_the_named_features_from_the_given_row() -> None:
    base = make_regression(N, seed=11)
    drift = CovariateDrift(at_row=AT, features=("num_1", "num_4", "cat_1"), shift=2.0)
    df = make_regression(N, seed=11, covariate_drift=drift)
    # Before the change point nothing differs at all.
    pd.testing.assert_frame_equal(df.iloc[:AT], base.iloc[:AT])
    # Undrifted features are untouched after it too.
    for col in ["num_0", "num_2", "num_3", "num_5", "num_6", "num_7", "cat_0", "entity_id"]:
        pd.testing.assert_series_equal(df[col], base[col])
    # Drifted numerics moved by shift * std (std estimated on the stable part).
    for col in ["num_1", "num_4"]:
        std = df[col][:AT].std()
        moved = (df[col][AT:].mean() - df[col][:AT].mean()) / std
        assert moved == pytest.approx(2.0, abs=0.1)
        assert df[col][AT:].std() == pytest.approx(std, rel=0.05)
    # The drifted categorical moves category_shift (0.6) of its rows to the last category.
    before = (df["cat_1"][:AT] == "c3").mean()
    after = (df["cat_1"][AT:] == "c3").mean()
    assert after == pytest.approx(before + 0.6 * (1 - before), abs=0.02)
    # Covariate drift keeps the relation: the target follows the new inputs.
    assert not df["target"][AT:].equals(base["target"][AT:])


def test_concept_drift_changes_the_relation_not_the_inputs() -> None:
    base = make_regression(N, seed=5, noise=0.5)
    df = make_regression(N, seed=5, noise=0.5, concept_drift=ConceptDrift(at_row=AT))
    pd.testing.assert_frame_equal(df.drop(columns="target"), base.drop(columns="target"))
    pd.testing.assert_series_equal(df["target"][:AT], base["target"][:AT])
    # A model fit before the change fits the stable part and fails after it.
    model = LinearRegression().fit(df[NUMERIC][:AT], df["target"][:AT])
    err_before = np.abs(
        model.predict(df[NUMERIC][AT // 2 : AT]) - df["target"][AT // 2 : AT]
    ).mean()
    err_after = np.abs(model.predict(df[NUMERIC][AT:]) - df["target"][AT:]).mean()
    assert err_after > 2.5 * err_before
    # And on the undrifted frame the same model keeps its error.
    err_base = np.abs(model.predict(base[NUMERIC][AT:]) - base["target"][AT:]).mean()
    assert err_base < 1.2 * err_before


def test_bad_drift_specs_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="outside"):
        make_regression(100, concept_drift=ConceptDrift(at_row=500))
    with pytest.raises(InvalidInputError, match="unknown features"):
        make_regression(100, covariate_drift=CovariateDrift(at_row=10, features=("nope",)))


def test_diabetes_loader() -> None:
    df = load_diabetes()
    assert df.shape == (442, 11)
    assert "target" in df.columns and df["target"].notna().all()
    assert list(load_diabetes(["bmi", "bp"]).columns) == ["bmi", "bp", "target"]
