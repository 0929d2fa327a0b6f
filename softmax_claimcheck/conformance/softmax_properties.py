"""The softmax and log-softmax properties: each takes a `Ctx` (harness.py) and returns (holds)
or raises how it ended."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from softmax_claimcheck.conformance.harness import (
    Ctx,
    ImplementationRaised,
    PropertyFailed,
    copy_of,
    declared_behaviour,
    exact,
    fully_masked_name,
    grid,
    identical,
    kind_and_device,
    no_gradient_path,
    require_autograd,
    rng,
    show,
    to64,
)
from softmax_claimcheck.conformance.range_properties import ladder_rows
from softmax_claimcheck.impl import oracle, reference

VALUE_LENGTHS = (1, 2, 3, 8, 17, 33, 100)


def value_inputs() -> Iterator[np.ndarray]:
    r = rng("values")
    yield grid(r, (5,))
    for length in VALUE_LENGTHS:
        yield grid(r, (3, length))
    yield np.array([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 8.0, 8.0], [-4.0, 4.0, -4.0, 4.0]])


def check_values(ctx: Ctx) -> None:
    for x in value_inputs():
        xr = ctx.rounded(x)
        out = ctx.softmax(x)
        ctx.compare_output(
            out,
            exact(ctx.subject.kind, xr),
            ctx.reference_softmax(x),
            f"x = {show(x)}, axis=-1",
            "value",
        )


def _sum_bound(ctx: Ctx, ref_sums: np.ndarray) -> float:
    return 2 * float(np.max(np.abs(ref_sums - 1), initial=0.0)) + 4 * ctx.eps + ctx.tolerance.atol


def check_sums_to_one(ctx: Ctx) -> None:
    for x in [*value_inputs(), np.array([[0.0, -np.inf, 2.0, -np.inf]])]:
        out = ctx.softmax(x)
        sums = np.sum(out, axis=-1)
        bound = _sum_bound(ctx, np.sum(ctx.reference_softmax(x), axis=-1))
        err = np.abs(sums - 1)
        err = np.where(np.isnan(err), np.inf, err)
        if np.max(err) > bound:
            row = int(np.argmax(err)) if err.ndim else 0
            raise PropertyFailed(
                f"row {row} sums to {np.ravel(sums)[row]:.8g} (|sum − 1| "
                f"{np.max(err):.3g} > {bound:.3g})",
                f"x = {show(x)}",
                float(np.max(err)),
                bound,
            )


def _extreme_inputs() -> list[np.ndarray]:
    return [
        grid(rng("nonneg"), (4, 9)),
        np.array([[-1000.0, -1001.0, -1002.0], [1000.0, 999.0, 998.0], [0.0, -np.inf, 1.0]]),
        np.array([[-30.0, 0.0, -60.0, -90.0, -120.0]]),
    ]


def check_non_negative(ctx: Ctx) -> None:
    for x in _extreme_inputs():
        out = ctx.softmax(x)
        if np.isnan(out).any() or (out < 0).any():
            bad = np.argwhere(np.isnan(out) | (out < 0))[0]
            raise PropertyFailed(
                f"output {out[tuple(bad)]:.6g} at index {tuple(int(i) for i in bad)}"
                " is negative or NaN",
                f"x = {show(x)}",
            )


def check_non_positive(ctx: Ctx) -> None:
    for x in _extreme_inputs():
        out = ctx.softmax(x)
        if np.isnan(out).any() or (out > 0).any():
            bad = np.argwhere(np.isnan(out) | (out > 0))[0]
            raise PropertyFailed(
                f"output {out[tuple(bad)]:.6g} at index {tuple(int(i) for i in bad)}"
                " is positive or NaN",
                f"x = {show(x)}",
            )


NEG_INF_INPUTS = (
    np.array([[0.0, -np.inf, 1.0, -np.inf, 2.0]]),
    np.array([[-np.inf, 3.0, -np.inf], [2.0, 2.0, -np.inf]]),
    # finite scores below −10⁴: a −∞ replaced by a "large" negative number takes the weight
    np.array([[-np.inf, -29952.0, -30080.0, -np.inf]]),
)


def masked_ladder(ctx: Ctx) -> np.ndarray:
    """−∞ beside finite scores at every magnitude down to the dtype's −max (range_properties):
    catches a kernel that treats any score below some large negative constant as masked."""
    ladder = ladder_rows(ctx, -1.0)
    masked = np.full((ladder.shape[0], 2), -np.inf)
    return np.hstack([masked[:, :1], ladder[:, :2], masked[:, 1:], ladder[:, 2:]])


def check_zero_at_neg_inf(ctx: Ctx) -> None:
    """−∞ beside ordinary scores, beside scores below −10⁴ (a −∞ replaced by a finite fill)
    and beside scores at every magnitude down to −max (a constant taken as masked)."""
    for x in (*NEG_INF_INPUTS, masked_ladder(ctx)):
        xr = ctx.rounded(x)
        out = ctx.softmax(x)
        where = np.isneginf(x)
        inputs = f"x = {show(x)}"
        target = -np.inf if ctx.subject.kind == "log-softmax" else 0.0
        if not (out[where] == target).all():
            raise PropertyFailed(
                f"a −∞ score got {out[where][out[where] != target][0]:.6g}, not exactly {target}",
                inputs,
            )
        ctx.compare_output(
            out, exact(ctx.subject.kind, xr), ctx.reference_softmax(x), inputs, "value beside −∞"
        )


def check_shift_invariance(ctx: Ctx) -> None:
    x = np.round(rng("shift").uniform(-4, 4, (3, 6)) * 2) / 2
    base = ctx.softmax(x)
    for c in (1000.0, 100.0, 8.0, -8.0):
        if not np.array_equal(ctx.rounded(x + c), x + c):
            continue  # x + c is not exact in this dtype: no longer the same input, shifted
        shifted = ctx.softmax(x + c)
        expected = base  # softmax and log-softmax are both invariant
        bound = 2 * ctx.bound(exact(ctx.subject.kind, x), 0.0)
        with np.errstate(invalid="ignore"):
            err = np.abs(shifted - expected)
        err = np.where(np.isnan(err), np.inf, err)
        if (err > bound).any():
            i = np.unravel_index(int(np.argmax(err - bound)), err.shape)
            raise PropertyFailed(
                f"f(x + {c:g}) differs from f(x) at {tuple(int(j) for j in i)}: "
                f"{shifted[i]:.8g} vs {expected[i]:.8g}",
                f"x = {show(x)}, shifted by {c:g}",
                float(err[i]),
                float(bound[i]),
            )


def _offset_rows(center: float, length: int = 5) -> np.ndarray:
    base = np.array([[0.0, -1.0, -2.0, -3.0, -0.5], [-8.0, -4.0, 0.0, -4.0, -1.5]])
    if length != 5:
        base = np.round(rng(f"offsets-{length}").uniform(-8, 0, (2, length)) * 2) / 2
    return center + base


def check_large_scores(ctx: Ctx) -> None:
    """Rows a few units around 1000 and 8000, and a ladder of rows at every magnitude up to
    the dtype's max (range_properties.ladder_rows)."""
    for center, length in ((1000.0, 5), (8000.0, 5), (1000.0, 40), (None, 3)):
        x = ladder_rows(ctx, 1.0) if center is None else _offset_rows(center, length)
        out = ctx.softmax(x)
        inputs = f"x = {show(x)}"
        if not np.isfinite(out).all():
            bad = np.argwhere(~np.isfinite(out))[0]
            raise PropertyFailed(
                f"large scores (around {x[bad[0], 0]:g}) give a non-finite output "
                f"{out[tuple(bad)]}",
                inputs,
            )
        ctx.compare_output(
            out, exact(ctx.subject.kind, ctx.rounded(x)), ctx.reference_softmax(x), inputs, "value"
        )


def check_very_negative(ctx: Ctx) -> None:
    """Rows a few units around −1000 and −8000, and a ladder of rows at every magnitude down
    to the dtype's −max (range_properties.ladder_rows)."""
    for center, length in ((-1000.0, 5), (-8000.0, 5), (-1000.0, 40), (None, 3)):
        x = ladder_rows(ctx, -1.0) if center is None else _offset_rows(center, length)
        out = ctx.softmax(x)
        inputs = f"x = {show(x)}"
        if np.isnan(out).any() or np.isinf(out).any():
            bad = np.argwhere(~np.isfinite(out))[0]
            raise PropertyFailed(
                f"very negative scores (around {x[bad[0], 0]:g}) give {out[tuple(bad)]}", inputs
            )
        ctx.compare_output(
            out, exact(ctx.subject.kind, ctx.rounded(x)), ctx.reference_softmax(x), inputs, "value"
        )


def _axis_check(ctx: Ctx, cases: list[tuple[tuple[int, ...], int]]) -> None:
    r = rng("axis")
    for shape, axis in cases:
        x = grid(r, shape)
        out = ctx.softmax(x, axis=axis)
        ctx.compare_output(
            out,
            exact(ctx.subject.kind, ctx.rounded(x), axis),
            ctx.reference_softmax(x, axis),
            f"x = {show(x)}, axis={axis}",
            f"axis={axis} on shape {shape}",
        )


def check_axis_last(ctx: Ctx) -> None:
    _axis_check(ctx, [((2, 3, 5), -1), ((2, 3, 5), 2), ((2, 2, 2, 6), 3), ((3, 4), 1)])


def check_axis_non_last(ctx: Ctx) -> None:
    _axis_check(
        ctx, [((4, 3), 0), ((2, 3, 5), 1), ((2, 3, 5), -2), ((4, 2, 3), 0), ((2, 2, 2, 6), -3)]
    )


def check_shape_and_dtype(ctx: Ctx) -> None:
    r = rng("shape")
    for shape in ((6,), (3, 5), (2, 3, 4), (1, 1)):
        x = ctx.arr(grid(r, shape))
        out = ctx.softmax_raw(x)
        kind_and_device(ctx, x, out, f"x of shape {shape}, axis=-1")


def check_input_not_modified(ctx: Ctx) -> None:
    for values in (grid(rng("inplace"), (3, 7)), np.array([[0.0, -np.inf, 2.0, 1000.0]])):
        x = ctx.arr(values)
        before = copy_of(x)
        ctx.softmax_raw(x)
        if not identical(x, before):
            raise PropertyFailed(
                f"the input was modified: now {show(to64(x))}", f"x = {show(values)}"
            )


def check_deterministic(ctx: Ctx) -> None:
    x = grid(rng("determinism"), (4, 33))
    first, second = ctx.softmax(x), ctx.softmax(x)
    if not np.array_equal(first, second, equal_nan=True):
        i = np.argwhere(~((first == second) | (np.isnan(first) & np.isnan(second))))[0]
        raise PropertyFailed(
            f"two calls on the same input differ at {tuple(int(j) for j in i)}: "
            f"{first[tuple(i)]!r} vs {second[tuple(i)]!r}",
            f"x = {show(x)}",
        )


def check_batch_independence(ctx: Ctx) -> None:
    r = rng("batch")
    row = grid(r, (1, 7))
    alone = ctx.softmax(row)
    others = [
        np.vstack([row, grid(r, (2, 7))]),
        np.vstack([grid(r, (3, 7)) + 1000.0, row]),
        np.vstack([grid(r, (20, 7)) - 1000.0, row, grid(r, (11, 7)) + 1000.0]),
        np.vstack([row] * 9),
    ]
    for batch in others:
        out = ctx.softmax(batch)
        bound = 2 * ctx.bound(exact(ctx.subject.kind, ctx.rounded(row)), 0.0)
        where = [i for i in range(len(batch)) if np.array_equal(batch[i], row[0])]
        for i in where:
            with np.errstate(invalid="ignore"):
                err = np.abs(out[i] - alone[0])
            err = np.where(np.isnan(err), np.inf, err)
            if (err > bound[0]).any():
                j = int(np.argmax(err - bound[0]))
                raise PropertyFailed(
                    f"row {i} of a batch of {len(batch)} differs from the same row alone at "
                    f"column {j}: {out[i, j]:.8g} vs {alone[0, j]:.8g}",
                    f"row = {show(row[0])}; batch = {show(batch)}",
                    float(err[j]),
                    float(bound[0][j]),
                )


def check_gradient(ctx: Ctx) -> None:
    """d/dx of Σ g·f(x) against the closed form: softmax s: s ⊙ (g − Σ g s);
    log-softmax: g − softmax · Σ g."""
    require_autograd(ctx)
    r = rng("gradient")
    x_values, g_values = grid(r, (3, 6)), grid(r, (3, 6), -1, 1)
    inputs = f"x = {show(x_values)}, upstream gradient g = {show(g_values)}"
    x = ctx.arr(x_values).requires_grad_(True)
    out = ctx.softmax_raw(x)
    no_gradient_path(out, inputs)
    ctx.backward(out, ctx.arr(g_values), inputs)
    if x.grad is None:
        raise PropertyFailed("backward gave no gradient for the input", inputs)
    call_grad = to64(x.grad)
    xr, g = ctx.rounded(x_values), ctx.rounded(g_values)
    s = oracle.softmax(xr)
    if ctx.subject.kind == "log-softmax":
        closed = g - s * g.sum(axis=-1, keepdims=True)
        ref_fn = reference.log_softmax
    else:
        closed = s * (g - (g * s).sum(axis=-1, keepdims=True))
        ref_fn = reference.stable_softmax
    xref = ctx.arr(x_values).requires_grad_(True)
    (ref_fn(xref) * ctx.arr(g_values)).sum().backward()
    ctx.compare(call_grad, closed, to64(xref.grad), inputs, "gradient")


def check_fully_masked_softmax(ctx: Ctx) -> None:
    x = np.array([[-np.inf, -np.inf, -np.inf, -np.inf], [0.0, 1.0, -np.inf, 2.0]])
    inputs = f"x = {show(x)}"
    try:
        out = ctx.softmax(x)
    except ImplementationRaised as raised:
        declared_behaviour(ctx, "raises", f"raises {raised.call.exception}", inputs)
        raise
    ctx.compare_output(
        out[1:],
        exact(ctx.subject.kind, ctx.rounded(x[1:])),
        ctx.reference_softmax(x[1:]),
        inputs,
        "the row beside the fully masked one",
    )
    uniform = np.full(4, 0.25)
    if ctx.subject.kind == "log-softmax":
        uniform = np.log(uniform)
    name = fully_masked_name(out[0], uniform)
    declared_behaviour(ctx, name, f"an all −∞ row gives {name}: {show(out[0])}", inputs)


# -- log-softmax only ---------------------------------------------------------------------------
def check_logsumexp_zero(ctx: Ctx) -> None:
    for x in [*value_inputs(), np.array([[0.0, -np.inf, 1.0, 2.0]])]:
        out = ctx.softmax(x)
        with np.errstate(all="ignore"):
            top = np.max(out, axis=-1, keepdims=True)
            lse = (top + np.log(np.sum(np.exp(out - top), axis=-1, keepdims=True)))[..., 0]
        ref = ctx.reference_softmax(x)
        with np.errstate(all="ignore"):
            rtop = np.max(ref, axis=-1, keepdims=True)
            rlse = (rtop + np.log(np.sum(np.exp(ref - rtop), axis=-1, keepdims=True)))[..., 0]
        bound = _sum_bound(ctx, 1 + np.abs(rlse))
        err = np.where(np.isnan(lse), np.inf, np.abs(lse))
        if np.max(err) > bound:
            raise PropertyFailed(
                f"logsumexp of an output row is {np.ravel(lse)[np.argmax(err)]:.6g}"
                f", not 0 (bound {bound:.3g})",
                f"x = {show(x)}",
                float(np.max(err)),
                bound,
            )


def check_agrees_with_log_softmax(ctx: Ctx) -> None:
    x = np.array([[0.0, -5.0, -50.0, -100.0, -800.0], [3.0, 3.0, -3.0, 0.5, -20.0]])
    out = ctx.softmax(x)
    xr = ctx.rounded(x)
    with np.errstate(divide="ignore"):
        log_of_softmax = np.log(oracle.softmax(xr))
    finite = np.isfinite(log_of_softmax)
    ctx.compare_output(
        np.where(finite, out, 0.0),
        np.where(finite, log_of_softmax, 0.0),
        np.where(finite, ctx.reference_softmax(x), 0.0),
        f"x = {show(x)}",
        "log(softmax(x)) where finite",
    )
