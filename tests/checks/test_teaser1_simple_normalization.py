"""Checks of the section 'Brain Teaser #1: Why Not Simple Normalization?'."""

from __future__ import annotations

import math

import numpy as np
import pytest

from impl import oracle
from impl.registry import to_numpy
from tests.checks.support.claims import (
    compare_printed_vector,
    compare_to_exact,
)
from tests.checks.support.masking import (
    division_jacobian_max,
    entropy,
    fractions_divided_by_sum,
    softmax_jacobian_max,
)

# Brain Teaser #1's "simple normalization", as the registry names it (role "normalizer").
DIVISION = pytest.mark.cases("sum-normalize")
STABLE_SOFTMAX = pytest.mark.cases("shifted-softmax")
TORCH_SOFTMAX = pytest.mark.cases("shifted-softmax", backend="torch")


def exact_division(scores) -> np.ndarray:
    return np.array([float(w) for w in fractions_divided_by_sum(scores)])


def _check_printed_weights(evidence, claim_id: str, exact: np.ndarray, measured=None, dtype=None):
    """Printed weights against the exact ones (claim tolerance); an implementation's output, if
    given, against the exact ones (numerical tolerance of its dtype)."""
    shown = printed(claim_id, "weights")
    evidence.record_inputs(scores=printed(claim_id, "scores"))
    if measured is not None:
        compare_to_exact(evidence, "output vs exact", exact, measured, dtype)
    names = [f"w[{i}]" for i in range(len(shown))]
    compare_printed_vector(evidence, claim_id, names, shown, exact)


# -- [3, −2, 1] → [1.5, −1.0, 0.5] ----------------------------------------------------------------
EXAMPLE = "simple-division-example"


@pytest.mark.claim(EXAMPLE)
def test_simple_division_example_exact(claim, evidence):
    scores = claim.printed("scores")
    total = math.fsum(scores)
    tol = claim.tolerance()
    evidence.printed_value(
        "sum of the scores",
        claim.printed("sum"),
        total,
        tol.bound,
        tol.description,
        claim.decimals,
    )
    _check_printed_weights(evidence, EXAMPLE, exact_division(scores))


@pytest.mark.claim(EXAMPLE)
@DIVISION
def test_simple_division_example_in_dtype(claim, evidence, case):
    scores = claim.printed("scores")
    exact = exact_division(scores)
    _check_printed_weights(evidence, EXAMPLE, exact, case.run_float64(scores), case.dtype)


@pytest.mark.claim("negative-weight-is-minus-100-percent")
def test_minus_one_is_minus_100_percent(evidence):
    cid = "negative-weight-is-minus-100-percent"
    token = printed(cid, "token")
    weight = fractions_divided_by_sum(printed(cid, "scores"))[token]
    tol = claim_tolerance(cid)
    evidence.record_inputs(scores=printed(cid, "scores"), token=token, weight=float(weight))
    evidence.printed_value(
        "weight of the token, in percent of the total weight (Σ weights = 1 = 100%)",
        printed(cid, "percent"),
        float(weight * 100),
        tol.bound,
        tol.description,
        decimals(cid),
    )


# -- subtracting information ----------------------------------------------------------------------
SUBTRACT = "negative-weights-subtract-information"


def _weighted_sum(case, scores, values) -> np.ndarray:
    weights = case.run(scores)
    return to_numpy(weights @ case.asarray(values))


@pytest.mark.claim(SUBTRACT, reading="subtracts")
@DIVISION
def test_raising_a_negatively_weighted_value_lowers_output(claim, evidence, case):
    scores = claim.printed("scores")
    values = np.array([[1.0, -0.5], [0.25, 2.0], [-1.0, 0.5]])
    token = int(np.argmin(scores))
    raised = values.copy()
    raised[token] += 1.0
    change = _weighted_sum(case, scores, raised) - _weighted_sum(case, scores, values)
    evidence.record_inputs(scores=scores, values=values, raised_token=token, by=1.0)
    expected = exact_division(scores)[token] * np.ones(values.shape[1])
    compare_to_exact(
        evidence, "change of the output vs the token's weight", expected, change, case.dtype
    )
    evidence.property_holds("output change", bool((change < 0).all()), change, "< 0 (subtracted)")


@pytest.mark.claim(SUBTRACT, reading="leaves-value-range")
@DIVISION
def test_output_leaves_the_range_of_values(claim, evidence, case):
    scores = claim.printed("scores")
    values = [0.0, 1.0, 0.0]
    out = float(_weighted_sum(case, scores, values))
    evidence.record_inputs(scores=scores, values=values)
    evidence.property_holds(
        "output vs the values' range", out < min(values), out, f"< {min(values)} = min value"
    )


# -- the scenarios' printed numbers ---------------------------------------------------------------
@pytest.mark.claim("simple-norm-scenario-a")
@DIVISION
def test_simple_norm_scenario_a(claim, evidence, case):
    scores = claim.printed("scores")
    exact = exact_division(scores)
    measured = case.run_float64(scores)
    _check_printed_weights(evidence, "simple-norm-scenario-a", exact, measured, case.dtype)


@pytest.mark.claim("simple-norm-scenario-b")
@DIVISION
def test_simple_norm_scenario_b(claim, evidence, case):
    scores = claim.printed("scores")
    exact = exact_division(scores)
    measured = case.run_float64(scores)
    _check_printed_weights(evidence, "simple-norm-scenario-b", exact, measured, case.dtype)


@pytest.mark.claim("softmax-scenario-a")
def test_softmax_scenario_a_exact(claim, evidence):
    scores = claim.printed("scores")
    _check_printed_weights(evidence, "softmax-scenario-a", oracle.softmax(scores))


@pytest.mark.claim("softmax-scenario-a")
@STABLE_SOFTMAX
def test_softmax_scenario_a(claim, evidence, case):
    scores = claim.printed("scores")
    measured = case.run_float64(scores)  # integer scores: exact in every dtype
    _check_printed_weights(
        evidence, "softmax-scenario-a", oracle.softmax(scores), measured, case.dtype
    )


@pytest.mark.claim("softmax-scenario-b")
def test_softmax_scenario_b_exact(claim, evidence):
    scores = claim.printed("scores")
    _check_printed_weights(evidence, "softmax-scenario-b", oracle.softmax(scores))


@pytest.mark.claim("softmax-scenario-b")
@STABLE_SOFTMAX
def test_softmax_scenario_b(claim, evidence, case):
    scores = claim.printed("scores")
    measured = case.run_float64(scores)  # integer scores: exact in every dtype
    _check_printed_weights(
        evidence, "softmax-scenario-b", oracle.softmax(scores), measured, case.dtype
    )


# -- "both scenarios look similar" ----------------------------------------------------------------
SIMILAR = "simple-norm-scenarios-look-similar"


def _scenario_weights() -> dict[str, dict[str, np.ndarray]]:
    a, b = printed(SIMILAR, "scenario_a"), printed(SIMILAR, "scenario_b")
    return {
        "simple": {"A": exact_division(a), "B": exact_division(b)},
        "softmax": {"A": oracle.softmax(a), "B": oracle.softmax(b)},
    }


def _top_share_change(weights) -> float:
    return abs(float(weights["B"][0] - weights["A"][0]))


def _entropy_change(weights) -> float:
    return abs(entropy(weights["B"]) - entropy(weights["A"]))


@pytest.mark.claim(SIMILAR, reading="top-share-absolute")
def test_simple_norm_top_shares_close(claim, evidence):
    weights = _scenario_weights()["simple"]
    limit = claim.parameter("similar_within")
    change = _top_share_change(weights)
    evidence.record_inputs(simple_a=weights["A"], simple_b=weights["B"])
    evidence.property_holds(
        "|first-token share B − A| under simple normalization",
        change <= limit,
        change,
        f"≤ {limit}",
    )


@pytest.mark.claim(SIMILAR, reading="top-share-vs-softmax")
def test_simple_norm_top_share_changes_less_than_softmax(evidence):
    weights = _scenario_weights()
    simple, soft = _top_share_change(weights["simple"]), _top_share_change(weights["softmax"])
    evidence.record_inputs(**{f"{k}_{s}": v for k, w in weights.items() for s, v in w.items()})
    evidence.property_holds(
        "change of the first-token share A → B: simple norm vs softmax",
        simple < soft,
        {"simple": simple, "softmax": soft},
        "simple < softmax",
    )


@pytest.mark.claim(SIMILAR, reading="entropy-vs-softmax")
def test_simple_norm_entropy_changes_less_than_softmax(evidence):
    weights = _scenario_weights()
    simple, soft = _entropy_change(weights["simple"]), _entropy_change(weights["softmax"])
    evidence.record_inputs(
        entropy_nats={k: {s: entropy(v) for s, v in w.items()} for k, w in weights.items()}
    )
    evidence.property_holds(
        "change of the entropy A → B (nats): simple norm vs softmax",
        simple < soft,
        {"simple": simple, "softmax": soft},
        "simple < softmax",
    )


@pytest.mark.claim("softmax-amplifies-scenario-differences")
def test_softmax_emphasizes_top_token_in_each_scenario(evidence):
    weights = _scenario_weights()
    for scenario in ("A", "B"):
        simple, soft = weights["simple"][scenario], weights["softmax"][scenario]
        evidence.property_holds(
            f"Scenario {scenario}: first-token share, softmax vs simple",
            soft[0] > simple[0],
            {"softmax": soft[0], "simple": simple[0]},
            "softmax > simple",
        )
        ratios = {"softmax": soft[0] / soft[1], "simple": simple[0] / simple[1]}
        evidence.property_holds(
            f"Scenario {scenario}: ratio of the first two weights, softmax vs simple",
            ratios["softmax"] > ratios["simple"],
            ratios,
            "softmax > simple",
        )


# -- division by the sum is not a probability map -------------------------------------------------
NOT_PROB = "simple-division-is-not-probabilities"


@pytest.mark.claim(NOT_PROB, reading="negative-weights")
@DIVISION
def test_mixed_signs_give_negative_weights(evidence, case):
    scores = printed(EXAMPLE, "scores")
    weights = case.run_float64(scores)
    evidence.record_inputs(scores=scores)
    evidence.property_holds("smallest weight", weights.min() < 0, weights, "< 0")


@pytest.mark.claim(NOT_PROB, reading="sum-near-zero-blows-up")
@DIVISION
def test_weights_blow_up_as_the_sum_vanishes(evidence, case):
    evidence.record_inputs(scores="[1, −1 + δ]")
    for delta in (1e-1, 1e-2, 1e-3):
        weights = case.run_float64([1.0, -1.0 + delta])
        largest = float(np.max(np.abs(weights)))
        evidence.property_holds(
            f"δ = {delta:g}: largest |weight|",
            largest >= 0.5 / delta,
            weights,
            f"≥ {0.5 / delta:g}",
        )
    at_zero = case.run_float64([1.0, -1.0])
    evidence.property_holds(
        "sum exactly 0: weights finite", not np.isfinite(at_zero).all(), at_zero, "±∞ or NaN"
    )


@pytest.mark.claim(NOT_PROB, reading="negative-sum-flips-order")
@DIVISION
def test_negative_sum_gives_lowest_score_most_weight(evidence, case):
    scores = [-1.0, -3.0]
    weights = case.run_float64(scores)
    evidence.record_inputs(scores=scores)
    evidence.property_holds(
        "token with the largest weight",
        int(np.argmax(weights)) == int(np.argmin(scores)),
        weights,
        "the lowest-scoring token",
    )


# -- gradient flow --------------------------------------------------------------------------------
GRADIENT = "exponential-keeps-gradient-flow"


def _gradient_comparison(evidence, scenario: str, softmax_max: float) -> None:
    scores = printed(GRADIENT, f"scenario_{scenario.lower()}")
    division_max = division_jacobian_max(scores)
    evidence.record_inputs(scores=scores)
    evidence.property_holds(
        f"Scenario {scenario}: largest |∂p/∂x|, softmax vs simple normalization",
        softmax_max >= division_max,
        {"softmax": softmax_max, "simple": division_max},
        "softmax ≥ simple",
    )


def _autograd_jacobian_max(case, scores) -> float:
    import torch

    x = case.asarray(scores)
    jac = torch.autograd.functional.jacobian(lambda t: case.impl.fn(t, axis=-1), x)
    return float(jac.abs().max())


@pytest.mark.claim(GRADIENT, reading="scenario-a")
def test_gradient_scenario_a_exact(claim, evidence):
    _gradient_comparison(evidence, "A", softmax_jacobian_max(claim.printed("scenario_a")))


@pytest.mark.claim(GRADIENT, reading="scenario-a")
@TORCH_SOFTMAX
def test_gradient_scenario_a(claim, evidence, case):
    _gradient_comparison(
        evidence, "A", _autograd_jacobian_max(case, claim.printed("scenario_a"))
    )


@pytest.mark.claim(GRADIENT, reading="scenario-b")
def test_gradient_scenario_b_exact(claim, evidence):
    _gradient_comparison(evidence, "B", softmax_jacobian_max(claim.printed("scenario_b")))


@pytest.mark.claim(GRADIENT, reading="scenario-b")
@TORCH_SOFTMAX
def test_gradient_scenario_b(claim, evidence, case):
    _gradient_comparison(
        evidence, "B", _autograd_jacobian_max(case, claim.printed("scenario_b"))
    )
