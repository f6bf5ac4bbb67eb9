"""`rayops features ...`: every command, with --json output a script can parse."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from rayops.cli import app
from rayops.config import Settings

runner = CliRunner()


def run(*args: str, env: dict[str, str] | None = None, code: int = 0) -> object:
    res = runner.invoke(app, ["features", *args], env=env)
    assert res.exit_code == code, res.output
    return json.loads(res.stdout) if "--json" in args else res.output


def parquet(path: Path, seed: int) -> str:
    df = pd.DataFrame(
        {
            "user": [1, 2, 3],
            "ts": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-03"]),
            "x": [seed + 0.5, seed + 1.5, seed + 2.5],
            "y": [0, 1, 0],
        }
    )
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, compression="snappy")
    return str(path)


def test_every_features_command_with_json(tmp_path: Path) -> None:
    root = str(tmp_path / "root")
    s = ["--storage", root, "--json"]
    first = parquet(tmp_path / "a.parquet", 0)
    out = run(
        "ingest",
        "churn",
        first,
        "--meta",
        "team=growth",
        "--meta",
        "owner=ana",
        "--description",
        "churn features",
        "--entity",
        "user",
        "--event-time",
        "ts",
        "--target",
        "y",
        *s,
    )
    assert isinstance(out, dict)
    assert (out["ref"], out["reused"], out["row_count"]) == ("churn@1", False, 3)
    assert out["metadata"] == {"owner": "ana", "team": "growth"}
    again = run("ingest", "churn", first, *s)
    assert isinstance(again, dict) and again["reused"] and again["ref"] == "churn@1"
    run("ingest", "churn", parquet(tmp_path / "b.parquet", 10), "--meta", "team=risk", *s)
    run("ingest", "other", parquet(tmp_path / "c.parquet", 20), *s)

    listed = run("list", *s)
    assert [(r["name"], r["version"]) for r in listed] == [("churn", 2), ("other", 1)]  # type: ignore[union-attr]
    versions = run("versions", "churn", *s)
    assert [r["ref"] for r in versions] == ["churn@1", "churn@2"]  # type: ignore[union-attr]
    assert all(len(r["sha256"]) == 64 for r in versions)  # type: ignore[union-attr]
    assert versions[1]["stats"]["x"]["min"] == 10.5  # type: ignore[index]

    shown = run("show", "churn@1", *s)
    assert isinstance(shown, dict)
    roles = {k: v for k, v in shown["roles"].items() if k != "target_tasks"}
    assert roles == {"entity": ["user"], "event_time": "ts", "target": ["y"]}
    assert shown["roles"]["target_tasks"]["y"]["note"].startswith("The target holds integers")
    assert [c["name"] for c in shown["schema"]] == ["user", "ts", "x", "y"]
    assert shown["stats"]["x"]["mean"] == pytest.approx(1.5)
    assert shown["description"] == "churn features"
    assert run("show", "churn", *s)["version"] == 2  # type: ignore[index]

    found = run("search", "--name", "ch*", "--meta", "team=growth", *s)
    assert [r["ref"] for r in found] == ["churn@1"]  # type: ignore[union-attr]
    assert run("search", "--since", "2999-01-01", *s) == []
    assert len(run("search", "--until", "2999-01-01", *s)) == 3  # type: ignore[arg-type]


def test_features_cli_for_people(tmp_path: Path) -> None:
    root = str(tmp_path / "root")
    run("ingest", "people", parquet(tmp_path / "a.parquet", 0), "--storage", root)
    for args in (["list"], ["versions", "people"], ["show", "people@1"], ["search"]):
        out = run(*args, "--storage", root)
        assert "people" in str(out), args


def test_features_cli_errors_and_exit_codes(tmp_path: Path) -> None:
    root = str(tmp_path / "root")
    s = ["--storage", root, "--json"]
    missing = run("show", "ghost", *s, code=3)
    assert isinstance(missing, dict) and missing["error"] == "NotFoundError"
    bad = run("ingest", "../evil", parquet(tmp_path / "a.parquet", 0), *s, code=2)
    assert bad["error"] == "InvalidNameError"  # type: ignore[index]
    run("ingest", "x", str(tmp_path / "nope.parquet"), *s, code=3)
    run("ingest", "x", parquet(tmp_path / "a.parquet", 0), "--meta", "novalue", *s, code=2)
    exp = tmp_path / "exp.json"
    exp.write_text(json.dumps({"ranges": {"x": [0, 1]}}))
    rejected = run(
        "ingest",
        "x",
        parquet(tmp_path / "a.parquet", 0),
        "--expectations",
        str(exp),
        "--strict",
        *s,
        code=2,
    )
    assert "outside [0.0, 1.0]" in rejected["message"]  # type: ignore[index]
    assert run("list", *s) == []  # the rejected write left nothing
    run("show", "x@abc", *s, code=2)
    run("search", "--since", "yesterday", *s, code=2)


def test_features_cli_on_s3(s3_settings: Settings, s3_uri: str, tmp_path: Path) -> None:
    env = {"AWS_ENDPOINT_URL": str(s3_settings.s3.endpoint_url), "AWS_REGION": "us-east-1"}
    s = ["--storage", s3_uri, "--json"]
    out = run("ingest", "s3set", parquet(tmp_path / "a.parquet", 0), *s, env=env)
    assert out["ref"] == "s3set@1"  # type: ignore[index]
    assert run("show", "s3set@1", *s, env=env)["row_count"] == 3  # type: ignore[index]
    assert [r["name"] for r in run("list", *s, env=env)] == ["s3set"]  # type: ignore[union-attr]


def test_features_help_has_examples_and_pulls_no_heavy_library() -> None:
    import subprocess
    import sys

    commands = ["ingest", "list", "versions", "show", "search"]
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from rayops.cli import app\n"
        "r = CliRunner()\n"
        f"for cmd in {commands!r}:\n"
        "    res = r.invoke(app, ['features', cmd, '--help'])\n"
        "    assert res.exit_code == 0, res.output\n"
        "    assert 'Example: rayops features ' + cmd in res.output, cmd\n"
        "    assert '--json' in res.output and '--storage' in res.output, cmd\n"
        "heavy = ('ray', 'xgboost', 'pyarrow', 'pandas', 'sklearn', 'boto3')\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout
