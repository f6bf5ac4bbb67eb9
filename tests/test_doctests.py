"""Every rayops module's docstring examples run and hold (one runner for the package).

Modules are discovered, so a new module is covered without touching this file;
``WITH_EXAMPLES`` lists the modules that must keep at least one runnable example.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import rayops

MODULES = sorted(
    ["rayops"] + [m.name for m in pkgutil.walk_packages(rayops.__path__, prefix="rayops.")]
)

WITH_EXAMPLES = {
    "rayops",
    "rayops.config",
    "rayops.datasets",
    "rayops.features",
    "rayops.features.hashing",
    "rayops.features.inputs",
    "rayops.features.layout",
    "rayops.features.manifest",
    "rayops.features.pit",
    "rayops.features.quality",
    "rayops.features.source",
    "rayops.features.stats",
    "rayops.features.store",
    "rayops.names",
    "rayops.quickstart",
    "rayops.registry",
    "rayops.registry.artifacts",
    "rayops.registry.baseline",
    "rayops.registry.card",
    "rayops.registry.compare",
    "rayops.registry.lifecycle",
    "rayops.registry.linear",
    "rayops.registry.refs",
    "rayops.registry.registry",
    "rayops.registry.versions",
    "rayops.storage",
    "rayops.storage.base",
    "rayops.storage.check",
    "rayops.storage.local",
    "rayops.storage.retry",
    "rayops.training.baseline",
    "rayops.training.cv",
    "rayops.training.spaces",
    "rayops.training.tune",
}


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    if name in WITH_EXAMPLES:
        assert result.attempted > 0, f"{name} lost its runnable examples"


def test_listed_modules_exist() -> None:
    assert WITH_EXAMPLES <= set(MODULES)
