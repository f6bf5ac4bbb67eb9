"""Run the docstring examples of every rayops.features module."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
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
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted > 0
