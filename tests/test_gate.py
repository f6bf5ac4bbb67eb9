"""The one promotion gate: paired and independent samples, per-request tests, verdicts."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from rayops.gate import GateVerdict, compare


def test_a_clearly_better_candidate_on_the_same_rows_is_accepted() -> None:
    rng = np.random.default_rng(0)
    inc = rng.exponential(1.0, 400)
    cand = inc * 0.8
    r = compare(cand, inc, min_improvement=0.05)
    assert r.verdict is GateVerdict.BETTER and r.accepted
    assert r.improvement == pytest.approx(1 - np.sqrt(0.8), abs=1e-9)  # RMSE from the MSE


def test_the_p_value_is_scipys_paired_t_test() -> None:
    rng = np.random.default_rng(1)
    inc = rng.exponential(1.0, 200)
    cand = inc + rng.normal(-0.05, 0.5, 200)
    r = compare(cand, inc, task="binary")
    expected = stats.ttest_rel(inc, cand, alternative="greater").pvalue
    assert r.p_better == pytest.approx(expected, abs=1e-6)
    # Both sides, on small samples too (the gate computes them from Student's t CDF).
    for n in (3, 20):
        r = compare(cand[:n], inc[:n], alpha=0.5)
        assert r.p_better == pytest.approx(
            stats.ttest_rel(inc[:n], cand[:n], alternative="greater").pvalue, abs=1e-12
        )
        assert r.p_worse == pytest.approx(
            stats.ttest_rel(inc[:n], cand[:n], alternative="less").pvalue, abs=1e-12
        )


def test_noise_is_undecided_and_a_worse_candidate_is_worse() -> None:
    rng = np.random.default_rng(2)
    inc = rng.exponential(1.0, 300)
    noise = inc + rng.normal(0, 0.01, 300)
    assert compare(noise, inc, min_improvement=0.01).verdict is GateVerdict.UNDECIDED
    worse = compare(inc * 1.5, inc, max_degradation=0.1)
    assert worse.verdict is GateVerdict.WORSE and not worse.accepted
    tolerated = compare(inc * 1.05, inc, max_degradation=0.1, task="binary")
    assert tolerated.verdict is GateVerdict.UNDECIDED


def test_independent_samples_use_welch_or_mann_whitney() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.exponential(0.5, 300), rng.exponential(1.0, 280)
    r = compare(a, b, paired=False, task="binary")
    expected = stats.ttest_ind(a, b, equal_var=False, alternative="less").pvalue
    assert r.verdict is GateVerdict.BETTER and r.p_better == pytest.approx(expected, abs=1e-6)
    u = compare(a, b, paired=False, test="mannwhitney", task="binary")
    assert u.p_better == pytest.approx(stats.mannwhitneyu(a, b, alternative="less").pvalue)


def test_correlated_rows_are_tested_per_request() -> None:
    rng = np.random.default_rng(4)
    # 6 requests of 50 identical rows each: 300 rows, but only 6 independent draws.
    per_request = rng.normal(0.0, 1.0, 6)
    diff = np.repeat(per_request, 50) + 0.3
    inc = np.full(300, 2.0)
    cand = inc - diff
    groups = np.repeat(np.arange(6), 50)
    rows = compare(cand, inc, task="binary")
    requests = compare(cand, inc, task="binary", groups=groups)
    assert requests.n_candidate == 6 and rows.n_candidate == 300
    assert requests.p_better > rows.p_better  # counting rows overstates the evidence


def test_alpha_one_turns_the_test_off_and_bad_inputs_are_errors() -> None:
    r = compare([1.0, 1.0], [1.2, 1.1], alpha=1.0, task="binary", min_improvement=0.05)
    assert r.accepted and r.p_better == 0.0
    from rayops.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="same rows"):
        compare([1.0], [1.0, 2.0])
    with pytest.raises(InvalidInputError, match="alpha"):
        compare([1.0], [1.0], alpha=0)
    empty = compare([], [], paired=False)
    assert empty.verdict is GateVerdict.UNDECIDED and "no rows" in empty.reason
