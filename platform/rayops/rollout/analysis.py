"""Judge a candidate against the stable version on the same window of traffic.

Every quality decision here is the promotion gate (:func:`rayops.gate.compare`)
on the task's per-row loss (squared error for regression, log loss of the true
class for classifiers), tested **per request** (a batch of rows from one caller
is not independent draws).

:func:`judge_canary` is the canary rule, applied at the end of every step:

1. Guardrails that need no labels, once the candidate served ``min_samples``
   requests: p95 latency above ``max_latency_p95_ms`` or a failed-request share
   above ``max_error_rate`` is a **breach**.
2. Model quality needs labels: with fewer than ``min_samples`` labeled rows on
   either arm the verdict is **hold** (wait for more feedback).
3. The task's floors: accuracy within ±tolerance below ``min_accuracy``
   (regression), ROC AUC below ``min_auc`` (binary), accuracy below
   ``min_class_accuracy`` (classifiers) is a **breach** when it is significantly
   below (one-sided at ``alpha``: the exact binomial test for accuracy, Hanley and
   McNeil's standard error for AUC; 25 labels with three positives say little about
   an AUC) — unless the stable version's is lower still: going back to a worse
   version helps nobody (after a concept drift, both may be below the floor).
4. The gate, with the arms as independent samples (``paired=False``): a
   candidate whose primary metric (RMSE or log loss, from the mean loss) is
   worse by more than ``max_degradation`` *and* significantly so (one-sided
   Welch or Mann-Whitney on per-request losses at ``alpha``) is a **breach**.
   On a few dozen labeled rows two identical models differ by 10% by chance
   alone; without the test, healthy canaries would be rolled back at random.
   Otherwise the candidate is **healthy**.

5. The pre-label guard (:mod:`rayops.rollout.prelabel`): a candidate whose quality
   estimated without labels is significantly worse is **held** while few of its
   rows have labels.

:func:`judge_shadow` is the same rule for a shadow, except that the shadow
answered the *same* requests as the live version: the gate pairs the two
answers of each labeled row (``paired=True``).

:func:`judge_ab` tests two arms for a winner: the guardrails, then the gate,
two-sided (each one-sided test at ``alpha / 2``); the arm that is
significantly better wins. It records both metrics, the p-value and an effect
size (Cohen's d on per-request losses for Welch, the rank-biserial correlation
for Mann-Whitney).

Example:
    >>> import numpy as np
    >>> t = Thresholds(max_latency_p95_ms=200, max_error_rate=0.05, min_accuracy=0.75,
    ...                max_degradation=0.1, min_samples=3, tolerance=1.0, alpha=0.05)
    >>> rng = np.random.default_rng(0)
    >>> y = rng.normal(50, 10, 40)
    >>> good = Arm.of("m@1", "regression", y=y, output=y + rng.normal(0, 0.3, 40),
    ...               latency_p95_ms=2.0, error_rate=0.0)
    >>> bad = Arm.of("m@2", "regression", y=y, output=y + 9 + rng.normal(0, 0.3, 40),
    ...              latency_p95_ms=2.0, error_rate=0.0)
    >>> judge_canary(good, good, t).verdict.value, judge_canary(good, bad, t).verdict.value
    ('healthy', 'breach')
    >>> judge_canary(good, bad, t).reasons[-1].split(" (")[0]
    'worse: rmse 0.3371 -> 9.005'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from rayops.gate import GateResult, GateVerdict, TwoSampleTest, compare
from rayops.rollout.arms import Arm
from rayops.rollout.prelabel import PrelabelResult
from rayops.rollout.state import Thresholds, Verdict
from rayops.tasks import Task, TaskKind

__all__ = [
    "Analysis",
    "Arm",
    "TestResult",
    "ab_test",
    "judge_ab",
    "judge_canary",
    "judge_shadow",
    "summary",
]


class TestResult(BaseModel):
    """The gate's comparison of the two arms, as the rollout document records it."""

    __test__ = False  # not a pytest class
    model_config = ConfigDict(extra="forbid")

    method: str
    metric: str
    unit: str = "requests"
    n_stable: int
    n_candidate: int
    stable_metric: float | None
    candidate_metric: float | None
    improvement: float | None = None
    p_better: float | None = None
    p_worse: float | None = None
    p_value: float | None = None
    effect_size: float | None = None
    alpha: float
    verdict: str
    winner: str | None = None  # "stable", "candidate" or None
    reason: str = ""


class Analysis(BaseModel):
    """One analysis: the verdict, why, and the numbers that decided it."""

    model_config = ConfigDict(extra="forbid")

    verdict: Verdict
    reasons: list[str]
    stable: dict[str, Any] | None = None
    candidate: dict[str, Any] | None = None
    test: TestResult | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    prelabel: dict[str, Any] | None = None

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


def summary(arm: Arm | None) -> dict[str, Any] | None:
    """The decision-relevant fields of an arm (None stays None)."""
    return None if arm is None else arm.summary()


def _guardrails(candidate: Arm | None, t: Thresholds) -> list[str]:
    """Latency and failure breaches (no labels needed)."""
    reasons: list[str] = []
    if candidate is None or candidate.requests < t.min_samples:
        return reasons
    p95 = candidate.latency_p95_ms
    if p95 is not None and p95 > t.max_latency_p95_ms:
        reasons.append(f"latency p95 {p95:.1f} ms > {t.max_latency_p95_ms:g} ms")
    if candidate.error_rate is not None and candidate.error_rate > t.max_error_rate:
        reasons.append(f"error rate {candidate.error_rate:.1%} > {t.max_error_rate:.1%}")
    return reasons


def _too_few(stable: Arm | None, candidate: Arm | None, t: Thresholds) -> str | None:
    c = candidate.labeled if candidate is not None else 0
    s = stable.labeled if stable is not None else 0
    if c < t.min_samples or s < t.min_samples:
        return f"too few labeled rows: candidate {c}, stable {s}, need {t.min_samples} each"
    return None


def _floors(stable: Arm, candidate: Arm, t: Thresholds) -> list[str]:
    """The task's quality floors (a floor the stable arm misses by more is no breach)."""
    kind = candidate.task.kind
    if kind is TaskKind.REGRESSION:
        checks = [("accuracy", t.min_accuracy, f"accuracy within ±{t.tolerance:g}")]
    else:
        checks = [("accuracy", t.min_class_accuracy, "accuracy")]
        if kind is TaskKind.BINARY:
            checks.insert(0, ("auc", t.min_auc, "AUC"))
    reasons = []
    for name, floor, label in checks:
        c, s = candidate.metrics.get(name), stable.metrics.get(name)
        if floor <= 0 or c is None or c >= floor:
            continue
        p = _below_floor_p(name, float(c), floor, candidate)
        if p >= t.alpha:  # a few dozen labels miss a floor by chance: not a breach
            continue
        if s is None or c <= s:
            reasons.append(f"{label} {c:.1%} < {floor:.1%} (p={p:.2g})")
    return reasons


def _below_floor_p(name: str, value: float, floor: float, arm: Arm) -> float:
    """One-sided p-value that the arm's true ``name`` is below ``floor``.

    Accuracy: the exact binomial test on the labeled rows. AUC: the normal
    approximation with Hanley and McNeil's (1982) standard error from the numbers of
    positive and negative rows (no test, p = 1, while either class is missing).
    """
    from scipy import stats

    n = arm.labeled
    if n == 0:
        return 1.0
    if name != "auc":
        hits = int(round(value * n))
        return float(stats.binomtest(hits, n, floor, alternative="less").pvalue)
    if len(arm.class_counts) < 2 or min(arm.class_counts[:2]) == 0:
        return 1.0
    n0, n1 = arm.class_counts[0], arm.class_counts[1]
    a = min(max(value, 1e-9), 1 - 1e-9)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (n1 - 1) * (q1 - a * a) + (n0 - 1) * (q2 - a * a)) / (n0 * n1)
    return float(stats.norm.cdf((value - floor) / math.sqrt(max(var, 1e-12))))


def _effect(cand: Any, stable: Any, method: str) -> float | None:
    """Cohen's d (t-tests) or the rank-biserial correlation (Mann-Whitney); > 0 when the
    candidate's losses tend to be larger. Descriptive only: the gate decides."""
    import numpy as np

    c, s = np.asarray(cand, dtype=np.float64), np.asarray(stable, dtype=np.float64)
    if len(c) < 2 or len(s) < 2:
        return None
    if method == TwoSampleTest.MANNWHITNEY.value:
        from scipy import stats

        u = float(stats.mannwhitneyu(c, s, alternative="two-sided").statistic)
        return 2 * u / (len(c) * len(s)) - 1
    pooled = math.sqrt((float(s.var(ddof=1)) + float(c.var(ddof=1))) / 2)
    return (float(c.mean()) - float(s.mean())) / pooled if pooled > 0 else 0.0


def _per_request(losses: Any, ids: Any) -> Any:
    import pandas as pd

    if ids is None or not len(losses):
        return losses
    return pd.Series(losses).groupby(pd.Series(ids), sort=False).mean().to_numpy()


def _record(
    gate: GateResult,
    *,
    method: str,
    alpha: float,
    unit: str,
    metric: str,
    effect: float | None,
    winner: str | None = None,
) -> TestResult:
    def finite(v: float) -> float | None:
        return None if math.isnan(v) else float(v)

    decided = gate.p_better if gate.improvement > 0 else gate.p_worse
    return TestResult(
        method=method, metric=metric, unit=unit, n_stable=gate.n_incumbent,
        n_candidate=gate.n_candidate, stable_metric=finite(gate.incumbent_metric),
        candidate_metric=finite(gate.candidate_metric), improvement=gate.improvement,
        p_better=gate.p_better, p_worse=gate.p_worse, p_value=decided, effect_size=effect,
        alpha=alpha, verdict=gate.verdict.value, winner=winner, reason=gate.reason,
    )  # fmt: skip


def ab_test(
    stable_losses: Sequence[float] | Any,
    candidate_losses: Sequence[float] | Any,
    *,
    alpha: float,
    method: str = "welch",
    min_samples: int = 30,
    task: Any = None,
    stable_groups: Any = None,
    candidate_groups: Any = None,
    max_degradation: float = 0.0,
    two_sided: bool = True,
) -> TestResult:
    """The gate on two independent arms' per-row losses; ``winner`` is the arm that is
    significantly better (at ``alpha`` two-sided: ``alpha / 2`` per side, or ``alpha``
    one-sided when ``two_sided=False``). Groups (request ids) make it per request.

    Example:
        >>> r = ab_test([1.0, 1.1, 0.9] * 20, [0.1, 0.2, 0.15] * 20, alpha=0.05)
        >>> r.winner, r.p_value < 0.025
        ('candidate', True)
    """

    task = Task.of(task)
    level = alpha / 2 if two_sided else alpha
    n_s, n_c = len(stable_losses), len(candidate_losses)
    if n_s < min_samples or n_c < min_samples:
        return TestResult(
            method=str(method), metric=task.primary_metric, n_stable=n_s, n_candidate=n_c,
            stable_metric=None, candidate_metric=None, alpha=level, verdict="undecided",
            reason=f"too few labeled rows: candidate {n_c}, stable {n_s}, need {min_samples}",
        )  # fmt: skip
    gate = compare(
        candidate_losses, stable_losses, task=task, max_degradation=max_degradation,
        alpha=level, paired=False, groups=candidate_groups, incumbent_groups=stable_groups,
        test=method,
    )  # fmt: skip
    winner = {GateVerdict.BETTER: "candidate", GateVerdict.WORSE: "stable"}.get(gate.verdict)
    grouped = candidate_groups is not None
    effect = _effect(
        _per_request(candidate_losses, candidate_groups),
        _per_request(stable_losses, stable_groups),
        str(method),
    )
    return _record(
        gate, method=str(method), alpha=level, unit="requests" if grouped else "rows",
        metric=task.primary_metric, effect=effect, winner=winner,
    )  # fmt: skip


def _arms_test(stable: Arm, candidate: Arm, t: Thresholds, *, two_sided: bool) -> TestResult:
    return ab_test(
        stable.losses, candidate.losses, alpha=t.alpha, method=t.ab_test.value,
        min_samples=t.min_samples, task=candidate.task, stable_groups=stable.request_ids,
        candidate_groups=candidate.request_ids,
        max_degradation=0.0 if two_sided else t.max_degradation, two_sided=two_sided,
    )  # fmt: skip


def judge_canary(
    stable: Arm | None,
    candidate: Arm | None,
    t: Thresholds,
    prelabel: PrelabelResult | None = None,
) -> Analysis:
    """The canary verdict for ``candidate`` against ``stable`` (see the module docstring).

    ``prelabel`` is the gate on the arms' estimated losses
    (:func:`rayops.rollout.prelabel.prelabel_check`): a candidate it finds worse is held
    while its labels cover less than ``prelabel_label_share`` of its rows, unless the
    labels already say breach.
    """
    out = _judge_canary(stable, candidate, t)
    if prelabel is None or not t.prelabel_guard:
        return out
    out = out.model_copy(update={"prelabel": prelabel.as_dict()})
    if (
        prelabel.verdict == GateVerdict.WORSE.value
        and prelabel.label_share < t.prelabel_label_share
        and out.verdict is not Verdict.BREACH
    ):
        why = (
            f"pre-label guard: {prelabel.reason}; labels on {prelabel.label_share:.0%} of the "
            f"candidate's rows (labels decide from {t.prelabel_label_share:.0%})"
        )
        return out.model_copy(update={"verdict": Verdict.HOLD, "reasons": [why, *out.reasons]})
    return out


def _judge_canary(stable: Arm | None, candidate: Arm | None, t: Thresholds) -> Analysis:
    guard = _guardrails(candidate, t)
    if guard:
        return _result(Verdict.BREACH, guard, stable, candidate)
    few = _too_few(stable, candidate, t)
    if few is not None or stable is None or candidate is None:
        return _result(Verdict.HOLD, [few or "no traffic"], stable, candidate)
    mismatch = _mismatch(stable, candidate)
    if mismatch:
        return _result(Verdict.HOLD, [mismatch], stable, candidate)
    reasons = _floors(stable, candidate, t)
    test = _arms_test(stable, candidate, t, two_sided=False)
    return _quality(reasons, test, stable, candidate)


def judge_shadow(stable: Arm | None, candidate: Arm | None, t: Thresholds) -> Analysis:
    """The shadow verdict: :func:`judge_canary`'s rule with the gate *paired* on the rows
    both versions answered (the same requests)."""
    import numpy as np

    guard = _guardrails(candidate, t)
    if guard:
        return _result(Verdict.BREACH, guard, stable, candidate)
    few = _too_few(stable, candidate, t)
    if few is not None or stable is None or candidate is None:
        return _result(Verdict.HOLD, [few or "no traffic"], stable, candidate)
    mismatch = _mismatch(stable, candidate)
    if mismatch:
        return _result(Verdict.HOLD, [mismatch], stable, candidate)
    _, c_idx, s_idx = np.intersect1d(candidate.keys, stable.keys, return_indices=True)
    if len(c_idx) < t.min_samples:
        why = f"too few requests answered by both: {len(c_idx)}, need {t.min_samples}"
        return _result(Verdict.HOLD, [why], stable, candidate)
    order = np.argsort(c_idx)  # keep log order (rows of one request stay together)
    c_idx, s_idx = c_idx[order], s_idx[order]
    groups = candidate.request_ids[c_idx]
    gate = compare(
        candidate.losses[c_idx], stable.losses[s_idx], task=candidate.task,
        max_degradation=t.max_degradation, alpha=t.alpha, paired=True, groups=groups,
    )  # fmt: skip
    diff = _per_request(candidate.losses[c_idx] - stable.losses[s_idx], groups)
    sd = float(np.std(diff, ddof=1)) if len(diff) > 1 else 0.0
    effect = float(np.mean(diff)) / sd if sd > 0 else 0.0
    test = _record(gate, method="paired t-test", alpha=t.alpha, unit="requests",
                   metric=candidate.task.primary_metric, effect=effect)  # fmt: skip
    return _quality(_floors(stable, candidate, t), test, stable, candidate)


def _mismatch(stable: Arm, candidate: Arm) -> str | None:
    if stable.task != candidate.task:
        return (
            f"not comparable: the candidate is a {candidate.task} model, stable a "
            f"{stable.task} one; promote or roll back by hand"
        )
    return None


def _quality(reasons: list[str], test: TestResult, stable: Arm, candidate: Arm) -> Analysis:
    if test.verdict == GateVerdict.WORSE.value:
        reasons = [*reasons, test.reason]
    if reasons:
        out = _result(Verdict.BREACH, reasons, stable, candidate)
    else:
        out = _result(Verdict.HEALTHY, [f"within every threshold ({test.reason})"], stable,
                      candidate)  # fmt: skip
    return out.model_copy(update={"test": test})


def judge_ab(stable: Arm | None, candidate: Arm | None, t: Thresholds) -> Analysis:
    """The A/B verdict: the guardrails, then the two-sided gate on per-request losses."""
    guard = _guardrails(candidate, t)
    if guard:
        return _result(Verdict.BREACH, guard, stable, candidate)
    few = _too_few(stable, candidate, t)
    if few is not None or stable is None or candidate is None:
        return _result(Verdict.HOLD, [few or "no traffic"], stable, candidate)
    mismatch = _mismatch(stable, candidate)
    if mismatch:
        return _result(Verdict.HOLD, [mismatch], stable, candidate)
    result = _arms_test(stable, candidate, t, two_sided=True)
    if result.winner is not None:
        effect = "n/a" if result.effect_size is None else f"{result.effect_size:.3g}"
        why = f"{result.winner} wins: {result.reason}, effect size {effect}"
        verdict = Verdict.WINNER
    else:
        verdict, why = Verdict.NO_WINNER, f"no significant difference: {result.reason}"
    out = _result(verdict, [why], stable, candidate)
    return out.model_copy(update={"test": result})


def _result(
    verdict: Verdict, reasons: list[str], stable: Arm | None, candidate: Arm | None
) -> Analysis:
    return Analysis(
        verdict=verdict, reasons=reasons, stable=summary(stable), candidate=summary(candidate)
    )
