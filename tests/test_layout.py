"""Package layout, the public API and the cost of `rayops --help`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import rayops

HELP_ARGS = [
    ["--help"], ["storage", "--help"], ["quickstart", "--help"], ["config", "--help"],
    ["features", "--help"], ["models", "--help"], ["train", "--help"], ["tune", "--help"],
    ["runs", "--help"], ["serve", "--help"], ["endpoints", "--help"], ["deploy", "--help"],
    ["promote", "--help"], ["rollback", "--help"], ["status", "--help"], ["history", "--help"],
    ["controller", "--help"], ["retrain", "--help"], ["schedules", "--help"],
    ["analytics", "--help"], ["dashboard", "--help"],
    ["monitor", "--help"], ["monitor", "status", "--help"], ["monitor", "drift", "--help"],
    ["monitor", "uncertainty", "--help"],
    ["alerts", "--help"], ["alerts", "list", "--help"], ["alerts", "rules", "--help"],
    ["online", "--help"], ["online", "enable", "--help"], ["online", "log", "--help"],
    ["models", "export", "--help"], ["models", "import", "--help"], ["runs", "export", "--help"],
]  # fmt: skip
HEAVY = ("ray", "xgboost", "pyarrow", "pandas", "sklearn", "boto3", "mlflow")


def test_platform_from_repo_root_is_the_standard_module(repo_root: Path) -> None:
    """platform/ holds the package but is no package itself: stdlib `platform` still wins."""
    assert not (repo_root / "platform" / "__init__.py").exists()
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import platform, json; print(json.dumps([platform.system(), platform.__file__]))",
        ],
        cwd=repo_root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    system, where = json.loads(out)
    assert system == "Linux"
    assert not where.startswith(str(repo_root))


def test_rayops_imports_from_its_installed_location(repo_root: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import rayops; print(rayops.__file__)"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(out).resolve() == (repo_root / "platform" / "rayops" / "__init__.py").resolve()


def test_public_api_is_exactly_all(repo_root: Path) -> None:
    """``rayops.__all__`` is exactly the public API the README documents."""
    import re

    readme = (repo_root / "README.md").read_text()
    paragraph = readme.split("**Public API**", 1)[1].split("\n\n", 1)[0]
    documented = set(re.findall(r"`([A-Za-z_]+)`", paragraph.split(":", 1)[1]))
    assert set(rayops.__all__) == documented
    assert rayops.__all__ == sorted(rayops.__all__)
    for name in rayops.__all__:
        assert getattr(rayops, name) is not None


def test_import_rayops_and_help_pull_no_heavy_library() -> None:
    code = (
        "import sys\n"
        "import rayops\n"
        "from typer.testing import CliRunner\n"
        "from rayops.cli import app\n"
        "r = CliRunner()\n"
        f"for args in {HELP_ARGS!r}:\n"
        "    res = r.invoke(app, args)\n"
        "    assert res.exit_code == 0, res.output\n"
        "    assert 'Example' in res.output, args\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
