"""The exact oracle: mpmath at 50 significant digits for small inputs, float64 for large ones.

True values are computed here when a check runs; nothing measured is ever pasted into a test.
"""

from __future__ import annotations

from collections.abc import Sequence

import mpmath
import numpy as np

DIGITS = 50
MPMATH_MAX_ELEMENTS = 4096


def softmax_exact(scores: Sequence[float], shift: float = 0.0) -> list[mpmath.mpf]:
    """softmax(scores − shift) at DIGITS significant digits, the subtraction done exactly;
    -inf scores get exactly zero weight."""
    with mpmath.workdps(DIGITS):
        xs = [mpmath.mpf(float(s)) - mpmath.mpf(float(shift)) for s in scores]
        finite = [x for x in xs if mpmath.isfinite(x)]
        if not finite:
            raise ValueError("softmax of a row whose every score is -inf is undefined")
        top = max(finite)
        weights = [mpmath.e ** (x - top) if mpmath.isfinite(x) else mpmath.mpf(0) for x in xs]
        total = mpmath.fsum(weights)
        return [w / total for w in weights]


def softmax(scores: Sequence[float] | np.ndarray, axis: int = -1) -> np.ndarray:
    """The exact softmax as float64 values; rows of small arrays go through mpmath."""
    x = np.asarray(scores, dtype=np.float64)
    if x.size <= MPMATH_MAX_ELEMENTS:
        moved = np.moveaxis(x, axis, -1)
        rows = moved.reshape(-1, moved.shape[-1])
        out = np.array([[float(v) for v in softmax_exact(row)] for row in rows])
        return np.moveaxis(out.reshape(moved.shape), -1, axis)
    shifted = x - x.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


def exp_exact(x: float) -> mpmath.mpf:
    with mpmath.workdps(DIGITS):
        return mpmath.e ** mpmath.mpf(x)
