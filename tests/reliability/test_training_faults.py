"""A Tune trial whose worker dies once: with ``tune_max_failures`` (default 1) Tune runs the
trial again and the search completes with every configuration scored; with 0 the same
fault leaves that configuration as an error (so the retry is what saved it).

The Ray Train side (a worker group resuming from its checkpoint) is
``tests/training/test_fit.py::test_worker_failure_resumes_from_checkpoint``.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from rayops.config import Settings
from rayops.datasets import make_regression
from rayops.storage import open_storage
from rayops.training import parse_space, run_tune

GRID = """
params: {learning_rate: 0.1}
space:
  max_depth: {grid: [2, 3]}
  n_estimators: {grid: [300]}
cv: {folds: 4}
"""


def _trial_actor_pids() -> list[int]:
    """Process ids of this cluster's live Tune trial actors (from the cluster's GCS)."""
    import ray._private.state as state  # the state API needs the dashboard, not started here

    return [
        int(a["Pid"])
        for a in state.actors().values()
        if str(a["ActorClassName"]).endswith("ImplicitFunc")
        and a["State"] == "ALIVE"
        and a.get("Pid")
    ]


class TrialKiller(threading.Thread):
    """SIGKILLs the first trial actor that runs (a worker crash in the middle of a trial)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.killed: int | None = None
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set() and self.killed is None:
            for pid in _trial_actor_pids():
                try:  # a trial actor is alive only while it has a trial (set up or running)
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:  # the GCS has not seen it exit yet
                    continue
                self.killed = pid
                break
            time.sleep(0.05)

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=10)


@pytest.mark.slow
@pytest.mark.parametrize("max_failures", [1, 0])
def test_a_tune_trial_that_dies_once_is_retried(
    ray_cluster: Any, tmp_path: Path, max_failures: int
) -> None:
    storage = open_storage(str(tmp_path / "root"))
    settings = Settings(storage=storage.uri, tune_max_failures=max_failures)
    killer = TrialKiller()
    killer.start()
    try:
        result = run_tune(
            make_regression(3_000, seed=5),
            target="target",
            space=parse_space(GRID),
            storage=storage,
            exclude=("entity_id", "event_time"),
            settings=settings,
        )
    finally:
        killer.stop()
    assert killer.killed is not None, "no trial actor was killed"
    statuses = result.trials["status"].tolist()
    print(f"\ntune_max_failures={max_failures}: killed pid {killer.killed}, statuses {statuses}")
    assert len(statuses) == 2
    if max_failures:
        assert statuses == ["completed", "completed"]  # the killed trial ran again
    else:
        assert sorted(statuses) == ["completed", "error"]  # the same fault, not retried
