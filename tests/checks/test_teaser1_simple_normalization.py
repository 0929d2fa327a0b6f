"""Checks of the section 'Brain Teaser #1: Why Not Simple Normalization?'.

The article's printed numbers are decided by exact arithmetic (rationals for division by the sum,
mpmath for softmax); the registered implementations run beside them as conformance evidence.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from softmax_claimcheck.impl import oracle
from softmax_claimcheck.impl.registry import to_numpy
from tests.checks.support.claims import (
    compare_printed,
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


def exact_softmax(scores) -> np.ndarray:
    return np.asarray(oracle.softmax(scores), dtype=np.float64)


def _check_printed_weights(evidence, claim, exact: np.ndarray, measured=None, dtype=None):
    """Printed weights against the exact ones (claim tolerance); an implementation's output, if
    given, against the exact ones (numerical tolerance of its dtype)."""
    shown = claim.printed("weights")
    evidence.record_inputs(scores=claim.printed("scores"))
    if measured is not None:
        compare_to_exact(evidence, "output vs exact", exact, measured, dtype)
    names = [f"w[{i}]" for i in range(len(shown))]
    compare_printed_vector(evidence, claim, names, shown, exact)


# -- the printed weights: [3, −2, 1] and the two scenarios ----------------------------------------
DIVISION_EXAMPLES = [
    pytest.param(
        "division", id="division-example", marks=pytest.mark.claim("simple-division-example")
    ),
    pytest.param("division", id="division-a", marks=pytest.mark.claim("simple-norm-scenario-a")),
    pytest.param("division", id="division-b", marks=pytest.mark.claim("simple-norm-scenario-b")),
]
SOFTMAX_EXAMPLES = [
    pytest.param("softmax", id="softmax-a", marks=pytest.mark.claim("softmax-scenario-a")),
    pytest.param("softmax", id="softmax-b", marks=pytest.mark.claim("softmax-scenario-b")),
]


EXACT: dict[str, Callable[[Any], np.ndarray]] = {
    "division": exact_division,
    "softmax": exact_softmax,
}


@pytest.mark.parametrize("method", DIVISION_EXAMPLES + SOFTMAX_EXAMPLES)
def test_printed_weights_exact(claim, evidence, method):
    """The printed weights (and the printed sum, where the article prints one) against exact
    arithmetic: rationals for division by the sum, mpmath for softmax."""
    scores = claim.printed("scores")
    if "sum" in claim.claim.claimed:
        compare_printed(
            evidence, claim, "sum of the scores", claim.printed("sum"), math.fsum(scores)
        )
    _check_printed_weights(evidence, claim, EXACT[method](scores))


@pytest.mark.parametrize("method", DIVISION_EXAMPLES)
@DIVISION
def test_printed_division_weights_in_dtype(claim, evidence, case, method):
    scores = claim.printed("scores")
    exact = EXACT[method](scores)
    _check_printed_weights(evidence, claim, exact, case.run_float64(scores), case.dtype)


@pytest.mark.parametrize("method", SOFTMAX_EXAMPLES)
@STABLE_SOFTMAX
def test_printed_softmax_weights_in_dtype(claim, evidence, case, method):
    scores = claim.printed("scores")
    measured = case.run_float64(scores)  # integer scores: exact in every dtype
    _check_printed_weights(evidence, claim, EXACT[method](scores), measured, case.dtype)


@pytest.mark.claim("negative-weight-is-minus-100-percent")
def test_minus_one_is_minus_100_percent(claim, evidence):
    token = claim.printed("token")
    weight = fractions_divided_by_sum(claim.printed("scores"))[token]
    evidence.record_inputs(scores=claim.printed("scores"), token=token, weight=float(weight))
    compare_printed(
        evidence,
        claim,
        "weight of the token, in percent of the total weight (Σ weights = 1 = 100%)",
        claim.printed("percent"),
        float(weight * 100),
    )


# -- subtracting information ----------------------------------------------------------------------
def _weighted_sum(case, scores, values) -> np.ndarray:
    weights = case.run(scores)
    return to_numpy(weights @ case.asarray(values))


@pytest.mark.claim("negative-weights-subtract-information", reading="subtracts")
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


@pytest.mark.claim("negative-weights-subtract-information", reading="leaves-value-range")
@DIVISION
def test_output_leaves_the_range_of_values(claim, evidence, case):
    scores = claim.printed("scores")
    values = [0.0, 1.0, 0.0]
    out = float(_weighted_sum(case, scores, values))
    evidence.record_inputs(scores=scores, values=values)
    evidence.property_holds(
        "output vs the values' range", out < min(values), out, f"< {min(values)} = min value"
    )


# -- "both scenarios look similar" / "softmax amplifies these differences" ------------------------
def _scenario_weights(claim) -> dict[str, dict[str, np.ndarray]]:
    a, b = claim.printed("scenario_a"), claim.printed("scenario_b")
    return {
        "simple": {"A": exact_division(a), "B": exact_division(b)},
        "softmax": {"A": exact_softmax(a), "B": exact_softmax(b)},
    }


def _top_share_change(weights) -> float:
    return abs(float(weights["B"][0] - weights["A"][0]))


def _entropy_change(weights) -> float:
    return abs(entropy(weights["B"]) - entropy(weights["A"]))


@pytest.mark.claim("simple-norm-scenarios-look-similar", reading="top-share-absolute")
def test_simple_norm_top_shares_close(claim, evidence):
    weights = _scenario_weights(claim)["simple"]
    limit = claim.parameter("similar_within")
    change = _top_share_change(weights)
    evidence.record_inputs(simple_a=weights["A"], simple_b=weights["B"])
    evidence.property_holds(
        "|first-token share B − A| under simple normalization",
        change <= limit,
        change,
        f"≤ {limit}",
    )


@pytest.mark.parametrize(
    ("measure", "change"),
    [
        pytest.param(
            "first-token share",
            _top_share_change,
            id="top-share",
            marks=pytest.mark.claim(
                "simple-norm-scenarios-look-similar", reading="top-share-vs-softmax"
            ),
        ),
        pytest.param(
            "entropy (nats)",
            _entropy_change,
            id="entropy",
            marks=pytest.mark.claim(
                "simple-norm-scenarios-look-similar", reading="entropy-vs-softmax"
            ),
        ),
    ],
)
def test_simple_norm_separates_scenarios_less_than_softmax(claim, evidence, measure, change):
    weights = _scenario_weights(claim)
    simple, soft = change(weights["simple"]), change(weights["softmax"])
    evidence.record_inputs(
        weights={k: {s: v.tolist() for s, v in w.items()} for k, w in weights.items()},
        entropy_nats={k: {s: entropy(v) for s, v in w.items()} for k, w in weights.items()},
    )
    evidence.property_holds(
        f"change of the {measure} A → B: simple norm vs softmax",
        simple < soft,
        {"simple": simple, "softmax": soft},
        "simple < softmax",
    )


@pytest.mark.claim("softmax-amplifies-scenario-differences")
def test_softmax_emphasizes_top_token_in_each_scenario(claim, evidence):
    weights = _scenario_weights(claim)
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
@pytest.mark.claim("simple-division-is-not-probabilities", reading="negative-weights")
@DIVISION
def test_mixed_signs_give_negative_weights(claim, evidence, case):
    scores = claim.printed("scores")
    weights = case.run_float64(scores)
    evidence.record_inputs(scores=scores)
    evidence.property_holds("smallest weight", weights.min() < 0, weights, "< 0")


@pytest.mark.claim("simple-division-is-not-probabilities", reading="sum-near-zero-blows-up")
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


@pytest.mark.claim("simple-division-is-not-probabilities", reading="negative-sum-flips-order")
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
def _gradient_comparison(evidence, claim, scenario: str, softmax_max: float | None) -> None:
    """Largest |∂p/∂x| of softmax (exact, or the given autograd value) against that of simple
    normalization (exact rationals) at the scenario's scores."""
    scores = claim.printed(f"scenario_{scenario.lower()}")
    if softmax_max is None:
        softmax_max = softmax_jacobian_max(scores)
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


GRADIENT_SCENARIOS = [
    pytest.param(
        s,
        id=f"scenario-{s.lower()}",
        marks=pytest.mark.claim("exponential-keeps-gradient-flow", reading=f"scenario-{s.lower()}"),
    )
    for s in ("A", "B")
]


@pytest.mark.parametrize("scenario", GRADIENT_SCENARIOS)
def test_gradient_exact(claim, evidence, scenario):
    _gradient_comparison(evidence, claim, scenario, None)


@pytest.mark.parametrize("scenario", GRADIENT_SCENARIOS)
@TORCH_SOFTMAX
def test_gradient_autograd(claim, evidence, case, scenario):
    scores = claim.printed(f"scenario_{scenario.lower()}")
    _gradient_comparison(evidence, claim, scenario, _autograd_jacobian_max(case, scores))
