"""Retries after a lost compare-and-swap back off exponentially with full jitter."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from rayops.config import Settings
from rayops.errors import ConflictError
from rayops.storage import open_storage
from rayops.storage.retry import backoff


def test_ceiling_doubles_up_to_the_cap_and_the_pause_is_a_random_fraction_of_it() -> None:
    s = Settings(cas_backoff_base_s=0.01, cas_backoff_cap_s=0.1)
    almost_one = 1 - 1e-12
    ceilings = [backoff(a, s, rand=lambda: almost_one) for a in range(8)]
    assert ceilings == pytest.approx([0.01, 0.02, 0.04, 0.08, 0.1, 0.1, 0.1, 0.1])
    assert backoff(5, s, rand=lambda: 0.0) == 0.0
    assert backoff(2, s, rand=lambda: 0.25) == pytest.approx(0.01)
    assert backoff(10_000, s, rand=lambda: almost_one) == pytest.approx(0.1)  # no overflow


def test_defaults_come_from_settings_and_are_spread_out() -> None:
    defaults = Settings()
    rng = random.Random(7)
    pauses = [backoff(3, rand=rng.random) for _ in range(2000)]
    ceiling = min(defaults.cas_backoff_cap_s, defaults.cas_backoff_base_s * 8)
    assert all(0 <= p < ceiling for p in pauses)
    # Full jitter: uniform over [0, ceiling), not bunched near the ceiling.
    assert sum(pauses) / len(pauses) == pytest.approx(ceiling / 2, rel=0.1)
    assert min(pauses) < ceiling * 0.05 and max(pauses) > ceiling * 0.95


def test_update_json_retries_after_conflicts_and_gives_up_clearly(tmp_path: Path) -> None:
    settings = Settings(cas_backoff_base_s=0.001, cas_backoff_cap_s=0.002)
    storage = open_storage(str(tmp_path), settings)
    calls = 0

    def change(doc: Any) -> Any:
        """Loses the race twice: another writer changes the key after every read."""
        nonlocal calls
        calls += 1
        if calls <= 2:
            storage.write_json("doc.json", {"n": 100 + calls})
        return {"n": (doc or {"n": 0})["n"] + 1}

    assert storage.update_json("doc.json", change) == {"n": 103}
    assert calls == 3 and storage.read_json("doc.json") == {"n": 103}

    def always_loses(doc: Any) -> Any:
        nonlocal calls
        calls += 1
        storage.write_json("doc.json", {"n": -calls})  # a new value each time
        return {"n": 0}

    with pytest.raises(ConflictError, match="Gave up updating 'doc.json' after 3"):
        storage.update_json("doc.json", always_loses, max_retries=3)
