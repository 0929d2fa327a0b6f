"""Checks of the section 'What Is Softmax, Really?'."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from softmax_claimcheck.impl import oracle, reference
from tests.checks.support.claims import (
    Worst,
    compare_to_exact,
    numeric_bound,
    score_vectors,
)

# The printed function on numpy (as printed) and, through the Array API, on torch.
ARTICLE_CODE = pytest.mark.cases("article-code")


@pytest.mark.claim("three-line-function-is-softmax", reading="single-vector")
@ARTICLE_CODE
def test_article_function_on_one_vector(claim, evidence, case):
    rng = np.random.default_rng(2)
    rows = [claim.parameter("example_scores"), rng.normal(0, 4, 64).tolist()]
    evidence.record_inputs(seed=2, rows=["article example scores", "64 normal(0, 4) scores"])
    for index, row in enumerate(rows):
        compare_to_exact(
            evidence,
            f"row {index}: output vs exact softmax",
            oracle.softmax(row),
            case.run_float64(row),
            case.dtype,
        )


@pytest.mark.claim("three-line-function-is-softmax", reading="score-matrix-rows")
@ARTICLE_CODE
def test_article_function_on_score_matrix(evidence, case):
    rng = np.random.default_rng(3)
    scores = rng.normal(0, 2, (4, 6))
    evidence.record_inputs(seed=3, shape=list(scores.shape))
    out = case.run_float64(scores)
    row_sums = out.sum(axis=-1)
    evidence.note("Each row is one query's attention scores; softmax must normalize each row.")
    compare_to_exact(
        evidence,
        "row-wise output vs exact softmax of each row",
        oracle.softmax(scores, axis=-1),
        out,
        case.dtype,
    )
    evidence.property_holds(
        "every row sums to 1", bool(np.allclose(row_sums, 1.0, atol=1e-2)), row_sums, "Σ_row = 1"
    )


@pytest.mark.claim("shift-invariance", reading="exact")
def test_shift_invariance_exact(evidence):
    worst = Worst()

    @given(score_vectors(bound=100.0), st.floats(-1e6, 1e6, allow_nan=False))
    def shift_changes_nothing(scores, c):
        plain = oracle.softmax_exact(scores)
        shifted = oracle.softmax_exact(scores, shift=c)
        with mpmath.workdps(oracle.DIGITS):
            error = max(abs(a - b) for a, b in zip(plain, shifted, strict=True))
        worst.update(float(error), scores=scores, c=c)
        assert error < mpmath.mpf(10) ** -30

    shift_changes_nothing()
    evidence.note(
        f"{worst.count} Hypothesis examples; |c| ≤ 1e6, mpmath {oracle.DIGITS} digits "
        "(the shifted scores are computed exactly in mpmath, not rounded to float)."
    )
    evidence.property_holds("max |softmax(x − c) − softmax(x)|", True, worst.value, "< 1e-30")


@pytest.mark.claim("shift-invariance", reading="float-exact-shift")
@pytest.mark.cases("production-softmax")
def test_shift_invariance_float(evidence, case):
    # |x| ≤ 16 and |c| ≤ 48, so |x − c| ≤ 64, on a grid whose every point up to 64 the dtype
    # holds exactly: 1/16, or 64 / 2^p for a p-bit significand if coarser (bfloat16: 1/4).
    significand_bits = round(1 - math.log2(case.eps))
    step = max(1 / 16, 64 / 2**significand_bits)
    per_unit = round(1 / step)
    grid = st.integers(-16 * per_unit, 16 * per_unit).map(lambda k: k * step)
    shift = st.integers(-48 * per_unit, 48 * per_unit).map(lambda k: k * step)
    worst = Worst()  # the largest of the three deviations, in units of the dtype's bound

    @given(st.lists(grid, min_size=2, max_size=12), shift)
    def shift_changes_nothing(scores, c):
        plain = case.run_float64(scores)
        shifted = case.run_float64([s - c for s in scores])
        exact = oracle.softmax(scores)  # = softmax(x − c) exactly
        bound = numeric_bound(case.dtype, exact)
        with np.errstate(invalid="ignore"):  # inf − inf in a broken output: NaN, which fails
            deviations = {
                "plain vs exact": float(np.max(np.abs(plain - exact))),
                "shifted vs exact": float(np.max(np.abs(shifted - exact))),
                "plain vs shifted": float(np.max(np.abs(plain - shifted))),
            }
        ratio = max(d / bound if math.isfinite(d) else math.inf for d in deviations.values())
        worst.update(ratio, scores=scores, c=c, **deviations)
        assert ratio <= 1, f"{deviations} exceed the {case.dtype} tolerance {bound:g}"

    shift_changes_nothing()
    evidence.record_inputs(grid_step=step, score_bound=16, shift_bound=48)
    evidence.note(
        f"{worst.count} Hypothesis examples; the plain and the shifted run each against the exact "
        f"softmax, and against each other, within the {case.dtype} numerical tolerance "
        "(atol + rtol·max|exact|). Worst example: " + repr(worst.example)
    )
    evidence.property_holds(
        "largest deviation ÷ the dtype's tolerance",
        worst.value <= 1,
        worst.value,
        "≤ 1",
    )


# -- each step has a reason ---------------------------------------------------------------------
def _overflowing_scores(dtype: str) -> list[float]:
    """Scores whose exp overflows `dtype`: the largest is ln(max finite) + 2."""
    import torch

    top = math.log(torch.finfo(getattr(torch, dtype)).max) + 2.0
    return [top, top - 1.0, top - 3.0]


@pytest.mark.claim("each-step-has-a-reason", reading="skip-shift")
@pytest.mark.cases("naive-softmax")
def test_skipping_shift_overflows(evidence, case, implementations):
    scores = _overflowing_scores(case.dtype)
    naive = case.run_float64(scores)
    stable = implementations.get(case.impl.id.replace("naive", "stable"))
    stable_case = type(case)(stable, case.device, case.dtype)
    stable = stable_case.run_float64(scores)
    evidence.record_inputs(scores=scores)
    evidence.property_holds(
        "unshifted output is not finite", not np.isfinite(naive).all(), naive, "inf or NaN"
    )
    compare_to_exact(
        evidence, "shifted output vs exact", oracle.softmax(scores), stable, case.dtype
    )


@pytest.mark.claim("each-step-has-a-reason", reading="skip-exponentiate")
def test_skipping_exponentiate(claim, evidence):
    scores = np.asarray(claim.parameter("example_scores"))
    shifted = scores - scores.max()
    without_exp = shifted / shifted.sum()
    top = int(np.argmax(scores))
    evidence.record_inputs(scores=scores, shift_then_normalize=without_exp)
    evidence.property_holds(
        "weight of the top-scoring token",
        without_exp[top] == 0.0,
        float(without_exp[top]),
        "0 (the top token is ignored)",
    )
    evidence.property_holds(
        "order of weights reversed vs scores",
        bool(np.argmin(without_exp) == top),
        without_exp,
        "argmin = argmax",
    )


@pytest.mark.claim("each-step-has-a-reason", reading="skip-normalize")
def test_skipping_normalize(claim, evidence):
    scores = np.asarray(claim.parameter("example_scores"))
    unnormalized = np.exp(scores - scores.max())
    total = math.fsum(unnormalized)
    evidence.record_inputs(scores=scores)
    evidence.property_holds("Σ exp(x − max) differs from 1", abs(total - 1) > 0.1, total, "≠ 1")


@pytest.mark.claim("production-softmax-is-overflow-safe")
@pytest.mark.cases("kernel-softmax")
def test_production_softmax_handles_overflowing_scores(evidence, case):
    scores = _overflowing_scores(case.dtype)
    evidence.record_inputs(scores=scores, why="exp(max score) exceeds the dtype's largest value")
    out = case.run_float64(scores)
    evidence.property_holds("output is finite", bool(np.isfinite(out).all()), out, "finite")
    compare_to_exact(evidence, "output vs exact", oracle.softmax(scores), out, case.dtype)


def test_reference_article_function_is_as_printed():
    """Guard: the registered article function must stay the literal three lines."""
    import inspect

    source = inspect.getsource(reference.article_softmax)
    for line in (
        "shifted = x - xp.max(x)",
        "exp_shifted = xp.exp(shifted)",
        "return exp_shifted / xp.sum(exp_shifted)",
    ):
        assert line in source
