"""The package layers of the README's architecture section, enforced on every import.

An import may only point to its own layer or a lower one, and no two
packages may import each other (directly or through others), whether the import
is at the top of a module or inside a function. The layers are listed in the
README; this test and that drawing must say the same.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import rayops

#: Lowest first. A package (or top-level module) of rayops belongs to exactly one layer.
LAYERS: list[set[str]] = [
    {
        "_version",
        "errors",
        "names",
        "clock",
        "durations",
        "tasks",
        "gate",
        "http",
        "ports",
        "runtime_env",
    },
    {"uncertainty"},
    {"config"},
    {"storage"},
    {"controltask"},
    {"telemetry", "features", "registry"},
    {"training", "serving", "batch"},
    {"monitoring", "interop"},
    {"rollout"},
    {"automation"},
    {"online"},
    {"analytics"},
    {"control"},
    {"apps", "client", "datasets"},
    {"cli", "jobs", "quickstart", "__init__"},
]

PACKAGE = Path(rayops.__file__).parent


def _unit(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imports() -> dict[str, dict[str, list[str]]]:
    """unit -> imported unit -> the places (file:line) it is imported from."""
    out: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(PACKAGE.rglob("*.py")):
        unit = _unit(path)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] != "rayops":
                    continue
                target = parts[1] if len(parts) > 1 else "__init__"
                if target != unit:
                    out[unit][target].append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    return out


def _layer_of() -> dict[str, int]:
    return {unit: i for i, layer in enumerate(LAYERS) for unit in layer}


def test_every_package_has_a_layer() -> None:
    units = {_unit(p) for p in PACKAGE.rglob("*.py")}
    missing = sorted(units - set(_layer_of()))
    assert not missing, f"packages without a layer in tests/test_layers.py: {missing}"


def test_imports_only_point_down() -> None:
    layer = _layer_of()
    upward = [
        f"{unit} (layer {layer[unit]}) imports {target} (layer {layer[target]}) at {where[0]}"
        for unit, targets in _imports().items()
        for target, where in targets.items()
        if unit in layer and target in layer and layer[target] > layer[unit]
    ]
    assert not upward, "imports that point up:\n" + "\n".join(sorted(upward))


def test_no_cycle_between_packages() -> None:
    graph = {u: set(t) for u, t in _imports().items()}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str], on_path: set[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt in on_path:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in done:
                visit(nxt, [*path, nxt], on_path | {nxt})
        done.add(node)

    done: set[str] = set()
    for start in sorted(graph):
        if start not in done:
            visit(start, [start], {start})
    assert not cycles, "import cycles between packages: " + "; ".join(
        " -> ".join(c) for c in cycles
    )


def test_the_readme_draws_the_same_layers(repo_root: Path) -> None:
    readme = (repo_root / "README.md").read_text()
    section = readme.split("### Layers", 1)[1].split("\n## ", 1)[0]
    for i, layer in enumerate(LAYERS):
        for unit in sorted(layer):
            if unit.startswith("_"):
                continue
            assert f"`{unit}`" in section, f"the README's layers do not name {unit} (layer {i})"
