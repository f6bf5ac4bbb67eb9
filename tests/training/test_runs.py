"""Runs persist the same way on a local disk and on S3 (no Ray needed)."""

from __future__ import annotations

import pandas as pd
import pytest

from rayops.errors import AlreadyExistsError, InvalidNameError, NotFoundError
from rayops.storage import Storage
from rayops.training.runs import get_run, list_runs, new_run_id, read_trials, save_run


def test_save_list_show_round_trip(storage: Storage) -> None:
    trials = pd.DataFrame(
        {"config_id": [0, 1], "status": ["completed", "stopped"],
         "rmse_folds": [[1.0, 2.0], [3.0]], "rmse_mean": [1.5, 3.0]}
    )  # fmt: skip
    first, second = "20260101T000000Z-aaaaaa", "20260102T000000Z-bbbbbb"
    for run_id, score in ((first, 1.5), (second, 1.2)):
        save_run(storage, run_id, {"metric": "rmse", "best": {"score": score}}, trials, b"ubj")
    assert [r["run_id"] for r in list_runs(storage)] == [second, first]  # newest first
    assert list_runs(storage)[0]["best_score"] == 1.2
    assert get_run(storage, first)["run_id"] == first
    assert storage.read_bytes(f"runs/{first}/model.ubj") == b"ubj"
    back = read_trials(storage, first)
    assert list(back["rmse_folds"].map(list)) == [[1.0, 2.0], [3.0]]
    with pytest.raises(AlreadyExistsError):  # run.json is written once
        save_run(storage, first, {"metric": "rmse"}, trials)


def test_missing_and_unsafe_run_ids(storage: Storage) -> None:
    with pytest.raises(NotFoundError, match="rayops runs list"):
        get_run(storage, new_run_id())
    with pytest.raises(InvalidNameError):
        get_run(storage, "../x")
    assert list_runs(storage) == []
