"""The `rayops` command: JSON output scripts can parse and exit codes they can trust."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from harness import free_port
from typer.testing import CliRunner

from rayops.cli import app

runner = CliRunner()


def test_config_json_lists_every_setting(tmp_path: Path) -> None:
    res = runner.invoke(app, ["config", "--json"], env={"RAYOPS_STORAGE": str(tmp_path)})
    assert res.exit_code == 0, res.output
    rows = {r["setting"]: r for r in json.loads(res.stdout)}
    assert rows["storage"]["value"] == str(tmp_path)
    assert rows["storage"]["env"] == "RAYOPS_STORAGE"
    assert "AWS_ENDPOINT_URL" in rows["s3_endpoint_url"]["env"]
    assert all(r["description"] for r in rows.values())


def test_config_warns_about_a_misspelt_variable_and_reads_sections(tmp_path: Path) -> None:
    env = {
        "RAYOPS_STORAGE": str(tmp_path),
        "RAYOPS_SERVNG_MAX_ROWS": "5",  # typo: matches no setting
        "RAYOPS_SERVING_MAX_ROWS": "7",
        "RAYOPS_ROLLOUT_STEPS": "[10, 100]",
    }
    res = runner.invoke(app, ["config", "--json"], env=env)
    assert res.exit_code == 0, res.output
    rows = {r["setting"]: r for r in json.loads(res.stdout)}
    assert rows["serving_max_rows"]["value"] == "7"
    assert rows["rollout_steps"]["value"] == "[10, 100]"
    assert "RAYOPS_SERVNG_MAX_ROWS matches no rayops setting" in res.stderr
    assert "RAYOPS_SERVING_MAX_ROWS matches" not in res.stderr


def test_api_token_is_never_printed(tmp_path: Path) -> None:
    res = runner.invoke(app, ["config", "--json"], env={"RAYOPS_API_TOKEN": "hunter2"})
    assert res.exit_code == 0
    assert "hunter2" not in res.stdout
    assert {r["setting"]: r["value"] for r in json.loads(res.stdout)}["api_token"] == "***"


def test_storage_check_ok_and_unreachable(tmp_path: Path) -> None:
    res = runner.invoke(app, ["storage", "check", "--json", "--storage", str(tmp_path)])
    assert res.exit_code == 0
    report = json.loads(res.stdout)
    assert report["ok"] is True and report["uri"] == str(tmp_path)
    assert [p["name"] for p in report["probes"]] == [
        "write", "read", "put_if_absent", "compare_and_swap", "delete"
    ]  # fmt: skip
    assert all(p["status"] == "passed" for p in report["probes"])
    res = runner.invoke(
        app,
        ["storage", "check", "--json", "--storage", "s3://bucket/x"],
        env={"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"},
    )
    assert res.exit_code == 5
    report = json.loads(res.stdout)
    assert report["error"] == "StorageUnavailableError" and report["ok"] is False
    assert [p["status"] for p in report["probes"]] == ["failed"] + ["skipped"] * 4


def test_bad_storage_uri_exits_2(tmp_path: Path) -> None:
    res = runner.invoke(app, ["storage", "check", "--storage", "gs://nope"])
    assert res.exit_code == 2
    assert "Unsupported storage URI" in res.output


def _quickstart(tmp_path: Path, *extra: str) -> dict[str, Any]:
    """The installed console script, exactly as a user runs it (its own local Ray).

    The session's cluster holds Ray's job-agent port, so the CLI starts a private head
    (see rayops.cli._cluster); a shell without this process's RAY_* variables, as a
    user's would be, must still join it and run the retrain as a Ray job. PATH is the
    user's, without this virtualenv's bin: the retrain job's ``python`` must still be
    the interpreter the CLI runs in.
    """
    exe = Path(sys.executable).with_name("rayops")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    bindir = str(exe.parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != bindir)
    out = subprocess.run(
        [str(exe), "quickstart", "--json", "--rows", "4000", "--storage", str(tmp_path),
         "--port", str(free_port()), *extra],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd="/tmp",  # Ray's /tmp/ray must not shadow the ray package in the job
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    report: dict[str, Any] = json.loads(out.stdout[out.stdout.index("{") :])
    return report


def _assert_loop_closed(report: dict[str, Any], model: str) -> None:
    # The control loop closed the loop: drift flagged, retrain run as a Ray job, canaried.
    assert "num_0" in report["drift"]["features"]
    retrain = report["retrain"]
    assert retrain["trigger"] == "drift" and retrain["decision"] == "deployed"
    assert retrain["ray_job"] == retrain["job"]  # the Ray submission id is the job id
    assert retrain["candidate_score"] < retrain["production_score"]
    assert report["promoted"] == retrain["candidate"] == f"{model}@1.1.0"
    assert report["rollout"][0] == "deployed" and report["rollout"][-1] == "promoted"
    live = report["live"]  # read back from the served endpoint's logs
    assert live["after_drift"] > live["before_drift"]
    assert live["adapted"] < live["after_drift"]
    assert report["seconds"] < 300


@pytest.mark.slow
def test_quickstart_console_script(tmp_path: Path) -> None:
    report = _quickstart(tmp_path)
    assert report["task"] == "regression" and report["metric"] == "rmse"
    assert report["best_cv"] < report["baseline_cv"]
    assert report["feature_sets"] == ["quickstart-demand@1", "quickstart-demand@2"]
    assert report["first_model"] == "quickstart-demand@1.0.0"
    assert report["stack"]["ensemble"] == "quickstart-stack@1.0.0"
    assert report["stack"]["live"] < 1.5 * report["live"]["before_drift"]
    _assert_loop_closed(report, "quickstart-demand")
    live = report["live"]
    assert live["after_drift"] > 1.5 * live["before_drift"]
    assert live["adapted"] < 0.8 * live["after_drift"]


@pytest.mark.slow
def test_quickstart_of_a_binary_classifier(tmp_path: Path) -> None:
    report = _quickstart(tmp_path, "--task", "binary")
    assert report["task"] == "binary" and report["metric"] == "logloss"
    # The generated label is logistic in a near-linear score: before the drift the linear
    # baseline is as good as tuned XGBoost (the run says so), and the loop still closes.
    assert report["best_cv"] < 1.1 * report["baseline_cv"]
    assert report["stack"]["live"] < 1.5 * report["live"]["before_drift"]
    _assert_loop_closed(report, report["first_model"].split("@")[0])
