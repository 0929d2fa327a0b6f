"""Inputs from the whole range of the dtype, and the properties that use them (softmax and
log-softmax). Every bound here comes from the dtype's finfo (`Ctx.range`: max, smallest normal,
smallest subnormal, eps), never from a guessed constant, so each dtype is pushed to its own limits.

Which bug each input is there to catch:

* `whole_range_rows`: spreads of exactly max (±max/2), large positive beside large negative, and
  a huge score beside many tiny ones, with the row maximum first, in the middle and last. Only a
  shift by the row maximum keeps every exponent ≤ 0: a softmax that shifts by the mean, the
  minimum or the first element (or a block's stale maximum) overflows to inf/NaN here. Rows
  beyond float16's range (|x| > 65504, where the dtype holds them) catch a kernel that computes
  bfloat16 (or float32) through float16 inside, by casting or by saturating.
* `ladder_rows`: rows whose every score sits at one magnitude, from 2¹⁴ to the dtype's max. A
  kernel that treats any score below some large negative constant (−1e4, −1e9, finfo.min/2) as
  masked returns NaN, zeros or a uniform row for the ladder's rung below its constant.
* `LONG_ROW_LENGTHS`: 65,536 and more, and lengths just past powers of two and the usual block
  sizes, with the row maximum in the last position (the first element of a new block): a kernel
  that drops a tail, indexes rows with 16 bits, or merges blocks without rescaling fails here.
* `small_weight_rows`: weights from 1 down past the dtype's smallest subnormal; each weight that
  is a normal number of the dtype is judged relative to its own size (harness `compare_output`,
  claimcheck/tolerance.py), so flushing, truncating or mis-scaling small weights fails.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from softmax_claimcheck.conformance.harness import Ctx, PropertyFailed, exact, rng, show

FLOAT16_MAX = 65504.0
LONG_ROW_LENGTHS = (1025, 4097, 65537)


def _on_grid(values: Any) -> Any:
    return np.round(np.asarray(values, dtype=np.float64) * 8) / 8


def whole_range_rows(ctx: Ctx) -> list[np.ndarray]:
    """Rows reaching the dtype's limits (see the module docstring); one array per row length."""
    top = ctx.range.max
    half = top / 2  # max/2 − (−max/2) = max: the widest spread whose difference is finite
    normal, sub, eps = ctx.range.smallest_normal, ctx.range.smallest_subnormal, ctx.range.eps
    short = [
        [half, -half, 0.0, 1.0],  # the maximum first, the minimum second
        [-half, 0.5, half, -1.0],  # the first element is the minimum
        [1.0, half, -half, half * (1 - 8 * eps)],  # two huge beside a huge negative
        [-half, -half * (1 - 8 * eps), half / 4, -top / 4],  # large negatives, a large positive
    ]
    if top > 4 * FLOAT16_MAX:  # beyond float16's range, in every dtype that holds it
        short += [
            [2.0**17, 1.5 * 2.0**16, -(2.0**17), 0.0],
            [-(2.0**20), 0.0, 2.0**20, 2.0**20 * (1 - 8 * eps)],
        ]
    tiny = np.resize(np.array([sub, -sub, normal, -normal, 0.0, eps, -eps, 2 * sub]), 1025)
    tiny[700] = half  # one huge score among many tiny ones, neither first nor last
    return [np.array(short), tiny[None, :]]


def ladder_rows(ctx: Ctx, sign: float) -> np.ndarray:
    """One row per magnitude 2¹⁴, 2¹⁷, … up to the dtype's max, three scores a few eps apart
    (so the weights are not all one-hot at the lower rungs)."""
    top, eps = ctx.range.max, ctx.range.eps
    exponents = range(14, int(math.log2(top)) + 1)
    step = max(1, len(exponents) // 14)
    centers = [2.0**e for e in exponents[::step]] + [top / 2, top]
    return sign * np.array([[c, c * (1 - 4 * eps), c * (1 - 8 * eps)] for c in centers])


def long_row(length: int) -> np.ndarray:
    """Scores on a grid of 1/8 in [−12, 4), the unique maximum 4.5 in the last position."""
    row = _on_grid(rng(f"long-{length}").uniform(-12, 4, (1, length)))
    row[0, -1] = 4.5
    return row


def small_weight_rows(ctx: Ctx) -> list[np.ndarray]:
    """Weights from 1 down past the smallest subnormal (a ladder of exponents on a grid of
    1/8, fractional ones included), a score beside 1023 equal ones whose weights are small
    but normal, and half a row just above the smallest normal weight."""
    to_normal = -math.log(ctx.range.smallest_normal)
    to_subnormal = -math.log(ctx.range.smallest_subnormal)
    ladder = -_on_grid(np.linspace(0, to_subnormal + 4, 61) + rng("ladder").uniform(0, 1, 61))
    ladder[0] = 0.0
    crowd = np.zeros((1, 1024))
    crowd[0, 0] = _on_grid(to_normal / 2)
    edge = np.where(np.arange(64) % 2 == 0, 0.0, -_on_grid(to_normal - 3))
    return [ladder[None, :], crowd, edge[None, :]]


def compare_rows(ctx: Ctx, x: np.ndarray, what: str) -> None:
    """The output against the exact one row by row, each row calibrated on its own (so a
    badly conditioned row far out does not loosen the bound for the others)."""
    out = ctx.softmax(x)
    xr = ctx.rounded(x)
    want = exact(ctx.subject.kind, xr)
    ref = ctx.reference_softmax(x)
    for i in range(x.shape[0]):
        ctx.compare_output(out[i], want[i], ref[i], f"x = {show(x[i])} (row {i})", what)


def check_whole_range(ctx: Ctx) -> None:
    """`whole_range_rows`: a wrong shift or bfloat16 through float16 gives inf/NaN or equal
    weights here; NaN is named as such, the rest compared with the exact result."""
    for x in whole_range_rows(ctx):
        out = ctx.softmax(x)
        if np.isnan(out).any():
            i = tuple(int(j) for j in np.argwhere(np.isnan(out))[0])
            raise PropertyFailed(
                f"NaN at index {i} on scores spread to the dtype's limits (±max/2 = "
                f"±{ctx.range.max / 2:.4g})",
                f"x = {show(x[i[0]])} (row {i[0]})",
            )
        compare_rows(ctx, x, "value on scores spread to the dtype's limits")


def check_long_rows(ctx: Ctx) -> None:
    """`long_row` of each length in LONG_ROW_LENGTHS: a dropped tail or an unrescaled block."""
    for length in LONG_ROW_LENGTHS:
        compare_rows(ctx, long_row(length), f"value on a row of {length}")


def check_small_weights(ctx: Ctx) -> None:
    """`small_weight_rows`, each weight relative to its own size where it is normal."""
    for x in small_weight_rows(ctx):
        compare_rows(ctx, x, "small weight")
