"""Effects with confidence intervals over seeds, and steps to reach a target loss.

Intervals are two-sided Student-t intervals over the per-seed values (paired by seed where two
arms are compared: seed s of both arms shares the initialisation stream and the batch order).
Ratios are averaged on the log scale (a geometric mean), so 2× and ½× are symmetric.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np

from softmax_claimcheck.claimcheck.intervals import Interval

CONFIDENCE = 0.95


@cache
def t_quantile(p: float, dof: int) -> float:
    """The p-quantile (p > 1/2) of Student's t with `dof` degrees of freedom, by mpmath (no scipy):
    the root of 1 − ½·I_{ν/(ν+t²)}(ν/2, ½) = p, I the regularised incomplete beta function."""
    import mpmath

    nu = mpmath.mpf(dof)
    tail = mpmath.mpf(1 - p) * 2  # I_{ν/(ν+t²)}(ν/2, ½) at the quantile

    def excess(t: Any) -> Any:
        return (
            mpmath.betainc(nu / 2, mpmath.mpf(1) / 2, 0, nu / (nu + t * t), regularized=True) - tail
        )

    with mpmath.workdps(30):
        return float(
            mpmath.findroot(excess, (mpmath.mpf("1e-9"), mpmath.mpf(1e6)), solver="illinois")
        )


def t_interval(values: Sequence[float], what: str = "") -> Interval:
    """Mean and 95% Student-t interval; infinite values give an infinite interval (honestly
    unbounded, e.g. a run that never reached the target)."""
    x = np.asarray(values, dtype=np.float64)
    mean = float(x.mean())
    method = what or "t-interval over seeds"
    if len(x) < 2 or not np.isfinite(x).all():
        return Interval(mean, -math.inf, math.inf, len(x), method, CONFIDENCE)
    half = t_quantile(0.5 + CONFIDENCE / 2, len(x) - 1) * float(x.std(ddof=1)) / math.sqrt(len(x))
    return Interval(mean, mean - half, mean + half, len(x), method, CONFIDENCE)


def ratio_interval(numerators: Sequence[float], denominators: Sequence[float], what="") -> Interval:
    """Geometric-mean ratio of paired values, with its interval (t-interval of the log ratios,
    mapped back)."""
    logs = [_log(a) - _log(b) for a, b in zip(numerators, denominators, strict=True)]
    ci = t_interval([x if not math.isnan(x) else math.inf for x in logs])
    method = what or "geometric mean ratio: t-interval of the log ratios over seeds"
    return Interval(_exp(ci.estimate), _exp(ci.low), _exp(ci.high), ci.n, method, CONFIDENCE)


def _log(x: float) -> float:
    return math.log(x) if x > 0 else -math.inf


def _exp(x: float) -> float:
    if x == math.inf:
        return math.inf
    if x == -math.inf:
        return 0.0
    return math.exp(x)


def steps_to_target(steps: Sequence[int], losses: Sequence[float], target: float) -> float:
    """The first step at which the validation curve reaches `target`, interpolated linearly
    between evaluations; infinity if it never does."""
    for i, loss in enumerate(losses):
        if loss <= target:
            if i == 0:
                return float(steps[0])
            s0, s1, l0 = steps[i - 1], steps[i], losses[i - 1]
            if not math.isfinite(l0) or l0 == loss:
                return float(s1)
            return float(s0 + (s1 - s0) * (l0 - target) / (l0 - loss))
    return math.inf
