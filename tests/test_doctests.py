"""Run the examples in every public module's docstrings."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "rayops",
    "rayops.config",
    "rayops.datasets",
    "rayops.names",
    "rayops.storage",
    "rayops.storage.base",
    "rayops.storage.local",
    "rayops.quickstart",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
