"""Checks of the section 'Brain Teaser #4: What If We Only Use Masking Without Softmax?'."""

from __future__ import annotations

import math
from functools import cache

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from impl import oracle
from impl.attention import causal_allowed
from impl.registry import to_numpy
from tests.checks.support.claims import (
    compare_printed_vector,
    compare_to_exact,
    numeric_bound,
)
from tests.checks.support.masking import (
    NEG_INF,
    attention_inputs,
    cached_exact_masked_softmax,
    call_attention,
    exp_op,
    fill_masked,
    finfo,
    fractions_divided_by_sum,
    normal_masked_rows,
    op_cases,
    row_behaviour,
)

SOFTMAX = pytest.mark.cases("softmax")
ATTENTION = pytest.mark.cases("masking-attention")
# Brain Teaser #1's "simple normalization", as the registry names it (role "normalizer").
DIVISION = pytest.mark.cases("sum-normalize")
EXP_CASES = op_cases("exp", exp_op, "elementwise exp in the dtype")


# -- softmax(−∞) = 0 ------------------------------------------------------------------------------
NEG_INF_ZERO = "softmax-of-neg-inf-is-zero"


@pytest.mark.claim(NEG_INF_ZERO, reading="beside-a-finite-score")
@SOFTMAX
def test_neg_inf_beside_finite_score_gets_zero(evidence, case):
    row = [1.5, NEG_INF]
    out = case.run_float64(row)
    evidence.record_inputs(row=row)
    evidence.property_holds("weight at −∞", out[1] == 0, out, "exactly 0.0")


@pytest.mark.claim(NEG_INF_ZERO, reading="alone")
@SOFTMAX
def test_neg_inf_alone(evidence, case):
    out = case.run_float64([NEG_INF])
    evidence.record_inputs(row=[NEG_INF])
    evidence.note(f"returns {row_behaviour(out)}; exp(−∞ − max) = exp(−∞ − (−∞)) = exp(NaN).")
    evidence.property_holds("softmax([−∞])", bool(out[0] == 0), out, "0")


# -- division by (2.8 + 1.2 + (−∞) + (−∞)) ---------------------------------------------------------
DIVIDE_INF = "cannot-divide-by-infinity"


@pytest.mark.claim(DIVIDE_INF, reading="sum-is-neg-inf")
@DIVISION
def test_sum_with_neg_inf(claim, evidence, case):
    scores = claim.printed("masked_scores")
    total = float(to_numpy(case.asarray(scores).sum()))
    evidence.record_inputs(scores=scores)
    evidence.property_holds("sum", total == -math.inf, total, "−∞")


@pytest.mark.claim(DIVIDE_INF, reading="finite-over-infinity-undefined")
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


@pytest.mark.claim(DIVIDE_INF, reading="finite-over-infinity-undefined")
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


@pytest.mark.claim(DIVIDE_INF, reading="result-is-unusable")
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
def _division_example(evidence, claim_id: str, case=None) -> None:
    scores, shown = printed(claim_id, "scores"), printed(claim_id, "weights")
    exact = np.array([float(w) for w in fractions_divided_by_sum(scores)])
    evidence.record_inputs(scores=scores, exact=exact)
    if case is not None:
        compare_to_exact(evidence, "output vs exact", exact, case.run_float64(scores), case.dtype)
    names = [f"w[{i}]" for i in range(len(shown))]
    compare_printed_vector(evidence, claim_id, names, shown, exact)


@pytest.mark.claim("mask-to-zero-example")
def test_mask_to_zero_example_exact(evidence):
    _division_example(evidence, "mask-to-zero-example")


@pytest.mark.claim("mask-to-zero-example")
@DIVISION
def test_mask_to_zero_example(evidence, case):
    _division_example(evidence, "mask-to-zero-example", case)


@pytest.mark.claim("mask-to-zero-negative-example")
def test_mask_to_zero_negative_example_exact(evidence):
    _division_example(evidence, "mask-to-zero-negative-example")


@pytest.mark.claim("mask-to-zero-negative-example")
@DIVISION
def test_mask_to_zero_negative_example(evidence, case):
    _division_example(evidence, "mask-to-zero-negative-example", case)


# -- negative valid scores ------------------------------------------------------------------------
NEGATIVE = "negative-valid-scores-give-negative-attention"
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


@pytest.mark.claim(NEGATIVE, reading="all-valid-negative")
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


@pytest.mark.claim(NEGATIVE, reading="all-valid-negative")
@DIVISION
def test_all_negative_valid_scores(evidence, case):
    scores = printed("mask-to-zero-negative-example", "scores")
    weights = case.run_float64(scores)
    evidence.record_inputs(scores=scores)
    evidence.property_holds(
        "smallest weight", weights.min() < 0, weights, "< 0 (negative attention)"
    )


@pytest.mark.claim(NEGATIVE, reading="mixed-signs")
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


@pytest.mark.claim(NEGATIVE, reading="mixed-signs")
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
def _initial_scores(sequences: int = 200, n: int = 16, d: int = 64, seed: int = 0) -> np.ndarray:
    """Causal attention scores at initialization: x ~ N(0, 1) (layer-normed), W ~ N(0, 1/d)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(sequences, n, d))
    w_q, w_k = rng.normal(0, d**-0.5, (2, d, d))
    q, k = x @ w_q, x @ w_k
    return (q @ k.transpose(0, 2, 1)) / math.sqrt(d)


CONSTANTLY = "negative-scores-happen-constantly"


@pytest.mark.claim(CONSTANTLY, reading="at-initialization")
def test_negative_valid_scores_at_initialization(evidence):
    scores = _initial_scores()
    valid = scores[:, causal_allowed(scores.shape[1], like=np.zeros(1))]
    fraction = float(np.mean(valid < 0))
    evidence.record_inputs(sequences=200, tokens=16, d_model=64, seed=0, valid_scores=valid.size)
    evidence.property_holds(
        "fraction of negative valid scores", 0.4 <= fraction <= 0.6, fraction, "in [0.4, 0.6]"
    )


@pytest.mark.claim(CONSTANTLY, reading="rows-broken-at-initialization")
def test_mask_to_zero_rows_with_negative_weights(evidence):
    scores = _initial_scores()
    n = scores.shape[1]
    allowed = causal_allowed(n, like=np.zeros(1))
    zeroed = np.where(allowed, scores, 0.0)
    with np.errstate(all="ignore"):
        weights = zeroed / zeroed.sum(axis=-1, keepdims=True)
    rows = weights[:, 1:]  # rows with at least two valid keys
    fraction = float(np.mean((rows < 0).any(axis=-1)))
    evidence.record_inputs(sequences=200, tokens=n, rows_checked=rows.shape[0] * rows.shape[1])
    evidence.property_holds(
        "fraction of rows with a negative weight", fraction > 0.5, fraction, "> 0.5"
    )


# -- exp(−∞) = 0, always -------------------------------------------------------------------------
ALWAYS = "exp-neg-inf-always-zero"


@pytest.mark.claim(ALWAYS, reading="exp-value")
@pytest.mark.parametrize("case", EXP_CASES)
def test_exp_neg_inf_in_dtype(evidence, case):
    value = float(case.run_float64([NEG_INF])[0])
    evidence.property_holds(
        "exp(−∞) in the dtype", value == 0 and math.copysign(1, value) > 0, value, "+0.0"
    )


def _extreme_rows(dtype: str) -> dict[str, list[float]]:
    """Rows of valid scores extreme for the dtype, each followed by one −∞ (masked) score."""
    big = float(finfo(dtype).max) / 2
    top = math.log(float(finfo(dtype).max)) + 2.0
    return {
        "all very negative": [-big, -big, NEG_INF],
        "exp overflows unshifted": [top, top - 1.0, NEG_INF],
        "spread ±max/2": [big, -big, NEG_INF],
    }


@pytest.mark.claim(ALWAYS, reading="weight-regardless-of-other-scores")
@SOFTMAX
def test_masked_weight_zero_whatever_the_scores(evidence, case):
    evidence.record_inputs(rows=_extreme_rows(case.dtype))
    for name, row in _extreme_rows(case.dtype).items():
        out = case.run_float64(row)
        evidence.property_holds(f"{name}: weight at −∞", bool(out[-1] == 0), out, "exactly 0.0")


# -- exp(−100), exp(0), exp(10) -------------------------------------------------------------------
def _exp_in_dtype(case, x: float) -> float:
    return float(case.run_float64([x])[0])


@pytest.mark.claim("exp-minus-100-near-zero")
def test_exp_minus_100_exact(claim, evidence):
    cid, tol = "exp-minus-100-near-zero", claim.tolerance()
    true = float(oracle.exp_exact(printed(cid, "x")))
    evidence.printed_value("exp(−100)", printed(cid, "value"), true, tol.bound, tol.description)


@pytest.mark.claim("exp-minus-100-near-zero")
@pytest.mark.parametrize("case", EXP_CASES)
def test_exp_minus_100_in_dtype(claim, evidence, case):
    cid, tol = "exp-minus-100-near-zero", claim.tolerance()
    value = _exp_in_dtype(case, printed(cid, "x"))
    one_plus = float(to_numpy(case.asarray(1.0) + case.asarray(value)))
    evidence.printed_value(
        f"exp(−100) in {case.dtype}", printed(cid, "value"), value, tol.bound, tol.description
    )
    evidence.property_holds("1 + exp(−100) in the dtype", one_plus == 1.0, one_plus, "1.0")


@pytest.mark.claim("exp-zero-is-one")
def test_exp_zero_exact(claim, evidence):
    value = oracle.exp_exact(claim.printed("x"))
    evidence.property_holds(
        "mpmath exp(0)", value == claim.printed("value"), str(value), "1"
    )


@pytest.mark.claim("exp-zero-is-one")
@pytest.mark.parametrize("case", EXP_CASES)
def test_exp_zero_in_dtype(claim, evidence, case):
    value = _exp_in_dtype(case, claim.printed("x"))
    evidence.property_holds(
        f"exp(0) in {case.dtype}",
        value == claim.printed("value"),
        value,
        "1.0 exactly",
    )


@pytest.mark.claim("exp-ten-about-22k")
def test_exp_ten_exact(claim, evidence):
    cid, tol = "exp-ten-about-22k", claim.tolerance()
    true = float(oracle.exp_exact(printed(cid, "x")))
    evidence.printed_value("exp(10)", printed(cid, "value"), true, tol.bound, tol.description)


@pytest.mark.claim("exp-ten-about-22k")
@pytest.mark.parametrize("case", EXP_CASES)
def test_exp_ten_in_dtype(claim, evidence, case):
    cid, tol = "exp-ten-about-22k", claim.tolerance()
    exact = float(oracle.exp_exact(printed(cid, "x")))
    value = _exp_in_dtype(case, printed(cid, "x"))
    compare_to_exact(evidence, f"exp(10) in {case.dtype} vs exact", exact, value, case.dtype)
    evidence.printed_value("exp(10)", printed(cid, "value"), exact, tol.bound, tol.description)


# -- −∞ becomes exactly 0 before normalization ----------------------------------------------------
CONVERTS = "exp-turns-neg-inf-into-exact-zero"


@pytest.mark.claim(CONVERTS, reading="exactly-zero")
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


@pytest.mark.claim(CONVERTS, reading="sum-over-valid-only")
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
EDGES = "neg-inf-masking-handles-all-edge-cases"


@pytest.mark.claim(EDGES, reading="causal-rows")
@SOFTMAX
def test_every_causal_row(evidence, case):
    scores = np.random.default_rng(16).normal(0.0, 2.0, (8, 8))
    allowed = causal_allowed(8, like=np.zeros(1))
    worst = 0.0
    for row, keep in zip(scores, allowed, strict=True):
        exact = cached_exact_masked_softmax(tuple(case.rounded(row)), tuple(keep.tolist()))
        out = case.run_float64(fill_masked(row.tolist(), keep.tolist(), NEG_INF))
        error = float(np.max(np.abs(out - exact)))
        worst = max(
            worst, error / numeric_bound(case.dtype, exact) if np.isfinite(error) else math.inf
        )
    evidence.record_inputs(seed=16, shape=[8, 8], mask="causal")
    evidence.close_to(
        "worst row: |output − exact masked softmax|, in tolerance units",
        0.0,
        worst,
        1.0,
        f"{case.dtype} numerical tolerance",
    )


@pytest.mark.claim(EDGES, reading="extreme-valid-scores")
@SOFTMAX
def test_extreme_valid_scores(evidence, case):
    evidence.record_inputs(rows=_extreme_rows(case.dtype))
    for name, row in _extreme_rows(case.dtype).items():
        out = case.run_float64(row)
        ok = bool(np.isfinite(out).all() and out[-1] == 0 and abs(out.sum() - 1) <= 4 * case.eps)
        evidence.property_holds(f"{name}: weights", ok, out, "finite, 0 at −∞, Σ = 1")


@pytest.mark.claim(EDGES, reading="fully-masked-rows")
@SOFTMAX
def test_fully_masked_softmax_row(evidence, case):
    row = [NEG_INF] * 4
    out = case.run_float64(row)
    evidence.record_inputs(row=row)
    evidence.note(f"returns {row_behaviour(out)}")
    evidence.property_holds("output finite", bool(np.isfinite(out).all()), out, "no NaN")


@pytest.mark.claim(EDGES, reading="fully-masked-rows")
@ATTENTION
def test_fully_masked_attention_row(evidence, case):
    q, k, v = attention_inputs(seed=14)
    allowed = causal_allowed(q.shape[0], like=np.zeros(1))
    allowed[0] = False
    out = call_attention(case, q, k, v, allowed=allowed)
    evidence.record_inputs(seed=14, mask="causal, row 0 fully masked")
    evidence.note(f"row 0 returns {row_behaviour(out[0])}")
    evidence.property_holds("row 0 finite", bool(np.isfinite(out[0]).all()), out[0], "no NaN")


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
