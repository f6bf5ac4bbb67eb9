"""The docstring examples of the tuning modules run (tests/test_doctests.py covers the core)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "rayops.training.baseline",
    "rayops.training.cv",
    "rayops.training.runs",
    "rayops.training.spaces",
    "rayops.training.tune",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(
        importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    assert result.failed == 0
