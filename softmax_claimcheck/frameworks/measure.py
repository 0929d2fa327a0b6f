"""Behaviours measured as values (not pass/fail), per kernel and dtype, through the same `Ctx`
the conformance properties use (same dtype rounding, same capture of what the kernel does).

Every function returns a `Cell`: the text shown in the table and, where there is one, the
number. Inputs are rounded to the dtype first; the exact oracle (mpmath) is always computed on
the rounded input, so a difference caused by rounding the input is never charged to the kernel.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import mpmath
import numpy as np

from softmax_claimcheck.conformance import attention_properties as AP
from softmax_claimcheck.conformance import harness as H
from softmax_claimcheck.conformance import softmax_properties as SP

ROUNDING_ROW = (1000.0, 999.0, -math.inf)  # the example: 999 rounds to 1000 in bfloat16


@dataclass
class Cell:
    text: str
    value: float | None = None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def fmt(values: Any, digits: int = 4) -> str:
    arr = np.ravel(np.asarray(values, dtype=np.float64))
    return "[" + ", ".join(f"{v:.{digits}g}" for v in arr) + "]"


def eps_of(dtype: str) -> float:
    import torch

    return float(torch.finfo(getattr(torch, dtype)).eps)


def smallest_subnormal(dtype: str) -> float:
    import torch

    info = torch.finfo(getattr(torch, dtype))
    return float(info.tiny) * float(info.eps)


def largest(dtype: str) -> float:
    import torch

    return float(torch.finfo(getattr(torch, dtype)).max)


def _call(ctx: H.Ctx, fn: Any, *args: Any, **kw: Any) -> tuple[np.ndarray | None, str]:
    """The kernel's float64 output, or None and what it did instead (raised, not supported)."""
    try:
        with np.errstate(all="ignore"):
            return fn(*args, **kw), ""
    except H.ImplementationRaised as raised:
        return None, f"raises {raised.call.exception}"
    except H.Unsupported as unsupported:
        return None, f"n/s: {unsupported}"
    except H.PropertyFailed as failed:
        return None, failed.message


def _eps_error(out: np.ndarray, exact: np.ndarray, dtype: str) -> float:
    with np.errstate(invalid="ignore"):
        err = np.where(np.isfinite(exact), np.abs(out - exact), np.where(out == exact, 0.0, np.inf))
    err = np.where(np.isnan(err), np.inf, err)
    return float(np.max(err, initial=0.0)) / eps_of(dtype)


def _eps_text(value: float) -> str:
    return "∞ (non-finite output)" if not math.isfinite(value) else f"{value:.3g} eps"


# -- accuracy against the exact oracle ----------------------------------------------------------
def accuracy(ctx: H.Ctx) -> Cell:
    """Largest |kernel − exact| over the conformance value inputs, in units of the dtype's eps
    (exact = mpmath on the input as the dtype represents it)."""
    worst = 0.0
    if ctx.subject.kind == "attention":
        for q, k, v in (AP.qkv("attention"), AP.qkv("attention-long", n=9, m=17, batch=(1,))):
            out, why = _call(ctx, ctx.attention, q, k, v)
            if out is None:
                return Cell(why)
            rq, rk, rv = ctx.rounded(q), ctx.rounded(k), ctx.rounded(v)
            worst = max(worst, _eps_error(out, H.exact_attention(rq, rk, rv), ctx.dtype))
    else:
        for x in SP.value_inputs():
            out, why = _call(ctx, ctx.softmax, x)
            if out is None:
                return Cell(why)
            worst = max(
                worst, _eps_error(out, H.exact(ctx.subject.kind, ctx.rounded(x)), ctx.dtype)
            )
    return Cell(_eps_text(worst), worst if math.isfinite(worst) else None)


# -- the smallest score gap whose weight underflows to exactly 0 ---------------------------------
def _gap_weight(ctx: H.Ctx, gap: float) -> tuple[float | None, str]:
    """The weight of a score `gap` below the other one: softmax([0, −gap])[1], or attention
    with scores [0, −gap] (head size 1, q = 1, k = [0, −gap]) and values [0, 1]."""
    if ctx.subject.kind == "attention":
        q, k, v = np.ones((1, 1, 1)), np.array([[[0.0], [-gap]]]), np.array([[[0.0], [1.0]]])
        out, why = _call(ctx, ctx.attention, q, k, v)
        return (None, why) if out is None else (float(out[0, 0, 0]), "")
    out, why = _call(ctx, ctx.softmax, np.array([[0.0, -gap]]))
    return (None, why) if out is None else (float(out[0, 1]), "")


def exact_underflow_gap(dtype: str) -> float:
    """Where the exact weight 1/(1 + e^gap), correctly rounded to the dtype, first becomes 0:
    below half the smallest subnormal (ties go to the even 0), i.e. gap = ln(2 / subnormal)."""
    with mpmath.workdps(30):
        return float(mpmath.log(2 / mpmath.mpf(smallest_subnormal(dtype))))


def underflow_gap(ctx: H.Ctx, rel: float = 0.005) -> Cell:
    """softmax([0, −gap]) (attention: scores [0, −gap], values [0, 1]): the smallest gap, as
    the dtype represents it, whose weight is exactly 0, by bisection to within 0.5 % (shown:
    the upper end, weight 0 there, non-zero at the lower end; the detail in
    frameworks.json has both)."""
    if ctx.subject.kind == "log-softmax":
        return Cell("n/a: log-softmax gives −gap − log1p(e^−gap), no underflow to 0")
    limit = largest(ctx.dtype) / 4
    lo, hi = 0.0, 8.0
    while True:
        w, why = _gap_weight(ctx, float(ctx.rounded([hi])[0]))
        if w is None:
            return Cell(why)
        if w == 0.0:
            break
        if math.isnan(w):
            return Cell(f"NaN at gap {hi:g}")
        lo, hi = hi, hi * 2
        if hi > limit:
            return Cell(f"never 0 up to {lo:g}")
    while hi - lo > rel * hi:
        mid = float(ctx.rounded([(lo + hi) / 2])[0])
        if mid in (lo, hi):  # adjacent in the dtype: the threshold is exact
            break
        w, why = _gap_weight(ctx, mid)
        if w is None:
            return Cell(why)
        if w == 0.0:
            hi = mid
        else:
            lo = mid
    exact = exact_underflow_gap(ctx.dtype)
    return Cell(
        f"{hi:.4g}",
        hi,
        f"weight 0 at gap {hi:.6g}, non-zero at {lo:.6g}; correctly rounded exact: {exact:.4g}",
    )


# -- large finite scores ---------------------------------------------------------------------
def _large_rows(dtype: str) -> list[tuple[str, np.ndarray]]:
    half = largest(dtype) / 2
    return [("1000", np.array([1000.0, 999.0, 998.0])), ("max/2", np.array([half, half / 2, 0.0]))]


def large_scores(ctx: H.Ctx) -> Cell:
    """Scores [1000, 999, 998] and [max/2, max/4, 0] of the dtype: finite, and how far from
    the exact result (on the rounded input), in eps."""
    parts, worst = [], 0.0
    for label, row in _large_rows(ctx.dtype):
        xr = ctx.rounded(row)
        if ctx.subject.kind == "attention":
            # head size 1, q = 1: the scores are k; values 1, 2, 3
            q, k, v = np.ones((1, 1, 1)), row.reshape(1, 3, 1), np.array([[[1.0], [2.0], [3.0]]])
            out, why = _call(ctx, ctx.attention, q, k, v)
            exact = H.exact_attention(ctx.rounded(q), xr.reshape(1, 3, 1), ctx.rounded(v))
        else:
            out, why = _call(ctx, ctx.softmax, row[None])
            exact = H.exact(ctx.subject.kind, xr[None])
        if out is None:
            return Cell(why)
        if not np.isfinite(out).all():
            parts.append(f"{label}: OVERFLOW {fmt(out)}")
            worst = math.inf
            continue
        err = _eps_error(out, exact, ctx.dtype)
        worst = max(worst, err)
        parts.append(f"{label}: ok, {_eps_text(err)}")
    text = "; ".join(parts)
    return Cell(text, 1.0 if math.isinf(worst) else 0.0, "value: 1 = overflows, 0 = finite")


# -- fully masked rows and NaN input -----------------------------------------------------------
def _classify(row: np.ndarray, uniform: np.ndarray, uniform_name: str) -> str:
    if np.isnan(row).all():
        return "NaN"
    if np.isnan(row).any():
        return "partly NaN"
    if (row == 0).all():
        return "zeros"
    if np.isneginf(row).all():
        return "−∞"
    if np.allclose(row, uniform, rtol=1e-2, atol=1e-3):
        return uniform_name
    return "other"


def fully_masked(ctx: H.Ctx) -> Cell:
    """What a row with nothing to attend to gives: softmax of an all −∞ row; attention with a
    boolean mask row that is all False (the mean of all values is the uniform weighting of the
    masked keys)."""
    if ctx.subject.kind == "attention":
        q, k, v = AP.qkv("attention-fully-masked", n=3, m=4, batch=(1, 1))
        mask = np.array([[True, False, True, True], [False] * 4, [True, True, False, False]])
        out, why = _call(ctx, ctx.attention, q, k, v, mask=mask)
        if out is None:
            return Cell(why)
        row = out[0, 0, 1]
        name = _classify(row, ctx.rounded(v)[0, 0].mean(axis=0), "mean of all values")
    else:
        x = np.array([[-math.inf] * 4, [0.0, 1.0, -math.inf, 2.0]])
        out, why = _call(ctx, ctx.softmax, x)
        if out is None:
            return Cell(why)
        row = out[0]
        uniform = np.full(4, 0.25)
        if ctx.subject.kind == "log-softmax":
            uniform = np.log(uniform)
        name = _classify(
            row, uniform, "uniform 1/n" if ctx.subject.kind == "softmax" else "log 1/n"
        )
    return Cell(f"{name} {fmt(row, 3)}", detail=name)


def nan_input(ctx: H.Ctx) -> Cell:
    """softmax: a NaN score in a row [0, NaN, 1, 2]; attention: a NaN in the value row of a
    masked key (0 · NaN is NaN: a kernel that multiplies masked weights leaks it)."""
    if ctx.subject.kind == "attention":
        q, k, v = AP.qkv("nan-input", n=2, m=4, batch=(1, 1))
        v[..., 3, :] = math.nan
        mask = np.array([[True, True, True, False]] * 2)
        out, why = _call(ctx, ctx.attention, q, k, v, mask=mask)
        if out is None:
            return Cell(why)
        nans = np.isnan(out)
        name = "NaN leaks from the masked value" if nans.any() else "no NaN (masked value ignored)"
        return Cell(name, float(nans.mean()))
    out, why = _call(ctx, ctx.softmax, np.array([[0.0, math.nan, 1.0, 2.0]]))
    if out is None:
        return Cell(why)
    nans = np.isnan(out[0])
    if nans.all():
        name = "whole row NaN"
    elif nans.any():
        name = f"NaN at {int(nans.sum())} of 4"
    else:
        name = "no NaN"
    return Cell(f"{name} {fmt(out[0], 3)}", float(nans.mean()))


# -- input rounding versus kernel behaviour ----------------------------------------------------
def input_rounding(ctx: H.Ctx) -> Cell:
    """softmax([1000, 999, −∞]): the kernel's output beside the exact result on the input as
    the dtype represents it; the difference from the exact result on the original input is
    the input's rounding, not the kernel's."""
    if ctx.subject.kind == "attention":
        return Cell("n/a")
    x = np.array([ROUNDING_ROW])
    out, why = _call(ctx, ctx.softmax, x)
    if out is None:
        return Cell(why)
    exact_rounded = H.exact(ctx.subject.kind, ctx.rounded(x))
    kernel_err = _eps_error(out, exact_rounded, ctx.dtype)
    return Cell(
        f"{fmt(out[0], 4)} ({_eps_text(kernel_err)} from exact on the rounded input)",
        kernel_err if math.isfinite(kernel_err) else None,
    )


def rounding_context(dtype: str, kind: str) -> dict[str, str]:
    """What rounding the input alone does (framework-independent): the input as the dtype
    holds it, the exact result on it, and the exact result on the original values."""
    import torch

    x = np.array([ROUNDING_ROW])
    held = torch.tensor(x).to(getattr(torch, dtype)).double().numpy()
    return {
        "input in the dtype": fmt(held[0], 6),
        "exact on the original input": fmt(H.exact(kind, x)[0]),
        "exact on the rounded input": fmt(H.exact(kind, held)[0]),
    }


MEASURES = {
    "accuracy": ("accuracy vs exact (max error, eps)", accuracy),
    "underflow-gap": ("smallest score gap with weight exactly 0", underflow_gap),
    "large-scores": ("large finite scores", large_scores),
    "fully-masked": ("fully masked row gives", fully_masked),
    "nan-input": ("NaN input", nan_input),
    "input-rounding": ("[1000, 999, −∞] gives", input_rounding),
}
