"""`rayops tune`, `rayops runs list/show`: JSON out, exit codes, cheap --help."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from rayops.cli import app
from rayops.datasets import make_regression

runner = CliRunner()
CONFIG = "space:\n  max_depth: {grid: [2, 3]}\n  n_estimators: {grid: [10]}\ncv: {folds: 3}\n"


def test_help_is_cheap_and_has_examples() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from rayops.cli import app\n"
        "for args in (['tune', '--help'], ['runs', '--help'], ['runs', 'list', '--help'],"
        " ['runs', 'show', '--help']):\n"
        "    res = CliRunner().invoke(app, args)\n"
        "    assert res.exit_code == 0 and 'Example' in res.output, (args, res.output)\n"
        "heavy = ('ray', 'xgboost', 'pyarrow', 'pandas', 'sklearn')\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_bad_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("space:\n  max_depth: {grid: [3]}\n  colsample: {grid: [0.5]}\n")
    res = runner.invoke(
        app, ["tune", "--config", str(bad), "--data", "x.parquet", "--target", "y", "--json"]
    )
    assert res.exit_code == 2
    err = json.loads(res.stdout)
    assert err["error"] == "InvalidInputError" and "line 3: space.colsample" in err["message"]


def test_tune_from_parquet_then_runs_list_and_show(ray_cluster: Any, tmp_path: Path) -> None:
    data = tmp_path / "data.parquet"
    make_regression(300, seed=4).to_parquet(data)
    cfg = tmp_path / "grid.yaml"
    cfg.write_text(CONFIG)
    store = str(tmp_path / "store")
    res = runner.invoke(
        app,
        ["tune", "--config", str(cfg), "--data", str(data), "--target", "target",
         "--exclude", "entity_id", "--storage", store, "--json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["configs"] == 2 and summary["statuses"] == {"completed": 2}
    assert summary["baseline"]["score"] > 0 and summary["best"]["params"]["max_depth"] in (2, 3)

    listed = json.loads(runner.invoke(app, ["runs", "list", "--storage", store, "--json"]).stdout)
    assert [r["run_id"] for r in listed] == [summary["run_id"]]
    assert listed[0]["config"] == "grid.yaml"
    shown = runner.invoke(app, ["runs", "show", summary["run_id"], "--storage", store, "--json"])
    run = json.loads(shown.stdout)
    assert run["data"]["source"] == "parquet" and len(run["data"]["sha256"]) == 64
    assert "entity_id" not in run["features"] and len(run["top_trials"]) == 2
    missing = runner.invoke(app, ["runs", "show", "20200101T000000Z-000000", "--storage", store])
    assert missing.exit_code == 3
