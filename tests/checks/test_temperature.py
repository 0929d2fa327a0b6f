"""Checks of 'The Temperature Knob: A Hidden Hyperparameter' (not the fine-tuning experiment).

Temperature-scaled softmax is softmax(x / T), what impl.reference.temperature_softmax computes;
each registered softmax implementation is run on x / T divided in its own dtype, as a sampler
or an attention layer would. Exact values come from mpmath at enough digits for the score
ranges drawn (|x| / T ≤ 200 needs about 90 digits to resolve e^−200 next to 1).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from softmax_claimcheck.claimcheck.tolerance import numeric_tolerance
from softmax_claimcheck.impl import reference
from softmax_claimcheck.impl.registry import to_numpy
from tests.checks.support.claims import (
    Worst,
    compare_to_exact,
)
from tests.checks.support.masking import entropy

DIGITS = 150
SOFTMAX = pytest.mark.cases("softmax")
OVERFLOW_SAFE = pytest.mark.cases(
    "shifted-softmax"
)  # the unshifted formula overflows at low T (Teaser #5)
TABLE = pytest.mark.parametrize(
    "row",
    [
        pytest.param("t1", id="t1", marks=pytest.mark.claim("temperature-table-t1")),
        pytest.param("t05", id="t05", marks=pytest.mark.claim("temperature-table-t05")),
        pytest.param("t2", id="t2", marks=pytest.mark.claim("temperature-table-t2")),
    ],
)
# +1: the claimed T is sharper than the baseline; −1: softer
EXAMPLES = pytest.mark.parametrize(
    "direction",
    [
        pytest.param(
            +1, id="more-peaked", marks=pytest.mark.claim("temperature-example-more-peaked")
        ),
        pytest.param(
            -1, id="more-uniform", marks=pytest.mark.claim("temperature-example-more-uniform")
        ),
    ],
)


# -- exact and measured temperature softmax -------------------------------------------------------
def exact_softmax(scores: Sequence[float], temperature: float) -> list[mpmath.mpf]:
    """softmax(x / T), the division done in mpmath (not rounded to a float), DIGITS digits."""
    with mpmath.workdps(DIGITS):
        z = [mpmath.mpf(float(s)) / mpmath.mpf(float(temperature)) for s in scores]
        top = max(z)
        e = [mpmath.exp(v - top) for v in z]
        total = mpmath.fsum(e)
        return [w / total for w in e]


def exact_entropy(p: Sequence[mpmath.mpf]) -> mpmath.mpf:
    with mpmath.workdps(DIGITS):
        return -mpmath.fsum(w * mpmath.log(w) for w in p if w > 0)


def run_at_temperature(case: Any, scores: Sequence[float], temperature: float) -> np.ndarray:
    """The case's softmax of x / T, the division done in the case's dtype."""
    with np.errstate(all="ignore"):
        return to_numpy(case.impl.fn(case.asarray(scores) / temperature, axis=-1))


def as_floats(p: Sequence[mpmath.mpf]) -> np.ndarray:
    return np.array([float(w) for w in p])


def distinct_grid_scores() -> Any:
    """Scores on a 1/16 grid in [−10, 10], not all equal (the condition of the claim)."""
    grid = st.integers(-160, 160).map(lambda k: k / 16)
    return st.lists(grid, min_size=2, max_size=8).filter(lambda xs: len(set(xs)) > 1)


# -- the printed table ----------------------------------------------------------------------------
@TABLE
def test_table_against_exact(claim, evidence, row):
    scores, temperature = claim.printed("scores"), claim.printed("temperature")
    shown = claim.printed("probabilities")
    exact = as_floats(exact_softmax(scores, temperature))
    tol = claim.tolerance()
    evidence.record_inputs(
        scores=scores, temperature=temperature, oracle=f"mpmath, {DIGITS} digits"
    )
    for i, (p_shown, p_true) in enumerate(zip(shown, exact, strict=True)):
        evidence.printed_value(
            f"weight of score {scores[i]}",
            p_shown,
            p_true,
            tol.bound,
            tol.description,
            claim.decimals,
        )


@SOFTMAX
@TABLE
def test_table_per_implementation(claim, evidence, row, case):
    scores, temperature = claim.printed("scores"), claim.printed("temperature")
    shown = claim.printed("probabilities")
    exact = as_floats(exact_softmax(scores, temperature))
    measured = run_at_temperature(case, scores, temperature)
    compare_to_exact(evidence, "output vs exact", exact, measured, case.dtype)
    tol = claim.tolerance()
    evidence.note(
        "Printed vs this implementation: the claim tolerance plus the implementation's own "
        "deviation from the exact value (itself held to the numerical tolerance above)."
    )
    for i, p_shown in enumerate(shown):
        own_error = abs(measured[i] - exact[i])
        evidence.printed_value(
            f"weight of score {scores[i]}",
            p_shown,
            measured[i],
            tol.bound + own_error,
            f"{tol.description} + |measured − exact| = {tol.bound + own_error:.3g}",
            claim.decimals,
        )


# -- more peaked / more uniform: the article's example ---------------------------------------------
def _sharper(direction: int, p_claimed: np.ndarray, p_base: np.ndarray) -> tuple[bool, bool]:
    """(largest weight moved as claimed, entropy moved as claimed)."""
    peak_up = p_claimed.max() > p_base.max()
    entropy_down = entropy(p_claimed) < entropy(p_base)
    if direction > 0:
        return bool(peak_up), bool(entropy_down)
    return bool(p_claimed.max() < p_base.max()), bool(entropy(p_claimed) > entropy(p_base))


def _record_example(
    evidence: Any, claim: Any, direction: int, p_claimed: np.ndarray, p_base: np.ndarray
) -> None:
    temperature = claim.printed("temperature")
    baseline = claim.printed("baseline_temperature")
    peak_ok, entropy_ok = _sharper(direction, p_claimed, p_base)
    sign = ">" if direction > 0 else "<"
    evidence.property_holds(
        f"largest weight at T = {temperature} vs T = {baseline}",
        peak_ok,
        [float(p_claimed.max()), float(p_base.max())],
        f"T = {temperature} {sign} T = {baseline}",
    )
    evidence.property_holds(
        f"entropy at T = {temperature} vs T = {baseline} (nats)",
        entropy_ok,
        [entropy(p_claimed), entropy(p_base)],
        f"T = {temperature} {'<' if direction > 0 else '>'} T = {baseline}",
    )


@EXAMPLES
def test_example_direction_exact(claim, evidence, direction):
    scores = claim.printed("scores")
    p_claimed = as_floats(exact_softmax(scores, claim.printed("temperature")))
    p_base = as_floats(exact_softmax(scores, claim.printed("baseline_temperature")))
    evidence.record_inputs(scores=scores, oracle=f"mpmath, {DIGITS} digits")
    _record_example(evidence, claim, direction, p_claimed, p_base)


@SOFTMAX
@EXAMPLES
def test_example_direction_per_implementation(claim, evidence, direction, case):
    scores = claim.printed("scores")
    p_claimed = run_at_temperature(case, scores, claim.printed("temperature"))
    p_base = run_at_temperature(case, scores, claim.printed("baseline_temperature"))
    evidence.record_inputs(scores=scores)
    _record_example(evidence, claim, direction, p_claimed, p_base)


# -- sharpness control: monotone in T --------------------------------------------------------------
def check_monotone_exact(evidence: Any) -> None:
    """Hypothesis: for scores not all equal, entropy strictly rises and the largest weight
    strictly falls from T₁ to T₂ > T₁; with all scores equal the entropy is ln n at every T."""
    closest = Worst()

    @given(
        distinct_grid_scores(),
        st.floats(0.1, 50.0),
        st.floats(1.01, 2.0),
    )
    def monotone(scores, t1, ratio):
        t2 = t1 * ratio
        p1, p2 = exact_softmax(scores, t1), exact_softmax(scores, t2)
        h1, h2 = exact_entropy(p1), exact_entropy(p2)
        with mpmath.workdps(DIGITS):
            closest.update(-float(mpmath.log10(h2 - h1)) if h2 > h1 else math.inf, scores=scores)
        assert h2 > h1, f"entropy did not rise from T = {t1} to T = {t2}"
        assert max(p2) < max(p1), f"largest weight did not fall from T = {t1} to T = {t2}"

    monotone()
    evidence.note(
        f"{closest.count} Hypothesis examples; scores on a 1/16 grid in [−10, 10], not all equal; "
        f"0.1 ≤ T₁ ≤ 50, T₂ = T₁·[1.01, 2]; mpmath {DIGITS} digits. Smallest entropy rise "
        f"≈ 1e-{closest.value:.0f}."
    )
    ties = [1.0, 1.0, 1.0]
    spread = [abs(float(exact_entropy(exact_softmax(ties, t)) - math.log(3))) for t in (0.1, 1, 10)]
    evidence.property_holds(
        "all scores equal: |entropy − ln 3| at T = 0.1, 1, 10 (no effect of T)",
        max(spread) < 1e-12,
        spread,
        "0",
    )


@pytest.mark.parametrize(
    "plot",
    [
        pytest.param(
            True,
            id="sharpness",
            marks=pytest.mark.claim("temperature-sharpness-control", reading="exact"),
        ),
        pytest.param(
            False,
            id="higher",
            marks=pytest.mark.claim("temperature-higher-more-diverse", reading="entropy-rises"),
        ),
        pytest.param(
            False,
            id="lower",
            marks=pytest.mark.claim(
                "temperature-lower-more-deterministic", reading="entropy-falls"
            ),
        ),
    ],
)
def test_entropy_monotone_in_temperature(claim, evidence, plot):
    """Entropy strictly rises (and the largest weight strictly falls) with T, exactly: the
    sharpness control, read from the high-T end (more diverse) and the low-T end (more
    focused)."""
    check_monotone_exact(evidence)
    if plot:
        _plot_entropy(evidence, claim.printed("scores"), claim.printed("table_temperatures"))


def _plot_entropy(evidence: Any, scores: list[float], marked: list[float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    temperatures = np.geomspace(0.05, 50, 41)
    exact = [float(exact_entropy(exact_softmax(scores, t))) for t in temperatures]
    float64 = [
        entropy(reference.temperature_softmax(np.asarray(scores, float), t)) for t in temperatures
    ]
    fig, ax = plt.subplots(figsize=(4.8, 2.8))
    ax.semilogx(temperatures, exact, label="exact (mpmath)")
    ax.semilogx(temperatures, float64, linestyle="--", label="temperature_softmax, float64")
    n = len(scores)
    ax.axhline(math.log(n), color="grey", linewidth=0.8, label=f"ln {n} (uniform)")
    for t in marked:
        ax.plot([t], [float(exact_entropy(exact_softmax(scores, t)))], "ko")
    ax.set_xlabel("temperature T")
    ax.set_ylabel("entropy (nats)")
    ax.legend(fontsize=7)
    evidence.figure(fig, f"Entropy of softmax({scores} / T) against T; dots: the article's T.")


@pytest.mark.claim("temperature-sharpness-control", reading="per-implementation")
@SOFTMAX
def test_sharpness_control_per_implementation(claim, evidence, case):
    temperatures = [0.5, 1.0, 2.0, 4.0, 8.0]
    rows = {
        "article [3, 2, 1]": claim.printed("scores"),
        "random row": list(np.round(np.random.default_rng(30).uniform(-3, 3, 8), 3)),
    }
    evidence.record_inputs(temperatures=temperatures, seed=30, rows=rows)
    for name, scores in rows.items():
        outputs = [run_at_temperature(case, scores, t) for t in temperatures]
        peaks = [float(p.max()) for p in outputs]
        entropies = [entropy(p) for p in outputs]
        evidence.property_holds(
            f"{name}: largest weight strictly falls as T rises",
            all(b < a for a, b in itertools.pairwise(peaks)),
            peaks,
            "strictly decreasing",
        )
        evidence.property_holds(
            f"{name}: entropy strictly rises as T rises",
            all(b > a for a, b in itertools.pairwise(entropies)),
            entropies,
            "strictly increasing",
        )


# -- higher temperature: more diverse, uniform in the limit ----------------------------------------
@pytest.mark.claim("temperature-higher-more-diverse", reading="uniform-limit")
def test_uniform_limit_exact(evidence):
    temperatures = (10.0, 1e3, 1e6)
    worst = Worst()

    @given(distinct_grid_scores())
    def within_bound(scores):
        n, spread = len(scores), max(scores) - min(scores)
        deviations = []
        for t in temperatures:
            p = exact_softmax(scores, t)
            with mpmath.workdps(DIGITS):
                deviation = max(abs(w - mpmath.mpf(1) / n) for w in p)
                bound = (mpmath.exp(mpmath.mpf(spread) / t) - 1) / n
            worst.update(float(deviation / bound), scores=scores, temperature=t)
            assert deviation <= bound, f"T = {t}: deviation {deviation} > bound {bound}"
            deviations.append(deviation)
        assert deviations == sorted(deviations, reverse=True), "distance to uniform did not fall"

    within_bound()
    evidence.note(f"{worst.count} Hypothesis checks; T = 10, 10³, 10⁶; mpmath {DIGITS} digits.")
    evidence.property_holds(
        "largest max|p − 1/n| ÷ (e^{r/T} − 1)/n", worst.value <= 1, worst.value, "≤ 1"
    )


@pytest.mark.claim("temperature-higher-more-diverse", reading="uniform-limit-per-implementation")
@SOFTMAX
def test_uniform_limit_per_implementation(claim, evidence, case):
    scores, temperature = claim.printed("scores"), 1e4
    measured = run_at_temperature(case, scores, temperature)
    exact = as_floats(exact_softmax(scores, temperature))
    evidence.record_inputs(scores=scores, temperature=temperature)
    compare_to_exact(evidence, "output vs exact", exact, measured, case.dtype)
    spread = max(scores) - min(scores)
    n = len(scores)
    bound = math.expm1(spread / temperature) / n + numeric_tolerance(case.dtype).bound(1 / n)
    evidence.close_to(
        "output vs uniform 1/n",
        np.full(n, 1 / n),
        measured,
        bound,
        f"(e^(r/T) − 1)/n + {case.dtype} tolerance = {bound:.3g}",
    )


# -- lower temperature: deterministic in the limit -------------------------------------------------
@pytest.mark.claim("temperature-lower-more-deterministic", reading="unique-maximum")
def test_one_hot_limit_for_unique_maximum(evidence):
    worst = Worst()

    @given(distinct_grid_scores())
    def gap_bound(scores):
        top = max(scores)
        if scores.count(top) > 1:
            return  # tied maxima: the other reading
        gap = top - max(s for s in scores if s != top)
        for k in (1, 10, 100):
            t = gap / k  # a float: the bound below uses this T exactly, not gap/k
            p = exact_softmax(scores, t)
            with mpmath.workdps(DIGITS):
                ratio = mpmath.mpf(gap) / mpmath.mpf(t)
                rest, bound = 1 - max(p), (len(scores) - 1) * mpmath.exp(-ratio)
            worst.update(float(rest / bound), scores=scores, k=k)
            assert rest <= bound, f"T = {t}: 1 − p_max = {rest} > {bound}"

    gap_bound()
    evidence.note(f"{worst.count} checks of 1 − p_max ≤ (n − 1)·e^(−g/T) at T = g, g/10, g/100.")
    evidence.property_holds(
        "largest (1 − p_max) ÷ (n − 1)·e^(−g/T)", worst.value <= 1, worst.value, "≤ 1"
    )


@pytest.mark.claim(
    "temperature-lower-more-deterministic", reading="small-temperature-per-implementation"
)
@OVERFLOW_SAFE
def test_small_temperature_per_implementation(claim, evidence, case):
    scores, temperatures = claim.printed("scores"), [1.0, 0.1, 0.05, 0.01]
    outputs = [run_at_temperature(case, scores, t) for t in temperatures]
    peaks = [float(p.max()) for p in outputs]
    evidence.record_inputs(scores=scores, temperatures=temperatures)
    evidence.property_holds(
        "largest weight never falls as T falls",
        all(b >= a for a, b in itertools.pairwise(peaks)),
        peaks,
        "non-decreasing",
    )
    exact = as_floats(exact_softmax(scores, temperatures[-1]))
    compare_to_exact(
        evidence, f"output at T = {temperatures[-1]} vs exact", exact, outputs[-1], case.dtype
    )
