"""Checks of the section 'Brain Teaser #2: What If We Skip Scaling?'.

The training statements of this section (slower training, worse perplexity, peaked patterns in a
trained model) are checked by the training experiments, not here.
"""

from __future__ import annotations

import itertools
import math

import mpmath
import numpy as np
import pytest
from hypothesis import given

from impl import oracle

from tests.checks.support import sampling as mc
from tests.checks.support.claims import (
    Worst,
    compare_printed_vector,
    compare_to_exact,
    score_vectors,
)
from tests.checks.support.sampling import ARTICLE_D_K, article_d_k

PAIRS, SEED = 1000, 2024  # independent (q, k) pairs per d_k, and the seed of the pair samples


def _vector(values) -> str:
    """A score vector as the article prints it, e.g. [45, 40, 35]."""
    return "[" + ", ".join(f"{v:g}" for v in values) + "]"


def _reference_attention():
    """The reference attention (numpy and torch) on every device and dtype. The statistical
    claims are about softmax attention itself, so they run here; the library kernels are held
    to this reference by the conformance checks (Putting It All Together, implementations)."""
    return pytest.mark.cases("reference-attention")


def _reference_torch_attention():
    return pytest.mark.cases("reference-attention", backend="torch")


def _stable_softmax_cases():
    return pytest.mark.cases("production-softmax")


def _stable_torch_softmax_cases():
    return pytest.mark.cases("production-softmax", backend="torch")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# -- "Average dot product magnitude ≈ 8 / 23 / 45" -----------------------------------------------
MAGNITUDES = "dot-product-magnitudes"
QUANTITY = {
    "standard-deviation": "standard deviation of q·k",
    "root-mean-square": "RMS of q·k",
    "mean-absolute": "E|q·k|",
}
FORMULA = {
    "standard-deviation": "Var(q·k) = Σ E[q_i²]E[k_i²] = d_k, so the standard deviation is √d_k.",
    "root-mean-square": "E[(q·k)²] = d_k (zero mean), so the RMS is √d_k.",
    "mean-absolute": (
        "For Gaussian components q·k = ‖q‖·Z with Z ~ N(0, 1) independent of ‖q‖ ~ χ_d, so "
        "E|q·k| = E‖q‖·E|Z| = (2/√π)·Γ((d_k+1)/2)/Γ(d_k/2) ≈ √(2d_k/π)."
    ),
}


def exact_magnitude(reading: str, d_k: int) -> float:
    with mpmath.workdps(30):
        if reading in ("standard-deviation", "root-mean-square"):
            return float(mpmath.sqrt(d_k))
        ratio = mpmath.exp(mpmath.loggamma((d_k + 1) / mpmath.mpf(2)) - mpmath.loggamma(d_k / 2))
        return float(2 / mpmath.sqrt(mpmath.pi) * ratio)


def magnitude_interval(reading: str, x: np.ndarray) -> mc.Interval:
    if reading == "standard-deviation":
        return mc.sqrt_interval(mc.variance_interval(x), "standard deviation")
    if reading == "root-mean-square":
        return mc.sqrt_interval(mc.mean_interval(x**2, "mean square"), "RMS")
    return mc.mean_interval(np.abs(x), "mean |q·k|")


def _check_magnitude_formula(evidence, reading: str) -> None:
    tol = claim_tolerance(MAGNITUDES)
    evidence.note(FORMULA[reading])
    for d_k, shown in zip(
        printed(MAGNITUDES, "d_k"), printed(MAGNITUDES, "magnitude"), strict=True
    ):
        exact = exact_magnitude(reading, d_k)
        evidence.printed_value(
            f"d_k = {d_k}: {QUANTITY[reading]} (exact)", shown, exact, tol.bound, tol.description
        )


def _check_magnitude_simulation(evidence, case, reading: str) -> None:
    tol = claim_tolerance(MAGNITUDES)
    evidence.record_inputs(
        pairs=PAIRS, seed=SEED, components=mc.CONDITIONS["gaussian"], confidence=mc.CONFIDENCE
    )
    evidence.note(
        "Dot products formed by the attention score step (impl.attention.scores, unscaled) in "
        "this backend and dtype. The printed value must lie within ±0.5 of the simulated "
        "estimate, widened by the half-width of its 99.9 % interval."
    )
    for d_k, shown in zip(
        printed(MAGNITUDES, "d_k"), printed(MAGNITUDES, "magnitude"), strict=True
    ):
        x = mc.paired_scores(case, "gaussian", d_k, PAIRS, SEED, scale=False)
        interval = magnitude_interval(reading, x)
        half = (interval.high - interval.low) / 2
        evidence.printed_value(
            f"d_k = {d_k}: {QUANTITY[reading]} (simulated)",
            shown,
            interval.estimate,
            tol.bound + half,
            f"{tol.description}, widened by the 99.9 % half-width {half:.2f}",
        )
        exact = exact_magnitude(reading, d_k)
        evidence.note(
            f"d_k = {d_k}: {interval} by {interval.method}; exact {exact:.4g} "
            f"({'inside' if interval.contains(exact) else 'OUTSIDE'} the interval)."
        )


@pytest.mark.claim(MAGNITUDES, reading="standard-deviation")
def test_magnitude_as_standard_deviation(evidence):
    _check_magnitude_formula(evidence, "standard-deviation")


@pytest.mark.claim(MAGNITUDES, reading="standard-deviation")
@_reference_attention()
def test_magnitude_as_standard_deviation_simulated(evidence, case):
    _check_magnitude_simulation(evidence, case, "standard-deviation")


@pytest.mark.claim(MAGNITUDES, reading="root-mean-square")
def test_magnitude_as_rms(evidence):
    _check_magnitude_formula(evidence, "root-mean-square")


@pytest.mark.claim(MAGNITUDES, reading="root-mean-square")
@_reference_attention()
def test_magnitude_as_rms_simulated(evidence, case):
    _check_magnitude_simulation(evidence, case, "root-mean-square")


@pytest.mark.claim(MAGNITUDES, reading="mean-absolute")
def test_magnitude_as_mean_absolute(evidence):
    _check_magnitude_formula(evidence, "mean-absolute")


@pytest.mark.claim(MAGNITUDES, reading="mean-absolute")
@_reference_attention()
def test_magnitude_as_mean_absolute_simulated(evidence, case):
    _check_magnitude_simulation(evidence, case, "mean-absolute")


# -- softmax([45, 40, 35]) and softmax([5, 4.4, 3.9]) ----------------------------------------------
LARGE, SMALL = "softmax-large-scores-example", "softmax-small-scores-example"


def _check_example_exact(evidence, claim_id: str) -> None:
    scores, shown = printed(claim_id, "scores"), printed(claim_id, "probabilities")
    evidence.record_inputs(scores=scores, oracle=f"mpmath, {oracle.DIGITS} digits")
    names = [f"p[{s:g}]" for s in scores]
    compare_printed_vector(evidence, claim_id, names, shown, oracle.softmax(scores))


def _check_example_per_implementation(evidence, claim_id: str, case) -> None:
    scores, shown = printed(claim_id, "scores"), printed(claim_id, "probabilities")
    exact = oracle.softmax(scores)
    evidence.record_inputs(scores=scores)
    compare_to_exact(evidence, "output vs exact", exact, case.run_float64(scores), case.dtype)
    compare_printed_vector(evidence, claim_id, [f"p[{s:g}]" for s in scores], shown, exact)


@pytest.mark.claim(LARGE, reading="exact")
def test_large_scores_example_exact(evidence):
    _check_example_exact(evidence, LARGE)


@pytest.mark.claim(LARGE, reading="stable-implementations")
@_stable_softmax_cases()
def test_large_scores_example_per_implementation(evidence, case):
    _check_example_per_implementation(evidence, LARGE, case)


@pytest.mark.claim(SMALL, reading="exact")
def test_small_scores_example_exact(claim, evidence):
    _check_example_exact(evidence, SMALL)
    # Where the small scores come from: the article's larger scores divided by the ratio of the
    # two top scores (45 / 5 = 9), which rounds to the small scores at one decimal. The article
    # does not say so; the note only shows that this exact division does not rescue the example.
    scores = np.asarray(claim.printed("scores"), dtype=np.float64)
    larger = np.asarray(claim.printed("larger_scores"), dtype=np.float64)
    factor = float(larger[0] / scores[0])
    divided = larger / factor
    matches = bool(np.array_equal(np.round(divided, 1), scores))
    evidence.note(
        f"{_vector(scores)} {'is' if matches else 'is not'} {_vector(larger)} ÷ {factor:g} (the "
        f"ratio of the top scores) rounded to one decimal; softmax({_vector(larger)} ÷ "
        f"{factor:g}) = {np.round(oracle.softmax(divided), 3).tolist()}, which does not give the "
        "printed values either."
    )


@pytest.mark.claim(SMALL, reading="stable-implementations")
@_stable_softmax_cases()
def test_small_scores_example_per_implementation(evidence, case):
    _check_example_per_implementation(evidence, SMALL, case)


# -- near one-hot, the gradient is nearly zero ----------------------------------------------------
NEAR_ONE_HOT = "gradient-vanishes-near-one-hot"


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


@pytest.mark.claim(NEAR_ONE_HOT, reading="exact-bound")
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
    _check_saturated_norm(evidence, spectral_norm(jac_s), 2 * dist_s, spectral_norm(jac_m))


def _check_saturated_norm(evidence, norm: float, bound: float, norm_moderate: float) -> None:
    """‖J‖₂ at the article's saturated scores within `bound` (2(1 − p_max), plus any slack) and
    below `norm_ratio` of its norm at the article's moderate scores."""
    saturated = _vector(printed(NEAR_ONE_HOT, "saturated_scores"))
    moderate = _vector(printed(NEAR_ONE_HOT, "moderate_scores"))
    ratio = parameter(NEAR_ONE_HOT, "norm_ratio")
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


@pytest.mark.claim(NEAR_ONE_HOT, reading="stable-implementations")
@_stable_torch_softmax_cases()
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
    _check_saturated_norm(evidence, norm, 2 * distance + 4 * case.eps, norm_moderate)


# -- unscaled gradients at initialisation ----------------------------------------------------------
VANISH = "unscaled-gradients-vanish-at-init"
STATISTIC = {"typical-row": ("median", np.median), "average": ("mean", np.mean)}


def _check_gradient_ratio(evidence, norms_of, case, d_ks, reading: str, what: str) -> None:
    name, statistic = STATISTIC[reading]
    limit = parameter(VANISH, "nearly_zero_ratio")
    evidence.record_inputs(**mc.init_sample(d_ks[0]).describe() | {"d_k": d_ks})
    for d_k in d_ks:
        article_d_k(VANISH, d_k)
        scaled, unscaled = norms_of(case, d_k, True), norms_of(case, d_k, False)
        with_scaling, without = float(statistic(scaled)), float(statistic(unscaled))
        ratio = without / with_scaling
        evidence.note(
            f"d_k = {d_k}: {name} ‖∂L/∂{what}‖ {with_scaling:.3g} with scaling, {without:.3g} "
            f"without; exactly zero without scaling in {np.mean(unscaled == 0):.0%} of rows."
        )
        evidence.property_holds(
            f"d_k = {d_k}: {name} ‖∂L/∂{what}‖ without ÷ with scaling",
            ratio < limit,
            ratio,
            f"< {limit:g}",
        )


@pytest.mark.claim(VANISH, reading="typical-row")
@pytest.mark.parametrize("d_k", ARTICLE_D_K)
@_stable_torch_softmax_cases()
def test_typical_score_gradient(evidence, case, d_k):
    _check_gradient_ratio(evidence, mc.score_gradient_norms, case, [d_k], "typical-row", "scores")


@pytest.mark.claim(VANISH, reading="typical-row")
@pytest.mark.parametrize("d_k", ARTICLE_D_K)
@_reference_torch_attention()
def test_typical_query_gradient(evidence, case, d_k):
    _check_gradient_ratio(evidence, mc.query_gradient_norms, case, [d_k], "typical-row", "q")


@pytest.mark.claim(VANISH, reading="average")
@_stable_torch_softmax_cases()
def test_average_score_gradient(claim, evidence, case):
    d_ks = claim.printed("d_k")
    _check_gradient_ratio(evidence, mc.score_gradient_norms, case, d_ks, "average", "scores")


@pytest.mark.claim(VANISH, reading="average")
@_reference_torch_attention()
def test_average_query_gradient(claim, evidence, case):
    d_ks = claim.printed("d_k")
    _check_gradient_ratio(evidence, mc.query_gradient_norms, case, d_ks, "average", "q")


@pytest.mark.claim(VANISH, reading="trend")
@pytest.mark.cases(ids=["torch-softmax"], dtypes=("float64",), devices=("cpu",))
def test_score_gradient_trend_over_d_k(claim, evidence, case):
    """The sweep behind the figure: the median falls with d_k without scaling, not with it."""
    sweep = claim.parameter("sweep_d_k")
    medians = {True: [], False: []}
    means = {True: [], False: []}
    for d_k in sweep:
        for scaled in (True, False):
            norms = mc.score_gradient_norms(case, d_k, scaled)
            medians[scaled].append(float(np.median(norms)))
            means[scaled].append(float(np.mean(norms)))
    evidence.record_inputs(d_k=sweep, **{"rows per d_k": mc.SEQUENCES * mc.TOKENS})
    ratios = [u / s for u, s in zip(medians[False], medians[True], strict=True)]
    evidence.property_holds(
        "median ratio (without ÷ with scaling) falls at every step of d_k",
        all(b < a for a, b in itertools.pairwise(ratios)),
        ratios,
        "strictly decreasing",
    )
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3))
    for scaled, color in ((True, "tab:blue"), (False, "tab:orange")):
        label = "with ÷√d_k" if scaled else "without scaling"
        ax.loglog(sweep, medians[scaled], "-o", color=color, label=f"median, {label}")
        ax.loglog(sweep, means[scaled], "--s", color=color, label=f"mean, {label}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("d_k")
    ax.set_ylabel("‖∂L/∂scores‖ per row")
    ax.legend(fontsize=7)
    evidence.figure(
        fig,
        "Gradient reaching the scores at initialisation (16-token rows, float64): without "
        "scaling the median collapses while the mean, carried by rare near-tied rows, does not.",
    )


# -- mostly one-hot without scaling ---------------------------------------------------------------
ONE_HOT = "unscaled-attention-mostly-one-hot"


def _near_one_hot(weights: np.ndarray) -> np.ndarray:
    """Rows whose largest weight is at least the claim's `near_one_hot` cut-off."""
    return weights.max(axis=-1) >= parameter(ONE_HOT, "near_one_hot")


@pytest.mark.claim(ONE_HOT, reading="article-dk")
@pytest.mark.parametrize("d_k", ARTICLE_D_K)
@_reference_attention()
def test_unscaled_rows_mostly_near_one_hot(claim, evidence, case, d_k):
    article_d_k(ONE_HOT, d_k)
    most = claim.parameter("most")
    evidence.record_inputs(
        **mc.init_sample(d_k).describe(), near_one_hot=claim.parameter("near_one_hot")
    )
    without = mc.cluster_fraction_interval(_near_one_hot(mc.attention_weights(case, d_k, False)))
    with_scaling = mc.cluster_fraction_interval(
        _near_one_hot(mc.attention_weights(case, d_k, True))
    )
    evidence.note(f"Intervals: {without.method}.")
    evidence.property_holds(
        "fraction of near-one-hot rows without scaling (99.9 % interval)",
        without.low > most,
        str(without),
        f"lower bound > {most:g}",
    )
    evidence.property_holds(
        "fraction of near-one-hot rows with scaling (99.9 % interval)",
        with_scaling.high < most,
        str(with_scaling),
        f"upper bound < {most:g}",
    )


@pytest.mark.claim(ONE_HOT, reading="trend")
@pytest.mark.cases(ids=["numpy-attention"], dtypes=("float64",))
def test_saturation_sweep_over_d_k(claim, evidence, case):
    """The sweep behind the figure: saturation grows with d_k without scaling only."""
    sweep = claim.parameter("sweep_d_k")
    curves = {key: [] for key in ("max-with", "max-without", "h-with", "h-without")}
    fractions = []
    for d_k in sweep:
        for scaled, tag in ((True, "with"), (False, "without")):
            w = mc.attention_weights(case, d_k, scaled)
            curves[f"max-{tag}"].append(float(w.max(axis=-1).mean()))
            curves[f"h-{tag}"].append(float(mc.entropy(w).mean()))
        fractions.append(
            mc.cluster_fraction_interval(_near_one_hot(mc.attention_weights(case, d_k, False)))
        )
    evidence.record_inputs(
        d_k=sweep,
        near_one_hot=claim.parameter("near_one_hot"),
        **{"rows per d_k": mc.SEQUENCES * mc.TOKENS},
    )
    evidence.property_holds(
        f"near-one-hot fraction without scaling: d_k = {sweep[-1]} interval above "
        f"d_k = {sweep[0]} interval",
        fractions[-1].low > fractions[0].high,
        [str(f) for f in (fractions[0], fractions[-1])],
        "disjoint, increasing",
    )
    plt = _plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3))
    for tag, style in (("with", "-o"), ("without", "-s")):
        label = "with ÷√d_k" if tag == "with" else "without scaling"
        left.semilogx(sweep, curves[f"max-{tag}"], style, label=label, base=2)
        right.semilogx(sweep, curves[f"h-{tag}"], style, label=label, base=2)
    threshold = printed(ENTROPY, "threshold")
    right.axhline(
        threshold, color="grey", linestyle=":", label=f"{threshold:g} nat (the article's threshold)"
    )
    right.axhline(math.log(mc.TOKENS), color="grey", linestyle="--", label="ln 16 (uniform)")
    left.set(xlabel="d_k", ylabel="mean largest weight")
    right.set(xlabel="d_k", ylabel="mean entropy (nats)")
    left.legend(fontsize=7)
    right.legend(fontsize=7)
    evidence.figure(
        fig,
        "Softmax saturation at initialisation (16-token rows, float64): the largest weight and "
        "the entropy with and without the 1/√d_k scaling.",
    )


# -- Var(QKᵀ) = d_k and ÷√d_k restores unit variance ----------------------------------------------
VARIANCE, RESTORES = "score-variance-is-dk", "scaling-restores-unit-variance"
READING_CONDITIONS = {
    "independent-zero-mean": ("gaussian", "uniform"),
    "nonzero-mean": ("nonzero-mean",),
    "correlated-q-k": ("correlated",),
}


def _check_variance(evidence, case, claim_id: str, reading: str, scale: bool) -> None:
    evidence.record_inputs(pairs=PAIRS, seed=SEED, confidence=mc.CONFIDENCE)
    for condition in READING_CONDITIONS[reading]:
        evidence.note(f"{condition}: {mc.CONDITIONS[condition]}.")
        for d_k in parameter(claim_id, "d_k"):
            x = mc.paired_scores(case, condition, d_k, PAIRS, SEED, scale=scale)
            divisor = 1.0 if scale else float(d_k)
            raw = mc.variance_interval(x)
            ratio = mc.Interval(
                raw.estimate / divisor, raw.low / divisor, raw.high / divisor, raw.method
            )
            predicted = mc.predicted_variance_ratio(condition)
            quantity = "Var(q·k/√d_k)" if scale else "Var(q·k)/d_k"
            evidence.property_holds(
                f"{condition}, d_k = {d_k}: 99.9 % interval of {quantity}",
                ratio.contains(1.0),
                str(ratio),
                "contains 1",
            )
            evidence.note(
                f"{condition}, d_k = {d_k}: exact {quantity} = {predicted:g}, "
                f"{'inside' if ratio.contains(predicted) else 'OUTSIDE'} the interval."
            )
    evidence.note(f"Interval: {raw.method}. Scores by impl.attention.scores in this dtype.")


@pytest.mark.claim(VARIANCE, reading="independent-zero-mean")
@_reference_attention()
def test_variance_independent_zero_mean(evidence, case):
    _check_variance(evidence, case, VARIANCE, "independent-zero-mean", scale=False)


@pytest.mark.claim(VARIANCE, reading="nonzero-mean")
@_reference_attention()
def test_variance_nonzero_mean(evidence, case):
    _check_variance(evidence, case, VARIANCE, "nonzero-mean", scale=False)


@pytest.mark.claim(VARIANCE, reading="correlated-q-k")
@_reference_attention()
def test_variance_correlated(evidence, case):
    _check_variance(evidence, case, VARIANCE, "correlated-q-k", scale=False)


@pytest.mark.claim(RESTORES, reading="independent-zero-mean")
@_reference_attention()
def test_scaled_variance_independent_zero_mean(evidence, case):
    _check_variance(evidence, case, RESTORES, "independent-zero-mean", scale=True)


@pytest.mark.claim(RESTORES, reading="nonzero-mean")
@_reference_attention()
def test_scaled_variance_nonzero_mean(evidence, case):
    _check_variance(evidence, case, RESTORES, "nonzero-mean", scale=True)


@pytest.mark.claim(RESTORES, reading="correlated-q-k")
@_reference_attention()
def test_scaled_variance_correlated(evidence, case):
    _check_variance(evidence, case, RESTORES, "correlated-q-k", scale=True)


# -- scaling keeps softmax in its stable range -------------------------------------------------
STABLE = "scaling-keeps-softmax-stable"


@pytest.mark.claim(STABLE)
@_reference_attention()
def test_scaled_softmax_does_not_drift_with_d_k(claim, evidence, case):
    drift = claim.parameter("entropy_drift_nats")
    near_one_hot = claim.parameter("near_one_hot")
    dims = claim.parameter("d_k")
    entropies = [float(mc.entropy(mc.attention_weights(case, d, True)).mean()) for d in dims]
    largest = [float(mc.attention_weights(case, d, True).max()) for d in dims]
    evidence.record_inputs(d_k=dims, **{"rows per d_k": mc.SEQUENCES * mc.TOKENS})
    shift = max(abs(h - entropies[0]) for h in entropies)
    evidence.property_holds(
        f"largest change of the mean entropy from d_k = {dims[0]} (nats)",
        shift <= drift,
        dict(zip(map(str, dims), entropies, strict=True)),
        f"≤ {drift:g}",
    )
    evidence.property_holds(
        "largest weight of any row, any d_k",
        max(largest) < near_one_hot,
        dict(zip(map(str, dims), largest, strict=True)),
        f"< {near_one_hot:g}",
    )


# -- entropy below 1.0 flags over-peaked attention -------------------------------------------------
ENTROPY = "low-entropy-flags-over-peaked-attention"


def _check_separation(evidence, weights_of, d_ks, base: float, unit: str, tokens: int) -> None:
    mc.check_entropy_separation(
        evidence,
        weights_of,
        d_ks,
        printed(ENTROPY, "threshold"),
        base=base,
        unit=unit,
        tokens=tokens,
    )


@pytest.mark.claim(ENTROPY, reading="nats")
@_reference_attention()
def test_entropy_threshold_in_nats(claim, evidence, case):
    evidence.record_inputs(**{"rows per d_k": mc.SEQUENCES * mc.TOKENS, "tokens": mc.TOKENS})
    _check_separation(
        evidence,
        lambda d, s: mc.attention_weights(case, d, s),
        claim.printed("d_k"),
        math.e,
        "nats",
        mc.TOKENS,
    )


@pytest.mark.claim(ENTROPY, reading="bits")
@_reference_attention()
def test_entropy_threshold_in_bits(claim, evidence, case):
    _check_separation(
        evidence,
        lambda d, s: mc.attention_weights(case, d, s),
        claim.printed("d_k"),
        2.0,
        "bits",
        mc.TOKENS,
    )


def _long_row_weights(case, tokens: int, queries: int, sequences: int):
    def weights_of(d_k: int, scaled: bool) -> np.ndarray:
        return case.run_float64(mc.long_row_scores(d_k, tokens, queries, sequences, scaled))

    return weights_of


@pytest.mark.claim(ENTROPY, reading="bits")
@pytest.mark.cases(ids=["numpy-stable"], dtypes=("float64",))
def test_entropy_threshold_in_bits_long_rows(evidence, case):
    d_k = article_d_k(ENTROPY, 64)
    evidence.record_inputs(tokens=256, queries=32, sequences=16, seed=mc.LONG_ROW_SEED)
    _check_separation(evidence, _long_row_weights(case, 256, 32, 16), [d_k], 2.0, "bits", 256)


@pytest.mark.claim(ENTROPY, reading="long-rows")
@pytest.mark.cases(ids=["numpy-stable"], dtypes=("float64",))
def test_entropy_threshold_long_context(evidence, case):
    d_k = article_d_k(ENTROPY, 64)
    evidence.record_inputs(tokens=4096, queries=16, sequences=16, seed=mc.LONG_ROW_SEED)
    _check_separation(evidence, _long_row_weights(case, 4096, 16, 16), [d_k], math.e, "nats", 4096)


@pytest.mark.claim(ENTROPY, reading="short-rows")
@pytest.mark.parametrize("tokens", [2, 3])
@_reference_attention()
def test_entropy_threshold_on_short_rows(claim, evidence, case, tokens):
    threshold = claim.printed("threshold")
    d_k = article_d_k(ENTROPY, 64)
    sequences = mc.SEQUENCES * mc.TOKENS // tokens
    weights = mc.attention_weights(case, d_k, True, tokens=tokens, sequences=sequences)
    per_sequence = mc.entropy(weights).mean(axis=-1)
    interval = mc.mean_interval(per_sequence, "mean entropy (nats) over sequences")
    evidence.record_inputs(tokens=tokens, d_k=d_k, sequences=sequences)
    evidence.note(
        f"The largest possible entropy of a {tokens}-token row is ln {tokens} = "
        f"{math.log(tokens):.3f} nats."
    )
    evidence.property_holds(
        f"{tokens}-token rows with scaling: mean entropy (nats)",
        interval.low >= threshold,
        str(interval),
        f"lower bound ≥ {threshold:g} (not flagged)",
    )
