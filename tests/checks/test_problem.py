"""Checks of the section 'The Problem: Raw Similarity Scores Are Meaningless'.

The claims are about the mathematics of dot-product scores (scope `math`): exact rational
arithmetic (fractions.Fraction) decides them, since every score here is a sum of products of
numbers on a 1/8 grid. Statistical readings are alternatives, decided by a rule fixed before
sampling (a 99.9 % interval against the claimed region).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from softmax_claimcheck.impl import oracle
from tests.checks.support.masking import grid_values, sparsemax
from tests.checks.support.sampling import mean_interval


def exact(values) -> list[Fraction]:
    """Floats (any nested list) as exact rationals."""
    return [Fraction(float(v)) for v in values]


def dot(a: list[Fraction], b: list[Fraction]) -> Fraction:
    return sum((x * y for x, y in zip(a, b, strict=True)), Fraction(0))


# -- the example scores ---------------------------------------------------------------------------
@pytest.mark.claim("problem-example-scores", reading="not-a-distribution")
def test_example_scores_are_not_a_distribution(claim, evidence):
    scores = claim.printed("scores")
    total = math.fsum(scores)
    evidence.record_inputs(scores=scores)
    evidence.property_holds("sum of the raw scores", abs(total - 1) > 1e-9, total, "≠ 1")
    evidence.property_holds("largest raw score", max(scores) > 1, max(scores), "> 1")


@pytest.mark.claim("problem-example-scores", reading="same-scores-later")
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
def test_opposite_key_gives_negative_score(evidence):
    q = exact(grid_values(np.random.default_rng(4), (64,)))
    score = dot(q, [-x for x in q])
    evidence.record_inputs(seed=4, d_k=64, query="64 values on a 1/8 grid", key="k = −q")
    evidence.property_holds("q·(−q), exact", score < 0 and any(q), float(score), "< 0")


@pytest.mark.claim("raw-scores-can-be-negative", reading="at-initialization")
def test_half_of_random_scores_negative(claim, evidence):
    count, d_k = claim.parameter("scores"), claim.parameter("d_k")
    low, high = claim.parameter("region")
    rule = "two-sided 99.9 % normal interval for the fraction of negative scores"
    evidence.record_inputs(
        seed=0, scores=count, d_k=d_k, distribution="q, k components N(0, 1)", rule=rule
    )
    rng = np.random.default_rng(0)
    q, k = rng.normal(size=(count, d_k)), rng.normal(size=(count, d_k))
    negative = (np.einsum("ij,ij->i", q, k) < 0).astype(np.float64)
    interval = mean_interval(negative, "fraction of negative scores")
    evidence.interval_decision(  # a failing or straddling interval is recorded, not asserted
        "fraction of negative scores",
        (interval.low, interval.high),
        (low, high),
        interval.method,
        needed="more scores would narrow the interval",
    )


# -- they could sum to 47 or 0.3 ------------------------------------------------------------------
@pytest.mark.claim("raw-scores-sum-unconstrained", reading="attainable")
def test_any_sum_is_attainable(claim, evidence):
    keys = [exact(row) for row in grid_values(np.random.default_rng(5), (4, 16))]
    direction = [sum(column, Fraction(0)) for column in zip(*keys, strict=True)]
    evidence.record_inputs(seed=5, keys=4, d_k=16, query="q = t·Σk / |Σk|², exact rationals")
    for target in claim.printed("sums"):
        t = Fraction(str(target))  # the decimal as printed
        query = [t * x / dot(direction, direction) for x in direction]
        total = sum((dot(query, k) for k in keys), Fraction(0))
        evidence.property_holds(f"Σ scores for target {target}", total == t, float(total), str(t))


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
    near_one = mean_interval((np.abs(sums - 1) <= 0.05).astype(np.float64), "fraction near 1")
    evidence.interval_decision(  # rule fixed in advance: the 99.9 % interval lies below 1 %
        "fraction of rows summing to 1 ± 0.05",
        (near_one.low, near_one.high),
        (None, 0.01),
        near_one.method,
        needed="more rows would narrow the interval",
    )


# -- a weighted sum of raw scores is not an average -----------------------------------------------
def _weighted_sum(weights: list[Fraction], values: list[list[Fraction]]) -> list[Fraction]:
    return [dot(weights, list(column)) for column in zip(*values, strict=True)]


@pytest.mark.claim("raw-scores-not-usable-as-weights", reading="identical-values")
def test_raw_weights_scale_identical_values(claim, evidence):
    scores = claim.printed("scores")
    v = exact(grid_values(np.random.default_rng(6), (3,)))
    values = [v] * len(scores)
    raw = _weighted_sum(exact(scores), values)
    softmax_average = oracle.softmax(scores) @ np.array([[float(x) for x in v]] * len(scores))
    total = sum(exact(scores), Fraction(0))
    evidence.record_inputs(
        scores=scores, v=[float(x) for x in v], softmax_weights_give=softmax_average
    )
    evidence.property_holds(
        "raw weighted sum = (Σ scores)·v, exact",
        raw == [total * x for x in v],
        [float(x) for x in raw],
        f"{float(total):g}·v",
    )
    evidence.property_holds(
        "raw weighted sum differs from v (what any average returns)",
        raw != v and any(v),
        [float(x) for x in raw],
        "≠ v",
    )


@pytest.mark.claim("raw-scores-not-usable-as-weights", reading="offset-dependent")
def test_raw_weighted_sum_depends_on_offset(claim, evidence):
    scores, offset = claim.printed("scores"), Fraction(1)
    values = [exact(row) for row in grid_values(np.random.default_rng(7), (len(scores), 3))]
    before = _weighted_sum(exact(scores), values)
    after = _weighted_sum([s + offset for s in exact(scores)], values)
    change = [a - b for a, b in zip(after, before, strict=True)]
    expected = [offset * sum(column, Fraction(0)) for column in zip(*values, strict=True)]
    softmax_shift = float(
        np.max(np.abs(oracle.softmax([s + 1.0 for s in scores]) - oracle.softmax(scores)))
    )
    evidence.record_inputs(scores=scores, offset=1, softmax_weights_change_by=softmax_shift)
    evidence.property_holds(
        "change of the raw weighted sum = c·Σv, exact",
        change == expected,
        [float(x) for x in change],
        str([float(x) for x in expected]),
    )
    evidence.property_holds(
        "the raw weighted sum moved", any(change), [float(x) for x in change], "≠ 0"
    )


# -- you need softmax -----------------------------------------------------------------------------
def is_distribution(weights: np.ndarray) -> bool:
    return bool((weights >= 0).all() and abs(math.fsum(weights) - 1) <= 1e-12)


@pytest.mark.claim("softmax-is-needed", reading="a-normalizing-map-is-needed")
def test_softmax_gives_a_distribution_where_division_does_not(claim, evidence):
    scores = claim.printed("scores")
    mixed = claim.parameter("mixed_sign_scores")
    divided = np.asarray(mixed, dtype=np.float64) / math.fsum(mixed)
    softmax = oracle.softmax(scores)
    evidence.record_inputs(scores=scores, mixed_sign_scores=mixed, divided_by_sum=divided)
    evidence.property_holds(
        "raw scores are a distribution", not is_distribution(np.asarray(scores)), scores, "no"
    )
    evidence.property_holds(
        "softmax of the raw scores is a distribution (exact)",
        is_distribution(softmax),
        softmax,
        "yes",
    )
    evidence.property_holds(
        "mixed-sign scores divided by their sum are a distribution",
        not is_distribution(divided),
        divided,
        "no (a weight is negative)",
    )


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
