"""The exact oracle: mpmath at 50 significant digits for small inputs, float64 for large ones.

True values are computed here when a check runs; nothing measured is ever pasted into a test.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import mpmath
import numpy as np

DIGITS = 50
MPMATH_MAX_ELEMENTS = 4096


def softmax_exact(scores: Sequence[float], shift: float = 0.0) -> list[mpmath.mpf]:
    """softmax(scores − shift) at DIGITS significant digits, the subtraction done exactly;
    -inf scores get exactly zero weight."""
    with mpmath.workdps(DIGITS):
        return _softmax_mp([mpmath.mpf(float(s)) - mpmath.mpf(float(shift)) for s in scores])


def _softmax_mp(xs: list[mpmath.mpf]) -> list[mpmath.mpf]:
    """Softmax of mpmath numbers (called inside workdps); -inf gets exactly zero weight."""
    finite = [x for x in xs if mpmath.isfinite(x)]
    if not finite:
        raise ValueError("softmax of a row whose every score is -inf is undefined")
    top = max(finite)
    weights = [mpmath.e ** (x - top) if mpmath.isfinite(x) else mpmath.mpf(0) for x in xs]
    total = mpmath.fsum(weights)
    return [w / total for w in weights]


def log_softmax_exact(scores: Sequence[float]) -> list[mpmath.mpf]:
    """log softmax(scores) = x − max − log Σ exp(x − max), exactly; −inf scores give −inf."""
    with mpmath.workdps(DIGITS):
        xs = [mpmath.mpf(float(s)) for s in scores]
        top = max(x for x in xs if mpmath.isfinite(x))
        log_total = mpmath.log(mpmath.fsum(mpmath.e ** (x - top) for x in xs if mpmath.isfinite(x)))
        return [x - top - log_total if mpmath.isfinite(x) else mpmath.mpf("-inf") for x in xs]


def softmax(
    scores: Sequence[float] | np.ndarray, axis: int = -1, *, always_exact: bool = False
) -> np.ndarray:
    """The exact softmax as float64 values; rows of small arrays go through mpmath.
    `always_exact` (the conformance properties): every row through mpmath, once per distinct
    value (`distinct_rows`), long rows included; an error if a row has more than
    MPMATH_MAX_ELEMENTS distinct values, never a silent float64 fallback."""
    x = np.asarray(scores, dtype=np.float64)
    if always_exact:
        return distinct_rows(_softmax_of_distinct, x, axis)
    if x.size <= MPMATH_MAX_ELEMENTS:
        return _by_rows(softmax_exact, x, axis)
    shifted = x - x.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(
    scores: Sequence[float] | np.ndarray, axis: int = -1, *, always_exact: bool = False
) -> np.ndarray:
    """The exact log-softmax as float64 values (mpmath row by row; small inputs only, or with
    `always_exact` rows of at most MPMATH_MAX_ELEMENTS distinct values)."""
    x = np.asarray(scores, dtype=np.float64)
    if always_exact:
        return distinct_rows(_log_softmax_of_distinct, x, axis)
    _require_small(x.size)
    return _by_rows(log_softmax_exact, x, axis)


def distinct_rows(exact_of_distinct: Any, x: np.ndarray, axis: int) -> np.ndarray:
    """Exact row function of a long row computed once per distinct value (with how often it
    occurs): a row of 65,537 scores on a grid of 1/8 has a few hundred, so the mpmath oracle
    stays exact (and quick) for the long rows a kernel's block boundaries need."""
    moved = np.moveaxis(x, axis, -1)
    rows = moved.reshape(-1, moved.shape[-1])
    out = np.empty_like(rows)
    for i, row in enumerate(rows):
        values, inverse, counts = np.unique(row, return_inverse=True, return_counts=True)
        _require_small(values.size)
        out[i] = np.asarray(exact_of_distinct(values, counts), dtype=np.float64)[inverse]
    return np.moveaxis(out.reshape(moved.shape), -1, axis)


def _distinct_weights(values: np.ndarray, counts: np.ndarray) -> tuple[list[Any], Any, Any]:
    """(exp(v − top) per distinct value, Σ count·exp(v − top), top), inside workdps."""
    xs = [mpmath.mpf(float(v)) for v in values]
    finite = [x for x in xs if mpmath.isfinite(x)]
    if not finite:
        raise ValueError("softmax of a row whose every score is -inf is undefined")
    top = max(finite)
    # mpmath.exp: quick for the huge arguments of whole-range rows (e ** x is not)
    weights = [mpmath.exp(x - top) if mpmath.isfinite(x) else mpmath.mpf(0) for x in xs]
    total = mpmath.fsum(int(c) * w for c, w in zip(counts, weights, strict=True))
    return weights, total, top


def _softmax_of_distinct(values: np.ndarray, counts: np.ndarray) -> list[float]:
    with mpmath.workdps(DIGITS):
        weights, total, _ = _distinct_weights(values, counts)
        return [float(w / total) for w in weights]


def _log_softmax_of_distinct(values: np.ndarray, counts: np.ndarray) -> list[float]:
    with mpmath.workdps(DIGITS):
        _, total, top = _distinct_weights(values, counts)
        log_total = mpmath.log(total)
        return [
            float(mpmath.mpf(float(v)) - top - log_total) if np.isfinite(v) else -np.inf
            for v in values
        ]


def attention(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    allowed: np.ndarray | None = None,
    *,
    scale: float | None = None,
    nan_where_nothing_allowed: bool = False,
) -> np.ndarray:
    """softmax(QKᵀ·scale, disallowed scores at −∞)·V, every product and sum at DIGITS digits;
    scale defaults to 1/√d_k (SDPA's). q (..., n, d), k (..., m, d), v (..., m, d_v); `allowed`
    a boolean (n, m) mask (True where query i may attend to key j). A query that may attend to
    no key has no defined output: an error, or NaN with `nan_where_nothing_allowed`. Small
    inputs only. The one exact attention: the article's checks and the conformance properties
    both use it."""
    q, k, v = (np.asarray(a, dtype=np.float64) for a in (q, k, v))
    n, m = q.shape[-2], k.shape[-2]
    mask = np.ones((n, m), dtype=bool) if allowed is None else np.asarray(allowed, dtype=bool)
    batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    q, k, v = (np.broadcast_to(a, (*batch, *a.shape[-2:])) for a in (q, k, v))
    _require_small(int(np.prod(batch)) * n * m * max(q.shape[-1], v.shape[-1]))
    out = np.full((*batch, n, v.shape[-1]), np.nan)
    with mpmath.workdps(DIGITS):
        factor = 1 / mpmath.sqrt(q.shape[-1]) if scale is None else mpmath.mpf(float(scale))
        for index in np.ndindex(*batch):
            qm, km, vm = (mpmath.matrix(a[index].tolist()) for a in (q, k, v))
            for i in range(n):
                if nan_where_nothing_allowed and not mask[i].any():
                    continue
                scores = [
                    mpmath.fsum(qm[i, c] * km[j, c] for c in range(q.shape[-1])) * factor
                    if mask[i, j]
                    else mpmath.mpf("-inf")
                    for j in range(m)
                ]
                weights = _softmax_mp(scores)
                for c in range(v.shape[-1]):
                    out[(*index, i, c)] = float(
                        mpmath.fsum(w * vm[j, c] for j, w in enumerate(weights))
                    )
    return out


def _by_rows(exact_row: Any, x: np.ndarray, axis: int) -> np.ndarray:
    """Apply an exact row function along `axis` of a float64 array."""
    moved = np.moveaxis(x, axis, -1)
    rows = moved.reshape(-1, moved.shape[-1])
    out = np.array([[float(v) for v in exact_row(row)] for row in rows])
    return np.moveaxis(out.reshape(moved.shape), -1, axis)


def _require_small(count: int) -> None:
    """mpmath is slow: refuse inputs needing more than MPMATH_MAX_ELEMENTS terms per pass."""
    if count > MPMATH_MAX_ELEMENTS:
        raise ValueError(
            f"the mpmath oracle takes at most {MPMATH_MAX_ELEMENTS} terms; got {count}"
        )


def exp_exact(x: float) -> mpmath.mpf:
    with mpmath.workdps(DIGITS):
        return mpmath.e ** mpmath.mpf(x)
