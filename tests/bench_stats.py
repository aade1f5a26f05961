"""The one percentile the bench steps report (tests/bench.py and the steps it runs)."""
from __future__ import annotations


def percentile(xs: list[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); nan for no samples."""
    s = sorted(xs)
    if not s:
        return float("nan")
    k = (len(s) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)
