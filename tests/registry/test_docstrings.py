"""The examples in the registry modules' docstrings run and hold."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "rayops.registry",
    "rayops.registry.artifacts",
    "rayops.registry.baseline",
    "rayops.registry.card",
    "rayops.registry.compare",
    "rayops.registry.lifecycle",
    "rayops.registry.refs",
    "rayops.registry.registry",
    "rayops.registry.versions",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted > 0, f"{name} has no runnable example"
