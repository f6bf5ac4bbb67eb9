"""Judge a candidate against the stable version on the same window of traffic.

:func:`judge_canary` is the canary rule, applied at the end of every step:

1. Guardrails that need no labels, once the candidate served ``min_samples``
   requests: p95 latency above ``max_latency_p95_ms`` or a failed-request share
   above ``max_error_rate`` is a **breach**.
2. Model quality needs labels: with fewer than ``min_samples`` labeled rows on
   either arm the verdict is **hold** (wait for more feedback).
3. Accuracy within ±tolerance below ``min_accuracy`` is a **breach** — unless the
   stable version's is lower still: going back to a worse version helps nobody
   (after a concept drift, both may be below the floor). So is MAE,
   RMSE or accuracy worse than the stable version's by more than
   ``max_degradation`` (relative) *when the difference is real*: the arms' absolute
   errors must also differ significantly (:func:`ab_test` at ``alpha``, stable the
   better arm). On a few dozen labeled rows two identical models differ by 10%
   in MAE by chance alone; without the test, healthy canaries would be rolled
   back at random. Otherwise the candidate is **healthy**.

:func:`ab_test` compares the per-row absolute errors of two arms with Welch's
t-test or the Mann-Whitney U test and names the arm with the lower error as the
winner when ``p < alpha``; it records the statistic, the p-value and an effect
size (Cohen's d for Welch, the rank-biserial correlation for Mann-Whitney).

Metrics come from :func:`rayops.monitoring.metrics.version_metrics`; any object
with the same fields works, which is how the examples below run without logs.

Example:
    >>> from types import SimpleNamespace as M
    >>> t = Thresholds(max_latency_p95_ms=200, max_error_rate=0.05, min_accuracy=0.75,
    ...                max_degradation=0.1, min_samples=3, tolerance=1.0, alpha=0.05,
    ...                test="welch")
    >>> good = M(requests=10, rows=10, labeled=10, mae=0.2, rmse=0.3, accuracy=1.0,
    ...          latency_p50_ms=1, latency_p95_ms=2, latency_p99_ms=3, error_rate=0.0,
    ...          abs_errors=[0.1, 0.3] * 5)
    >>> bad = M(**{**vars(good), "mae": 9.0, "rmse": 9.1, "abs_errors": [8.9, 9.1] * 5})
    >>> judge_canary(good, good, t).verdict.value, judge_canary(good, bad, t).verdict.value
    ('healthy', 'breach')
    >>> judge_canary(good, bad, t).reasons[0]
    'mae 9 vs stable 0.2: worse by more than 10% (p = 4.8e-31)'

"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from rayops.rollout.state import Thresholds, Verdict

__all__ = ["Analysis", "TestResult", "ab_test", "judge_ab", "judge_canary", "summary"]

_FIELDS = (
    "requests", "rows", "labeled", "mae", "rmse", "accuracy", "latency_p50_ms",
    "latency_p95_ms", "latency_p99_ms", "error_rate",
)  # fmt: skip


class TestResult(BaseModel):
    """The outcome of an A/B test on absolute errors."""

    __test__ = False  # not a pytest class
    model_config = ConfigDict(extra="forbid")

    method: str
    n_stable: int
    n_candidate: int
    mean_abs_error_stable: float | None
    mean_abs_error_candidate: float | None
    statistic: float | None
    p_value: float | None
    effect_size: float | None
    alpha: float
    winner: str | None = None  # "stable", "candidate" or None


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

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


def summary(m: Any) -> dict[str, Any] | None:
    """The decision-relevant fields of a VersionMetrics-like object (None stays None)."""
    if m is None:
        return None
    return {f: getattr(m, f, None) for f in _FIELDS}


def _worse(candidate: float, stable: float, limit: float, *, higher_is_better: bool) -> bool:
    if higher_is_better:
        return candidate < stable * (1 - limit)
    return candidate > stable * (1 + limit)


def judge_canary(stable: Any, candidate: Any, t: Thresholds) -> Analysis:
    """The canary verdict for ``candidate`` against ``stable`` (see the module docstring)."""
    reasons: list[str] = []
    requests = getattr(candidate, "requests", 0) if candidate is not None else 0
    if candidate is not None and requests >= t.min_samples:
        p95 = candidate.latency_p95_ms
        if p95 is not None and p95 > t.max_latency_p95_ms:
            reasons.append(f"latency p95 {p95:.1f} ms > {t.max_latency_p95_ms:g} ms")
        if candidate.error_rate is not None and candidate.error_rate > t.max_error_rate:
            reasons.append(f"error rate {candidate.error_rate:.1%} > {t.max_error_rate:.1%}")
    if reasons:
        return _result(Verdict.BREACH, reasons, stable, candidate)
    c_labeled = candidate.labeled if candidate is not None else 0
    s_labeled = stable.labeled if stable is not None else 0
    if c_labeled < t.min_samples or s_labeled < t.min_samples:
        return _result(
            Verdict.HOLD,
            [
                f"too few labeled rows: candidate {c_labeled}, stable {s_labeled}, "
                f"need {t.min_samples} each"
            ],
            stable,
            candidate,
        )
    stable_accuracy = getattr(stable, "accuracy", None)
    below_floor = candidate.accuracy is not None and candidate.accuracy < t.min_accuracy
    if below_floor and (stable_accuracy is None or candidate.accuracy <= stable_accuracy):
        reasons.append(
            f"accuracy within ±{t.tolerance:g} {candidate.accuracy:.1%} < {t.min_accuracy:.1%}"
        )
    worse = []
    for name, better_high in (("mae", False), ("rmse", False), ("accuracy", True)):
        c, s = getattr(candidate, name), getattr(stable, name)
        if c is None or s is None:
            continue
        if _worse(c, s, t.max_degradation, higher_is_better=better_high):
            worse.append(
                f"{name} {c:.4g} vs stable {s:.4g}: worse by more than {t.max_degradation:.0%}"
            )
    test = None
    if worse:
        test = ab_test(
            getattr(stable, "abs_errors", []),
            getattr(candidate, "abs_errors", []),
            alpha=t.alpha,
            method=t.test,
            min_samples=t.min_samples,
        )
        if test.winner == "stable":
            reasons += [f"{w} (p = {test.p_value:.2g})" for w in worse]
    if reasons:
        out = _result(Verdict.BREACH, reasons, stable, candidate)
    elif worse:
        note = "n/a" if test is None or test.p_value is None else f"{test.p_value:.2g}"
        out = _result(
            Verdict.HEALTHY,
            [f"within every threshold; {worse[0]} but not significantly (p = {note})"],
            stable,
            candidate,
        )
    else:
        out = _result(Verdict.HEALTHY, ["within every threshold"], stable, candidate)
    return out.model_copy(update={"test": test})


def ab_test(
    stable_errors: Sequence[float],
    candidate_errors: Sequence[float],
    *,
    alpha: float,
    method: str = "welch",
    min_samples: int = 30,
) -> TestResult:
    """Compare two arms' absolute errors; ``winner`` is set only when ``p < alpha``.

    Example:
        >>> r = ab_test([1.0, 1.1, 0.9] * 20, [0.1, 0.2, 0.15] * 20, alpha=0.05)
        >>> r.winner, r.p_value < 0.05
        ('candidate', True)
    """
    import numpy as np
    from scipy import stats

    s = np.asarray(stable_errors, dtype=np.float64)
    c = np.asarray(candidate_errors, dtype=np.float64)
    result = TestResult(
        method=method,
        n_stable=len(s),
        n_candidate=len(c),
        mean_abs_error_stable=float(s.mean()) if len(s) else None,
        mean_abs_error_candidate=float(c.mean()) if len(c) else None,
        statistic=None,
        p_value=None,
        effect_size=None,
        alpha=alpha,
    )
    if len(s) < min_samples or len(c) < min_samples:
        return result
    if method == "welch":
        statistic, p = stats.ttest_ind(c, s, equal_var=False)
        pooled = math.sqrt((float(s.var(ddof=1)) + float(c.var(ddof=1))) / 2)
        effect = (float(c.mean()) - float(s.mean())) / pooled if pooled > 0 else 0.0
    elif method == "mannwhitney":
        statistic, p = stats.mannwhitneyu(c, s, alternative="two-sided")
        # Rank-biserial correlation: > 0 when the candidate's errors tend to be larger.
        effect = 2 * float(statistic) / (len(c) * len(s)) - 1
    else:
        from rayops.errors import InvalidInputError

        raise InvalidInputError(f"Unknown A/B test {method!r}: use welch or mannwhitney.")
    statistic, p = float(statistic), float(p)
    finite = math.isfinite(p)
    winner = None
    if finite and p < alpha and effect != 0:
        winner = "candidate" if effect < 0 else "stable"
    return result.model_copy(
        update={
            "statistic": statistic if math.isfinite(statistic) else None,
            "p_value": p if finite else None,
            "effect_size": effect,
            "winner": winner,
        }
    )


def judge_ab(stable: Any, candidate: Any, t: Thresholds) -> Analysis:
    """The A/B verdict: the canary guardrails, then :func:`ab_test` on absolute errors."""
    guard = judge_canary(stable, candidate, t)
    if guard.verdict is Verdict.BREACH and guard.reasons and not _quality_only(guard):
        return guard
    result = ab_test(
        getattr(stable, "abs_errors", []) if stable is not None else [],
        getattr(candidate, "abs_errors", []) if candidate is not None else [],
        alpha=t.alpha,
        method=t.test,
        min_samples=t.min_samples,
    )
    if result.p_value is None and (
        result.n_stable < t.min_samples or result.n_candidate < t.min_samples
    ):
        verdict, why = (
            Verdict.HOLD,
            f"too few labeled rows: candidate {result.n_candidate}, stable {result.n_stable}, "
            f"need {t.min_samples} each",
        )
    elif result.winner is not None:
        verdict, why = (
            Verdict.WINNER,
            f"{result.winner} wins: p = {result.p_value:.3g} < alpha {t.alpha:g}, "
            f"effect size {result.effect_size:.3g}",
        )
    else:
        p = "n/a" if result.p_value is None else f"{result.p_value:.3g}"
        verdict, why = Verdict.NO_WINNER, f"no significant difference: p = {p}"
    out = _result(verdict, [why], stable, candidate)
    return out.model_copy(update={"test": result})


def _quality_only(a: Analysis) -> bool:
    # In an A/B test a worse arm is the test's business, not a guardrail breach:
    # only latency and failures end an A/B test early.
    return all(not r.startswith(("latency", "error rate")) for r in a.reasons)


def _result(verdict: Verdict, reasons: list[str], stable: Any, candidate: Any) -> Analysis:
    return Analysis(
        verdict=verdict, reasons=reasons, stable=summary(stable), candidate=summary(candidate)
    )
