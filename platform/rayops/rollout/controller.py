"""The rollout controller: analyze every running rollout when its interval ends and
advance, hold, promote or roll it back.

:class:`RolloutTask` is the control loop's share (see :mod:`rayops.control.loop`).
Each tick it reads every unfinished rollout document; for each one whose
``next_analysis_at`` has passed it measures both arms on the **same window of
traffic** (:func:`rayops.rollout.arms.measure` over ``[step_started_at, now)``:
requests, latency, failures and each version's per-row losses), judges them through
the promotion gate (:mod:`rayops.rollout.analysis`), and writes the decision with
compare-and-swap. The decision is taken only if the document is still the one
that was analyzed, so an operator's promote or rollback in the meantime wins.

Decisions, by strategy (the pure rule is :func:`decide`):

======== ==================== ==========================================================
strategy verdict              what happens
======== ==================== ==========================================================
canary   breach               roll back at once (traffic and ``production`` alias)
canary   hold                 stay on the step; the window keeps growing
canary   healthy              next step (a new window); after the last step, promote
ab       breach (guardrails)  roll back
ab       winner               with ``auto_promote``: promote the candidate (or roll back
                              if the stable arm won); otherwise hold for ``rayops promote``
ab       no winner / hold     keep the split; the window keeps growing
shadow   breach               stop mirroring (rolled back)
shadow   healthy              with ``auto_promote``: promote; otherwise keep mirroring
======== ==================== ==========================================================

An A/B test looks at its data again at every interval, and testing repeatedly at a
fixed alpha would declare false winners far more often than alpha. The k-th look
therefore uses ``alpha * 6 / (pi^2 k^2)``, whose sum over all looks is alpha
(an alpha-spending rule), so the chance of ever declaring a winner between
identical arms stays below alpha (each look is two-sided: the gate's one-sided
tests run at half the look's level).

Example:
    >>> import tempfile
    >>> from datetime import UTC, datetime
    >>> from rayops.storage import open_storage
    >>> RolloutTask(open_storage(tempfile.mkdtemp())).tick(datetime(2026, 1, 1, tzinfo=UTC))
    {'analyzed': []}
    >>> round(spent_alpha(0.05, 1), 4), round(spent_alpha(0.05, 2), 4)
    (0.0304, 0.0076)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from rayops.config import Settings
from rayops.controltask import AlertAction, ControlTask
from rayops.errors import NotFoundError, RayopsError
from rayops.registry import Registry
from rayops.rollout.actions import rollback_action
from rayops.rollout.analysis import Analysis, judge_ab, judge_canary, judge_shadow
from rayops.rollout.arms import measure
from rayops.rollout.prelabel import PrelabelResult, estimates, prelabel_check
from rayops.rollout.rollouts import Rollouts
from rayops.rollout.state import (
    AnalysisPoint,
    EventKind,
    Rollout,
    RolloutStatus,
    Strategy,
    Verdict,
)
from rayops.storage.base import Storage
from rayops.telemetry.readers import joined

__all__ = [
    "RolloutTask",
    "StepDecision",
    "analysis_point",
    "analyze_step",
    "decide",
    "spent_alpha",
]

logger = logging.getLogger(__name__)


def spent_alpha(alpha: float, look: int) -> float:
    """The significance level of the ``look``-th A/B analysis (1-based); sums to ``alpha``."""
    return alpha * 6.0 / (math.pi**2 * max(1, look) ** 2)


def analysis_point(doc: Rollout, analysis: Analysis, phase: str, now: datetime) -> AnalysisPoint:
    """The chart's point of one analysis: both sides' primary metric, the gate, its p-value.

    Example:
        >>> from datetime import UTC, datetime
        >>> from rayops.rollout.state import Thresholds
        >>> doc = Rollout(id="r1", endpoint="e", strategy="canary", stable="m@1",
        ...     candidate="m@2", steps=[5, 100], interval_s=60,
        ...     thresholds=Thresholds(), started_at=datetime(2026, 1, 1, tzinfo=UTC),
        ...     updated_at=datetime(2026, 1, 1, tzinfo=UTC),
        ...     step_started_at=datetime(2026, 1, 1, tzinfo=UTC),
        ...     next_analysis_at=datetime(2026, 1, 1, tzinfo=UTC))
        >>> a = Analysis(verdict="hold", reasons=["too few labeled rows"])
        >>> analysis_point(doc, a, "canary", doc.started_at).weight
        5
    """
    test = analysis.test
    return AnalysisPoint(
        rollout_id=doc.id, phase=phase, time=now, step=doc.step,
        weight=100 if phase == "guard" else doc.weight, verdict=analysis.verdict,
        metric=test.metric if test else None,
        stable_metric=test.stable_metric if test else None,
        candidate_metric=test.candidate_metric if test else None,
        p_value=test.p_value if test else None, gate=test.verdict if test else None,
        n_stable=test.n_stable if test else int((analysis.stable or {}).get("labeled") or 0),
        n_candidate=(
            test.n_candidate if test else int((analysis.candidate or {}).get("labeled") or 0)
        ),
        reason=analysis.reason,
    )  # fmt: skip


@dataclass(frozen=True)
class StepDecision:
    """What to do with a rollout after one analysis."""

    doc: Rollout  # the document to write
    kind: EventKind  # the event to record


def analyze_step(storage: Storage, doc: Rollout, now: datetime) -> Analysis:
    """Judge ``doc``'s candidate against its stable version on ``[step_started_at, now)``.

    Both arms are measured on the same window of the logs, each with its own card's
    task (per-row loss, metrics, threshold); see :mod:`rayops.rollout.analysis`.
    """

    shadow = doc.strategy is Strategy.SHADOW
    registry = Registry(storage)
    # One read of the window for the labeled arms and the pre-label estimates.
    frame = joined(storage, doc.endpoint, doc.step_started_at, now, include_shadow=shadow)
    refs = [doc.stable, doc.candidate]
    arms = measure(
        storage, registry, doc.endpoint, refs, doc.step_started_at, now,
        tolerance=doc.thresholds.tolerance, include_shadow=shadow, frame=frame,
    )  # fmt: skip
    stable, candidate = arms.get(doc.stable), arms.get(doc.candidate)
    if doc.strategy is Strategy.AB:
        limits = doc.thresholds.model_copy(
            update={"alpha": spent_alpha(doc.thresholds.alpha, doc.analyses + 1)}
        )
        result = judge_ab(stable, candidate, limits)
    elif shadow:
        result = judge_shadow(stable, candidate, doc.thresholds)
    else:
        prelabel = _prelabel(storage, registry, doc, now, frame)
        result = judge_canary(stable, candidate, doc.thresholds, prelabel)
    return result.model_copy(update={"window_start": doc.step_started_at, "window_end": now})


def _prelabel(
    storage: Storage, registry: Registry, doc: Rollout, now: datetime, frame: Any
) -> PrelabelResult | None:
    """The pre-label gate of a canary window (None when it is off or has nothing to say)."""
    if not doc.thresholds.prelabel_guard:
        return None

    found = estimates(storage, registry, doc.endpoint, [doc.stable, doc.candidate],
                      doc.step_started_at, now, frame=frame)  # fmt: skip
    return prelabel_check(found.get(doc.stable), found.get(doc.candidate), doc.thresholds)


def decide(doc: Rollout, analysis: Analysis, now: datetime) -> StepDecision:
    """The next document for ``doc`` given ``analysis`` (see the module docstring's table)."""
    wait = timedelta(seconds=doc.interval_s)
    base: dict[str, Any] = {
        "updated_at": now,
        "verdict": analysis.verdict,
        "analysis": analysis.model_dump(mode="json"),
        "analyses": doc.analyses + 1,
        "next_analysis_at": now + wait,
        "actor": "controller",
    }
    verdict, why = analysis.verdict, analysis.reason

    def decided(status: RolloutStatus, kind: EventKind, reason: str, **extra: Any) -> StepDecision:
        return StepDecision(
            doc.model_copy(update={**base, "status": status, "reason": reason, **extra}), kind
        )

    if verdict is Verdict.BREACH:
        return decided(RolloutStatus.ROLLED_BACK, EventKind.ROLLED_BACK, f"automatic: {why}")
    if verdict is Verdict.HOLD:
        return decided(RolloutStatus.HOLDING, EventKind.HOLD, why)
    if doc.strategy is Strategy.CANARY:  # healthy
        if doc.step + 1 >= len(doc.steps) or doc.steps[doc.step + 1] >= 100:
            return decided(
                RolloutStatus.PROMOTED,
                EventKind.PROMOTED,
                f"canary healthy at every step ({why})",
                step=len(doc.steps) - 1,
            )
        return decided(
            RolloutStatus.RUNNING,
            EventKind.STEP,
            f"healthy at {doc.weight}%: {why}; advancing to {doc.steps[doc.step + 1]}%",
            step=doc.step + 1,
            step_started_at=now,
        )
    if doc.strategy is Strategy.AB:
        if verdict is Verdict.WINNER:
            test = analysis.test
            winner = (
                doc.candidate if test is not None and test.winner == "candidate" else doc.stable
            )
            if not doc.auto_promote:
                return decided(
                    RolloutStatus.HOLDING,
                    EventKind.WINNER,
                    f"{winner} wins ({why}); waiting for `rayops promote` or `rayops rollback`",
                    winner=winner,
                )
            if winner == doc.candidate:
                return decided(
                    RolloutStatus.PROMOTED, EventKind.PROMOTED, f"A/B winner: {why}", winner=winner
                )
            return decided(
                RolloutStatus.ROLLED_BACK,
                EventKind.ROLLED_BACK,
                f"A/B: the stable version wins ({why})",
                winner=winner,
            )
        return decided(RolloutStatus.RUNNING, EventKind.ANALYSIS, why)
    # shadow, healthy
    if doc.auto_promote:
        return decided(RolloutStatus.PROMOTED, EventKind.PROMOTED, f"shadow healthy: {why}")
    return decided(RolloutStatus.RUNNING, EventKind.ANALYSIS, f"shadow healthy: {why}")


def each_endpoint(
    endpoints: list[str],
    step: Callable[[str, datetime], dict[str, Any] | None],
    now: datetime,
    what: str,
) -> list[dict[str, Any]]:
    """``step`` on every endpoint; what each decided (an endpoint's error is logged and
    reported, so one endpoint's trouble does not stall the others)."""
    out = []
    for endpoint in endpoints:
        try:
            outcome = step(endpoint, now)
        except RayopsError as e:
            logger.warning("%s of %s failed: %s", what, endpoint, e)
            outcome = {"endpoint": endpoint, "error": str(e)}
        if outcome is not None:
            out.append(outcome)
    return out


class RolloutTask(ControlTask):
    """Analyze and move every due rollout (the ``rollout`` task of the control loop)."""

    name = "rollout"

    @classmethod
    def alert_actions(
        cls, storage: Storage, settings: Settings | None = None
    ) -> dict[str, AlertAction]:
        """``rollback``: roll back the endpoint's running or guarded rollout."""

        return {"rollback": rollback_action(storage, settings)}

    def __init__(self, storage: Storage, settings: Settings | None = None) -> None:
        super().__init__(storage, settings)

        self.rollouts = Rollouts(storage, settings=self.settings)

    def tick(self, now: datetime) -> dict[str, Any]:
        return {"analyzed": each_endpoint(self.rollouts.list(), self.step, now, "Rollout analysis")}

    def step(self, endpoint: str, now: datetime) -> dict[str, Any] | None:
        """Analyze ``endpoint``'s rollout if it is due; returns what was decided (or None)."""
        try:
            doc = self.rollouts.get(endpoint)
        except NotFoundError:
            return None
        if doc.finished or doc.strategy is Strategy.FULL or now < doc.next_analysis_at:
            return None
        analysis = analyze_step(self.storage, doc, now)
        decision = decide(doc, analysis, now)
        metrics = analysis.model_dump(mode="json")

        taken = False

        def change(current: Rollout) -> Rollout | None:
            # Someone (an operator, another loop) moved the rollout since we read it.
            nonlocal taken
            taken = current.revision == doc.revision
            return decision.doc if taken else None

        # A rollout waiting for feedback is re-analyzed every interval; history keeps
        # the first hold (and the first "no winner yet"), the document the latest.
        quiet = decision.kind in (EventKind.HOLD, EventKind.ANALYSIS) and doc.verdict == (
            analysis.verdict
        )
        written = self.rollouts.transition(
            endpoint, change, decision.kind, actor="controller", metrics=metrics, record=not quiet
        )
        if taken:
            self.rollouts.store.record_analysis(
                endpoint, analysis_point(doc, analysis, doc.strategy.value, now)
            )
        return {
            "endpoint": endpoint,
            "verdict": analysis.verdict.value,
            "status": written.status.value,
            "weight": written.weight,
            "reason": written.reason,
        }
