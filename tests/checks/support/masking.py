"""Masked rows, attention inputs and exact references for the masking checks (Causal Masking,
Brain Teaser #4), and the exact division-by-the-sum helpers the normalization checks share.

Dtype facts and plain-operation cases live in support/dtypes.py (re-exported here for older
imports). Helpers with one user outside the masking sections (dot_products, sparsemax: The Problem;
the Jacobians: Brain Teaser #1) are still here until those checks take them in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from functools import cache
from typing import Any

import mpmath
import numpy as np

from softmax_claimcheck.impl import oracle
from softmax_claimcheck.impl.registry import ImplCase, to_numpy

# Kept importable from here for the other sections' checks; their home is support/dtypes.py.
from tests.checks.support.dtypes import exp_op as exp_op
from tests.checks.support.dtypes import finfo as finfo
from tests.checks.support.dtypes import identity as identity
from tests.checks.support.dtypes import op_cases as op_cases

NEG_INF = float("-inf")


def dot_products(x: Any, axis: int = -1) -> Any:
    """Rows 1.. of x (keys) dotted with row 0 (the query): raw, unscaled attention scores."""
    return x[1:] @ x[0]


# -- masked rows ----------------------------------------------------------------------------------
def fill_masked(scores: Sequence[float], allowed: Sequence[bool], fill: float) -> list[float]:
    """Scores with every disallowed position replaced by `fill` (−∞ as the article does)."""
    return [s if a else fill for s, a in zip(scores, allowed, strict=True)]


def masked_rows(seed: int, count: int = 24, max_len: int = 12, scale: float = 4.0) -> list[Any]:
    """Random rows of finite scores with a random mask that allows at least one position: causal
    prefixes (as the article's example) and arbitrary patterns (padding, sparse masks)."""
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(count):
        n = int(rng.integers(2, max_len + 1))
        scores = rng.normal(0.0, scale, n)
        if index % 2 == 0:
            allowed = np.arange(n) < rng.integers(1, n + 1)  # a causal prefix
        else:
            allowed = rng.random(n) < 0.5
            allowed[rng.integers(0, n)] = True
        rows.append((scores.tolist(), allowed.tolist()))
    return rows


@cache
def normal_masked_rows(seed: int) -> tuple[tuple[tuple[float, ...], tuple[bool, ...]], ...]:
    """Masked rows with scores of normal size (N(0, 2)): no exp overflow even unshifted. Cached
    (hashable) so every implementation case compares against the same rows."""
    return tuple((tuple(s), tuple(a)) for s, a in masked_rows(seed, scale=2.0))


@cache
def cached_exact_masked_softmax(scores: tuple[float, ...], allowed: tuple[bool, ...]) -> np.ndarray:
    return exact_masked_softmax(scores, allowed)


def exact_masked_softmax(scores: Sequence[float], allowed: Sequence[bool]) -> np.ndarray:
    """softmax over the allowed positions only (mpmath), zeros elsewhere: what masking means."""
    kept = [s for s, a in zip(scores, allowed, strict=True) if a]
    weights = iter(float(w) for w in oracle.softmax_exact(kept))
    return np.array([next(weights) if a else 0.0 for a in allowed])


def mp_softmax_through_exp(scores: Sequence[float]) -> list[mpmath.mpf]:
    """softmax at oracle.DIGITS digits taking exp of every score, −∞ included (no special case
    for −∞, unlike the oracle): what the mathematics itself gives for a masked row."""
    with mpmath.workdps(oracle.DIGITS):
        xs = [mpmath.mpf(s) for s in scores]
        top = max(xs)
        weights = [mpmath.exp(x - top) for x in xs]
        total = mpmath.fsum(weights)
        return [w / total for w in weights]


def row_behaviour(weights: np.ndarray, masked: np.ndarray | None = None) -> str:
    """Name what a row of weights (or an attention output row) is: 'NaN', 'zeros', 'uniform',
    'distribution' (finite, ≥ 0, sums to 1) or 'other'."""
    w = np.asarray(weights, dtype=np.float64)
    if np.isnan(w).any():
        return "NaN"
    if not np.isfinite(w).all():
        return "inf"
    if (w == 0).all():
        return "zeros"
    if np.allclose(w, w.flat[0]) and abs(w.sum() - 1) < 1e-2:
        return "uniform"
    if (w >= 0).all() and abs(w.sum() - 1) < 1e-2:
        return "distribution"
    return "other"


# -- fully masked rows (every score −∞) ----------------------------------------------------------
FULLY_MASKED_ROW = (NEG_INF,) * 4


def fully_masked_exact() -> list[mpmath.mpf]:
    """softmax of a row of −∞ only, as the mathematics gives it (exp(−∞ − (−∞)) = exp(NaN))."""
    return mp_softmax_through_exp(FULLY_MASKED_ROW)


def fully_masked_softmax(evidence: Any, case: ImplCase) -> np.ndarray:
    """The case's softmax of a row of −∞ only, recording what it returns (NaN, zeros, uniform)
    and what a finite stand-in (finfo.min) gives instead."""
    out = case.run_float64(list(FULLY_MASKED_ROW))
    stand_in = case.run_float64([float(finfo(case.dtype).min)] * len(FULLY_MASKED_ROW))
    evidence.record_inputs(row=list(FULLY_MASKED_ROW))
    evidence.note(
        f"returns {row_behaviour(out)} {out.tolist()}; with finfo.min instead of −∞ it returns "
        f"{row_behaviour(stand_in)} {stand_in.tolist()}"
    )
    return out


def fully_masked_attention_row(evidence: Any, case: ImplCase) -> np.ndarray:
    """Row 0 of a causal attention whose query 0 may attend to nothing (a padding query)."""
    from softmax_claimcheck.impl.attention import causal_allowed

    q, k, v = attention_inputs(seed=14)
    allowed = causal_allowed(q.shape[0], like=np.zeros(1))
    allowed[0] = False
    out = call_attention(case, q, k, v, attn_mask=allowed)
    evidence.record_inputs(seed=14, n=q.shape[0], mask="causal, row 0 fully masked")
    evidence.note(f"row 0 returns {row_behaviour(out[0])} {out[0].tolist()}")
    return out[0]


# -- attention inputs -----------------------------------------------------------------------------
def grid_values(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Normal(0, 1) values rounded to multiples of 1/8 within ±2: exactly representable in every
    dtype down to bfloat16, so every case sees the same inputs and the oracle sees them too."""
    return np.clip(np.round(rng.normal(0.0, 1.0, shape) * 8) / 8, -2.0, 2.0)


def attention_inputs(seed: int, n: int = 6, d: int = 8) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    return grid_values(rng, (n, d)), grid_values(rng, (n, d)), grid_values(rng, (n, d))


def call_attention(case: ImplCase, q: Any, k: Any, v: Any, **sdpa: Any) -> np.ndarray:
    """The case's attention in SDPA's convention (attn_mask, is_causal, scale), as float64."""
    return to_numpy(case.attention(q, k, v, **sdpa))


# -- exact arithmetic -----------------------------------------------------------------------------
def fractions_divided_by_sum(scores: Sequence[float]) -> list[Fraction]:
    """Division by the sum in exact rational arithmetic (the scores as the floats they are)."""
    xs = [Fraction(s) for s in scores]
    total = sum(xs, Fraction(0))
    return [x / total for x in xs]


def entropy(p: Sequence[float]) -> float:
    """Shannon entropy in nats of a distribution (0 · ln 0 taken as 0)."""
    return -math.fsum(x * math.log(x) for x in p if x > 0)


def softmax_jacobian_max(scores: Sequence[float]) -> float:
    """max |∂p_i/∂x_j| of softmax at `scores`, from diag(p) − ppᵀ at mpmath precision."""
    p = oracle.softmax_exact(scores)
    return float(
        max(
            abs((p[i] if i == j else 0) - p[i] * p[j]) for i in range(len(p)) for j in range(len(p))
        )
    )


def division_jacobian_max(scores: Sequence[float]) -> float:
    """max |∂w_i/∂x_j| of w = x / Σx: δ_ij/S − x_i/S², exactly."""
    xs = [Fraction(s) for s in scores]
    total = sum(xs, Fraction(0))
    return float(
        max(
            abs((1 / total if i == j else 0) - xs[i] / total**2)
            for i in range(len(xs))
            for j in range(len(xs))
        )
    )


def sparsemax(z: Sequence[float]) -> np.ndarray:
    """Sparsemax (Martins & Astudillo, 2016): the Euclidean projection of z onto the probability
    simplex — a map other than softmax that turns any real scores into a distribution."""
    x = np.asarray(z, dtype=np.float64)
    ordered = np.sort(x)[::-1]
    cumulative = np.cumsum(ordered)
    ks = np.arange(1, len(x) + 1)
    support = ks[1 + ks * ordered > cumulative]
    k = int(support[-1])
    tau = (cumulative[k - 1] - 1) / k
    return np.maximum(x - tau, 0.0)
