"""Checks of the section 'The Problem: Raw Similarity Scores Are Meaningless'."""

from __future__ import annotations

import math

import numpy as np
import pytest

from impl import oracle
from impl.registry import to_numpy
from tests.checks.support.claims import (
    compare_to_exact,
)
from tests.checks.support.masking import (
    dot_products,
    grid_values,
    identity,
    op_cases,
    sparsemax,
)

EXAMPLE = "problem-example-scores"
DOT_CASES = op_cases("dot-products", dot_products, "rows 1.. dotted with row 0, in the dtype")
ARRAY_CASES = op_cases("array-ops", identity, "plain array arithmetic (@, +) in the dtype")


def random_score_fraction_negative(seed: int = 0, count: int = 20_000, d_k: int = 64) -> float:
    """Fraction of negative q·k for independent N(0, 1) query and key components (float64)."""
    rng = np.random.default_rng(seed)
    q, k = rng.normal(size=(count, d_k)), rng.normal(size=(count, d_k))
    return float(np.mean(np.einsum("ij,ij->i", q, k) < 0))


# -- the example scores ---------------------------------------------------------------------------
@pytest.mark.claim(EXAMPLE, reading="not-a-distribution")
def test_example_scores_are_not_a_distribution(claim, evidence):
    scores = claim.printed("scores")
    total = math.fsum(scores)
    evidence.record_inputs(scores=scores)
    evidence.property_holds("sum of the raw scores", abs(total - 1) > 1e-9, total, "≠ 1")
    evidence.property_holds("largest raw score", max(scores) > 1, max(scores), "> 1")


@pytest.mark.claim(EXAMPLE, reading="same-scores-later")
def test_example_scores_reused_later(claim, evidence):
    tokens, scores = claim.printed("tokens"), claim.printed("scores")
    here = dict(zip(tokens, scores, strict=True))
    evidence.record_inputs(problem=here)
    evidence.property_holds(
        "The Solution's raw scores (same order)",
        claim.printed("solution_scores") == scores,
        claim.printed("solution_scores"),
        str(scores),
    )
    evidence.property_holds(
        "Causal Masking's scores before masking",
        claim.printed("masking_scores") == here,
        claim.printed("masking_scores"),
        str(here),
    )


# -- they could be negative -----------------------------------------------------------------------
@pytest.mark.claim("raw-scores-can-be-negative", reading="exists")
@pytest.mark.parametrize("case", DOT_CASES)
def test_opposite_key_gives_negative_score(evidence, case):
    q = grid_values(np.random.default_rng(4), (64,))
    score = float(to_numpy(case.run(np.stack([q, -q]))).item())
    evidence.record_inputs(seed=4, d_k=64, key="k = −q")
    evidence.property_holds("q·(−q)", score < 0, score, "< 0")


@pytest.mark.claim("raw-scores-can-be-negative", reading="at-initialization")
def test_half_of_random_scores_negative(evidence):
    fraction = random_score_fraction_negative()
    evidence.record_inputs(seed=0, scores=20_000, d_k=64, distribution="q, k components N(0, 1)")
    evidence.property_holds(
        "fraction of negative scores", 0.45 <= fraction <= 0.55, fraction, "in [0.45, 0.55]"
    )


# -- they could sum to 47 or 0.3 ------------------------------------------------------------------
@pytest.mark.claim("raw-scores-sum-unconstrained", reading="attainable")
@pytest.mark.parametrize("case", DOT_CASES)
def test_any_sum_is_attainable(claim, evidence, case):
    keys = grid_values(np.random.default_rng(5), (4, 16))
    direction = keys.sum(axis=0)
    evidence.record_inputs(seed=5, keys=4, d_k=16, query="q = t·Σk / |Σk|²")
    for target in claim.printed("sums"):
        query = target * direction / (direction @ direction)
        scores = to_numpy(case.run(np.vstack([query, keys])))
        compare_to_exact(
            evidence, f"Σ scores for target {target}", target, math.fsum(scores), case.dtype
        )


@pytest.mark.claim("raw-scores-sum-unconstrained", reading="at-initialization")
def test_row_sums_spread_at_initialization(claim, evidence):
    rng = np.random.default_rng(0)
    q, k = rng.normal(size=(10_000, 64)), rng.normal(size=(10_000, 4, 64))
    sums = np.einsum("rd,rkd->r", q, k)
    claimed_sums = claim.printed("sums")
    large, small = max(claimed_sums), min(claimed_sums)
    evidence.record_inputs(seed=0, rows=10_000, keys_per_row=4, d_k=64, scaled=False)
    evidence.property_holds(
        "largest |row sum|", np.abs(sums).max() >= large, np.abs(sums).max(), f"≥ {large:g}"
    )
    evidence.property_holds(
        "smallest |row sum|", np.abs(sums).min() <= small, np.abs(sums).min(), f"≤ {small:g}"
    )
    near_one = float(np.mean(np.abs(sums - 1) <= 0.05))
    evidence.property_holds(
        "fraction of rows summing to 1 ± 0.05", near_one < 0.01, near_one, "< 1%"
    )


# -- a weighted sum of raw scores is not an average -----------------------------------------------
NOT_WEIGHTS = "raw-scores-not-usable-as-weights"


@pytest.mark.claim(NOT_WEIGHTS, reading="identical-values")
@pytest.mark.parametrize("case", ARRAY_CASES)
def test_raw_weights_scale_identical_values(claim, evidence, case):
    scores = claim.printed("scores")
    v = grid_values(np.random.default_rng(6), (3,))
    values = np.tile(v, (len(scores), 1))
    raw = to_numpy(case.asarray(scores) @ case.asarray(values))
    softmax_average = oracle.softmax(scores) @ values
    evidence.record_inputs(scores=scores, v=v, softmax_weights_give=softmax_average)
    compare_to_exact(
        evidence, "raw weighted sum vs (Σ scores)·v", math.fsum(scores) * v, raw, case.dtype
    )
    gap = float(np.max(np.abs(raw - v)))
    evidence.property_holds(
        "raw weighted sum differs from v (what any average returns)",
        gap > 0.5 * float(np.max(np.abs(v))),
        gap,
        "> 0.5·max|v|",
    )


@pytest.mark.claim(NOT_WEIGHTS, reading="offset-dependent")
@pytest.mark.parametrize("case", ARRAY_CASES)
def test_raw_weighted_sum_depends_on_offset(claim, evidence, case):
    scores, offset = claim.printed("scores"), 1.0
    values = grid_values(np.random.default_rng(7), (len(scores), 3))
    before = to_numpy(case.asarray(scores) @ case.asarray(values))
    after = to_numpy(case.asarray([s + offset for s in scores]) @ case.asarray(values))
    softmax_shift = float(
        np.max(np.abs(oracle.softmax([s + offset for s in scores]) - oracle.softmax(scores)))
    )
    evidence.record_inputs(scores=scores, offset=offset, softmax_weights_change_by=softmax_shift)
    compare_to_exact(
        evidence,
        "change of the raw weighted sum vs c·Σv",
        offset * values.sum(axis=0),
        after - before,
        case.dtype,
    )
    evidence.property_holds(
        "the raw weighted sum moved", bool(np.any(after != before)), after - before, "≠ 0"
    )


# -- you need softmax -----------------------------------------------------------------------------
def is_distribution(weights: np.ndarray) -> bool:
    return bool((weights >= 0).all() and abs(math.fsum(weights) - 1) <= 1e-12)


@pytest.mark.claim("softmax-is-needed", reading="softmax-is-the-only-way")
def test_sparsemax_also_gives_a_distribution(claim, evidence):
    rng = np.random.default_rng(8)
    rows = [claim.printed("scores"), *rng.normal(0, 3, (3, 8)).tolist()]
    evidence.record_inputs(seed=8, rows=rows)
    for index, row in enumerate(rows):
        weights = sparsemax(row)
        evidence.property_holds(
            f"row {index}: sparsemax gives no probability distribution",
            not is_distribution(weights),
            weights,
            "not a distribution (if softmax were the only way)",
        )


@pytest.mark.claim("softmax-is-needed", reading="a-normalizing-map-is-needed")
def test_raw_scores_and_division_give_no_distribution(claim, evidence):
    scores = claim.printed("scores")
    mixed = claim.printed("mixed_sign_scores")
    divided = np.asarray(mixed) / math.fsum(mixed)
    evidence.record_inputs(scores=scores, mixed_sign_scores=mixed, divided_by_sum=divided)
    evidence.property_holds(
        "raw scores are a distribution", not is_distribution(np.asarray(scores)), scores, "no"
    )
    evidence.property_holds(
        "mixed-sign scores divided by their sum are a distribution",
        not is_distribution(divided),
        divided,
        "no (a weight is negative)",
    )
