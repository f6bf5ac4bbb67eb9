"""Write-time quality checks: expectations, strict mode, statistics."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from rayops.config import Settings
from rayops.errors import InvalidInputError
from rayops.features import ExpectationKind, Expectations, FeatureStore
from rayops.storage import Storage

EXPECT = {
    "not_null": ["user"],
    "ranges": {"age": [0, 120]},
    "allowed_values": {"country": ["FR", "DE"]},
    "max_null_ratio": {"*": 0.25},
}


def people(bad: bool) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user": [1, 2, None, 4] if bad else [1, 2, 3, 4],
            "age": [30, 150, -1, 40] if bad else [30, 50, 20, 40],
            "country": ["FR", "DE", "XX", "YY"] if bad else ["FR", "DE", "FR", "DE"],
            "note": [None, None, "x", None] if bad else ["a", "b", "c", "d"],
        }
    )


def test_strict_write_with_violated_expectation_is_rejected_and_leaves_no_version(
    storage: Storage,
) -> None:
    fs = FeatureStore(storage)
    v1 = fs.write("people", people(bad=False), expectations=EXPECT, strict=True)
    assert v1.quality.passed and v1.quality.violations == []
    keys_before = storage.list_keys("features/")
    with pytest.raises(InvalidInputError) as err:
        fs.write("people", people(bad=True), expectations=EXPECT, strict=True)
    message = str(err.value)
    assert "was not written: 4 expectation(s) violated" in message
    for fragment in (
        "1 null value(s) in not-null column 'user'",
        "2 value(s) of 'age' outside [0.0, 120.0]",
        "2 value(s) of 'country' not in the allowed values (e.g. 'XX', 'YY')",
        "null ratio of 'note' is 0.7500, above the maximum 0.25",
    ):
        assert fragment in message, fragment
    assert "'user' is 0.25" not in message  # a ratio equal to the maximum is allowed
    assert storage.list_keys("features/") == keys_before  # no claim, part, index or manifest
    assert [v.version for v in fs.versions("people")] == [1]


def test_default_mode_records_violations_in_the_manifest(storage: Storage) -> None:
    fs = FeatureStore(storage)
    v = fs.write("people", people(bad=True), expectations=Expectations.model_validate(EXPECT))
    found = {(x.expectation, x.column, x.count) for x in v.quality.violations}
    assert found == {
        (ExpectationKind.NOT_NULL, "user", 1),
        (ExpectationKind.RANGE, "age", 2),
        (ExpectationKind.ALLOWED_VALUES, "country", 2),
        (ExpectationKind.MAX_NULL_RATIO, "note", 3),
    }
    assert not v.quality.passed
    reread = fs.get("people@1")  # round trip through manifest.json
    assert reread.quality == v.quality and reread.quality.expectations is not None


def test_missing_expected_column_is_a_violation(storage: Storage) -> None:
    fs = FeatureStore(storage)
    with pytest.raises(InvalidInputError, match="column 'gone' is expected but missing"):
        fs.write("p", people(False), expectations={"not_null": ["gone"]}, strict=True)


def test_bad_expectations_are_caller_errors(storage: Storage) -> None:
    fs = FeatureStore(storage)
    with pytest.raises(InvalidInputError, match="needs a numeric column"):
        fs.write("p", people(False), expectations={"ranges": {"country": [0, 1]}})
    with pytest.raises(InvalidInputError, match="Invalid expectations"):
        fs.write("p", people(False), expectations={"max_null_ratio": {"*": 2}})
    with pytest.raises(InvalidInputError, match="Invalid expectations"):
        fs.write("p", people(False), expectations={"no_such_rule": []})
    assert storage.list_keys("features/") == []


def test_statistics_per_kind(tmp_path: object) -> None:
    from rayops.storage import open_storage

    fs = FeatureStore(
        open_storage(str(tmp_path)),
        settings=Settings(features_batch_rows=3, features_max_categories=4, features_top_values=2),
    )
    table = pa.table(
        {
            "f": pa.array([1.0, float("nan"), 3.0, None, 5.0, 7.0]),
            "i": pa.array([1, 2, 3, 4, 5, 6]),
            "c": pa.array(["a", "b", "a", "a", None, "b"]),
            "hi": pa.array(["u1", "u2", "u3", "u4", "u5", "u6"]),
            "b": pa.array([True, False, True, True, True, None]),
            "t": pa.array(np.array(["2026-01-02", "2026-01-01"] * 3, dtype="datetime64[ms]")),
        }
    )
    s = fs.write("kinds", table).stats
    assert (s["f"].kind, s["f"].nan_count, s["f"].null_count) == ("numeric", 1, 1)
    assert (s["f"].min, s["f"].max, s["f"].mean) == (1.0, 7.0, 4.0)
    assert s["f"].std == pytest.approx(math.sqrt(5.0))
    assert s["i"].std == pytest.approx(np.std([1, 2, 3, 4, 5, 6]))  # merged over 2 batches
    assert s["c"].distinct_count == 2 and not s["c"].distinct_is_lower_bound
    assert [(t.value, t.count) for t in s["c"].top_values or []] == [("a", 3), ("b", 2)]
    assert s["hi"].distinct_is_lower_bound and s["hi"].top_values is None
    assert [(t.value, t.count) for t in s["b"].top_values or []] == [(True, 4), (False, 1)]
    assert (s["t"].kind, s["t"].min, s["t"].max) == (
        "temporal",
        "2026-01-01T00:00:00",
        "2026-01-02T00:00:00",
    )
