"""Checks of 'Brain Teaser #3: What If We Remove Softmax Entirely?' (statements that need no
training). The row normalizers of Options 2 and 3 run as the registered 'normalizer'
implementations; the attention forms (impl/attention.py, written once for numpy and torch) run
on the backend, device and dtype of each reference attention case, beside its softmax.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import mpmath
import numpy as np
import pytest
from array_api_compat import array_namespace

from softmax_claimcheck.claimcheck.tolerance import CalibratedTolerance, numeric_tolerance
from softmax_claimcheck.impl import attention, oracle, reference
from softmax_claimcheck.impl.registry import to_numpy
from tests.checks.support import costs as fs

ATTENTION = pytest.mark.cases("reference-attention")
SUM_NORMALIZE = pytest.mark.cases("sum-normalize")
RELU_NORMALIZE = pytest.mark.cases("relu-normalize")
TORCH_RELU_NORMALIZE = pytest.mark.cases("relu-normalize", backend="torch")


# -- helpers --------------------------------------------------------------------------------------
def run_variant(case: Any, fn: Any, *arrays: Any) -> np.ndarray:
    """fn on the arrays converted to the case's backend, device and dtype; float64 numpy back.
    inf/NaN are results to judge here, so numpy's warnings are silenced."""
    with np.errstate(all="ignore"):
        return to_numpy(fn(*(case.asarray(a) for a in arrays)))


def normal(seed: int, *shape: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape)


def raw_scores(q: Any, k: Any) -> Any:
    return attention.scores(q, k, scale=False)


def normalized_scores(case: Any, q: np.ndarray, k: np.ndarray) -> np.ndarray:
    """The case's registered normalizer applied to the raw scores Q·Kᵀ (in its dtype)."""
    return run_variant(case, lambda a, b: case.impl.fn(raw_scores(a, b), axis=-1), q, k)


def softmax_weights(q: Any, k: Any) -> Any:
    return reference.stable_softmax(attention.scores(q, k, scale=True))


def relu_features(x: Any) -> Any:
    """φ(x) = ReLU(x), applied to Q and K separately (a linear-attention feature map)."""
    xp = array_namespace(x)
    return xp.maximum(x, xp.zeros_like(x))


def relu_linear_attention(q: Any, k: Any, v: Any) -> Any:
    return attention.linear_attention(q, k, v, feature_map=relu_features)


def median_peak(weights: np.ndarray) -> float:
    """Median over rows of the largest |weight|: 1/n for uniform rows, 1 for one-hot rows."""
    return float(np.median(np.abs(weights).max(axis=-1)))


def _plot(
    xs: Sequence[float], curves: Mapping[str, Sequence[float]], xlabel: str, ylabel: str
) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.8, 2.8))
    styles = ["-", "--", "-.", ":"]
    for index, (label, ys) in enumerate(curves.items()):
        ax.plot(xs, ys, marker="o", linestyle=styles[index % len(styles)], label=label)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(xs, [f"{x:g}" for x in xs])
    ax.minorticks_off()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    return fig


# -- Option 1: raw dot products ------------------------------------------------------------------
@pytest.mark.claim("teaser3-raw-weights-negative", reading="negative-weights")
@ATTENTION
def test_raw_weights_are_often_negative(evidence, case):
    q, k = normal(0, 64, 16), normal(1, 64, 16)
    weights = run_variant(case, raw_scores, q, k)
    share = float((weights < 0).mean())
    evidence.record_inputs(seeds=[0, 1], n=64, d=16, distribution="standard normal Q, K")
    evidence.property_holds(
        "share of negative raw weights", 0.4 <= share <= 0.6, share, "between 0.4 and 0.6"
    )


@pytest.mark.claim("teaser3-raw-weights-negative", reading="subtraction")
@ATTENTION
def test_raw_output_subtracts_positive_values(evidence, case):
    q, k = normal(2, 16, 8), normal(3, 16, 8)
    v = np.abs(normal(4, 16, 8)) + 0.1  # every value entry positive
    raw = run_variant(case, attention.raw_dot_attention, q, k, v)
    soft = to_numpy(case.attention(q, k, v))
    v_stored = case.rounded(v)
    slack = numeric_tolerance(case.dtype).bound(float(v_stored.max()))
    evidence.record_inputs(seeds=[2, 3, 4], n=16, d=8, values="|normal| + 0.1 (all > 0)")
    evidence.property_holds(
        "smallest output entry of (Q @ K.T) @ V", raw.min() < 0, float(raw.min()), "< 0"
    )
    inside = bool(
        (soft >= v_stored.min(axis=0) - slack).all()
        and (soft <= v_stored.max(axis=0) + slack).all()
    )
    evidence.property_holds(
        "softmax attention output within each column's value range (± rounding)",
        inside,
        [float(soft.min()), float(soft.max())],
        f"within [min V, max V] ± {slack:.2g}",
    )


@pytest.mark.claim("teaser3-raw-outputs-unbounded", reading="grows-with-scale")
@ATTENTION
def test_raw_output_grows_with_scale(evidence, case):
    q, k, v = normal(5, 16, 4), normal(6, 16, 4), normal(7, 16, 4)
    factors = [1, 2, 4, 8]
    base = run_variant(case, attention.raw_dot_attention, q, k, v)
    raw_sizes, soft_sizes = [], []
    tol = numeric_tolerance(case.dtype)
    for c in factors:
        raw = run_variant(case, attention.raw_dot_attention, c * q, c * k, v)
        raw_sizes.append(float(np.abs(raw).max()))
        soft_sizes.append(float(np.abs(to_numpy(case.attention(c * q, c * k, v))).max()))
        if c == 1:
            continue
        expected = c * c * base
        evidence.close_to(
            f"output at c = {c} vs c²·output at c = 1",
            expected,
            raw,
            tol.bound(float(np.abs(expected).max())),
            tol.describe(),
        )
    slope = fs.growth_exponent(factors, raw_sizes)
    v_max = float(np.abs(case.rounded(v)).max())
    evidence.record_inputs(seeds=[5, 6, 7], n=16, d=4, factors=factors)
    evidence.property_holds(
        "growth exponent of max|output| in c", abs(slope - 2) < 0.01, slope, "2"
    )
    evidence.property_holds(
        "softmax attention: max|output| ≤ max|V| at every c",
        bool(np.max(soft_sizes) <= v_max * (1 + tol.rtol) + tol.atol),  # NaN: fails
        soft_sizes,
        f"≤ {v_max:.4g}",
    )
    if case.dtype == "float64" and case.impl.backend == "numpy":
        curves = {"(Q @ K.T) @ V": raw_sizes, "softmax attention": soft_sizes}
        fig = _plot(factors, curves, "scale c of Q and K", "max |output|")
        evidence.figure(fig, "Raw dot-product attention grows as c²; softmax attention stays.")


@pytest.mark.claim("teaser3-raw-outputs-unbounded", reading="grows-with-context-length")
@ATTENTION
def test_raw_output_grows_with_context_length(evidence, case):
    q, k, v = normal(8, 8, 4), normal(9, 16, 4), normal(10, 16, 4)
    repeats = [1, 2, 4, 8]
    sizes = []
    soft_once = to_numpy(case.attention(q, k, v))
    for m in repeats:
        k_m, v_m = np.tile(k, (m, 1)), np.tile(v, (m, 1))
        sizes.append(
            float(np.abs(run_variant(case, attention.raw_dot_attention, q, k_m, v_m)).max())
        )
        if m == 1:
            continue
        tol = numeric_tolerance(case.dtype)
        evidence.close_to(
            f"softmax attention, context repeated {m}× vs once",
            soft_once,
            to_numpy(case.attention(q, k_m, v_m)),
            tol.bound(float(np.abs(soft_once).max())),
            tol.describe(),
        )
    slope = fs.growth_exponent(repeats, sizes)
    evidence.record_inputs(seeds=[8, 9, 10], queries=8, keys=16, d=4, repeats=repeats)
    evidence.property_holds(
        "growth exponent of max|output| in the repeat count m", abs(slope - 1) < 0.05, slope, "1"
    )


# -- Option 2: normalize by the row sum ------------------------------------------------------------
@pytest.mark.claim("teaser3-rowsum-negative-values", reading="negative-weights")
@SUM_NORMALIZE
def test_row_sum_weights_are_often_negative(evidence, case):
    weights = normalized_scores(case, normal(0, 64, 16), normal(1, 64, 16))
    share = float((weights < 0).mean())
    evidence.record_inputs(seeds=[0, 1], n=64, d=16)
    evidence.property_holds("share of negative row-sum weights", share >= 0.25, share, "≥ 0.25")


@pytest.mark.claim("teaser3-rowsum-negative-values", reading="near-zero-row-sum")
@SUM_NORMALIZE
def test_row_sum_weights_blow_up_when_scores_cancel(evidence, case):
    near = [1.0, -1.0 + 2.0**-6]  # row sum 2⁻⁶, exact in every dtype
    cancel = [1.0, -1.0]
    w_near, w_cancel = case.run_float64(near), case.run_float64(cancel)
    random_rows = normalized_scores(case, normal(0, 64, 16), normal(1, 64, 16))
    evidence.record_inputs(near_cancelling=near, cancelling=cancel)
    evidence.note(f"largest |weight| over 64 random rows (n = 64): {np.abs(random_rows).max():.3g}")
    evidence.property_holds(
        "largest |weight| for a row sum of 2⁻⁶", np.abs(w_near).max() >= 60, w_near, "≥ 60"
    )
    evidence.property_holds(
        "weights of a row whose sum is 0", not np.isfinite(w_cancel).all(), w_cancel, "inf/NaN"
    )


@pytest.mark.claim("teaser3-rowsum-too-uniform", reading="random-scores")
@SUM_NORMALIZE
def test_row_sum_weights_on_random_scores(evidence, case):
    q, k = normal(11, 64, 16), normal(12, 64, 16)
    row_sum = median_peak(normalized_scores(case, q, k))
    softmax = median_peak(run_variant(case, softmax_weights, q, k))
    evidence.record_inputs(seeds=[11, 12], n=64, d=16, uniform_weight=1 / 64)
    evidence.note("Peak = largest |weight| of a row, median over the 64 rows; uniform is 1/64.")
    evidence.property_holds(
        "row-sum peak ≤ softmax attention peak (row-sum closer to uniform)",
        row_sum <= softmax,
        {"row-sum": row_sum, "softmax": softmax},
        "row-sum ≤ softmax",
    )


@pytest.mark.claim("teaser3-rowsum-too-uniform", reading="ability-to-focus")
@SUM_NORMALIZE
def test_row_sum_cannot_focus_sharply(evidence, case):
    """The reading: no score row gives a valid row-sum pattern (weights ≥ 0) with a largest
    weight ≥ 0.99. Fails if one of the rows tried does."""
    rows = [[2.0, 0.0, 0.0, 0.0], [99.0, 0.5, 0.5]]
    weights = [case.run_float64(row) for row in rows]
    sharp = [w for w in weights if (w >= 0).all() and w.max() >= 0.99]
    evidence.record_inputs(rows=rows)
    evidence.property_holds(
        "valid row-sum patterns with largest weight ≥ 0.99",
        not sharp,
        [w.tolist() for w in weights],
        "none",
    )


@pytest.mark.claim("teaser3-rowsum-too-uniform", reading="large-positive-offset")
@SUM_NORMALIZE
def test_row_sum_flattens_under_common_offset(evidence, case):
    base = np.array([3.0, 2.0, 1.0, 0.0])
    offsets = [0.0, 4.0, 16.0, 64.0]  # every shifted score is exact in every dtype
    soft_base = run_variant(case, reference.stable_softmax, base)
    deviations = []
    tol = numeric_tolerance(case.dtype)
    for c in offsets:
        weights = case.run_float64(base + c)
        deviations.append(float(np.abs(weights - 1 / base.size).max()))
        evidence.close_to(
            f"softmax at offset {c:g} vs offset 0",
            soft_base,
            run_variant(case, reference.stable_softmax, base + c),
            tol.bound(1.0),
            tol.describe(),
        )
    evidence.record_inputs(scores=base, offsets=offsets)
    evidence.property_holds(
        "row-sum distance from uniform, max|w − 1/n|, strictly falls with the offset",
        all(b < a for a, b in itertools.pairwise(deviations)),
        deviations,
        "strictly decreasing",
    )


# -- Option 3: ReLU + normalization ----------------------------------------------------------------
def _record_costs(evidence: Any, case: Any, fn: Any, label: str) -> dict[str, float]:
    """Matmul FLOPs (torch) and largest intermediate at every length; returns the slopes."""
    slopes = {}
    if case.impl.backend == "torch":
        flops, slopes["FLOPs"] = fs.cost_table(fs.matmul_flops, fn, case)
        evidence.record_inputs(**{f"{label} matmul FLOPs": flops})
    sizes, slopes["largest intermediate"] = fs.cost_table(fs.largest_intermediate, fn, case)
    evidence.record_inputs(**{f"{label} largest intermediate (elements)": sizes})
    return slopes


def _assert_linear(evidence: Any, slopes: dict[str, float], label: str) -> None:
    for measure, slope in slopes.items():
        evidence.property_holds(
            f"{label}: growth exponent of {measure} in n",
            slope <= fs.LINEAR_MAX_SLOPE,
            slope,
            f"≤ {fs.LINEAR_MAX_SLOPE} (linear)",
        )


@pytest.mark.claim("teaser3-relu-linear-complexity", reading="as-written")
@ATTENTION
def test_relu_attention_as_written_is_quadratic(evidence, case):
    evidence.record_inputs(lengths=list(fs.SEQUENCE_LENGTHS), d=fs.HEAD_DIM)
    slopes = _record_costs(evidence, case, attention.relu_attention, "ReLU(QKᵀ) attention")
    if case.dtype == "float64" and case.impl.backend == "numpy":  # a math fact: note it once
        q, k = normal(13, 128, fs.HEAD_DIM), normal(14, 128, fs.HEAD_DIM)
        relu = np.maximum(q @ k.T, 0)
        evidence.note(
            f"numerical rank of ReLU(QKᵀ) for n = 128, d = {fs.HEAD_DIM}: "
            f"{np.linalg.matrix_rank(relu)} (of QKᵀ: {np.linalg.matrix_rank(q @ k.T)}); "
            "a rewrite φ(Q)(φ(K)ᵀV) needs rank ≤ the feature count."
        )
    if case.dtype == "float32" and case.impl.backend == "torch":
        _plot_flops(evidence, case)
    _assert_linear(evidence, slopes, "ReLU(QKᵀ) attention")


def _plot_flops(evidence: Any, case: Any) -> None:
    variants = {
        "ReLU(QKᵀ)/rowsum · V (as printed)": attention.relu_attention,
        "softmax attention": attention.softmax_attention,
        "linear, φ = ReLU": relu_linear_attention,
        "linear, φ = elu + 1": attention.linear_attention,
    }
    curves = {name: fs.cost_table(fs.matmul_flops, fn, case)[0] for name, fn in variants.items()}
    fig = _plot([float(n) for n in fs.SEQUENCE_LENGTHS], curves, "sequence length n", "FLOPs")
    evidence.figure(fig, "Matmul FLOPs (torch FlopCounterMode) against n, log-log.")


@pytest.mark.claim("teaser3-relu-linear-complexity", reading="kernel-feature-map")
@ATTENTION
def test_relu_feature_map_attention_is_linear(evidence, case):
    evidence.record_inputs(lengths=list(fs.SEQUENCE_LENGTHS), d=fs.HEAD_DIM)
    slopes = _record_costs(evidence, case, relu_linear_attention, "ReLU(Q)(ReLU(K)ᵀV)")
    _assert_linear(evidence, slopes, "ReLU(Q)(ReLU(K)ᵀV)")


@pytest.mark.claim("teaser3-relu-actually-works", reading="rows-with-a-positive-score")
@RELU_NORMALIZE
def test_relu_weights_valid_when_a_score_is_positive(evidence, case):
    scores = normal(15, 256, 16)
    weights = case.run_float64(scores)
    defined = (scores > 0).any(axis=-1)
    w = weights[defined]
    sum_error = float(np.abs(w.sum(axis=-1) - 1).max())
    bound = (scores.shape[-1] + 3) * case.eps
    evidence.record_inputs(seed=15, rows=int(defined.sum()), keys=16)
    evidence.property_holds("smallest weight", bool((w >= 0).all()), float(w.min()), "≥ 0")
    evidence.close_to(
        "|row sum − 1| (worst row)", 0.0, sum_error, bound, f"(n + 3)·eps({case.dtype})"
    )


@pytest.mark.claim("teaser3-relu-actually-works", reading="every-row")
@RELU_NORMALIZE
def test_relu_weights_for_rows_without_positive_score(evidence, case):
    scores = normal(16, 256, 2)  # 2 keys per row: no positive score with probability 1/4
    weights = case.run_float64(scores)
    broken = ~np.isfinite(weights).all(axis=-1)
    evidence.record_inputs(seed=16, rows=256, keys_per_row=2)
    evidence.note(
        f"rows with no positive score: {int((scores <= 0).all(axis=-1).sum())} of 256 "
        "(expected 2⁻² · 256 = 64)."
    )
    evidence.property_holds(
        "rows whose weights are not finite (0/0)", not broken.any(), int(broken.sum()), "0"
    )


@pytest.mark.claim("teaser3-relu-sparsity", reading="about-half-zeros")
@RELU_NORMALIZE
def test_relu_weights_are_half_zeros(evidence, case):
    weights = normalized_scores(case, normal(0, 64, 16), normal(1, 64, 16))
    share = float((weights == 0).mean())
    evidence.record_inputs(seeds=[0, 1], n=64, d=16)
    evidence.property_holds(
        "share of exact zeros", 0.4 <= share <= 0.6, share, "between 0.4 and 0.6"
    )


@pytest.mark.claim("teaser3-relu-sparsity", reading="zeroed-scores-carry-no-information")
@RELU_NORMALIZE
def test_relu_weights_ignore_non_positive_scores(evidence, case):
    scores = np.round(normal(17, 16) * 16) / 16  # a 1/16 grid: 3x − 1 is exact in every dtype
    pushed = np.where(scores > 0, scores, 3 * scores - 1)
    relu_a, relu_b = case.run_float64(scores), case.run_float64(pushed)
    soft_change = np.abs(
        run_variant(case, reference.stable_softmax, scores)
        - run_variant(case, reference.stable_softmax, pushed)
    ).max()
    evidence.record_inputs(scores=scores, changed_scores=pushed)
    evidence.property_holds(
        "ReLU weights bitwise unchanged", bool(np.array_equal(relu_a, relu_b)), relu_a, "equal"
    )
    evidence.property_holds("softmax weights change", soft_change > 0, float(soft_change), "> 0")


@pytest.mark.claim("teaser3-relu-sparsity", reading="no-gradient-through-zeros")
@TORCH_RELU_NORMALIZE
def test_relu_gives_no_gradient_to_zeroed_scores(evidence, case):
    scores_np, v = normal(18, 8, 16), normal(19, 16, 4)
    grads = {}
    for name, fn in {"relu": case.impl.fn, "softmax": reference.stable_softmax}.items():
        scores = case.asarray(scores_np).requires_grad_(True)
        (fn(scores) @ case.asarray(v)).sum().backward()
        grads[name] = to_numpy(scores.grad)
    zeroed = case.rounded(scores_np) <= 0
    evidence.record_inputs(seeds=[18, 19], rows=8, keys=16, zeroed_scores=int(zeroed.sum()))
    evidence.property_holds(
        "largest |∂output/∂score| over non-positive scores (ReLU)",
        bool((grads["relu"][zeroed] == 0).all()),
        float(np.abs(grads["relu"][zeroed]).max()),
        "0",
    )
    evidence.property_holds(
        "non-positive scores with a non-zero gradient (softmax)",
        bool((grads["softmax"][zeroed] != 0).any()),
        int((grads["softmax"][zeroed] != 0).sum()),
        "> 0",
    )


@pytest.mark.claim("teaser3-relu-no-exponential-emphasis", reading="scale-cannot-sharpen")
@RELU_NORMALIZE
def test_scaling_scores_does_not_sharpen_relu(evidence, case):
    scores = normal(20, 8)
    factors = [1, 2, 4, 8, 16]  # powers of two: c·x is exact in every dtype
    relu = [case.run_float64(c * scores) for c in factors]
    soft_peaks = [
        float(run_variant(case, reference.stable_softmax, c * scores).max()) for c in factors
    ]
    evidence.record_inputs(seed=20, scores=scores, factors=factors)
    evidence.property_holds(
        "ReLU weights identical at every scale",
        all(np.array_equal(relu[0], w) for w in relu),
        [float(w.max()) for w in relu],
        "equal",
    )
    evidence.property_holds(
        "softmax largest weight rises with the scale",
        all(b > a for a, b in itertools.pairwise(soft_peaks)),
        soft_peaks,
        "strictly increasing",
    )


@pytest.mark.claim("teaser3-relu-no-exponential-emphasis", reading="one-hot-capacity")
@RELU_NORMALIZE
def test_relu_cannot_put_all_weight_on_one_token(evidence, case):
    """The reading: ReLU + normalization puts less than all the weight on any one token (as
    softmax does for every finite row). Fails if the row tried gives a largest weight of 1."""
    scores = [1.0, -1.0, -1.0, -1.0]
    relu = case.run_float64(scores)
    exact_gap = 1 - max(oracle.softmax_exact(scores))
    evidence.record_inputs(scores=scores)
    evidence.note(
        f"exact softmax of the same row: 1 − largest weight = {mpmath.nstr(exact_gap, 5)}"
    )
    evidence.property_holds("ReLU largest weight", float(relu.max()) < 1, relu, "< 1")


# -- linear attention (Linear Transformer, φ = elu + 1) --------------------------------------------
@pytest.mark.claim("teaser3-linear-attention-is-linear", reading="cost-grows-linearly")
@ATTENTION
def test_linear_attention_cost_is_linear(evidence, case):
    evidence.record_inputs(lengths=list(fs.SEQUENCE_LENGTHS), d=fs.HEAD_DIM)
    slopes = _record_costs(evidence, case, attention.linear_attention, "linear attention")
    softmax = _record_costs(evidence, case, attention.softmax_attention, "softmax attention")
    _assert_linear(evidence, slopes, "linear attention")
    for measure, slope in softmax.items():
        evidence.property_holds(
            f"softmax attention: growth exponent of {measure} in n",
            slope >= fs.QUADRATIC_MIN_SLOPE,
            slope,
            f"≥ {fs.QUADRATIC_MIN_SLOPE} (quadratic)",
        )


def quadratic_kernel_attention(q: Any, k: Any, v: Any) -> Any:
    """The same attention computed the quadratic way: form φ(Q)φ(K)ᵀ, normalize rows, @ V."""
    xp = array_namespace(q)
    kernel = attention.elu_plus_one(q) @ xp.matrix_transpose(attention.elu_plus_one(k))
    return (kernel / xp.sum(kernel, axis=-1, keepdims=True)) @ v


@pytest.mark.claim("teaser3-linear-attention-is-linear", reading="same-result-as-quadratic-form")
@ATTENTION
def test_linear_attention_equals_quadratic_form(evidence, case):
    q, k, v = (case.rounded(normal(seed, 64, fs.HEAD_DIM)) for seed in (21, 22, 23))
    exact = quadratic_kernel_attention(q, k, v)  # float64 on the dtype's own inputs
    linear = run_variant(case, attention.linear_attention, q, k, v)
    quadratic = run_variant(case, quadratic_kernel_attention, q, k, v)
    tol = CalibratedTolerance(
        float(np.abs(quadratic - exact).max()), floor=numeric_tolerance(case.dtype).atol
    )
    evidence.record_inputs(seeds=[21, 22, 23], n=64, d=fs.HEAD_DIM)
    evidence.close_to(
        "linear-time output vs exact quadratic form", exact, linear, tol.bound, tol.describe()
    )


# -- the deeper insight --------------------------------------------------------------------------
@pytest.mark.claim("teaser3-differentiable-routing")
@pytest.mark.cases("attention", backend="torch", dtypes=("float64",))
def test_attention_is_differentiable_in_queries_and_keys(evidence, case):
    import torch

    q, k, v = (case.asarray(normal(seed, 5, 4)).requires_grad_(True) for seed in (24, 25, 26))
    passes = torch.autograd.gradcheck(
        lambda a, b, c: case.impl.fn(a, b, c),
        (q, k, v),
        fast_mode=True,
        raise_exception=False,  # a mismatch is evidence (False), not a crash
    )
    (case.impl.fn(q, k, v) * case.asarray(normal(27, 5, 4))).sum().backward()
    evidence.record_inputs(seeds=[24, 25, 26, 27], n=5, d=4)
    evidence.property_holds("gradcheck (autograd vs finite differences)", passes, passes, "passes")
    for name, tensor in {"Q": q, "K": k}.items():
        size = float(tensor.grad.abs().max())
        evidence.property_holds(
            f"max |∂loss/∂{name}|", size > 0 and math.isfinite(size), size, "> 0"
        )
