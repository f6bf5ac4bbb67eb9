"""`rayops online enable|disable|status|log|update` through the real CLI app."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import xgboost as xgb
from online_support import DRIFT_AT, Stream, serve_model
from typer.testing import CliRunner

from rayops.cli import app
from rayops.storage import Storage

ENV = {"RAYOPS_ONLINE_SETTLE_S": "0"}


def test_online_commands(local: Storage, pre_drift: xgb.Booster, drifted: pd.DataFrame) -> None:
    serve_model(local, pre_drift)
    root = ["--storage", local.uri]

    def run(*args: str, code: int = 0) -> dict | list:  # type: ignore[type-arg]
        r = CliRunner().invoke(app, ["online", *args, *root, "--json"], env=ENV)
        assert r.exit_code == code, r.output
        return json.loads(r.stdout) if code == 0 else {}

    run("status", "shop", code=3)  # never enabled: not found
    run("enable", "shop", "--buffer-size", "oops", code=2)
    run("enable", "shop", "--set", "colour=red", code=2)
    doc = run("enable", "shop", "--buffer-size", "50", "--max-age", "1h", "--set", "rounds=4")
    assert isinstance(doc, dict) and doc["enabled"]
    assert doc["config"]["buffer_size"] == 50 and doc["config"]["max_age_s"] == 3600.0
    assert doc["config"]["rounds"] == 4 and doc["buffer"]["size"] == 0
    run("update", "shop", code=2)  # nothing buffered yet
    Stream(local, "shop").send(
        drifted.iloc[DRIFT_AT : DRIFT_AT + 30],
        datetime.now(UTC),
        feedback_delay=timedelta(microseconds=1),
    )
    status = run("status", "shop")
    assert isinstance(status, dict) and status["buffer"]["size"] == 30
    record = run("update", "shop")
    assert isinstance(record, dict) and record["samples"] == 30 and record["trigger"] == "manual"
    assert record["status"] in ("accepted", "rejected") and record["reason"]
    (logged,) = run("log", "shop")
    assert logged["id"] == record["id"] and logged["duration_ms"] > 0
    assert run("disable", "shop", "--reason", "done")["enabled"] is False  # type: ignore[call-overload]
    r = CliRunner().invoke(app, ["online", "log", "shop", *root], env=ENV)
    assert r.exit_code == 0 and "online updates" in r.output and "manual" in r.output
    r = CliRunner().invoke(app, ["online", "status", "shop", *root], env=ENV)
    assert r.exit_code == 0 and "disabled" in r.output and "buffer_size" in r.output
