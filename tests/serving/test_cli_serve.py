"""`rayops endpoints ...` and `rayops serve --help` through Typer (the lead wires register())."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import typer
from serving_support import FEATURES, make_frame, train
from typer.testing import CliRunner

from rayops.cli.serve import register
from rayops.registry import Registry
from rayops.storage import open_storage


def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """rayops (test shell)."""

    register(app)
    return app


def test_endpoint_commands(tmp_path: Path) -> None:
    root = str(tmp_path / "root")
    reg = Registry(open_storage(root))
    booster = train(make_frame(), FEATURES)
    reg.register("m", booster)
    reg.register("m", booster)
    run = CliRunner().invoke
    app = cli()
    r = run(app, ["endpoints", "create", "churn", "m@1.0.0", "--storage", root, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["routes"] == [{"ref": "m@1.0.0", "weight": 100}]
    args = ["endpoints", "set", "churn", "--route", "m@1.0.0=90", "--route", "m@1.1.0=10"]
    r = run(app, [*args, "--storage", root, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["revision"] == 2
    r = run(app, ["endpoints", "list", "--storage", root, "--json"])
    assert [e["endpoint"] for e in json.loads(r.stdout)] == ["churn"]
    r = run(app, ["endpoints", "show", "churn", "--storage", root])
    assert r.exit_code == 0 and "m@1.1.0" in r.stdout and "10%" in r.stdout
    r = run(app, ["endpoints", "set", "churn", "--route", "m@1.0.0=50", "--storage", root])
    assert r.exit_code == 2 and "sum to 100" in r.output
    r = run(app, ["endpoints", "show", "nope", "--storage", root])
    assert r.exit_code == 3


def test_show_lists_ensemble_member_performance(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from rayops.registry import EnsembleSpec
    from rayops.serving import Endpoints
    from rayops.serving.ensembles import EnsembleStats, MemberStats, stats_key

    root = str(tmp_path / "root")
    storage = open_storage(root)
    reg = Registry(storage)
    a = reg.register("a", train(make_frame(), FEATURES)).ref
    b = reg.register("b", train(make_frame(seed=1), FEATURES)).ref
    ens = reg.register("vote", EnsembleSpec(kind="voting", members=[a, b])).ref
    Endpoints(storage).create("vote", ens)
    run, app = CliRunner().invoke, cli()
    r = run(app, ["endpoints", "show", "vote", "--storage", root])
    assert r.exit_code == 0 and "no member stats yet" in r.stdout
    now = datetime(2026, 3, 1, tzinfo=UTC)
    member = MemberStats(rows=50, weight=40.0, mse=0.25, mae=0.4, bias=0.0, accuracy=0.9)
    doc = EnsembleStats(
        ensemble=ens, kind="voting", updated_at=now, window_start=now, window_end=now,
        half_life_s=60, min_rows=5, tolerance=1, members=[a, b], rows=50,
        overall={a: member, b: member.model_copy(update={"mae": 0.7})},
    )  # fmt: skip
    storage.write_json(stats_key(ens), doc.model_dump(mode="json"))
    r = run(app, ["endpoints", "show", "vote", "--storage", root, "--json"])
    assert json.loads(r.stdout)["ensembles"][ens]["overall"][b]["mae"] == 0.7
    r = run(app, ["endpoints", "show", "vote", "--storage", root])
    assert r.exit_code == 0 and "0.7" in r.stdout and "90.0%" in r.stdout


def test_help_has_examples_and_pulls_no_heavy_library() -> None:
    code = (
        "import sys, typer\n"
        "from typer.testing import CliRunner\n"
        "from rayops.cli.serve import register\n"
        "app = typer.Typer()\n"
        "@app.callback()\n"
        "def main() -> None:\n"
        "    'shell'\n"
        "register(app)\n"
        "cases = (['serve', '--help'], ['endpoints', '--help'], ['endpoints', 'set', '--help'])\n"
        "for args in cases:\n"
        "    r = CliRunner().invoke(app, args)\n"
        "    assert r.exit_code == 0 and 'Example' in r.output, (args, r.output)\n"
        "print([m for m in ('ray', 'xgboost', 'pyarrow', 'pandas') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
