"""`rayops retrain policy|status|history` and `rayops schedules` with --json and exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from rayops.automation.jobs import JobState, JobStore
from rayops.cli import app
from rayops.storage import open_storage

runner = CliRunner()


def run(root: str, *args: str) -> tuple[int, Any]:
    res = runner.invoke(app, [*args, "--json", "--storage", root])
    out = res.stdout.strip()
    return res.exit_code, json.loads(out) if out.startswith(("{", "[")) else out


def test_policy_and_schedule_commands(tmp_path: Path) -> None:
    root = str(tmp_path / "root")
    code, policy = run(root, "retrain", "policy", "set", "demand", "--features", "demand-fs",
                       "--endpoint", "shop", "--no-auto-deploy")  # fmt: skip
    assert code == 0 and policy["auto_deploy"] is False and policy["endpoint"] == "shop"
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text("features: demand-fs\ntriggers:\n  age: {days: 3}\ncooldown: 2h\n")
    code, policy = run(root, "retrain", "policy", "set", "demand", "--file", str(policy_file))
    assert code == 0 and policy["triggers"]["age"]["days"] == 3 and policy["cooldown"] == "2h"
    code, listed = run(root, "retrain", "policy", "list")
    assert code == 0 and [p["model"] for p in listed] == ["demand"]

    code, sched = run(root, "schedules", "add", "demand", "--cron", "0 2 * * 0")
    assert code == 0 and sched["cron"] == "0 2 * * 0"
    assert run(root, "schedules", "add", "demand", "--cron", "0 2 * * 0")[0] == 4  # duplicate
    assert run(root, "schedules", "add", "demand", "--cron", "sometimes")[0] == 2
    assert run(root, "schedules", "add", "nobody", "--every", "1h")[0] == 3
    code, rows = run(root, "schedules", "list")
    assert code == 0 and rows[0]["schedule"] == "cron 0 2 * * 0" and rows[0]["next_run"]
    assert run(root, "schedules", "remove", "demand", "0 2 * * 0")[0] == 0
    assert run(root, "schedules", "list")[1] == []

    bad = tmp_path / "bad.yaml"
    bad.write_text("features: fs\ntriggers: {age: {days: -2}}\n")
    code, _ = run(root, "retrain", "policy", "set", "demand", "--file", str(bad))
    assert code == 2
    assert run(root, "retrain")[0] == 2  # neither --check nor --force
    assert run(root, "retrain", "--force")[0] == 2  # --force needs --model


def test_status_and_history_show_jobs(tmp_path: Path) -> None:
    root = str(tmp_path / "root")
    storage = open_storage(root)
    run(root, "retrain", "policy", "set", "demand", "--features", "demand-fs")
    jobs = JobStore(storage)
    job = jobs.claim("demand", trigger="age", reason="production is 8.0 days old")
    assert job is not None
    code, status = run(root, "retrain", "status")
    assert code == 0 and status[0]["id"] == job.id and status[0]["state"] == "queued"
    assert run(root, "retrain", "history")[1] == []
    jobs.finish("demand", job.id, JobState.FAILED, error="training: boom")
    code, history = run(root, "retrain", "history", "demand")
    assert code == 0 and history[0]["error"] == "training: boom"
    assert history[0]["stage"] == "done" and history[0]["trigger"] == "age"
    res = runner.invoke(app, ["retrain", "--help"])
    assert res.exit_code == 0 and "Example: rayops retrain --check" in res.stdout
