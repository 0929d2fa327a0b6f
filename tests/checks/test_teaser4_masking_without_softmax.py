"""Checks of the section 'Brain Teaser #4: What If We Only Use Masking Without Softmax?'."""

from __future__ import annotations

import math
from functools import cache

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from softmax_claimcheck.impl import oracle
from softmax_claimcheck.impl.attention import causal_allowed
from softmax_claimcheck.impl.registry import to_numpy
from tests.checks.support import sampling
from tests.checks.support.claims import (
    compare_printed_vector,
    compare_to_exact,
    numeric_bound,
)
from tests.checks.support.dtypes import exp_op, finfo, op_cases
from tests.checks.support.masking import (
    NEG_INF,
    cached_exact_masked_softmax,
    fill_masked,
    fractions_divided_by_sum,
    mp_softmax_through_exp,
    normal_masked_rows,
)

SOFTMAX = pytest.mark.cases("softmax")
ATTENTION = pytest.mark.cases("masking-attention")
# Brain Teaser #1's "simple normalization", as the registry names it (role "normalizer").
DIVISION = pytest.mark.cases("sum-normalize")
EXP_CASES = op_cases("exp", exp_op, "elementwise exp in the dtype")


# -- softmax(−∞) = 0 ------------------------------------------------------------------------------
BESIDE_FINITE = [1.5, NEG_INF]


@pytest.mark.claim("softmax-of-neg-inf-is-zero", reading="beside-a-finite-score")
def test_neg_inf_beside_finite_score_exact(evidence):
    weights = mp_softmax_through_exp(BESIDE_FINITE)
    evidence.record_inputs(row=BESIDE_FINITE, precision="mpmath, exp of −∞ taken")
    evidence.property_holds("mpmath weight at −∞", weights[1] == 0, str(weights[1]), "0")


@pytest.mark.claim("softmax-of-neg-inf-is-zero", reading="beside-a-finite-score")
@SOFTMAX
def test_neg_inf_beside_finite_score_gets_zero(evidence, case):
    out = case.run_float64(BESIDE_FINITE)
    evidence.record_inputs(row=BESIDE_FINITE)
    evidence.property_holds("weight at −∞", out[1] == 0, out, "exactly 0.0")


# -- division by (2.8 + 1.2 + (−∞) + (−∞)) ---------------------------------------------------------
@pytest.mark.claim("cannot-divide-by-infinity", reading="sum-is-neg-inf")
@DIVISION
def test_sum_with_neg_inf(claim, evidence, case):
    scores = claim.printed("masked_scores")
    total = float(to_numpy(case.asarray(scores).sum()))
    evidence.record_inputs(scores=scores)
    evidence.property_holds("sum", total == -math.inf, total, "−∞")


@pytest.mark.claim("cannot-divide-by-infinity", reading="finite-over-infinity-undefined")
def test_finite_over_infinity_exact(evidence):
    with mpmath.workdps(oracle.DIGITS):
        value = mpmath.mpf(2.8) / mpmath.mpf("-inf")
        approaching = {
            f"2.8 / (−1e{k})": str(mpmath.mpf(2.8) / -(mpmath.mpf(10) ** k)) for k in (3, 30, 300)
        }
    evidence.note("The quotient tends to 0 as the divisor goes to −∞: " + str(approaching))
    evidence.property_holds(
        "mpmath 2.8 / (−∞) is undefined", bool(mpmath.isnan(value)), str(value), "NaN"
    )


@pytest.mark.claim("cannot-divide-by-infinity", reading="finite-over-infinity-undefined")
@DIVISION
def test_finite_over_infinity_in_dtype(claim, evidence, case):
    scores = claim.printed("masked_scores")
    weights = case.run_float64(scores)
    valid = weights[np.isfinite(scores)]
    signs = [math.copysign(1, w) for w in valid]
    evidence.record_inputs(scores=scores, weights=weights, signs_of_valid_weights=signs)
    evidence.property_holds(
        "finite score / (−∞) is undefined", bool(np.isnan(valid).all()), valid, "NaN"
    )


@pytest.mark.claim("cannot-divide-by-infinity", reading="result-is-unusable")
@DIVISION
def test_divided_row_is_no_distribution(claim, evidence, case):
    scores = claim.printed("masked_scores")
    weights = case.run_float64(scores)
    masked = ~np.isfinite(scores)
    evidence.record_inputs(scores=scores)
    evidence.property_holds(
        "masked entries (−∞ / −∞)", bool(np.isnan(weights[masked]).all()), weights, "NaN"
    )
    evidence.property_holds(
        "valid entries", bool((weights[~masked] == 0).all()), weights[~masked], "0 (all lost)"
    )


# -- mask to zero ---------------------------------------------------------------------------------
EXAMPLES = pytest.mark.parametrize(
    "example",
    [
        pytest.param("printed example", marks=pytest.mark.claim("mask-to-zero-example")),
        pytest.param(
            "printed example with negative scores",
            marks=pytest.mark.claim("mask-to-zero-negative-example"),
        ),
    ],
)


def _divided_exactly(claim) -> np.ndarray:
    return np.array([float(w) for w in fractions_divided_by_sum(claim.printed("scores"))])


@EXAMPLES
def test_mask_to_zero_example_exact(claim, evidence, example):
    exact = _divided_exactly(claim)
    shown = claim.printed("weights")
    evidence.record_inputs(scores=claim.printed("scores"), exact=exact)
    compare_printed_vector(evidence, claim, [f"w[{i}]" for i in range(len(shown))], shown, exact)


@EXAMPLES
@DIVISION
def test_mask_to_zero_example(claim, evidence, case, example):
    scores = claim.printed("scores")
    evidence.record_inputs(scores=scores)
    measured = case.run_float64(scores)
    compare_to_exact(evidence, "output vs exact", _divided_exactly(claim), measured, case.dtype)


# -- negative valid scores ------------------------------------------------------------------------
VALID = st.integers(-1000, 1000).map(lambda k: k / 8)  # exact in binary: exact rationals


def _hypothesis_rows(valid_scores, check) -> int:
    """Run `check` on Hypothesis rows: the valid scores, then two masked-to-zero positions."""
    seen = []

    @given(valid_scores)
    def examples(valid):
        weights = fractions_divided_by_sum([*valid, 0.0, 0.0])
        seen.append(valid)
        check(valid, weights)

    examples()
    return len(seen)


@pytest.mark.claim("negative-valid-scores-give-negative-attention", reading="all-valid-negative")
def test_all_negative_valid_scores_exact(evidence):
    rng = np.random.default_rng(18)
    rows = [(-rng.integers(1, 1000, int(n)) / 8).tolist() for n in rng.integers(1, 9, 60)]
    without = [v for v in rows if min(fractions_divided_by_sum([*v, 0.0, 0.0])) >= 0]
    evidence.record_inputs(seed=18, rows=len(rows), valid_scores="−k/8, k in 1…999, 1–8 per row")
    evidence.note(
        "With every valid score negative the sum is negative, so each weight is a negative "
        "number divided by a negative sum: never below 0 (the zeros stay −0)."
    )
    evidence.property_holds(
        "rows without a negative weight (exact rationals)",
        not without,
        f"{len(without)} of {len(rows)}, e.g. {without[:1]}",
        "0",
    )


@pytest.mark.claim("negative-valid-scores-give-negative-attention", reading="all-valid-negative")
@DIVISION
def test_all_negative_valid_scores(claim, evidence, case):
    scores = claim.printed("example_scores")
    weights = case.run_float64(scores)
    evidence.record_inputs(scores=scores)
    evidence.property_holds(
        "smallest weight", weights.min() < 0, weights, "< 0 (negative attention)"
    )


@pytest.mark.claim("negative-valid-scores-give-negative-attention", reading="mixed-signs")
def test_mixed_sign_valid_scores_exact(evidence):
    mixed = (
        st.lists(VALID.filter(lambda x: x != 0), min_size=2, max_size=8)
        .filter(lambda v: min(v) < 0 < max(v))
        .filter(lambda v: math.fsum(v) != 0)
    )

    def has_negative_weight(valid, weights):
        assert min(weights) < 0, f"no negative weight: {[str(w) for w in weights]}"

    count = _hypothesis_rows(mixed, has_negative_weight)
    evidence.property_holds(
        "Hypothesis rows without a negative weight (exact rationals)", True, f"0 of {count}", "0"
    )


@pytest.mark.claim("negative-valid-scores-give-negative-attention", reading="mixed-signs")
@DIVISION
def test_mixed_sign_valid_scores(evidence, case):
    scores = [1.0, -2.0, 0.0, 0.0]
    weights = case.run_float64(scores)
    evidence.record_inputs(scores=scores)
    evidence.property_holds(
        "smallest weight", weights.min() < 0, weights, "< 0 (negative attention)"
    )


# -- "this happens constantly" --------------------------------------------------------------------
@cache
def _initial_scores(sequences: int, n: int, d: int = 64, seed: int = 0) -> np.ndarray:
    """Causal attention scores at initialization: x ~ N(0, 1) (layer-normed), W ~ N(0, 1/d)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(sequences, n, d))
    w_q, w_k = rng.normal(0, d**-0.5, (2, d, d))
    q, k = x @ w_q, x @ w_k
    return (q @ k.transpose(0, 2, 1)) / math.sqrt(d)


def _per_sequence_interval(evidence, claim, quantity, shares, threshold_key):
    """Decide a share against the claim's threshold with a 99.9 % CLT interval over the
    independent sequences (rule fixed in the claim's parameters before sampling)."""
    interval = sampling.mean_interval(shares, quantity)
    threshold = claim.parameter(threshold_key)
    evidence.interval_decision(
        quantity,
        (interval.low, interval.high),
        (threshold, None),
        f"{claim.parameter('confidence'):.1%} interval over {len(shares)} sequences "
        f"({interval.method}) must lie above {threshold}",
        needed="more sequences would decide",
    )


@pytest.mark.claim("negative-scores-happen-constantly", reading="at-initialization")
def test_negative_valid_scores_at_initialization(claim, evidence):
    scores = _initial_scores(claim.parameter("sequences"), claim.parameter("tokens"))
    allowed = causal_allowed(scores.shape[1], like=np.zeros(1))
    shares = np.mean(scores[:, allowed] < 0, axis=-1)
    evidence.record_inputs(
        sequences=len(shares),
        tokens=scores.shape[1],
        d_model=64,
        seed=0,
        share=float(shares.mean()),
    )
    _per_sequence_interval(
        evidence,
        claim,
        "share of valid scores that are negative",
        shares,
        "share_of_negative_scores_at_least",
    )


@pytest.mark.claim("negative-scores-happen-constantly", reading="rows-broken-at-initialization")
def test_mask_to_zero_rows_with_negative_weights(claim, evidence):
    scores = _initial_scores(claim.parameter("sequences"), claim.parameter("tokens"))
    n = scores.shape[1]
    allowed = causal_allowed(n, like=np.zeros(1))
    zeroed = np.where(allowed, scores, 0.0)
    with np.errstate(all="ignore"):
        weights = zeroed / zeroed.sum(axis=-1, keepdims=True)
    rows = weights[:, 1:]  # rows with at least two valid keys
    shares = np.mean((rows < 0).any(axis=-1), axis=-1)
    evidence.record_inputs(
        sequences=len(shares), rows_per_sequence=n - 1, share=float(shares.mean())
    )
    _per_sequence_interval(
        evidence,
        claim,
        "share of rows with a negative weight",
        shares,
        "share_of_broken_rows_at_least",
    )


# -- exp(−∞) = 0, always -------------------------------------------------------------------------
# exp(−∞) itself (reading exp-value) is checked with "Because exp(−∞) = 0" in
# test_causal_masking.py: one check for both sentences.


def _extreme_rows(dtype: str) -> dict[str, list[float]]:
    """Rows of valid scores extreme for the dtype, each followed by one −∞ (masked) score."""
    big = float(finfo(dtype).max) / 2
    top = math.log(float(finfo(dtype).max)) + 2.0
    return {
        "all very negative": [-big, -big, NEG_INF],
        "exp overflows unshifted": [top, top - 1.0, NEG_INF],
        "spread ±max/2": [big, -big, NEG_INF],
    }


@pytest.mark.claim("exp-neg-inf-always-zero", reading="weight-regardless-of-other-scores")
@SOFTMAX
def test_masked_weight_zero_whatever_the_scores(evidence, case):
    evidence.record_inputs(rows=_extreme_rows(case.dtype))
    for name, row in _extreme_rows(case.dtype).items():
        out = case.run_float64(row)
        evidence.property_holds(f"{name}: weight at −∞", bool(out[-1] == 0), out, "exactly 0.0")


# -- exp(−100), exp(0), exp(10) -------------------------------------------------------------------
def _exp_in_dtype(case, x: float) -> float:
    return float(case.run_float64([x])[0])


PRINTED_EXP = pytest.mark.parametrize(
    "value",
    [
        pytest.param("exp(−100)", marks=pytest.mark.claim("exp-minus-100-near-zero")),
        pytest.param("exp(0)", marks=pytest.mark.claim("exp-zero-is-one")),
        pytest.param("exp(10)", marks=pytest.mark.claim("exp-ten-about-22k")),
    ],
)


@PRINTED_EXP
def test_printed_exp_value(claim, evidence, value):
    """The printed value against the exact one, within the claim tolerance (exact for exp(0))."""
    x = claim.printed("x")
    true = oracle.exp_exact(x)
    evidence.record_inputs(x=x, oracle="mpmath")
    if claim.claim.tolerance is None:  # printed as exact ("exp(0) = 1")
        shown = claim.printed("value")
        evidence.property_holds(f"mpmath {value}", true == shown, str(true), f"{shown} exactly")
        return
    tol = claim.tolerance()
    evidence.printed_value(value, claim.printed("value"), float(true), tol.bound, tol.description)


@PRINTED_EXP
@pytest.mark.parametrize("case", EXP_CASES)
def test_exp_value_in_dtype(claim, evidence, case, value):
    """exp in each backend and dtype against the exact value (numerical tolerance), and whether
    adding it to 1 changes 1: what '≈ 0', '= 1' and '≈ 22k' look like in the dtype."""
    x = claim.printed("x")
    exact = float(oracle.exp_exact(x))
    measured = float(case.run_float64([x])[0])
    compare_to_exact(evidence, f"{value} in {case.dtype} vs exact", exact, measured, case.dtype)
    one_plus = float(to_numpy(case.asarray(1.0) + case.asarray(measured)))
    evidence.note(f"1 + {value} in {case.dtype} is {one_plus!r}")


# -- −∞ becomes exactly 0 before normalization ----------------------------------------------------
@pytest.mark.claim("exp-turns-neg-inf-into-exact-zero", reading="exactly-zero")
@SOFTMAX
def test_neg_inf_weights_exactly_zero(evidence, case):
    failed = []
    for scores, allowed in normal_masked_rows(15):
        out = case.run_float64(fill_masked(scores, allowed, NEG_INF))
        masked = out[~np.asarray(allowed)]
        if not (masked == 0).all():
            failed.append(masked.tolist())
    evidence.record_inputs(seed=15, rows=len(normal_masked_rows(15)))
    evidence.property_holds("rows with a nonzero weight at −∞", not failed, failed[:3], "none")


@pytest.mark.claim("exp-turns-neg-inf-into-exact-zero", reading="sum-over-valid-only")
@SOFTMAX
def test_valid_weights_normalized_over_valid_scores(evidence, case):
    worst = 0.0
    for scores, allowed in normal_masked_rows(15):
        exact = cached_exact_masked_softmax(tuple(case.rounded(scores)), allowed)
        out = case.run_float64(fill_masked(scores, allowed, NEG_INF))
        kept = np.asarray(allowed)
        ratio = float(np.max(np.abs(out[kept] - exact[kept]))) / numeric_bound(case.dtype, exact)
        worst = max(worst, ratio if np.isfinite(ratio) else math.inf)
    evidence.record_inputs(seed=15, rows=len(normal_masked_rows(15)))
    evidence.close_to(
        "worst row: |valid weights − exact softmax of the valid scores|, in tolerance units",
        0.0,
        worst,
        1.0,
        f"{case.dtype} numerical tolerance",
    )


# -- handles all edge cases -----------------------------------------------------------------------
EDGE = pytest.mark.claim("neg-inf-masking-handles-all-edge-cases", reading="extreme-valid-scores")


@EDGE
@SOFTMAX
def test_extreme_valid_scores(evidence, case):
    evidence.record_inputs(rows=_extreme_rows(case.dtype))
    for name, row in _extreme_rows(case.dtype).items():
        out = case.run_float64(row)
        ok = bool(np.isfinite(out).all() and out[-1] == 0 and abs(out.sum() - 1) <= 4 * case.eps)
        evidence.property_holds(f"{name}: weights", ok, out, "finite, 0 at −∞, Σ = 1")


# The fully masked row (every score −∞), this claim's other part, is checked in
# test_causal_masking.py beside the alternative reading of "the math takes care of the rest".


# -- two birds, one stone -------------------------------------------------------------------------
@pytest.mark.claim("same-mechanism-handles-causality-and-distribution")
@SOFTMAX
def test_one_call_masks_and_normalizes(evidence, case):
    problems = []
    for scores, allowed in normal_masked_rows(17):
        out = case.run_float64(fill_masked(scores, allowed, NEG_INF))
        keep = np.asarray(allowed)
        future_zero = bool((out[~keep] == 0).all())
        past = out[keep]
        distribution = bool(
            (past >= 0).all() and abs(math.fsum(past) - 1) <= (len(scores) + 3) * case.eps
        )
        if not (future_zero and distribution):
            problems.append(out.tolist())
    evidence.record_inputs(seed=17, rows=len(normal_masked_rows(17)))
    evidence.property_holds(
        "rows failing (future ≠ 0, or past not a distribution)", not problems, problems[:3], "none"
    )
