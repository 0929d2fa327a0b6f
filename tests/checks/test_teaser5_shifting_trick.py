"""Checks of 'Brain Teaser #5: What If We Remove the Shifting Trick?'.

The article lists this teaser but has no body for it; the claims are what its title and the
promise "We'll explore what breaks when you skip each one" imply: where the unshifted softmax
breaks in each dtype, and that the shifted one does not.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache

import mpmath
import numpy as np
import pytest

from softmax_claimcheck.impl import oracle
from tests.checks.support import sampling as mc
from tests.checks.support.claims import (
    compare_to_exact,
    nan_safe_min,
)
from tests.checks.support.masking import finfo

DTYPES = ("float16", "bfloat16", "float32", "float64")


def _naive_cases(**filters):
    return pytest.mark.cases("naive-softmax", **filters)


def _shifted_cases(**filters):
    return pytest.mark.cases("shifted-softmax", **filters)


# -- the dtype's break points, exactly ------------------------------------------------------------
def overflow_point(dtype: str) -> float:
    """ln of the midpoint between the largest finite value and the next power of two: exp(x)
    rounds to inf (round to nearest) from there on. Computed with mpmath."""
    info = finfo(dtype)
    precision = round(-math.log2(info.eps)) + 1  # significand bits, implicit bit included
    emax = math.frexp(info.max)[1] - 1  # max = (2 − 2^(1−p))·2^emax
    with mpmath.workdps(40):
        return float(mpmath.log(mpmath.mpf(info.max) + mpmath.mpf(2) ** (emax - precision)))


def underflow_point(dtype: str) -> float:
    """ln(smallest subnormal / 2): exp(x) rounds to 0 at and below it."""
    info = finfo(dtype)
    with mpmath.workdps(40):
        return float(mpmath.log(mpmath.mpf(info.smallest_normal) * mpmath.mpf(info.eps) / 2))


def _step(dtype: str, x: float, up: bool) -> float:
    """The next representable value of `dtype` after x (x representable)."""
    import torch

    t = torch.tensor(x, dtype=getattr(torch, dtype))
    toward = torch.tensor(math.inf if up else -math.inf, dtype=t.dtype)
    return float(torch.nextafter(t, toward).double())


def _round(dtype: str, x: float) -> float:
    import torch

    return float(torch.tensor(x, dtype=torch.float64).to(getattr(torch, dtype)).double())


def representable_near(dtype: str, x: float, above: bool) -> float:
    """The first value of `dtype` strictly above (or below) the real number x."""
    r = _round(dtype, x)
    if above:
        return r if r > x else _step(dtype, r, True)
    return r if r < x else _step(dtype, r, False)


def break_bracket(finite_at: Callable[[float], bool], good: float, bad: float, dtype: str):
    """Bisection over the representable values between `good` (finite result) and `bad`
    (non-finite result): returns the adjacent pair (last good, first bad)."""
    for _ in range(200):
        if _step(dtype, good, bad > good) == bad:
            return good, bad
        mid = _round(dtype, (good + bad) / 2)
        if mid in (good, bad):
            mid = _step(dtype, good, bad > good)
        if finite_at(mid):
            good = mid
        else:
            bad = mid
    raise RuntimeError("bisection did not converge")  # a harness defect, not evidence


def _finite(case, scores) -> bool:
    return bool(np.isfinite(case.run_float64(scores)).all())


# -- overflow ----------------------------------------------------------------------------------
def _overflow_bracket(case) -> tuple[float, float]:
    x_star = overflow_point(case.dtype)
    return break_bracket(
        lambda x: _finite(case, [x, 0.0]),
        representable_near(case.dtype, x_star - 1.0, above=False),
        representable_near(case.dtype, x_star + 1.0, above=True),
        case.dtype,
    )


def _check_bracket(evidence, case, bracket, x_star: float, row: str) -> None:
    last_good, first_bad = bracket
    slack = 2 * (_step(case.dtype, first_bad, True) - first_bad)  # exp's own rounding
    evidence.record_inputs(row=row, predicted_break=x_star)
    evidence.property_holds(
        "last finite and first non-finite representable x bracket the predicted break",
        last_good - slack <= x_star <= first_bad + slack,
        {"last finite": last_good, "first non-finite": first_bad, "predicted": x_star},
        f"last ≤ x* ≤ first (± {slack:.3g}, two grid steps)",
    )


@pytest.mark.claim("unshifted-softmax-overflows", reading="threshold-per-dtype")
@_naive_cases()
def test_overflow_break_point(evidence, case):
    x_star = overflow_point(case.dtype)
    bracket = _overflow_bracket(case)
    _check_bracket(evidence, case, bracket, x_star, "[x, 0]")
    below = [bracket[0], 0.0]
    compare_to_exact(
        evidence,
        "at the last finite x: output vs exact",
        oracle.softmax(below),
        case.run_float64(below),
        case.dtype,
    )


def _above_overflow(claim, dtype: str) -> list[float]:
    """[x, 0] with x the first representable score above the overflow point."""
    return [representable_near(dtype, overflow_point(dtype), above=True), 0.0]


def _check_shifted(evidence, case, scores) -> None:
    rounded = case.rounded(scores)
    evidence.record_inputs(scores=rounded)
    compare_to_exact(
        evidence,
        "shifted output vs exact",
        oracle.softmax(rounded),
        case.run_float64(scores),
        case.dtype,
    )


def _equal_large_scores(claim, dtype: str) -> list[float]:
    """Equal scores whose exp is finite but whose sum overflows: x = the representable value
    just below x* − 1, since 16·e^(x* − 1) ≈ 5.9 × the largest value."""
    x = representable_near(dtype, overflow_point(dtype) - 1.0, above=False)
    return [x] * int(claim.parameter("equal_scores"))


@pytest.mark.claim("unshifted-softmax-overflows", reading="sum-overflow")
@_naive_cases()
def test_unshifted_sum_overflows(claim, evidence, case):
    scores = _equal_large_scores(claim, case.dtype)
    out = case.run_float64(scores)
    evidence.record_inputs(
        scores=f"{len(scores)} × {scores[0]!r}",
        exp_each=math.exp(scores[0]),
        largest_finite=float(finfo(case.dtype).max),
    )
    total = float(np.sum(out))
    evidence.property_holds(
        "unshifted weights do not sum to 1",
        not abs(total - 1.0) < 0.5,
        {"sum": total, "first weights": out[:3]},
        "Σ ≠ 1 or not finite (Σexp overflowed)",
    )


@pytest.mark.claim("unshifted-softmax-overflows", reading="article-example-float16")
@_naive_cases(dtypes=("float16",))
def test_unshifted_float16_breaks_on_article_example(claim, evidence, case):
    scores = claim.printed("article_example")
    out = case.run_float64(scores)
    evidence.record_inputs(scores=scores, float16_max=finfo("float16").max)
    evidence.property_holds(
        "unshifted output is not finite", not np.isfinite(out).all(), out, "inf or NaN"
    )


@pytest.mark.claim("unshifted-softmax-overflows", reading="article-example-float16")
@_shifted_cases(dtypes=("float16",))
def test_shifted_float16_correct_on_article_example(claim, evidence, case):
    _check_shifted(evidence, case, claim.printed("article_example"))


@pytest.mark.claim("unshifted-softmax-overflows", reading="threshold-per-dtype")
@_naive_cases(dtypes=("float64",), backend="torch")
def test_break_points_per_dtype_figure(claim, evidence, case):
    """Measured break points of torch-naive in every dtype (this case's device), drawn beside
    Brain Teaser #2's unscaled dot-product magnitudes."""
    rows = {}
    for dtype in DTYPES:
        naive = type(case)(case.impl, case.device, dtype)
        over = _overflow_bracket(naive)
        under = _underflow_bracket(naive)
        rows[dtype] = {
            "overflow predicted": overflow_point(dtype),
            "overflow measured (first non-finite)": over[1],
            "underflow predicted": underflow_point(dtype),
            "underflow measured (first non-finite)": under[0],
        }
        step = 2 * (_step(dtype, abs(over[1]), True) - abs(over[1]))
        evidence.property_holds(
            f"{dtype}: measured overflow break within two grid steps of ln(max + ulp/2)",
            abs(over[1] - overflow_point(dtype)) <= step,
            rows[dtype],
            "matches",
        )
    magnitudes = claim.printed("dot_product_magnitudes")
    for d_k in claim.printed("dot_product_d_k"):
        row_max = mc.init_scores(d_k, scaled=False).max(axis=-1)
        share = {d: float(np.mean(row_max > rows[d]["overflow predicted"])) for d in DTYPES}
        evidence.note(
            f"Unscaled attention at initialisation, d_k = {d_k} (16-token rows): share of rows "
            f"whose largest score is past the overflow point: {share}."
        )
    _draw_break_points(evidence, rows, magnitudes)


def _draw_break_points(evidence, rows, magnitudes) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    xs = np.arange(len(DTYPES))
    over = [rows[d]["overflow predicted"] for d in DTYPES]
    under = [-rows[d]["underflow predicted"] for d in DTYPES]
    ax.bar(xs - 0.2, over, 0.4, label="overflow: ln(max) (naive breaks above)")
    ax.bar(xs + 0.2, under, 0.4, label="underflow: −ln(min subnormal / 2)")
    for m in magnitudes:
        ax.axhline(m, color="grey", linestyle=":", linewidth=1)
        ax.text(len(DTYPES) - 0.5, m, f"|score| ≈ {m:g}", fontsize=7, va="bottom")
    ax.set_yscale("log")
    ax.set_xticks(xs, DTYPES)
    ax.set_ylabel("score (log scale)")
    ax.legend(fontsize=7, loc="upper left")
    evidence.figure(
        fig,
        "Where the unshifted softmax breaks, per dtype, with the unscaled dot-product magnitudes "
        "of Brain Teaser #2 (dotted).",
    )


# -- underflow ---------------------------------------------------------------------------------
def _underflow_bracket(case) -> tuple[float, float]:
    """The adjacent pair (first non-finite, last finite) around the break of [x, x], in
    increasing order: at and below the first, exp(x) is 0 and the row gives 0/0."""
    x_star = underflow_point(case.dtype)
    good, bad = break_bracket(
        lambda x: _finite(case, [x, x]),
        representable_near(case.dtype, x_star + 1.0, above=True),
        representable_near(case.dtype, x_star - 1.0, above=False),
        case.dtype,
    )
    return bad, good


@pytest.mark.claim("unshifted-softmax-underflows", reading="threshold-per-dtype")
@_naive_cases()
def test_underflow_break_point(evidence, case):
    x_star = underflow_point(case.dtype)
    first_bad, last_good = _underflow_bracket(case)
    slack = 2 * (_step(case.dtype, abs(first_bad), True) - abs(first_bad))
    evidence.record_inputs(row="[x, x]", predicted_break=x_star)
    evidence.property_holds(
        "first NaN and last finite representable x bracket the predicted break",
        first_bad - slack <= x_star <= last_good + slack,
        {"first non-finite": first_bad, "last finite": last_good, "predicted": x_star},
        f"first ≤ x* ≤ last (± {slack:.3g})",
    )
    above = [last_good, last_good]
    compare_to_exact(
        evidence,
        "at the last finite x: output vs exact",
        oracle.softmax(above),
        case.run_float64(above),
        case.dtype,
    )


def _below_underflow(claim, dtype: str) -> list[float]:
    """[x, x − 1, x − 2] with x the first representable score below the underflow point."""
    x = representable_near(dtype, underflow_point(dtype), above=False)
    return [x, _round(dtype, x - 1.0), _round(dtype, x - 2.0)]


# -- past the break points: the unshifted softmax breaks, the shifted one does not ---------------
PAST_BREAK = [
    pytest.param(
        _above_overflow,
        id="above-overflow",
        marks=pytest.mark.claim("unshifted-softmax-overflows", reading="above-threshold"),
    ),
    pytest.param(
        _below_underflow,
        id="below-underflow",
        marks=pytest.mark.claim("unshifted-softmax-underflows", reading="below-threshold"),
    ),
]
SUM_OVERFLOW = pytest.param(
    _equal_large_scores,
    id="sum-overflow",
    marks=pytest.mark.claim("unshifted-softmax-overflows", reading="sum-overflow"),
)


@pytest.mark.parametrize("scores_for", PAST_BREAK)
@_naive_cases()
def test_unshifted_breaks_past_break_point(claim, evidence, case, scores_for):
    scores = scores_for(claim, case.dtype)
    out = case.run_float64(scores)
    evidence.record_inputs(scores=scores)
    evidence.property_holds(
        "unshifted output is not finite", not np.isfinite(out).all(), out, "inf or NaN"
    )


@pytest.mark.parametrize("scores_for", [*PAST_BREAK, SUM_OVERFLOW])
@_shifted_cases()
def test_shifted_correct_past_break_point(claim, evidence, case, scores_for):
    _check_shifted(evidence, case, scores_for(claim, case.dtype))


# -- with the shift, nothing overflows --------------------------------------------------------
ROWS, ROW_LENGTH, SEED = 48, 8, 5


@cache
def extreme_rows(dtype: str) -> np.ndarray:
    """Seeded score rows over the dtype's whole range: a centre of any magnitude up to the
    largest value, a spread of any magnitude, clipped to the range; plus rows at the edges."""
    info = finfo(dtype)
    top = float(info.max)
    rng = np.random.default_rng([SEED, DTYPES.index(dtype)])
    log_top = math.log10(top)
    centre = rng.choice([-1, 1], ROWS) * 10.0 ** rng.uniform(-3, log_top, ROWS)
    spread = 10.0 ** rng.uniform(-3, log_top, ROWS)
    rows = centre[:, None] + spread[:, None] * rng.standard_normal((ROWS, ROW_LENGTH))
    edges = [
        np.full(ROW_LENGTH, top),
        np.full(ROW_LENGTH, -top),
        np.resize([top, -top], ROW_LENGTH),
        np.full(ROW_LENGTH, overflow_point(dtype) - 1.0),
        np.full(ROW_LENGTH, underflow_point(dtype) - 2.0),
    ]
    return np.clip(np.vstack([rows, *edges]), -top, top)


@cache
def exact_rows(dtype: str) -> np.ndarray:
    """The exact softmax of `extreme_rows` as rounded to `dtype` (the same for every backend)."""
    import torch

    rounded = torch.tensor(extreme_rows(dtype)).to(getattr(torch, dtype)).double().numpy()
    return mc.exact_softmax_rows(rounded)


@pytest.mark.claim("shifted-softmax-never-overflows")
@_shifted_cases()
def test_shifted_softmax_finite_over_whole_range(evidence, case):
    rows = case.rounded(extreme_rows(case.dtype))  # as the implementation sees them
    outputs = np.vstack([case.run_float64(row) for row in rows])
    evidence.record_inputs(seed=SEED, rows=len(rows), row_length=ROW_LENGTH)
    evidence.note(
        "Rows drawn over the whole range of the dtype (log-uniform centre and spread), plus "
        "rows at ±max, alternating ±max, equal scores just below the overflow point and "
        "equal scores below the underflow point; each row passed on its own."
    )
    evidence.property_holds(
        "every output finite and ≥ 0",
        bool(np.isfinite(outputs).all() and (outputs >= 0).all()),
        {"non-finite": int((~np.isfinite(outputs)).sum()), "min": nan_safe_min(outputs)},
        "all",
    )
    compare_to_exact(
        evidence,
        "outputs vs exact softmax of the rounded rows",
        exact_rows(case.dtype),
        outputs,
        case.dtype,
    )
