"""Acceptance 4: `rayops models ...` on both backends, with parseable --json and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rayops.cli import app
from rayops.registry import Registry
from rayops.storage import Storage

runner = CliRunner()
COMMANDS = ["list", "versions", "show", "stage", "alias", "rollback", "history", "compare"]


@pytest.fixture
def cli(storage: Storage) -> Any:
    """Run `rayops models ...` against ``storage`` and return (exit code, parsed JSON)."""
    env = {"AWS_ENDPOINT_URL": getattr(storage, "endpoint_url", None) or ""}

    def run(*args: str) -> tuple[int, Any]:
        res = runner.invoke(app, ["models", *args, "--json", "--storage", storage.uri], env=env)
        return res.exit_code, json.loads(res.stdout) if res.stdout.strip() else None

    return run


def test_models_cli_json_end_to_end(
    cli: Any, storage: Storage, booster: Any, booster_b: Any, frame: Any, tmp_path: Path
) -> None:
    reg = Registry(storage)
    reg.register("churn", booster, metrics={"cv": {"rmse": 2.0}}, run_id="r1", author="ann")
    reg.register("churn", booster_b, run_id="r2", author="ann")

    code, listed = cli("list")
    assert code == 0
    assert listed == [{"name": "churn", "latest": "1.1.0", "versions": 2, "aliases": {}}]

    code, versions = cli("versions", "churn")
    assert code == 0 and [v["version"] for v in versions] == ["1.0.0", "1.1.0"]
    assert versions[0]["stage"] == "trained" and len(versions[0]["sha256"]) == 64

    code, shown = cli("show", "churn@1.0.0")
    assert code == 0 and shown["ref"] == "churn@1.0.0"
    assert shown["card"]["metrics"] == {"cv": {"rmse": 2.0}} and shown["card"]["run_id"] == "r1"

    code, moved = cli("stage", "churn@1.0.0", "staging", "--reason", "passed CV", "--actor", "bob")
    assert (code, moved) == (0, {"ref": "churn@1.0.0", "stage": "staging", "reason": "passed CV"})
    code, err = cli("stage", "churn@1.1.0", "production", "--reason", "yolo")
    assert code == 2 and err["error"] == "InvalidInputError"
    assert "allowed from trained: staging, archived" in err["message"]

    code, a = cli("alias", "churn", "production", "1.0.0", "--reason", "first")
    assert code == 0 and (a["version"], a["revision"], a["previous"]) == ("1.0.0", 1, None)
    code, a = cli("alias", "churn", "production", "1.1.0")
    assert code == 0 and (a["version"], a["previous"]) == ("1.1.0", "1.0.0")
    code, a = cli("rollback", "churn", "production", "--reason", "errors up")
    assert code == 0 and a["version"] == "1.0.0" and a["reason"] == "errors up"
    assert cli("show", "churn@production")[1]["version"] == "1.0.0"

    code, events = cli("history", "churn")
    assert code == 0
    # The production alias carries the stage with it: each version it points
    # at is moved to production, the one it leaves goes back to staging.
    kinds = [(e["kind"], e.get("version"), e.get("stage")) for e in events]
    assert kinds == [
        ("registered", "1.0.0", None),
        ("registered", "1.1.0", None),
        ("stage", "1.0.0", None),  # staging, by bob
        ("alias", "1.0.0", None),
        ("stage", "1.0.0", None),  # -> production with the alias
        ("alias", "1.1.0", None),
        ("stage", "1.1.0", None),  # -> production
        ("stage", "1.0.0", None),  # -> back to staging
        ("alias", "1.0.0", None),  # the rollback
        ("stage", "1.0.0", None),
        ("stage", "1.1.0", None),
    ]
    assert [e.get("to_stage") for e in events if e["kind"] == "stage"] == [
        "staging", "production", "production", "staging", "production", "staging"
    ]  # fmt: skip
    assert cli("show", "churn@1.0.0")[1]["stage"] == "production"
    assert cli("show", "churn@1.1.0")[1]["stage"] == "staging"
    assert events[2]["actor"] == "bob" and events[2]["reason"] == "passed CV"

    path = tmp_path / "eval.parquet"
    frame.to_parquet(path)
    code, cmp = cli(
        "compare", "churn@1.0.0", "churn@1.1.0", "--data", str(path), "--target", "target"
    )
    assert code == 0 and [r["ref"] for r in cmp["results"]] == ["churn@1.0.0", "churn@1.1.0"]
    assert {"mae", "rmse", "r2", "accuracy_within", "latency_ms_per_1k"} <= set(cmp["results"][0])
    assert cmp["rows"] == len(frame) and cmp["dataset"] == str(path)
    assert reg.comparisons("churn")[0].id == cmp["id"]


def test_models_cli_compare_on_a_feature_set(
    cli: Any, storage: Storage, booster: Any, booster_b: Any, frame: Any
) -> None:
    from rayops.features import FeatureStore

    reg = Registry(storage)
    reg.register("churn", booster)
    reg.register("churn", booster_b)
    version = FeatureStore(storage).write("churn-eval", frame, target="target")
    code, cmp = cli(
        "compare", "churn@1.0.0", "churn@1.1.0", "--features", "churn-eval", "--target", "target"
    )
    assert code == 0, cmp
    assert cmp["dataset"].startswith(f"churn-eval@{version.version} (sha256 ")
    assert cmp["rows"] == len(frame)


def test_models_cli_errors_have_stable_exit_codes(cli: Any, storage: Storage) -> None:
    code, err = cli("show", "ghost@1.0.0")
    assert code == 3 and err["error"] == "NotFoundError"
    code, err = cli("versions", "../etc")
    assert code == 2 and err["error"] == "InvalidNameError"
    code, err = cli("compare", "a@1.0.0", "b@1.0.0", "--target", "y")
    assert code == 2 and "exactly one of --features" in err["message"]
    code, err = cli("compare", "a@1.0.0", "--data", "x.parquet", "--target", "y")
    assert code == 2 and "at least two versions" in err["message"]
    assert cli("list") == (0, [])


def test_models_help_has_examples_and_pulls_no_heavy_library() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from rayops.cli import app\n"
        "r = CliRunner()\n"
        f"for c in {[[], *[[c] for c in COMMANDS]]!r}:\n"
        "    res = r.invoke(app, ['models', *c, '--help'])\n"
        "    assert res.exit_code == 0, res.output\n"
        "    assert 'Example' in res.output, c\n"
        "print([m for m in ('ray', 'xgboost', 'pyarrow', 'pandas', 'sklearn', 'boto3', 'numpy')"
        " if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_show_a_classifier_and_set_its_threshold(tmp_path: Path) -> None:
    import numpy as np
    import xgboost as xgb
    from typer.testing import CliRunner

    from rayops.cli import app
    from rayops.registry import Registry
    from rayops.storage import open_storage

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3))
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 2},
                        xgb.DMatrix(x, label=(x[:, 0] > 0).astype(int)), 5)  # fmt: skip
    root = str(tmp_path / "root")
    ref = Registry(open_storage(root)).register("churn", booster, features=["a", "b", "c"],
                                                classes=["no", "yes"]).ref  # fmt: skip
    runner = CliRunner()
    env = {"RAYOPS_STORAGE": root, "COLUMNS": "200"}
    shown = runner.invoke(app, ["models", "show", ref], env=env)
    assert shown.exit_code == 0, shown.output
    assert "binary" in shown.output and "['no', 'yes']" in shown.output
    assert "threshold 0.5" in shown.output and "importance (gain)" in shown.output
    done = runner.invoke(app, ["models", "set-threshold", ref, "0.3", "--json"], env=env)
    assert done.exit_code == 0 and json.loads(done.stdout)["threshold"] == 0.3
    bad = runner.invoke(app, ["models", "set-threshold", ref, "1.5"], env=env)
    assert bad.exit_code == 2 and "(0, 1)" in bad.output
    events = Registry(open_storage(root)).history("churn")
    assert events[-1].kind == "threshold"
