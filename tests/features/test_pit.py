"""Point-in-time join, checked by hand against a small timeline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rayops.errors import InvalidInputError
from rayops.features import FeatureStore
from rayops.storage import Storage


def ts(s: str) -> pd.Timestamp:
    return pd.Timestamp(s)


# Feature rows for two users (stored out of time order on purpose).
FEATURES = pd.DataFrame(
    {
        "user": [1, 1, 2, 1, 2],
        "ts": [
            ts("2026-01-05"),
            ts("2026-01-01"),
            ts("2026-01-02"),
            ts("2026-01-10"),
            ts("2026-01-08"),
        ],
        "spend": [50.0, 10.0, 200.0, 100.0, 800.0],
        "tier": ["silver", "bronze", "gold", "gold", "platinum"],
        "label": [0, 0, 1, 1, 0],
    }
)


def test_point_in_time_join_returns_exactly_the_expected_rows(storage: Storage) -> None:
    fs = FeatureStore(storage)
    fs.write("spend", FEATURES, entity="user", event_time="ts", target="label")
    entities = pd.DataFrame(
        {
            "user": [1, 2, 1, 1, 2, 3, 1, 2],
            "ts": [
                ts("2025-12-31"),  # before any feature of user 1 -> nothing
                ts("2026-01-02"),  # exactly at user 2's first row -> included
                ts("2026-01-04 23:59"),  # user 1: 01-01 row, not the 01-05 one (future)
                ts("2026-01-05"),  # exact match -> 01-05 row
                ts("2026-01-07"),  # user 2: 01-02 row, 01-08 is in the future
                ts("2026-01-09"),  # unknown user -> nothing
                ts("2026-02-01"),  # user 1: latest row 01-10
                ts("2026-01-08 00:00:01"),  # user 2: 01-08 row
            ],
            "request": list("abcdefgh"),
        },
        index=[10, 11, 12, 13, 14, 15, 16, 17],
    )
    got = fs.point_in_time_join(entities, "spend")
    assert list(got.columns) == ["user", "ts", "request", "spend", "tier"]  # no target
    assert list(got.index) == list(entities.index)
    pd.testing.assert_frame_equal(got[["user", "ts", "request"]], entities)
    expected_spend = [np.nan, 200.0, 10.0, 50.0, 200.0, np.nan, 100.0, 800.0]
    expected_tier = [None, "gold", "bronze", "silver", "gold", None, "gold", "platinum"]
    assert got["spend"].tolist() == pytest.approx(expected_spend, nan_ok=True)
    assert [None if pd.isna(t) else t for t in got["tier"]] == expected_tier


def test_point_in_time_join_never_leaks_future_values(storage: Storage) -> None:
    rng = np.random.default_rng(0)
    n = 400
    feats = pd.DataFrame(
        {
            "k": rng.integers(0, 10, n),
            "t": pd.to_datetime("2026-01-01") + pd.to_timedelta(rng.integers(0, 10_000, n), "min"),
            "x": rng.random(n),
        }
    )
    fs = FeatureStore(storage)
    fs.write("noleak", feats, entity="k", event_time="t")
    ents = pd.DataFrame(
        {
            "k": rng.integers(0, 11, 300),
            "t": pd.to_datetime("2026-01-01")
            + pd.to_timedelta(rng.integers(0, 10_000, 300), "min"),
        }
    )
    got = fs.point_in_time_join(ents, "noleak", columns=["x"])
    for (_, row), x in zip(ents.iterrows(), got["x"], strict=True):
        past = feats[(feats.k == row.k) & (feats.t <= row.t)]
        if past.empty:
            assert np.isnan(x)
        else:
            assert x == past.sort_values("t", kind="stable").iloc[-1].x


def test_point_in_time_join_errors(storage: Storage) -> None:
    fs = FeatureStore(storage)
    fs.write("noroles", FEATURES)
    ents = pd.DataFrame({"user": [1], "ts": [ts("2026-01-03")]})
    with pytest.raises(InvalidInputError, match="declares no entity"):
        fs.point_in_time_join(ents, "noroles")
    got = fs.point_in_time_join(ents, "noroles", entity="user", event_time="ts", columns=["spend"])
    assert got["spend"].tolist() == [10.0]
    no_time = pd.DataFrame({"user": [1, 1], "ts": [pd.NaT, ts("2026-01-03")]})
    got = fs.point_in_time_join(no_time, "noroles", entity="user", event_time="ts")
    assert got["spend"].tolist() == pytest.approx([np.nan, 10.0], nan_ok=True)
    with pytest.raises(InvalidInputError, match="missing from entities"):
        fs.point_in_time_join(ents.drop(columns=["ts"]), "noroles", entity="user", event_time="ts")
    with pytest.raises(InvalidInputError, match="exist in both"):
        fs.point_in_time_join(ents.assign(spend=1.0), "noroles", entity="user", event_time="ts")
    aware = ents.assign(ts=ents.ts.dt.tz_localize("UTC"))
    with pytest.raises(InvalidInputError, match="timezone-aware"):
        fs.point_in_time_join(aware, "noroles", entity="user", event_time="ts")
