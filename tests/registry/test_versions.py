"""Semantic versions and the bump rules (pure functions: no storage)."""

from __future__ import annotations

import pytest

from rayops.errors import InvalidInputError, InvalidNameError
from rayops.registry.refs import parse_ref, validate_alias
from rayops.registry.versions import SemVer, next_version


def v(text: str) -> SemVer:
    return SemVer.parse(text)


def test_semver_parses_and_orders_numerically() -> None:
    assert v("1.10.0") > v("1.9.3")
    assert str(v("2.0.11")) == "2.0.11"
    for bad in ["1.2", "01.2.3", "1.2.3-rc1", "a.b.c", ""]:
        with pytest.raises(InvalidInputError, match="MAJOR.MINOR.PATCH"):
            v(bad)


@pytest.mark.parametrize("bump", ["major", "minor", "patch"])
def test_first_version_is_always_1_0_0(bump: str) -> None:
    assert str(next_version([], bump)) == "1.0.0"


def test_bump_rules() -> None:
    taken = [v("1.0.0"), v("1.1.0"), v("1.1.1"), v("1.2.0")]
    assert str(next_version(taken, "minor")) == "1.3.0"
    assert str(next_version(taken, "major")) == "2.0.0"
    # a fine-tune goes on its parent's line, after the last patch there
    assert str(next_version(taken, "patch", parent=v("1.1.0"))) == "1.1.2"
    assert str(next_version(taken, "patch", parent=v("1.0.0"))) == "1.0.1"
    # without a parent: the latest line
    assert str(next_version(taken, "patch")) == "1.2.1"
    with pytest.raises(InvalidInputError, match="major, minor, patch"):
        next_version(taken, "huge")


def test_refs_and_aliases() -> None:
    assert parse_ref("churn@production") == ("churn", "production")
    assert parse_ref("churn@latest") == ("churn", "latest")
    for bad in ["churn@", "a@b@c", "../x@1.0.0", "churn@../p"]:
        with pytest.raises(InvalidInputError):
            parse_ref(bad)
    for bad in ["1.2.0", "latest", "a/b", ""]:
        with pytest.raises(InvalidNameError):
            validate_alias(bad)
