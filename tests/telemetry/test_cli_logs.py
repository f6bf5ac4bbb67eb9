"""`rayops logs stats|compact|expire` over a real storage root."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from rayops.cli import app
from rayops.storage import open_storage
from rayops.telemetry.writers import PredictionLog

runner = CliRunner()


def test_stats_compact_and_expire_from_the_cli(tmp_path: Path) -> None:
    root = str(tmp_path / "root")
    storage = open_storage(root)
    past = datetime.now(UTC) - timedelta(days=3)
    for i in range(5):
        log = PredictionLog(storage, flush_s=3600)
        log.record(request_id=f"r{i}", endpoint="shop", ref="m@1.0.0",
                   frame=pd.DataFrame({"x": [1.0]}), predictions=[1.0], latency_ms=1.0,
                   time=past + timedelta(seconds=i))  # fmt: skip
        log.close()
    env = {"RAYOPS_STORAGE": root}
    res = runner.invoke(app, ["logs", "stats", "shop", "--json"], env=env)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["predictions"]["live_files"] == 5
    res = runner.invoke(app, ["logs", "compact", "shop", "--json"], env=env)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["input_files"] == 5
    stats = json.loads(runner.invoke(app, ["logs", "stats", "shop", "--json"], env=env).stdout)
    assert stats["predictions"]["live_files"] == 1 and stats["predictions"]["rows"] == 5
    bad = runner.invoke(app, ["logs", "compact", "shop", "--day", "yesterday"], env=env)
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output
    res = runner.invoke(app, ["logs", "expire", "--days", "1", "--json"], env=env)
    assert res.exit_code == 0 and json.loads(res.stdout)["partitions"] == 1
