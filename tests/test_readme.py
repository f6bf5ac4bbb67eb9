"""The README's two commands stay true: CI runs the very same test command."""

from __future__ import annotations

import re
from pathlib import Path


def _bash_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, re.S)]


def test_ci_runs_the_readme_test_command(repo_root: Path) -> None:
    blocks = _bash_blocks((repo_root / "README.md").read_text())
    quickstart, tests = blocks[0], blocks[1]
    assert quickstart.endswith("rayops quickstart")
    assert tests.endswith("pytest")
    ci_lines = (repo_root / ".ci" / "run").read_text().splitlines()
    assert tests in ci_lines


def test_readme_configuration_table_is_the_generated_one(repo_root: Path) -> None:
    from rayops.config import Settings

    readme = (repo_root / "README.md").read_text()
    body = readme.split("<!-- settings:begin", 1)[1].split("-->", 1)[1]
    body = body.split("<!-- settings:end -->", 1)[0]
    assert body.strip() == Settings.markdown_table().strip(), (
        "the README's settings table is stale: paste `rayops config --markdown` between the markers"
    )
    for name in Settings.setting_names():
        assert f"| `{name}` |" in body
