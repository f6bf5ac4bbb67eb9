"""Is coverage off beyond chance? A binomial test against a tolerance band.

In a window of ``n`` labeled rows an interval (or set) at level ``c`` should
contain about ``c·n`` of the labels. Coverage counts as broken only when it lies
outside ``[c - tolerance, c + tolerance]`` *and* a one-sided binomial test
(``scipy.stats.binomtest``) against the nearer edge of that band is significant
at ``alpha`` — so small windows and noise do not page anyone.

Example:
    >>> coverage_break(covered=850, n=1000, nominal=0.9).broken     # 85%: off by 5 points
    True
    >>> coverage_break(covered=893, n=1000, nominal=0.9).broken     # 89.3%: within 2 points
    False
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CoverageCheck", "coverage_break"]


@dataclass(frozen=True)
class CoverageCheck:
    """The coverage of one window and whether it broke."""

    covered: int
    n: int
    nominal: float
    tolerance: float
    p_value: float
    broken: bool

    @property
    def coverage(self) -> float | None:
        return self.covered / self.n if self.n else None


def coverage_break(
    *, covered: int, n: int, nominal: float, tolerance: float = 0.02, alpha: float = 0.01
) -> CoverageCheck:
    """Coverage ``covered / n`` against ``nominal ± tolerance`` (see the module docstring)."""
    from scipy.stats import binomtest

    if n <= 0:
        return CoverageCheck(covered, n, nominal, tolerance, 1.0, False)
    rate = covered / n
    low, high = max(0.0, nominal - tolerance), min(1.0, nominal + tolerance)
    if low <= rate <= high:
        return CoverageCheck(covered, n, nominal, tolerance, 1.0, False)
    if rate < low:
        p = binomtest(covered, n, low, alternative="less").pvalue
    else:
        p = binomtest(covered, n, high, alternative="greater").pvalue
    return CoverageCheck(covered, n, nominal, tolerance, float(p), bool(p < alpha))
