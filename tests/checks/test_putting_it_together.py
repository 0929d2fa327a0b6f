"""Checks of the section 'Putting It All Together'.

"Training instability" (the no-normalization line) is a training claim, checked with the training
experiments; here only the outputs are checked.
"""

from __future__ import annotations

import itertools
import math

import mpmath
import numpy as np
import pytest
from array_api_compat import array_namespace

from softmax_claimcheck.claimcheck.tolerance import CalibratedTolerance
from softmax_claimcheck.impl import attention, oracle
from softmax_claimcheck.impl.registry import to_numpy
from tests.checks.support import sampling as mc
from tests.checks.support.claims import (
    compare_to_exact,
    nan_safe_min,
)
from tests.checks.support.masking import finfo

SEED = 13
BATCH, TOKENS, D_K = 2, 8, 8  # small attention problems; d_v = d_k so every kernel takes them


def _attention_cases():
    return pytest.mark.cases("attention")


def _score_grid():
    """The reference attention, numpy and torch, every device and dtype: where the steps are
    written out by hand, and where the statistical checks run (the library kernels are held to
    the reference by the conformance checks)."""
    return pytest.mark.cases("reference-attention")


def qkv(seed: int = SEED, d_v: int = D_K) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal((BATCH, TOKENS, D_K)),
        rng.standard_normal((BATCH, TOKENS, D_K)),
        rng.standard_normal((BATCH, TOKENS, d_v)),
    )


# -- the five steps ---------------------------------------------------------------------------
def exact_causal_attention(q, k, v) -> np.ndarray:
    """Scores in float64, the mpmath softmax of each masked row, then the weighted sum with
    math.fsum: the exact reference."""
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    masked = np.where(attention.causal_allowed(q.shape[-2], like=q), scores, -np.inf)
    weights = oracle.softmax(masked, axis=-1)
    out = np.empty((*q.shape[:-1], v.shape[-1]))
    for b, i, j in np.ndindex(*out.shape):
        out[b, i, j] = math.fsum(weights[b, i] * v[b, :, j])
    return out


def five_steps(q, k, v):
    """The article's five steps, one line each, in the arrays' own backend and dtype."""
    xp = array_namespace(q)
    similarity = q @ xp.matrix_transpose(k)  # 1. matrix multiplication
    scaled = similarity / math.sqrt(q.shape[-1])  # 2. scaling
    allowed = attention.causal_allowed(q.shape[-2], k.shape[-2], q)
    masked = xp.where(allowed, scaled, xp.asarray(-math.inf, dtype=q.dtype))  # 3. masking
    shifted = xp.exp(masked - xp.max(masked, axis=-1, keepdims=True))  # 4. softmax
    weights = shifted / xp.sum(shifted, axis=-1, keepdims=True)
    return weights @ v  # 5. weighted sum


def _hand_composed(case, q, k, v) -> np.ndarray:
    with np.errstate(all="ignore"):
        return to_numpy(five_steps(case.asarray(q), case.asarray(k), case.asarray(v)))


@pytest.mark.claim("five-steps-compose-attention", reading="composed-by-hand")
@_score_grid()
def test_five_steps_by_hand_match_exact_attention(evidence, case):
    q, k, v = qkv()
    evidence.record_inputs(seed=SEED, batch=BATCH, tokens=TOKENS, d_k=D_K, causal=True)
    compare_to_exact(
        evidence,
        "five steps by hand vs exact attention",
        exact_causal_attention(q, k, v),
        _hand_composed(case, q, k, v),
        case.dtype,
    )


def _same_backend_grid_case(case, implementations):
    """The hand-composition case in the same backend, device and dtype as `case`."""
    reference_id = "numpy-attention" if case.impl.backend == "numpy" else "torch-attention"
    return type(case)(implementations.get(reference_id), case.device, case.dtype)


@pytest.mark.claim("five-steps-compose-attention", reading="registered-implementations")
@_attention_cases()
def test_registered_attention_matches_five_steps(evidence, case, implementations):
    q, k, v = qkv()
    exact = exact_causal_attention(q, k, v)
    hand = _hand_composed(_same_backend_grid_case(case, implementations), q, k, v)
    measured = to_numpy(case.attention(q, k, v, is_causal=True))
    hand_error = float(np.max(np.abs(hand - exact)))
    tol = CalibratedTolerance(hand_error, 2.0, 4 * case.eps * float(np.max(np.abs(exact))))
    evidence.record_inputs(seed=SEED, batch=BATCH, tokens=TOKENS, d_k=D_K, causal=True)
    evidence.close_to(
        "output vs exact causal attention", exact, measured, tol.bound, tol.describe()
    )


# -- softmax turns arbitrary scores into distributions ---------------------------------------------
ROWS, ROW_LENGTH = 40, 8


def arbitrary_rows(largest: float) -> np.ndarray:
    """Seeded rows of any sign and magnitude 1e-3 … 1e300, clipped to ±largest."""
    rng = np.random.default_rng(SEED)
    sign = rng.choice([-1.0, 1.0], (ROWS, ROW_LENGTH))
    magnitude = 10.0 ** rng.uniform(-3, 300, (ROWS, 1)) * rng.uniform(0, 1, (ROWS, ROW_LENGTH))
    return np.clip(sign * magnitude, -largest, largest)


@pytest.mark.claim("softmax-bridges-scores-to-probabilities", reading="exact")
def test_exact_softmax_is_a_distribution(evidence):
    worst_sum, smallest = 0.0, math.inf
    for row in arbitrary_rows(1e300):
        kept = np.where(row >= row.max() - mc.FAR_BELOW, row, -np.inf)
        weights = oracle.softmax_exact(kept)
        with mpmath.workdps(oracle.DIGITS):
            worst_sum = max(worst_sum, float(abs(mpmath.fsum(weights) - 1)))
        smallest = min(smallest, float(min(weights)))
    evidence.record_inputs(seed=SEED, rows=ROWS, row_length=ROW_LENGTH)
    evidence.note(
        f"mpmath at {oracle.DIGITS} digits. Scores more than {mc.FAR_BELOW:g} below their row's "
        "maximum get weight 0 up front: their exact weight is below e^−1000, which changes the "
        "sum by less than 1e-400."
    )
    evidence.property_holds("smallest weight", smallest >= 0, smallest, "≥ 0")
    evidence.property_holds("largest |Σ weights − 1|", worst_sum < 1e-40, worst_sum, "< 1e-40")


@pytest.mark.claim("softmax-bridges-scores-to-probabilities", reading="stable-implementations")
@pytest.mark.cases("production-softmax")
def test_stable_softmax_is_a_distribution(evidence, case):
    largest = float(finfo(case.dtype).max)
    rows = case.rounded(arbitrary_rows(largest))
    weights = case.run_float64(rows)
    sums = np.array([math.fsum(row) for row in weights])
    bound = (ROW_LENGTH + 3) * case.eps
    evidence.record_inputs(seed=SEED, rows=ROWS, row_length=ROW_LENGTH, clipped_to=largest)
    evidence.property_holds(
        "smallest weight",
        bool(np.isfinite(weights).all() and (weights >= 0).all()),
        nan_safe_min(weights),
        "≥ 0, all finite",
    )
    evidence.close_to(
        "largest |Σ weights − 1|",
        0.0,
        float(np.max(np.abs(sums - 1))),
        bound,
        f"(n + 3)·eps({case.dtype})",
    )


# -- masking handles causality ---------------------------------------------------------------
@pytest.mark.claim("softmax-handles-causality-via-masking")
@_attention_cases()
def test_masked_weights_are_softmax_of_visible_scores(evidence, case):
    q, k, _ = qkv()
    identity = np.repeat(np.eye(TOKENS)[None], BATCH, axis=0)  # V = I: output = weights
    weights = to_numpy(case.attention(q, k, identity, is_causal=True))
    future = ~attention.causal_allowed(TOKENS, like=weights)
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(D_K)
    exact = np.zeros_like(weights)
    for b, i in np.ndindex(BATCH, TOKENS):
        exact[b, i, : i + 1] = oracle.softmax(scores[b, i, : i + 1])
    evidence.record_inputs(seed=SEED, batch=BATCH, tokens=TOKENS, d_k=D_K)
    evidence.property_holds(
        "weights on future tokens",
        bool((weights[:, future] == 0).all()),
        float(np.max(np.abs(weights[:, future]))),
        "exactly 0",
    )
    compare_to_exact(
        evidence, "weights vs softmax of the visible scores only", exact, weights, case.dtype
    )


# -- no scaling ----------------------------------------------------------------------------
# The same statistics as Brain Teaser #2 (tests/checks/support/sampling.py), decided here against
# this claim's own threshold and rule.
def _printed_d_k(claim, d_k: int) -> int:
    if d_k not in claim.printed("d_k"):
        raise RuntimeError(f"d_k = {d_k} is not among the printed d_k of {claim.id}")
    return d_k


@pytest.mark.parametrize(
    "d_k",
    [
        pytest.param(d_k, marks=pytest.mark.claim("no-scaling-breaks", reading=reading))
        for d_k, reading in [
            (64, "vanishing-gradients-d-k-64"),
            (512, "vanishing-gradients-large-d-k"),
            (2048, "vanishing-gradients-large-d-k"),
        ]
    ],
)
def test_no_scaling_vanishing_gradients(claim, evidence, d_k):
    """Rule, fixed before sampling: the 99.9 % interval of median ‖∂L/∂scores‖ without ÷ with
    scaling lies below `nearly_zero_ratio` → holds, above → fails, across → inconclusive."""
    _printed_d_k(claim, d_k)
    evidence.record_inputs(rows=mc.ROWS, tokens=mc.TOKENS, d_k=d_k, confidence=mc.CONFIDENCE)
    mc.decide(
        evidence,
        f"at initialisation, d_k = {d_k}: median ‖∂L/∂scores‖, without ÷ with scaling",
        mc.gradient_ratio_interval(d_k, "median"),
        (None, claim.parameter("nearly_zero_ratio")),
    )


@pytest.mark.claim("no-scaling-breaks", reading="over-peaked-attention")
@pytest.mark.parametrize("d_k", [64, 512, 2048])
def test_no_scaling_over_peaked(claim, evidence, d_k):
    """Rule, fixed before sampling: the 99.9 % interval of the mean entropy (nats) lies below
    the article's threshold without scaling and at or above it with scaling → holds."""
    threshold = claim.printed("entropy_threshold")
    _printed_d_k(claim, d_k)
    evidence.record_inputs(rows=mc.ROWS, tokens=mc.TOKENS, d_k=d_k, confidence=mc.CONFIDENCE)
    for scaled in (False, True):
        mc.decide(
            evidence,
            f"at initialisation, d_k = {d_k}, {'with' if scaled else 'without'} scaling: "
            "mean entropy (nats)",
            mc.mean_entropy_interval(d_k, scaled),
            (threshold, None) if scaled else (None, threshold),
        )


# -- no exponential ---------------------------------------------------------------------------


def _scores() -> np.ndarray:
    q, k, _ = qkv()
    return q @ np.swapaxes(k, -1, -2) / math.sqrt(D_K)


@pytest.mark.claim("no-exponential-breaks", reading="negative-weights")
@pytest.mark.cases("sum-normalize")
def test_normalization_without_exp_gives_negative_weights(evidence, case):
    weights = case.run_float64(_scores())
    evidence.record_inputs(seed=SEED, rows=BATCH * TOKENS, row_length=TOKENS)
    negative = int(np.sum(weights < 0))
    evidence.property_holds(
        "negative weights among all rows",
        negative > 0,
        {"negative": negative, "smallest": nan_safe_min(weights)},
        "> 0",
    )


def top_share(weights: np.ndarray) -> np.ndarray:
    """The top token's share of each row, |w|max / Σ|w| (defined even for negative weights)."""
    magnitude = np.abs(weights)
    return magnitude.max(axis=-1) / magnitude.sum(axis=-1)


@pytest.mark.claim("no-exponential-breaks", reading="weak-emphasis")
@pytest.mark.cases("normalizer")
def test_normalization_without_exp_cannot_sharpen(claim, evidence, case):
    scores, factors = _scores(), claim.parameter("factors")
    shares = [top_share(case.run_float64(c * scores)) for c in factors]
    softmax_top = [float(oracle.softmax(c * scores, axis=-1).max(axis=-1).mean()) for c in factors]
    evidence.record_inputs(seed=SEED, factors=factors)
    for c, share in zip(factors[1:], shares[1:], strict=True):
        compare_to_exact(
            evidence, f"top share at c = {c:g} vs at c = 1", shares[0], share, case.dtype
        )
    evidence.property_holds(
        "softmax's mean top weight grows with c (contrast)",
        all(b > a for a, b in itertools.pairwise(softmax_top)),
        softmax_top,
        "strictly increasing",
    )


# -- no normalization -------------------------------------------------------------------------


def _unnormalized_exp_attention(q, k, v):
    xp = array_namespace(q)
    return xp.exp(attention.scores(q, k, scale=True)) @ v


VARIANTS = {
    "raw-dot-products": attention.raw_dot_attention,
    "exponential-without-sum": _unnormalized_exp_attention,
}


def _check_unbounded(claim, evidence, case, reading: str) -> None:
    q, k, v = qkv()
    factors = claim.parameter("factors")
    variant = VARIANTS[reading]
    largest = []
    for c in factors:
        with np.errstate(all="ignore"):
            out = to_numpy(variant(case.asarray(c * q), case.asarray(k), case.asarray(v)))
        largest.append(float(np.max(np.abs(out))) if np.isfinite(out).all() else math.inf)
    softmax_largest = [
        float(np.max(np.abs(to_numpy(case.attention(c * q, k, v))))) for c in factors
    ]
    value_range = float(np.max(np.abs(case.rounded(v))))
    evidence.record_inputs(seed=SEED, factors=factors, largest_value=value_range)
    evidence.property_holds(
        "largest |output| grows at least ∝ c (inf counts as unbounded)",
        all(m >= 0.5 * c * largest[0] for c, m in zip(factors, largest, strict=True)),
        dict(zip(map(str, factors), largest, strict=True)),
        "≥ ½·c·(largest at c = 1)",
    )
    evidence.property_holds(
        "largest |output| at the largest c leaves the values' range",
        largest[-1] > value_range,
        largest[-1],
        f"> {value_range:.3g}",
    )
    slack = 8 * case.eps * value_range
    evidence.property_holds(
        "softmax attention (contrast): largest |output| within the values' range at every c",
        max(softmax_largest) <= value_range + slack,
        softmax_largest,
        f"≤ {value_range:.3g}",
    )


@pytest.mark.parametrize(
    "reading",
    [
        pytest.param(r, marks=pytest.mark.claim("no-normalization-unbounded-outputs", reading=r))
        for r in VARIANTS
    ],
)
@_score_grid()
def test_unnormalized_outputs_unbounded(claim, evidence, case, reading):
    _check_unbounded(claim, evidence, case, reading)


# -- no masking ---------------------------------------------------------------------------


def _perturbed_last_token(k, v):
    k2, v2 = k.copy(), v.copy()
    k2[:, -1] += 3.0
    v2[:, -1] += 5.0
    return k2, v2


def _earlier_change(case, causal: bool) -> float:
    q, k, v = qkv()
    k2, v2 = _perturbed_last_token(k, v)
    before = to_numpy(case.attention(q, k, v, is_causal=causal))[:, :-1]
    after = to_numpy(case.attention(q, k2, v2, is_causal=causal))[:, :-1]
    return float(np.max(np.abs(after - before)))


@pytest.mark.claim("no-masking-leaks-future", reading="unmasked-leaks")
@_attention_cases()
def test_unmasked_attention_leaks_future(evidence, case):
    change = _earlier_change(case, causal=False)
    evidence.record_inputs(seed=SEED, perturbation="last token: key + 3, value + 5")
    evidence.property_holds(
        "largest change of an earlier output",
        change > 100 * case.eps,
        change,
        f"> 100·eps ({100 * case.eps:.3g})",
    )


@pytest.mark.claim("no-masking-leaks-future", reading="masked-no-leak")
@_attention_cases()
def test_masked_attention_does_not_leak(evidence, case):
    change = _earlier_change(case, causal=True)
    evidence.record_inputs(seed=SEED, perturbation="last token: key + 3, value + 5")
    evidence.property_holds("largest change of an earlier output", change == 0.0, change, "0")
