"""Sampling and intervals for the statistical checks (Brain Teaser #2, Putting It All Together,
Brain Teaser #5).

Every statistical check states its decision rule before it samples (`Rule`: confidence level and
the region the claim asserts), and uses a sample large enough that an effect of the size the
article states is decided (`rows_to_decide`). Its interval goes to
`evidence.interval_decision` through `decide`, which gives "holds", "fails" or "inconclusive"
(never evidence against) and, when inconclusive, the sample size that would decide.

Samples are drawn once in float64 with fixed seeds and cached (module-level caches), so checks
share them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from statistics import NormalDist
from typing import Any

import numpy as np

from softmax_claimcheck.claimcheck.intervals import Interval
from softmax_claimcheck.impl import oracle

CONFIDENCE = 0.999
Z = NormalDist().inv_cdf(0.5 + CONFIDENCE / 2)  # ≈ 3.29, two-sided 99.9 %
POWER = 0.999
Z_POWER = NormalDist().inv_cdf(POWER)  # ≈ 3.09

# Attention rows at initialisation: each row is one query against TOKENS keys, q and k with
# i.i.d. N(0, 1) components, rows independent of each other (no two rows share a key).
TOKENS = 16
ROWS = 4096  # rows_to_decide(0.05) = 4070: a near-one-hot share of 0.55 against 0.5 is decided


# -- intervals (claimcheck/intervals.py: one Interval type for every statistical check) ---------
def mean_interval(x: np.ndarray, what: str = "mean") -> Interval:
    """CLT interval for a mean of independent values: x̄ ± z·s/√N."""
    x = np.asarray(x, dtype=np.float64).ravel()
    half = Z * float(x.std(ddof=1)) / math.sqrt(x.size)
    m = float(x.mean())
    method = f"{what}: x̄ ± {Z:.2f}·s/√N, N = {x.size}"
    return Interval(m, m - half, m + half, x.size, method, CONFIDENCE)


def proportion_interval(flags: np.ndarray, what: str = "share") -> Interval:
    """Wilson score interval for a share of independent yes/no outcomes (well behaved near 0 and
    1, where the normal approximation collapses)."""
    flags = np.asarray(flags, dtype=bool).ravel()
    n, p = flags.size, float(flags.mean())
    z2 = Z * Z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    low, high = max(centre - half, 0.0), min(centre + half, 1.0)
    return Interval(p, low, high, n, f"{what}: Wilson, N = {n}", CONFIDENCE)


def median_interval(x: np.ndarray, confidence: float = CONFIDENCE) -> Interval:
    """Distribution-free interval for a median of independent values, from order statistics
    (binomial(N, ½) ranks, normal approximation)."""
    x = np.sort(np.asarray(x, dtype=np.float64).ravel())
    n = x.size
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    lo = max(math.floor(n / 2 - z * math.sqrt(n) / 2) - 1, 0)
    hi = min(math.ceil(n / 2 + z * math.sqrt(n) / 2), n - 1)
    method = f"median: order statistics, N = {n}"
    return Interval(float(np.median(x)), float(x[lo]), float(x[hi]), n, method, confidence)


def median_ratio_interval(numerator: np.ndarray, denominator: np.ndarray) -> Interval:
    """Interval for median(numerator) / median(denominator) (positive values): each median's
    order-statistic interval at the square root of the confidence, so both hold together with
    at least CONFIDENCE (Bonferroni); the ratio's bounds are the bounds' ratios."""
    each = 1 - (1 - CONFIDENCE) / 2
    a, b = median_interval(numerator, each), median_interval(denominator, each)
    return Interval(
        a.estimate / b.estimate,
        a.low / b.high,
        a.high / b.low,
        a.n,
        f"ratio of medians: order-statistic intervals at {each:.2%} each, N = {a.n}",
        CONFIDENCE,
    )


def rows_to_decide(margin: float, sd: float = 0.5) -> int:
    """Independent units needed so that, when the true value lies `margin` from the region's
    boundary, the CONFIDENCE interval lies on its side with probability POWER:
    N = ((z_{1−α/2} + z_power)·sd / margin)². sd = ½ is the largest a share can have."""
    return math.ceil(((Z + Z_POWER) * sd / margin) ** 2)


def decide(
    evidence: Any,
    quantity: str,
    interval: Interval,
    region: tuple[float | None, float | None],
    sd: float | None = None,
) -> str:
    """Record `interval` against `region` (evidence.interval_decision). When the interval
    straddles a boundary, say how many units would decide: the N at which the half-width equals
    the estimate's distance from the nearest boundary (`sd`: one unit's standard deviation;
    from the interval's width when not given)."""
    boundaries = [b for b in region if b is not None]
    distance = min(abs(interval.estimate - b) for b in boundaries)
    if sd is None:
        sd = (interval.high - interval.low) / (2 * Z) * math.sqrt(interval.n)
    needed = (
        f"N ≈ {math.ceil((Z * sd / distance) ** 2)} would decide"
        if distance > 0
        else "the estimate sits on the boundary"
    )
    rule = f"{interval.confidence:.1%} interval ({interval.method})"
    return evidence.interval_decision(quantity, interval.bounds, region, rule, needed=needed)


# -- attention rows at initialisation -------------------------------------------------------------
@cache
def row_scores(d_k: int, rows: int = ROWS, tokens: int = TOKENS, seed: int = 7) -> np.ndarray:
    """Unscaled scores q·k_j of `rows` independent rows of `tokens` keys, q and k_j with i.i.d.
    N(0, 1) components, as (rows, tokens) float64 (cached: do not write to it).

    Drawn exactly through their distribution: given q, the q·k_j are i.i.d. N(0, ‖q‖²) (the
    keys' law is rotation invariant), and ‖q‖² ~ χ²(d_k). So a row is ‖q‖·z with z ~ N(0, I),
    which costs `tokens + 1` draws per row at any d_k instead of `(tokens + 1)·d_k`."""
    rng = np.random.default_rng([seed, d_k, rows, tokens])
    norms = np.sqrt(rng.chisquare(d_k, rows))
    return norms[:, None] * rng.standard_normal((rows, tokens))


def scaled_row_scores(d_k: int, scaled: bool, **sample: int) -> np.ndarray:
    """`row_scores`, divided by √d_k when `scaled` (the same rows with and without scaling)."""
    s = row_scores(d_k, **sample)
    return s / math.sqrt(d_k) if scaled else s


@cache
def row_weights(d_k: int, scaled: bool, rows: int = ROWS, tokens: int = TOKENS) -> np.ndarray:
    """Softmax of each row of `scaled_row_scores` in float64 (max-shifted; far more exact than
    any statistic below needs)."""
    s = scaled_row_scores(d_k, scaled, rows=rows, tokens=tokens)
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def row_entropy(weights: np.ndarray, base: float = math.e) -> np.ndarray:
    """Shannon entropy of each row of a (…, n) array of weights, 0·log 0 = 0 (vectorised; the
    scalar, exactly summed version is tests/checks/support/masking.py `entropy`)."""
    p = np.asarray(weights, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return terms.sum(axis=-1) / math.log(base)


@cache
def row_upstream(rows: int = ROWS, tokens: int = TOKENS, seed: int = 8) -> np.ndarray:
    """u = V·g per row: V (tokens × d_v) and the upstream gradient g (d_v) with i.i.d. N(0, 1)
    entries give u ~ N(0, ‖g‖²·I); its scale cancels in every ratio below, so u ~ N(0, I)."""
    return np.random.default_rng([seed, rows, tokens]).standard_normal((rows, tokens))


def score_gradient_norms(d_k: int, scaled: bool) -> np.ndarray:
    """‖∂L/∂scores‖ per row for L = (softmax(scores)·V)·g: the softmax Jacobian diag(p) − ppᵀ
    applied to u = V·g, in float64."""
    p, u = row_weights(d_k, scaled), row_upstream()
    grad = p * u - p * (p * u).sum(axis=-1, keepdims=True)
    return np.linalg.norm(grad, axis=-1)


# -- the attention sample of Brain Teaser #5 -------------------------------------------------------
@dataclass(frozen=True)
class InitSample:
    q: np.ndarray  # (sequences, tokens, d_k)
    k: np.ndarray
    seed: int


@cache
def init_sample(d_k: int, tokens: int = 16, sequences: int = 16, seed: int = 7) -> InitSample:
    """Sequences of `tokens` queries and keys with i.i.d. N(0, 1) components."""
    rng = np.random.default_rng([seed, d_k, tokens, sequences])
    q, k = (rng.standard_normal((sequences, tokens, d_k)) for _ in range(2))
    return InitSample(q, k, seed)


@cache
def init_scores(d_k: int, scaled: bool) -> np.ndarray:
    """QKᵀ (÷ √d_k if scaled) of the initialisation sample, in float64."""
    sample = init_sample(d_k)
    divisor = math.sqrt(d_k) if scaled else 1.0
    # einsum, not matmul: OpenBLAS threads make small batched matmuls slow on a busy machine
    return np.einsum("bid,bjd->bij", sample.q, sample.k) / divisor


# -- exact softmax of rows with scores of any size -----------------------------------------------
FAR_BELOW = 1000.0  # e^−1000 ≈ 1e−434: far below float64's smallest subnormal (≈ 4.9e−324)


def exact_softmax_rows(rows: np.ndarray) -> np.ndarray:
    """The mpmath softmax of each row (as float64), with scores more than FAR_BELOW under the
    row's maximum given weight 0 up front: their exact weight is below e^−1000, which no float
    can hold, and mpmath is slow at exponentials of 1e300."""
    rows = np.asarray(rows, dtype=np.float64)
    out = np.zeros_like(rows)
    for index in np.ndindex(*rows.shape[:-1]):
        row = rows[index]
        kept = np.where(row >= row.max() - FAR_BELOW, row, -np.inf)
        out[index] = [float(w) for w in oracle.softmax_exact(kept)]
    return out


# -- statistics of the initialisation rows, shared by Brain Teaser #2 and the summary -------------
def mean_entropy_interval(
    d_k: int, scaled: bool, rows: int = ROWS, tokens: int = TOKENS, base: float = math.e
) -> Interval:
    """Mean entropy of the rows (in units of log `base`), with its CLT interval over rows."""
    h = row_entropy(row_weights(d_k, scaled, rows=rows, tokens=tokens), base=base)
    return mean_interval(h, "mean entropy over independent rows")


def gradient_ratio_interval(d_k: int, statistic: str) -> Interval:
    """Without ÷ with scaling, of the median or mean ‖∂L/∂scores‖ over the same rows."""
    without, with_scaling = score_gradient_norms(d_k, False), score_gradient_norms(d_k, True)
    if statistic == "median":
        return median_ratio_interval(without, with_scaling)
    each = 1 - (1 - CONFIDENCE) / 2  # Bonferroni, as for the medians
    z = NormalDist().inv_cdf(0.5 + each / 2)
    bounds = []
    for x in (without, with_scaling):
        half = z * float(x.std(ddof=1)) / math.sqrt(x.size)
        bounds.append((float(x.mean()), float(x.mean()) - half, float(x.mean()) + half))
    (a, a_lo, a_hi), (b, b_lo, b_hi) = bounds
    return Interval(
        a / b,
        a_lo / b_hi,
        a_hi / b_lo if b_lo > 0 else math.inf,
        without.size,
        f"ratio of means: CLT intervals at {each:.2%} each, N = {without.size}",
        CONFIDENCE,
    )
