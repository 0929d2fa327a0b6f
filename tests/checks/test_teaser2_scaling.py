"""Checks of the section 'Brain Teaser #2: What If We Skip Scaling?'.

The statistical claims are about softmax attention at initialisation as mathematics (scope
`math`): they are decided on independent float64 rows drawn exactly through their distribution
(tests/checks/support/sampling.py), with the decision rule (confidence, region) in the claim's
`parameters` and sample sizes chosen there to decide an effect of the size the article states.
The training statements of this section are checked by the training experiments, not here.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given

from softmax_claimcheck.impl import oracle
from tests.checks.support import sampling as mc
from tests.checks.support.claims import (
    Worst,
    compare_printed_vector,
    compare_to_exact,
    score_vectors,
)


def _vector(values) -> str:
    """A score vector as the article prints it, e.g. [45, 40, 35]."""
    return "[" + ", ".join(f"{v:g}" for v in values) + "]"


def _printed_d_k(claim, d_k: int) -> int:
    """A d_k parameter must be one the claim prints; a mismatch is a harness defect (ERROR)."""
    if d_k not in claim.printed("d_k"):
        raise RuntimeError(f"d_k = {d_k} is not among the printed d_k of {claim.id}")
    return d_k


def _rows(evidence, claim, **extra) -> None:
    evidence.record_inputs(
        rows=mc.ROWS,
        tokens=mc.TOKENS,
        confidence=mc.CONFIDENCE,
        distribution="q, k with i.i.d. N(0, 1) components; rows independent; a row's scores "
        "drawn as ‖q‖·z, z ~ N(0, I), ‖q‖² ~ χ²(d_k) (exactly their distribution)",
        **extra,
    )


# -- "Average dot product magnitude ≈ 8 / 23 / 45" -----------------------------------------------
def exact_magnitude(reading: str, d_k: int) -> float:
    """The standard deviation (= RMS, the mean being 0) √d_k, or, for Gaussian components,
    E|q·k| = E‖q‖·E|Z| = (2/√π)·Γ((d_k+1)/2)/Γ(d_k/2)."""
    with mpmath.workdps(30):
        if reading == "standard-deviation":
            return float(mpmath.sqrt(d_k))
        ratio = mpmath.exp(mpmath.loggamma((d_k + 1) / mpmath.mpf(2)) - mpmath.loggamma(d_k / 2))
        return float(2 / mpmath.sqrt(mpmath.pi) * ratio)


@pytest.mark.parametrize(
    "reading",
    [
        pytest.param(r, marks=pytest.mark.claim("dot-product-magnitudes", reading=r))
        for r in ("standard-deviation", "mean-absolute")
    ],
)
def test_dot_product_magnitude(claim, evidence, reading):
    tol = claim.tolerance()
    for d_k, shown in zip(claim.printed("d_k"), claim.printed("magnitude"), strict=True):
        evidence.printed_value(
            f"d_k = {d_k}: {reading.replace('-', ' ')} of q·k (exact)",
            shown,
            exact_magnitude(reading, d_k),
            tol.bound,
            tol.description,
        )


# -- softmax([45, 40, 35]) and softmax([5, 4.4, 3.9]) ----------------------------------------------
EXAMPLES = [
    pytest.param("large", marks=pytest.mark.claim("softmax-large-scores-example")),
    pytest.param("small", marks=pytest.mark.claim("softmax-small-scores-example")),
]


@pytest.mark.parametrize("_example", EXAMPLES)
def test_example_exact(claim, evidence, _example):
    scores, shown = claim.printed("scores"), claim.printed("probabilities")
    evidence.record_inputs(scores=scores, oracle=f"mpmath, {oracle.DIGITS} digits")
    names = [f"p[{s:g}]" for s in scores]
    compare_printed_vector(evidence, claim, names, shown, oracle.softmax(scores))
    larger = claim.claim.claimed.get("larger_scores")
    if larger is not None:
        # Where the small scores may come from: the larger scores divided by the ratio of the
        # top scores (45 / 5 = 9). The article does not say so; the note shows that this exact
        # division does not rescue the example.
        factor = float(larger[0] / scores[0])
        divided = np.asarray(larger, dtype=np.float64) / factor
        matches = bool(np.array_equal(np.round(divided, 1), scores))
        evidence.note(
            f"{_vector(scores)} {'is' if matches else 'is not'} {_vector(larger)} ÷ {factor:g} "
            f"rounded to one decimal; softmax({_vector(larger)} ÷ {factor:g}) = "
            f"{np.round(oracle.softmax(divided), 3).tolist()}, which does not give the printed "
            "values either."
        )


@pytest.mark.parametrize("_example", EXAMPLES)
@pytest.mark.cases("production-softmax")
def test_example_per_implementation(claim, evidence, case, _example):
    """Shown beside the exact check (scope math): each production softmax computes the example
    within its numerical tolerance of the exact value."""
    scores = claim.printed("scores")
    evidence.record_inputs(scores=scores)
    compare_to_exact(
        evidence, "output vs exact", oracle.softmax(scores), case.run_float64(scores), case.dtype
    )


# -- near one-hot, the gradient is nearly zero ----------------------------------------------------
def exact_jacobian(scores) -> tuple[np.ndarray, float]:
    """diag(p) − ppᵀ from the mpmath softmax, with p_i(1 − p_i) written p_i·Σ_{j≠i} p_j and
    1 − max p summed from the other weights, so neither cancels when p is near one-hot."""
    p = oracle.softmax_exact(scores)
    n = len(p)
    top = max(range(n), key=lambda i: p[i])
    with mpmath.workdps(oracle.DIGITS):
        others = [mpmath.fsum(p[j] for j in range(n) if j != i) for i in range(n)]
        jac = [[p[i] * others[i] if i == j else -p[i] * p[j] for j in range(n)] for i in range(n)]
    return np.array([[float(x) for x in row] for row in jac]), float(others[top])


def spectral_norm(matrix) -> float:
    return float(np.linalg.norm(np.asarray(matrix, dtype=np.float64), 2))


@pytest.mark.claim("gradient-vanishes-near-one-hot")
def test_jacobian_norm_is_proportional_to_distance_from_one_hot(claim, evidence):
    worst = Worst()

    @given(score_vectors(bound=60.0))
    def bounded_by_distance(scores):
        jac, distance = exact_jacobian(scores)
        norm = spectral_norm(jac)
        upper, lower = 2 * distance, (1 - distance) * distance
        worst.update(norm / upper if upper > 0 else 0.0, scores=scores)
        assert norm <= upper * (1 + 1e-9) + 1e-300, f"‖J‖ = {norm:g} > 2(1 − p_max) = {upper:g}"
        assert norm >= lower * (1 - 1e-9), f"‖J‖ = {norm:g} < p_max(1 − p_max) = {lower:g}"

    bounded_by_distance()
    evidence.note(
        f"{worst.count} Hypothesis examples, scores in [−60, 60]; ‖J‖₂ ≤ 2(1 − p_max) since J is "
        "symmetric and its largest row sum of |entries| is 2·p_i·(1 − p_i)."
    )
    evidence.property_holds(
        "largest ‖J‖₂ / (2(1 − p_max))", worst.value <= 1 + 1e-9, worst.value, "≤ 1"
    )
    saturated, moderate = (
        claim.printed("saturated_scores"),
        claim.printed("moderate_scores"),
    )
    jac_s, dist_s = exact_jacobian(saturated)
    jac_m, _ = exact_jacobian(moderate)
    evidence.record_inputs(saturated=saturated, moderate=moderate)
    _check_saturated_norm(claim, evidence, spectral_norm(jac_s), 2 * dist_s, spectral_norm(jac_m))


def _check_saturated_norm(claim, evidence, norm: float, bound: float, norm_moderate: float) -> None:
    """‖J‖₂ at the article's saturated scores within `bound` (2(1 − p_max), plus any slack) and
    below `norm_ratio` of its norm at the article's moderate scores."""
    saturated = _vector(claim.printed("saturated_scores"))
    moderate = _vector(claim.printed("moderate_scores"))
    ratio = claim.parameter("norm_ratio")
    evidence.property_holds(
        f"‖J‖₂ at {saturated} ≤ 2(1 − p_max)",
        norm <= bound,
        {"norm": norm, "bound": bound},
        "≤ bound",
    )
    evidence.property_holds(
        f"‖J‖₂ at {saturated} / ‖J‖₂ at {moderate}",
        norm < ratio * norm_moderate,
        norm / norm_moderate,
        f"< {ratio:g}",
    )


@pytest.mark.claim("gradient-vanishes-near-one-hot")
@pytest.mark.cases("production-softmax", backend="torch")
def test_autograd_jacobian_near_one_hot(claim, evidence, case):
    import torch

    def jacobian(scores) -> np.ndarray:
        x = case.asarray(scores)
        jac = torch.autograd.functional.jacobian(lambda t: case.impl.fn(t, axis=-1), x)
        return jac.detach().to("cpu").double().numpy()

    saturated = claim.printed("saturated_scores")
    moderate = claim.printed("moderate_scores")
    closed_form, distance = exact_jacobian(saturated)
    measured = jacobian(saturated)
    evidence.record_inputs(saturated=saturated, moderate=moderate)
    compare_to_exact(
        evidence, "autograd Jacobian vs diag(p) − ppᵀ", closed_form, measured, case.dtype
    )
    norm, norm_moderate = spectral_norm(measured), spectral_norm(jacobian(moderate))
    evidence.note(f"Bound 2(1 − p_max) = {2 * distance:.3g}, plus 4·eps for the dtype's rounding.")
    _check_saturated_norm(claim, evidence, norm, 2 * distance + 4 * case.eps, norm_moderate)


# -- unscaled gradients at initialisation ----------------------------------------------------------
GRADIENT_CHECKS = [
    pytest.param(
        statistic,
        d_k,
        marks=pytest.mark.claim("unscaled-gradients-vanish-at-init", reading=reading),
        id=f"{statistic}-{d_k}",
    )
    for statistic, d_k, reading in [
        ("median", 64, "typical-row-d-k-64"),
        ("median", 512, "typical-row-large-d-k"),
        ("median", 2048, "typical-row-large-d-k"),
        ("mean", 64, "average"),
        ("mean", 512, "average"),
        ("mean", 2048, "average"),
    ]
]


def check_gradient_ratio(claim, evidence, statistic: str, d_k: int) -> str:
    """The rule, fixed before sampling: the CONFIDENCE interval of (statistic of ‖∂L/∂scores‖
    without scaling) ÷ (the same with scaling), over the same rows, lies below
    `nearly_zero_ratio` (holds), above it (fails), or straddles it (inconclusive)."""
    limit = claim.parameter("nearly_zero_ratio")
    _printed_d_k(claim, d_k)
    _rows(evidence, claim, d_k=d_k, loss="L = (softmax(scores)·V)·g, V and g i.i.d. N(0, 1)")
    interval = mc.gradient_ratio_interval(d_k, statistic)
    without = mc.score_gradient_norms(d_k, False)
    evidence.note(
        f"d_k = {d_k}: {statistic} ‖∂L/∂scores‖ without ÷ with scaling = {interval}; "
        f"{np.mean(without == 0):.0%} of rows get exactly zero gradient without scaling."
    )
    return mc.decide(
        evidence,
        f"at initialisation, d_k = {d_k}: {statistic} ‖∂L/∂scores‖, without ÷ with scaling",
        interval,
        (None, limit),
    )


@pytest.mark.parametrize(("statistic", "d_k"), GRADIENT_CHECKS)
def test_unscaled_score_gradient(claim, evidence, statistic, d_k):
    check_gradient_ratio(claim, evidence, statistic, d_k)


# -- mostly one-hot without scaling ---------------------------------------------------------------
def near_one_hot_share(claim, d_k: int, scaled: bool) -> mc.Interval:
    flags = mc.row_weights(d_k, scaled).max(axis=-1) >= claim.parameter("near_one_hot")
    return mc.proportion_interval(flags, "share of near-one-hot rows")


@pytest.mark.claim("unscaled-attention-mostly-one-hot")
@pytest.mark.parametrize("d_k", [64, 512, 2048])
def test_unscaled_rows_mostly_near_one_hot(claim, evidence, d_k):
    """Rule, fixed before sampling: without scaling the share's CONFIDENCE interval lies above
    `most` (holds), below (fails) or straddles it (inconclusive); with scaling, below `most`.
    ROWS independent rows decide a share of 0.55 against 0.5 with power 99.9 %."""
    _printed_d_k(claim, d_k)
    most = claim.parameter("most")
    _rows(evidence, claim, d_k=d_k, near_one_hot=claim.parameter("near_one_hot"))
    evidence.note(
        f"{mc.rows_to_decide(0.05)} independent rows decide a share 0.05 from {most:g} "
        f"(99.9 % interval, power 99.9 %); {mc.ROWS} are used."
    )
    for scaled, region in ((False, (most, None)), (True, (None, most))):
        mc.decide(
            evidence,
            f"at initialisation, d_k = {d_k}, {'with' if scaled else 'without'} scaling: share "
            "of near-one-hot rows",
            near_one_hot_share(claim, d_k, scaled),
            region,
            sd=0.5,
        )


# -- Var(QKᵀ) = d_k and ÷√d_k restores unit variance ----------------------------------------------
def component_product_variance(condition: str) -> float:
    """Var(q_i·k_i) of one component pair, integrated exactly by Gauss quadrature (exact for the
    polynomial q²k², degree 4): Gauss–Hermite over N(0, 1) (a, b), q = μ + a,
    k = μ + ρa + √(1 − ρ²)·b; Gauss–Legendre over uniform q, k on [−√3, √3]. With i.i.d.
    component pairs Var(q·k) = d_k·Var(q_i·k_i), so Var(q·k)/d_k = Var(q·k/√d_k) = this."""
    mean, rho = CONDITIONS[condition]
    if condition == "uniform":
        x, w = np.polynomial.legendre.leggauss(6)
        x, w = math.sqrt(3) * x, w / 2  # uniform density 1/(2√3) on [−√3, √3]
        q, k = np.meshgrid(x, x, indexing="ij")
        weight = np.outer(w, w)
    else:
        x, w = np.polynomial.hermite_e.hermegauss(6)
        w = w / math.sqrt(2 * math.pi)
        a, b = np.meshgrid(x, x, indexing="ij")
        weight = np.outer(w, w)
        q, k = mean + a, mean + rho * a + math.sqrt(1 - rho * rho) * b
    first = float(np.sum(weight * q * k))
    return float(np.sum(weight * (q * k) ** 2)) - first * first


# condition: (mean μ, correlation ρ of q_i and k_i); every component has variance 1
CONDITIONS = {
    "gaussian": (0.0, 0.0),
    "uniform": (0.0, 0.0),
    "nonzero-mean": (1.0, 0.0),
    "correlated": (0.0, 0.8),
}
READING_CONDITIONS = {
    "independent-zero-mean": ("gaussian", "uniform"),
    "nonzero-mean": ("nonzero-mean",),
    "correlated-q-k": ("correlated",),
}


@pytest.mark.parametrize(
    "reading",
    [
        *(
            pytest.param(
                r, marks=pytest.mark.claim("score-variance-is-dk", reading=r), id=f"dk-{r}"
            )
            for r in READING_CONDITIONS
        ),
        *(
            pytest.param(
                r,
                marks=pytest.mark.claim("scaling-restores-unit-variance", reading=r),
                id=f"unit-{r}",
            )
            for r in READING_CONDITIONS
        ),
    ],
)
def test_score_variance(claim, evidence, reading):
    for condition in READING_CONDITIONS[reading]:
        mean, rho = CONDITIONS[condition]
        evidence.record_inputs(**{condition: {"mean": mean, "correlation": rho, "variance": 1}})
        ratio = component_product_variance(condition)
        evidence.close_to(
            f"{condition}: Var(q·k)/d_k = Var(q·k/√d_k), exact",
            1.0,
            ratio,
            1e-12,
            "exact (Gauss quadrature), up to float64 rounding",
        )


# -- scaling keeps softmax in its stable range -------------------------------------------------
def difference_interval(a: mc.Interval, b: mc.Interval) -> mc.Interval:
    """a − b for two independent CLT intervals: half-widths add in quadrature."""
    half = math.hypot(a.high - a.estimate, b.high - b.estimate)
    d = a.estimate - b.estimate
    method = f"difference of ({a.method})"
    return mc.Interval(d, d - half, d + half, min(a.n, b.n), method, a.confidence)


@pytest.mark.claim("scaling-keeps-softmax-stable")
def test_scaled_softmax_does_not_drift_with_d_k(claim, evidence):
    """Rule, fixed before sampling: with scaling, at every d_k the CONFIDENCE interval of the
    mean entropy's change from d_k = 16 lies within ±entropy_drift_nats, and the share of
    near-one-hot rows lies below saturated_share (Wilson interval)."""
    drift = claim.parameter("entropy_drift_nats")
    dims = claim.parameter("d_k")
    _rows(evidence, claim, d_k=dims, near_one_hot=claim.parameter("near_one_hot"))
    base = mc.mean_entropy_interval(dims[0], True)
    for d_k in dims[1:]:
        mc.decide(
            evidence,
            f"at initialisation, d_k = {d_k}: change of the mean entropy from d_k = {dims[0]} "
            "(nats)",
            difference_interval(mc.mean_entropy_interval(d_k, True), base),
            (-drift, drift),
        )
    for d_k in dims:
        mc.decide(
            evidence,
            f"at initialisation, d_k = {d_k}, with scaling: share of near-one-hot rows",
            near_one_hot_share(claim, d_k, True),
            (None, claim.parameter("saturated_share")),
            sd=0.5,
        )


# -- entropy below 1.0 flags over-peaked attention -------------------------------------------------
ENTROPY_CHECKS = [
    # reading, base, tokens, rows, d_k, scalings
    ("nats", math.e, mc.TOKENS, mc.ROWS, d_k, (False, True))
    for d_k in (64, 512, 2048)
] + [
    ("bits", 2.0, mc.TOKENS, mc.ROWS, 64, (False, True)),
    ("long-rows", math.e, 4096, 1024, 64, (False, True)),
    ("short-rows", math.e, 2, mc.ROWS, 64, (True,)),
    ("short-rows", math.e, 3, mc.ROWS, 64, (True,)),
]


@pytest.mark.parametrize(
    ("base", "tokens", "rows", "d_k", "scalings"),
    [
        pytest.param(
            *rest,
            marks=pytest.mark.claim("low-entropy-flags-over-peaked-attention", reading=reading),
            id=f"{reading}-{rest[1]}-tokens-d_k-{rest[3]}",
        )
        for reading, *rest in ENTROPY_CHECKS
    ],
)
def test_entropy_threshold(claim, evidence, base, tokens, rows, d_k, scalings):
    """Rule, fixed before sampling: the CONFIDENCE interval of the mean entropy lies below the
    threshold without scaling (flagged) and at or above it with scaling (not flagged)."""
    threshold = claim.printed("threshold")
    _printed_d_k(claim, d_k)
    unit = "nats" if base == math.e else "bits"
    evidence.record_inputs(rows=rows, tokens=tokens, d_k=d_k, unit=unit, seed=7)
    evidence.note(
        f"The largest entropy of a {tokens}-token row is {math.log(tokens) / math.log(base):.3g} "
        f"{unit}."
    )
    for scaled in scalings:
        interval = mc.mean_entropy_interval(d_k, scaled, rows=rows, tokens=tokens, base=base)
        label = "with" if scaled else "without"
        region = (threshold, None) if scaled else (None, threshold)
        mc.decide(
            evidence,
            f"{tokens}-token rows, d_k = {d_k}, {label} scaling: mean entropy ({unit})",
            interval,
            region,
        )
