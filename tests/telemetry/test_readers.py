"""The log reader returns exactly the window's rows, joined with their feedback."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from rayops.errors import InvalidInputError, InvalidNameError
from rayops.storage import Storage
from rayops.telemetry.readers import joined, read_feedback, read_predictions
from rayops.telemetry.writers import FeedbackLog, PredictionLog

T0 = datetime(2026, 3, 1, 23, 0, tzinfo=UTC)  # windows cross a day partition


def _write_logs(storage: Storage) -> None:
    log = PredictionLog(storage, flush_s=3600)
    for i in range(6):  # one request of 2 rows every 30 minutes, from 23:00 to 01:30
        when = T0 + timedelta(minutes=30 * i)
        log.record(
            request_id=f"r{i}", endpoint="shop", ref="m@1.0.0" if i % 2 else "m@1.1.0",
            frame=pd.DataFrame({"x": [float(i), float(i) + 0.5]}), predictions=[10.0 * i, 1.0],
            latency_ms=5.0 + i, time=when,
        )  # fmt: skip
    log.record(
        request_id="s0", endpoint="shop", ref="m@2.0.0", frame=pd.DataFrame({"x": [1.0]}),
        predictions=[99.0], latency_ms=1.0, shadow=True, time=T0,
    )  # fmt: skip
    log.flush()
    log.close()

    async def feedback() -> None:
        fb = FeedbackLog(storage, now=lambda: T0 + timedelta(hours=3))
        await fb.write("shop", "r1", [11.0, 2.0])
        await fb.write("shop", "r4", [40.0, 0.0])
        fb2 = FeedbackLog(storage, now=lambda: T0 + timedelta(hours=4))
        await fb2.write("shop", "r4", [41.0, 0.0])  # a correction: the latest counts

    asyncio.run(feedback())


def test_window_crossing_midnight_and_join(storage: Storage) -> None:
    _write_logs(storage)
    preds = read_predictions(storage, "shop", T0 + timedelta(minutes=30), T0 + timedelta(hours=2))
    assert sorted(preds["request_id"].unique()) == ["r1", "r2", "r3"]
    assert len(preds) == 6 and not preds["shadow"].any()
    with_shadow = read_predictions(
        storage, "shop", T0, T0 + timedelta(hours=3), include_shadow=True
    )
    assert "s0" in set(with_shadow["request_id"])

    j = joined(storage, "shop", T0, T0 + timedelta(hours=3))
    assert len(j) == 12
    got = j.set_index(["request_id", "row"])
    assert got.loc[("r1", 0), "actual"] == 11.0 and got.loc[("r1", 0), "error"] == 10.0 - 11.0
    assert got.loc[("r4", 0), "actual"] == 41.0  # corrected feedback wins
    assert got.loc[("r4", 0), "error"] == pytest.approx(40.0 - 41.0)
    assert got["actual"].notna().sum() == 4
    assert set(got.loc[got["actual"].isna()].index.get_level_values(0)) == {"r0", "r2", "r3", "r5"}
    assert len(read_feedback(storage, "shop", T0, T0 + timedelta(hours=5))) == 6


def test_version_and_shadow_filters_are_pushed_into_the_scan(storage: Storage) -> None:
    _write_logs(storage)
    end = T0 + timedelta(hours=3)
    only = read_predictions(storage, "shop", T0, end, refs=["m@1.0.0"])
    assert sorted(only["request_id"].unique()) == ["r1", "r3", "r5"]
    assert set(only["version"]) == {"1.0.0"}
    # A shadow version asked for by ref is still left out unless shadow rows are asked for.
    assert read_predictions(storage, "shop", T0, end, refs=["m@2.0.0"]).empty
    shadow = read_predictions(storage, "shop", T0, end, refs=["m@2.0.0"], include_shadow=True)
    assert list(shadow["request_id"]) == ["s0"]
    both = joined(storage, "shop", T0, end, refs=["m@1.0.0", "m@1.1.0", "other@1.0.0"])
    assert len(both) == 12 and both["actual"].notna().sum() == 4
    assert read_predictions(storage, "shop", T0, end, refs=[]).empty
    with pytest.raises(InvalidInputError, match="MODEL@VERSION"):
        read_predictions(storage, "shop", T0, end, refs=["m"])


def test_empty_and_bad_windows(storage: Storage) -> None:
    assert read_predictions(storage, "none", T0, T0 + timedelta(hours=1)).empty
    assert joined(storage, "none", T0, T0 + timedelta(hours=1)).empty
    with pytest.raises(InvalidInputError, match="before it starts"):
        read_predictions(storage, "shop", T0, T0 - timedelta(hours=1))
    with pytest.raises(InvalidNameError):
        read_predictions(storage, "../x", T0, T0 + timedelta(hours=1))


def test_features_come_back_as_typed_columns_and_legacy_json_still_reads() -> None:
    from rayops.telemetry.readers import features

    rows = pd.DataFrame({"f_x": [1.0, 2.5, 3.0], "f_c": ["a", None, None]}, index=[7, 8, 9])
    out = features(rows)
    assert list(out.index) == [7, 8, 9] and list(out["x"]) == [1.0, 2.5, 3.0]
    assert out["c"].isna().tolist() == [False, True, True]
    assert list(features(rows, ["c", "missing"]).columns) == ["c", "missing"]
    # Logs written before typed columns kept one JSON object per row.
    legacy = pd.DataFrame({"features": ['{"x": 1, "c": "a"}', '{"x": 2.5, "c": null}']})
    old = features(legacy)
    assert list(old["x"]) == [1, 2.5] and old["c"].isna().tolist() == [False, True]
    assert features(rows.iloc[:0]).empty
