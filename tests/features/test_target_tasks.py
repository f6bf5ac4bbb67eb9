"""Issue 19: the target role records its task and, for classifiers, the ordered classes;
tune and train ``--task auto`` on the feature set learn what it was written for."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from rayops.cli import app
from rayops.errors import InvalidInputError
from rayops.features import FeatureStore
from rayops.storage import Storage, open_storage


def _frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    return pd.DataFrame(
        {
            "user": np.arange(n),
            "a": x[:, 0], "b": x[:, 1], "c": x[:, 2],
            "churned": np.where(x[:, 0] + 0.3 * rng.normal(size=n) > 0, "yes", "no"),
            "flag": x[:, 1] > 0,
            "plan": pd.Categorical(rng.choice(["basic", "pro", "team"], n)),
            "visits": rng.integers(0, 2, n),  # 0/1: a label or a count?
            "spend": np.exp(x[:, 2]),
        }
    )  # fmt: skip


def test_each_target_records_its_task_and_sorted_classes(storage: Storage) -> None:
    fs = FeatureStore(storage)
    v = fs.write("users", _frame(), entity="user",
                 target=["churned", "flag", "plan", "visits", "spend"])  # fmt: skip
    tasks = fs.get(v.ref).roles.target_tasks  # read back from the stored manifest
    assert (tasks["churned"].task, tasks["churned"].classes) == ("binary", ["no", "yes"])
    assert (tasks["flag"].task, tasks["flag"].classes) == ("binary", [False, True])
    assert (tasks["plan"].task, tasks["plan"].classes) == ("multiclass", ["basic", "pro", "team"])
    assert tasks["spend"].task == "regression" and tasks["spend"].classes is None
    # Integers with two values: the data cannot tell; recorded as undecided, with why.
    assert tasks["visits"].task is None and "--task binary" in (tasks["visits"].note or "")


def test_a_named_task_is_recorded_and_one_the_data_cannot_fit_stores_nothing(
    tmp_path: Path,
) -> None:
    storage = open_storage(str(tmp_path))
    fs = FeatureStore(storage)
    v = fs.write("visits", _frame()[["user", "a", "visits"]], target="visits", task="binary")
    got = fs.get(v.ref).roles.target_tasks["visits"]
    assert (got.task, got.classes) == ("binary", [0, 1])
    with pytest.raises(InvalidInputError, match="'plan'.*two classes"):
        fs.write("plans", _frame()[["user", "a", "plan"]], target="plan", task="binary")
    with pytest.raises(InvalidInputError, match="Unknown task 'classify'"):
        fs.write("plans", _frame()[["user", "a", "plan"]], target="plan", task="classify")
    with pytest.raises(InvalidInputError, match="needs a target"):
        fs.write("plans", _frame()[["user", "a"]], task="binary")
    assert not list((tmp_path / "features").glob("plans/*/manifest.json"))


def test_ingest_cli_records_the_task_and_train_auto_uses_it(
    ray_cluster: Any, tmp_path: Path
) -> None:
    """`visits` (0/1 integers) cannot be trained with --task auto from a Parquet file, but
    can from a feature set ingested with --task binary."""
    data = tmp_path / "visits.parquet"
    frame = _frame(400)[["user", "a", "b", "visits"]]
    frame["visits"] = (frame["a"] > 0).astype(int)
    frame.to_parquet(data)
    root = str(tmp_path / "root")
    runner = CliRunner()
    out = runner.invoke(app, ["features", "ingest", "visits", str(data), "--entity", "user",
                              "--target", "visits", "--task", "binary", "--json",
                              "--storage", root])  # fmt: skip
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert doc["targets"] == {"visits": {"task": "binary", "classes": [0, 1]}}
    trained = runner.invoke(app, ["train", "--features", "visits", "--register", "visits-xgb",
                                  "--rounds", "10", "--json", "--storage", root])  # fmt: skip
    assert trained.exit_code == 0, trained.output
    from rayops.registry import Registry

    card = Registry(open_storage(root)).get("visits-xgb@1.0.0").card
    assert card.task == "binary" and card.classes == [0, 1]
    direct = runner.invoke(app, ["train", "--data", str(data), "--target", "visits",
                                 "--register", "v2", "--rounds", "10", "--json",
                                 "--storage", root])  # fmt: skip
    assert direct.exit_code == 2 and "--task binary" in direct.output
