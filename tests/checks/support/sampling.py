"""Monte-Carlo support for the scaling claims (Brain Teaser #2, Putting It All Together).

Samples are drawn once in float64 with a fixed seed and cached, then converted to each case's
backend, device and dtype, so every implementation sees the same numbers. Intervals are two-sided
99.9 % normal approximations; each says how it was made, so the report can show it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from statistics import NormalDist
from typing import Any

import numpy as np

from impl import attention, oracle
from impl.registry import to_numpy
from claimcheck.context import ClaimContext

CONFIDENCE = 0.999
Z = NormalDist().inv_cdf(0.5 + CONFIDENCE / 2)  # ≈ 3.29

# Conditions on the query and key components (the variance claim needs the first two).
MEAN_SHIFT = 1.0  # μ of the non-zero-mean condition
RHO = 0.8  # correlation of q_i and k_i in the correlated condition
CONDITIONS = {
    "gaussian": "i.i.d. N(0, 1) components, q independent of k",
    "uniform": "i.i.d. uniform components on [−√3, √3] (mean 0, variance 1), q independent of k",
    "nonzero-mean": f"i.i.d. N({MEAN_SHIFT:g}, 1) components (unit variance, mean {MEAN_SHIFT:g})",
    "correlated": f"k_i = ρ·q_i + √(1 − ρ²)·z_i with ρ = {RHO:g} (each component N(0, 1))",
}

# The attention sample at initialisation: sequences of `TOKENS` tokens, queries and keys with
# i.i.d. N(0, 1) components, values and the upstream gradient of width D_V (fixed, so that only
# d_k changes between runs).
TOKENS = 16
SEQUENCES = 16
D_V = 16

# The article's d_k (Brain Teaser #2: 64, 512, 2048), as pytest parameters: claims are loaded
# after collection, so the values are fixed here and each check guards them with `article_d_k`.
ARTICLE_D_K = (64, 512, 2048)


def article_d_k(claim: ClaimContext, d_k: int) -> int:
    """A d_k parameter must be one the claim prints; a mismatch is a harness defect (ERROR)."""
    if d_k not in claim.printed("d_k"):
        raise RuntimeError(f"d_k = {d_k} is not among the printed d_k of {claim.id}")
    return d_k


# -- intervals ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    method: str

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def __str__(self) -> str:
        return f"{self.estimate:.4g} [{self.low:.4g}, {self.high:.4g}]"

    def as_dict(self) -> dict[str, Any]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high}


def mean_interval(x: np.ndarray, what: str = "mean") -> Interval:
    """CLT interval for a mean: x̄ ± z·s/√N."""
    x = np.asarray(x, dtype=np.float64).ravel()
    half = Z * float(x.std(ddof=1)) / math.sqrt(x.size)
    m = float(x.mean())
    return Interval(m, m - half, m + half, f"{what}: x̄ ± {Z:.2f}·s/√N, N = {x.size}")


def variance_interval(x: np.ndarray) -> Interval:
    """Interval for a variance without assuming normal data: s² ± z·√((m₄ − s⁴)/N), with m₄ the
    fourth central moment (a chi-square interval would assume Gaussian dot products, which
    they are not: their excess kurtosis is 6/d_k)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    centred = x - x.mean()
    s2 = float(centred.var(ddof=1))
    m4 = float(np.mean(centred**4))
    half = Z * math.sqrt(max(m4 - s2 * s2, 0.0) / x.size)
    return Interval(
        s2, s2 - half, s2 + half, f"variance: s² ± {Z:.2f}·√((m₄ − s⁴)/N), N = {x.size}"
    )


def sqrt_interval(interval: Interval, what: str) -> Interval:
    """The square root of an interval for a non-negative quantity (monotone, so bounds map)."""
    return Interval(
        math.sqrt(interval.estimate),
        math.sqrt(max(interval.low, 0.0)),
        math.sqrt(interval.high),
        f"{what}: square root of ({interval.method})",
    )


def cluster_fraction_interval(flags: np.ndarray) -> Interval:
    """Interval for a fraction when rows come in clusters (the rows of one sequence share keys):
    the fraction per cluster, then a CLT interval over the independent clusters."""
    per_cluster = np.asarray(flags, dtype=np.float64).reshape(flags.shape[0], -1).mean(axis=1)
    m = float(per_cluster.mean())
    half = Z * float(per_cluster.std(ddof=1)) / math.sqrt(per_cluster.size)
    return Interval(
        m,
        m - half,
        m + half,
        f"fraction over {per_cluster.size} independent sequences ± {Z:.2f}·SE",
    )


# -- independent (q, k) pairs ---------------------------------------------------------------------
def predicted_variance_ratio(condition: str) -> float:
    """Var(q·k)/d_k in exact arithmetic under each condition (one component's product):
    independent zero-mean unit-variance → 1; mean μ → (1 + μ²)² − μ⁴ = 1 + 2μ²;
    correlation ρ (Gaussian) → E[q²k²] − ρ² = (1 + 2ρ²) − ρ² = 1 + ρ²."""
    if condition in ("gaussian", "uniform"):
        return 1.0
    if condition == "nonzero-mean":
        return 1.0 + 2.0 * MEAN_SHIFT**2
    if condition == "correlated":
        return 1.0 + RHO**2
    raise KeyError(condition)


@cache
def pair_sample(condition: str, d_k: int, pairs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`pairs` independent (q, k) pairs of dimension d_k under `condition` (float64; cached,
    so callers must not write to them)."""
    rng = np.random.default_rng([seed, d_k, list(CONDITIONS).index(condition)])
    if condition == "uniform":
        q = rng.uniform(-math.sqrt(3), math.sqrt(3), (pairs, d_k))
        k = rng.uniform(-math.sqrt(3), math.sqrt(3), (pairs, d_k))
    else:
        q = rng.standard_normal((pairs, d_k))
        k = rng.standard_normal((pairs, d_k))
    if condition == "nonzero-mean":
        q, k = q + MEAN_SHIFT, k + MEAN_SHIFT
    if condition == "correlated":
        k = RHO * q + math.sqrt(1 - RHO**2) * k
    return q, k


@cache
def paired_scores(
    case: Any, condition: str, d_k: int, pairs: int, seed: int, scale: bool
) -> np.ndarray:
    """q_i·k_i (÷ √d_k if `scale`) for each pair of `pair_sample`, by the attention score step
    (impl.attention.scores) in the case's backend, device and dtype; float64 numpy out."""
    q, k = pair_sample(condition, d_k, pairs, seed)
    s = attention.scores(case.asarray(q[:, None, :]), case.asarray(k[:, None, :]), scale=scale)
    return to_numpy(s).reshape(-1)


# -- attention at initialisation -----------------------------------------------------------------
@dataclass(frozen=True)
class InitSample:
    q: np.ndarray  # (SEQUENCES, TOKENS, d_k)
    k: np.ndarray
    v: np.ndarray  # (SEQUENCES, TOKENS, D_V)
    upstream: np.ndarray  # ∂L/∂output, same shape as the output
    seed: int

    def describe(self) -> dict[str, Any]:
        return {
            "sequences": self.q.shape[0],
            "tokens per sequence": self.q.shape[1],
            "d_k": self.q.shape[2],
            "d_v": self.v.shape[2],
            "seed": self.seed,
            "distribution": "q, k, v and ∂L/∂output with i.i.d. N(0, 1) entries",
        }


@cache
def init_sample(
    d_k: int, tokens: int = TOKENS, sequences: int = SEQUENCES, seed: int = 7
) -> InitSample:
    rng = np.random.default_rng([seed, d_k, tokens, sequences])
    arrays = [rng.standard_normal((sequences, tokens, width)) for width in (d_k, d_k, D_V, D_V)]
    return InitSample(*arrays, seed=seed)


def query_factor(d_k: int, scaled: bool) -> float:
    """Attention implementations divide scores by √d_k; feeding them √d_k·q undoes that, so the
    same registered function computes softmax(QKᵀ)·V, the unscaled variant."""
    return 1.0 if scaled else math.sqrt(d_k)


@cache
def attention_weights(
    case: Any, d_k: int, scaled: bool, tokens: int = TOKENS, sequences: int = SEQUENCES
) -> np.ndarray:
    """The weights of an attention case at initialisation, (sequences, tokens, tokens): with
    V = I the output is the weight matrix itself."""
    sample = init_sample(d_k, tokens, sequences)
    identity = np.repeat(np.eye(tokens)[None], sequences, axis=0)
    out = case.call(sample.q * query_factor(d_k, scaled), sample.k, identity)
    return to_numpy(out)


LONG_ROW_SEED = 11


@cache
def _long_row_dot_products(d_k: int, tokens: int, queries: int, sequences: int) -> np.ndarray:
    rng = np.random.default_rng([LONG_ROW_SEED, d_k, tokens])
    q = rng.standard_normal((sequences, queries, d_k))
    k = rng.standard_normal((sequences, tokens, d_k))
    return np.einsum("sqd,std->sqt", q, k)


def long_row_scores(d_k: int, tokens: int, queries: int, sequences: int, scaled: bool) -> Any:
    """Scores of `queries` queries against `tokens` keys per sequence (float64), for rows too
    long to pass V = I through an attention implementation."""
    s = _long_row_dot_products(d_k, tokens, queries, sequences)
    return s / math.sqrt(d_k) if scaled else s


def entropy(weights: np.ndarray, base: float = math.e) -> np.ndarray:
    """Shannon entropy of each row (0·log 0 = 0)."""
    p = np.asarray(weights, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return terms.sum(axis=-1) / math.log(base)


@cache
def query_gradient_norms(case: Any, d_k: int, scaled: bool) -> np.ndarray:
    """‖∂L/∂q‖ per query for L = Σ output·upstream, through the registered attention function
    (torch autograd, in the case's dtype); scaled or unscaled as `query_factor` explains."""
    import torch

    sample = init_sample(d_k)
    dtype = getattr(torch, case.dtype)

    def tensor(a: np.ndarray) -> Any:
        return torch.as_tensor(np.asarray(a)).to(device=case.device, dtype=dtype)

    q = tensor(sample.q).requires_grad_(True)
    out = case.impl.fn(q * query_factor(d_k, scaled), tensor(sample.k), tensor(sample.v))
    (out * tensor(sample.upstream)).sum().backward()
    return to_numpy(torch.linalg.vector_norm(q.grad.double(), dim=-1)).ravel()


@cache
def init_scores(d_k: int, scaled: bool) -> np.ndarray:
    """QKᵀ (÷ √d_k if scaled) of the initialisation sample, in float64."""
    sample = init_sample(d_k)
    divisor = math.sqrt(d_k) if scaled else 1.0
    # einsum, not matmul: OpenBLAS threads make small batched matmuls slow on a busy machine
    return np.einsum("bid,bjd->bij", sample.q, sample.k) / divisor


@cache
def score_gradient_norms(case: Any, d_k: int, scaled: bool) -> np.ndarray:
    """‖∂L/∂scores‖ per row for L = Σ (softmax(scores)·V)·upstream, through a softmax case (torch
    autograd, in the case's dtype); scores = QKᵀ (÷ √d_k if scaled), formed in float64."""
    import torch

    sample = init_sample(d_k)
    dtype = getattr(torch, case.dtype)

    def tensor(a: np.ndarray) -> Any:
        return torch.as_tensor(np.asarray(a)).to(device=case.device, dtype=dtype)

    scores = tensor(init_scores(d_k, scaled)).requires_grad_(True)
    weights = case.impl.fn(scores, axis=-1)
    ((weights @ tensor(sample.v)) * tensor(sample.upstream)).sum().backward()
    return to_numpy(torch.linalg.vector_norm(scores.grad.double(), dim=-1)).ravel()


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


# -- mean entropy on either side of a threshold --------------------------------------------------
def check_entropy_separation(
    evidence: Any,
    weights_of: Callable[[int, bool], np.ndarray],
    d_ks: Iterable[int],
    threshold: float,
    *,
    base: float = math.e,
    unit: str = "nats",
    tokens: int = TOKENS,
) -> None:
    """For each d_k: without scaling the 99.9 % upper bound of the mean entropy must be below
    `threshold`; with scaling its lower bound must be at least `threshold`. `weights_of(d_k,
    scaled)` gives the weights, (sequences, rows, tokens); sequences are the independent units."""
    for d_k in d_ks:
        for scaled in (False, True):
            per_row = entropy(weights_of(d_k, scaled), base=base)
            per_sequence = per_row.reshape(per_row.shape[0], -1).mean(axis=1)
            interval = mean_interval(per_sequence, f"mean entropy ({unit}) over sequences")
            if scaled:
                ok, want = interval.low >= threshold, f"lower bound ≥ {threshold:g}"
            else:
                ok, want = interval.high < threshold, f"upper bound < {threshold:g}"
            label = "with" if scaled else "without"
            evidence.property_holds(
                f"{tokens}-token rows, d_k = {d_k}, {label} scaling: mean entropy ({unit})",
                ok,
                str(interval),
                want,
            )
    evidence.note(
        f"Intervals are 99.9 % CLT intervals over independent sequences; the maximum entropy of a "
        f"{tokens}-token row is {math.log(tokens) / math.log(base):.3g} {unit}."
    )
