"""The post-deploy guard: every version that takes all production traffic is watched.

A full deploy, a promoted canary, A/B or shadow, an online hot-swap (a full deploy
by the online learner) and a retrain's promotion all end the same way: a rollout
document whose status becomes ``promoted``. At that moment
(:meth:`rayops.rollout.Rollouts.transition`) the document gets a
:class:`~rayops.rollout.state.GuardState`, and :class:`GuardTask` (the control
loop's ``guard`` task) compares the new version with the one it replaced until the
guard window has passed: ``guard_window_rows`` labeled rows of the new version
**and** ``guard_window_s`` seconds, whichever comes later.

Each check (every ``guard_interval_s``) is the canary rule
(:func:`rayops.rollout.analysis.judge_canary`: the latency and failure
guardrails, the task's floors and the shared promotion gate on the task's per-row
loss, per request, one-sided, beyond ``max_degradation``) on:

* **unpaired** (default): the new version's rows since the switch against the
  replaced version's rows over the ``guard_baseline_s`` before it;
* **paired** (``guard_shadow_share > 0``): the replaced version keeps scoring that
  share of the requests as a shadow while the guard watches, and the gate pairs
  the two answers of each labeled row (:func:`~rayops.rollout.analysis.judge_shadow`),
  which removes the drift between two periods from the comparison.

Hysteresis, so the guard never flaps:

* the guard looks again and again at a growing window, so the k-th check tests at
  ``alpha * 6 / (pi^2 k^2)`` (the A/B test's alpha-spending rule; the levels sum
  to ``alpha``, so between equal versions the chance of *ever* seeing a
  significant degradation stays below ``alpha``);
* only ``guard_failures`` consecutive failing checks roll back; a passing check
  resets the count, and the window ends only on a check that does not fail;
* a rolled-back version is not guarded again, and automation does not deploy it
  again on that endpoint (:attr:`~rayops.rollout.state.Rollout.rejected`).

A rollback moves the traffic and the ``production`` alias back to the replaced
version, with the check that decided it in the history (``rayops history``).

Example:
    >>> import tempfile
    >>> from datetime import UTC, datetime
    >>> from rayops.storage import open_storage
    >>> GuardTask(open_storage(tempfile.mkdtemp())).tick(datetime(2026, 1, 1, tzinfo=UTC))
    {'guarded': []}
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from rayops.config import Settings
from rayops.controltask import ControlTask
from rayops.errors import NotFoundError
from rayops.registry import Registry
from rayops.rollout.analysis import Analysis, judge_canary, judge_shadow
from rayops.rollout.arms import measure
from rayops.rollout.controller import analysis_point, each_endpoint, spent_alpha
from rayops.rollout.rollouts import Rollouts
from rayops.rollout.state import EventKind, GuardStatus, Rollout, RolloutStatus, Verdict
from rayops.storage.base import Storage

__all__ = ["GuardTask", "analyze_guard", "guard_decision"]


def analyze_guard(storage: Storage, doc: Rollout, now: datetime) -> Analysis:
    """One guard check of ``doc``'s candidate against the version it replaced."""

    guard = doc.guard
    assert guard is not None
    registry = Registry(storage)
    limits = doc.thresholds.model_copy(
        update={"alpha": spent_alpha(doc.thresholds.alpha, guard.analyses + 1)}
    )
    tolerance = doc.thresholds.tolerance
    reference = guard.reference_of(doc)
    if guard.shadow_share > 0:
        arms = measure(storage, registry, doc.endpoint, [reference, doc.candidate],
                       guard.started_at, now, tolerance=tolerance,
                       include_shadow=True)  # fmt: skip
        result = judge_shadow(arms.get(reference), arms.get(doc.candidate), limits)
        start = guard.started_at
    else:
        before = measure(storage, registry, doc.endpoint, [reference], guard.baseline_start,
                         guard.baseline_end or guard.started_at, tolerance=tolerance)  # fmt: skip
        after = measure(storage, registry, doc.endpoint, [doc.candidate], guard.started_at,
                        now, tolerance=tolerance)  # fmt: skip
        result = judge_canary(before.get(reference), after.get(doc.candidate), limits)
        start = guard.baseline_start
    return result.model_copy(update={"window_start": start, "window_end": now})


def guard_decision(doc: Rollout, analysis: Analysis, now: datetime) -> tuple[Rollout, EventKind]:
    """The document after one guard check, and the event to record (see the module)."""
    guard = doc.guard
    assert guard is not None
    failing = analysis.verdict is Verdict.BREACH
    failures = guard.failures + 1 if failing else 0
    labeled = int((analysis.candidate or {}).get("labeled") or 0)
    update: dict[str, Any] = {
        "analyses": guard.analyses + 1,
        "failures": failures,
        "labeled": labeled,
        "verdict": analysis.verdict,
        "reason": analysis.reason,
        "next_analysis_at": now + timedelta(seconds=guard.interval_s),
    }
    base: dict[str, Any] = {"updated_at": now, "actor": "guard"}
    if failures >= guard.failures_needed:
        checks = "check" if failures == 1 else f"{failures} consecutive checks"
        reference = guard.reference_of(doc)
        why = f"post-deploy guard: {doc.candidate} worse than {reference} in {checks}: " + (
            analysis.reason
        )
        new_guard = guard.model_copy(
            update={**update, "status": GuardStatus.ROLLED_BACK, "ended_at": now}
        )
        rejected = [r for r in doc.rejected if r != doc.candidate][-19:] + [doc.candidate]
        return doc.model_copy(
            update={
                **base, "guard": new_guard, "status": RolloutStatus.ROLLED_BACK,
                "target": reference if reference != doc.stable else None, "reason": why,
                "rejected": rejected,
            }
        ), EventKind.ROLLED_BACK  # fmt: skip
    elapsed = (now - guard.started_at).total_seconds()
    if not failing and labeled >= guard.window_rows and elapsed >= guard.window_s:
        why = (
            f"post-deploy guard passed after {labeled} labeled rows and {elapsed:.0f} s: "
            f"{analysis.reason}"
        )
        new_guard = guard.model_copy(
            update={**update, "status": GuardStatus.PASSED, "ended_at": now, "reason": why}
        )
        return doc.model_copy(update={**base, "guard": new_guard}), EventKind.GUARD_PASSED
    return doc.model_copy(update={**base, "guard": guard.model_copy(update=update)}), (
        EventKind.ANALYSIS
    )


class GuardTask(ControlTask):
    """Check every guarded endpoint when its guard is due (the ``guard`` task)."""

    name = "guard"

    def __init__(self, storage: Storage, settings: Settings | None = None) -> None:
        super().__init__(storage, settings)

        self.rollouts = Rollouts(storage, settings=self.settings)

    def tick(self, now: datetime) -> dict[str, Any]:
        return {"guarded": each_endpoint(self.rollouts.list(), self.step, now, "Guard check")}

    def step(self, endpoint: str, now: datetime) -> dict[str, Any] | None:
        """Check ``endpoint``'s guard if it is due; returns what was decided (or None)."""
        try:
            doc = self.rollouts.get(endpoint)
        except NotFoundError:
            return None
        guard = doc.guard
        if (
            doc.status is not RolloutStatus.PROMOTED
            or guard is None
            or not guard.watching
            or now < guard.next_analysis_at
        ):
            return None
        analysis = analyze_guard(self.storage, doc, now)
        new, kind = guard_decision(doc, analysis, now)

        taken = False

        def change(current: Rollout) -> Rollout | None:
            # An operator (or another deploy) moved the rollout since we read it.
            nonlocal taken
            taken = current.revision == doc.revision
            return new if taken else None

        # Checks that change nothing but the counters stay out of the history (the
        # analysis points keep every one); verdict changes, rollback and pass go in.
        quiet = kind is EventKind.ANALYSIS and guard.verdict == analysis.verdict
        written = self.rollouts.transition(
            endpoint, change, kind, actor="guard", metrics=analysis.model_dump(mode="json"),
            record=not quiet,
        )  # fmt: skip
        if taken:
            self.rollouts.store.record_analysis(
                endpoint, analysis_point(doc, analysis, "guard", now)
            )
        final = written.guard
        return {
            "endpoint": endpoint,
            "verdict": analysis.verdict.value,
            "guard": final.status.value if final is not None else None,
            "failures": final.failures if final is not None else 0,
            "status": written.status.value,
            "reason": analysis.reason,
        }
