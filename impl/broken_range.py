"""Deliberately broken softmaxes that stay right in the middle of the range: each conforms to
the properties that only use ordinary inputs (they passed the command before its inputs reached
the dtype's limits and its accuracy became relative) and fails one of `whole-range`,
`long-rows`, `small-weights`, `zero-at-neg-inf` (conformance/range_properties.py).
tests/conformance/test_broken_range.py names the property that must catch each one.

Several compute half precision in float32 or float64 inside, as many kernels do, so that their
bug shows only where the range is wide, not as an overflow on ordinary inputs. All take
fn(x, axis=-1) on numpy arrays or torch tensors (Array API) unless marked torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import array_namespace, device

from softmax_claimcheck.impl import reference


def _wide(x: Any, to: str = "float32") -> tuple[Any, Any]:
    """x in a wider dtype for the arithmetic (half types → `to`; with to="float64", float32
    too), and a function that casts a result back to x's dtype."""
    xp = array_namespace(x)
    name = str(x.dtype).removeprefix("torch.")
    wider = {"float16", "bfloat16"} | ({"float32"} if to == "float64" else set())
    if name not in wider:
        return x, lambda y: y
    target = getattr(xp, to)
    return xp.astype(x, target), lambda y: xp.astype(y, x.dtype)


def _normalize(xp: Any, e: Any, axis: int) -> Any:
    return e / xp.sum(e, axis=axis, keepdims=True)


def _finite_or(xp: Any, w: Any, fill: float) -> Any:
    return xp.where(xp.isfinite(w), w, xp.asarray(fill, dtype=w.dtype, device=device(w)))


# -- wrong shift: caught by whole-range ---------------------------------------------------------
def shift_by_mean(x: Any, axis: int = -1) -> Any:
    """Shifts each row by the mean of its finite scores instead of the maximum (half types in
    float32): fine while the spread is small, inf/NaN once a score is far above the mean."""
    xp = array_namespace(x)
    w, back = _wide(x)
    finite = xp.isfinite(w)
    count = xp.sum(xp.astype(finite, w.dtype), axis=axis, keepdims=True)
    mean = xp.sum(_finite_or(xp, w, 0.0), axis=axis, keepdims=True) / count
    return back(_normalize(xp, xp.exp(w - mean), axis))


def shift_by_mean_torch(x: Any, dim: int = -1) -> Any:
    """torch: centres the scores with nanmean over the finite ones (in float32 for half
    types), then torch.softmax's arithmetic without its max shift."""
    import torch

    w = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
    centre = torch.nanmean(w.masked_fill(~torch.isfinite(w), float("nan")), dim, keepdim=True)
    e = torch.exp(w - centre)
    return (e / e.sum(dim, keepdim=True)).to(x.dtype)


def shift_by_min(x: Any, axis: int = -1) -> Any:
    """Shifts by the smallest finite score ("so no weight underflows"), in float64 inside:
    right until the spread passes ln(float64's max) ≈ 709."""
    xp = array_namespace(x)
    w, back = _wide(x, "float64")
    low = xp.min(_finite_or(xp, w, float("inf")), axis=axis, keepdims=True)
    return back(_normalize(xp, xp.exp(w - low), axis))


def shift_by_min_torch(x: Any, dim: int = -1) -> Any:
    """torch: amin over the finite scores as the shift, computed in float64."""
    import torch

    w = x.double()
    low = torch.where(torch.isfinite(w), w, torch.inf).amin(dim, keepdim=True)
    e = (w - low).exp()
    return (e / e.sum(dim, keepdim=True)).to(x.dtype)


def shift_by_first(x: Any, axis: int = -1) -> Any:
    """Shifts by the row's first score (by the maximum when that one is −∞), half types in
    float32: right whenever no score is far above the first."""
    xp = array_namespace(x)
    w, back = _wide(x)
    moved = xp.moveaxis(w, axis, -1)
    first = moved[..., :1]
    top = xp.max(moved, axis=-1, keepdims=True)
    shift = xp.where(xp.isfinite(first), first, top)
    e = xp.exp(moved - shift)
    return back(xp.moveaxis(_normalize(xp, e, -1), -1, axis))


def shift_by_first_block_max(x: Any, axis: int = -1) -> Any:
    """A streaming kernel whose running maximum is the first block's (16 scores) and never
    updated, half types in float32: right for rows whose maximum is among the first 16, or
    within ~88 of their maximum."""
    xp = array_namespace(x)
    w, back = _wide(x)
    moved = xp.moveaxis(w, axis, -1)
    shift = xp.max(moved[..., :16], axis=-1, keepdims=True)
    e = xp.exp(moved - shift)
    return back(xp.moveaxis(_normalize(xp, e, -1), -1, axis))


# -- a large negative constant taken as masked: caught by zero-at-neg-inf -----------------------
def masks_below_minus_1e9(x: Any, axis: int = -1) -> Any:
    """Takes every score below −1e9 (the usual additive mask value) as masked: a row whose
    scores are all below it gives NaN instead of its softmax."""
    xp = array_namespace(x)
    limit = xp.asarray(-1e9, dtype=x.dtype, device=device(x))
    masked = xp.where(x < limit, xp.asarray(-np.inf, dtype=x.dtype, device=device(x)), x)
    return reference.stable_softmax(masked, axis=axis)


def masks_at_half_finfo_min(x: Any, axis: int = -1) -> Any:
    """Takes scores at or below finfo(dtype).min / 2 as masked (masks filled with finfo.min)
    and gives zeros to a row with nothing left: wrong for real scores that low."""
    xp = array_namespace(x)
    info = np.finfo(x.dtype) if isinstance(x, np.ndarray) else _torch_finfo(x)
    kept = x > xp.asarray(float(info.min) / 2, dtype=x.dtype, device=device(x))
    e = xp.where(kept, xp.exp(x - xp.max(x, axis=axis, keepdims=True)), xp.zeros_like(x))
    total = xp.sum(e, axis=axis, keepdims=True)
    return e / xp.where(total == 0, xp.ones_like(total), total)


def _torch_finfo(x: Any) -> Any:
    import torch

    return torch.finfo(x.dtype)


# -- bfloat16 through float16: caught by whole-range --------------------------------------------
def bfloat16_via_float16(x: Any, dim: int = -1) -> Any:
    """torch: bfloat16 input goes through a float16 kernel (more mantissa, so ordinary rows
    look fine): scores beyond ±65504 become ±inf, and the row NaN."""
    import torch

    if x.dtype == torch.bfloat16:
        return torch.softmax(x.to(torch.float16), dim).to(torch.bfloat16)
    return torch.softmax(x, dim)


def bfloat16_saturated_to_float16(x: Any, dim: int = -1) -> Any:
    """torch: bfloat16 clamped to float16's range (a "safe" cast) for a float16 kernel: no
    NaN, but scores beyond ±65504 all become equal."""
    import torch

    if x.dtype == torch.bfloat16:
        half = x.clamp(-65504.0, 65504.0).to(torch.float16)
        return torch.softmax(half, dim).to(torch.bfloat16)
    return torch.softmax(x, dim)


# -- long rows and block boundaries: caught by long-rows ----------------------------------------
def long_rows_truncated_at_65535(x: Any, axis: int = -1) -> Any:
    """Rows are indexed with 16 bits: past 65,535 scores the rest get no weight and are left
    out of the sum."""
    xp = array_namespace(x)
    moved = xp.moveaxis(x, axis, -1)
    if moved.shape[-1] <= 65535:
        return reference.stable_softmax(x, axis=axis)
    head = reference.stable_softmax(moved[..., :65535], axis=-1)
    tail = xp.zeros_like(moved[..., 65535:])
    return xp.moveaxis(xp.concat([head, tail], axis=-1), -1, axis)


def online_blocks_not_rescaled(x: Any, axis: int = -1) -> Any:
    """The online softmax over blocks of 1024 that forgets to rescale its running sum when a
    later block raises the maximum: right for rows of up to 1024."""
    xp = array_namespace(x)
    moved = xp.moveaxis(x, axis, -1)
    top = xp.max(moved[..., :1024], axis=-1, keepdims=True)
    total = xp.sum(xp.exp(moved[..., :1024] - top), axis=-1, keepdims=True)
    for start in range(1024, moved.shape[-1], 1024):
        block = moved[..., start : start + 1024]
        top = xp.maximum(top, xp.max(block, axis=-1, keepdims=True))
        total = total + xp.sum(xp.exp(block - top), axis=-1, keepdims=True)  # not rescaled
    return xp.moveaxis(xp.exp(moved - top) / total, -1, axis)


# -- small weights flushed, truncated or mis-scaled: caught by small-weights --------------------
def _stable_then(x: Any, axis: int, fix: Any) -> Any:
    xp = array_namespace(x)
    return fix(xp, reference.stable_softmax(x, axis=axis))


def flushes_below_1e_8(x: Any, axis: int = -1) -> Any:
    """Sets weights below 1e-8 to zero ("negligible"): log-likelihoods built on them are −∞."""
    return _stable_then(x, axis, lambda xp, s: xp.where(s < 1e-8, xp.zeros_like(s), s))


def flushes_below_eps_squared(x: Any, axis: int = -1) -> Any:
    """Sets weights below eps² of the dtype to zero ("they cannot change the sum")."""
    eps = float(np.finfo(x.dtype).eps if isinstance(x, np.ndarray) else _torch_finfo(x).eps)
    return _stable_then(x, axis, lambda xp, s: xp.where(s < eps * eps, xp.zeros_like(s), s))


def small_weights_via_float32(x: Any, axis: int = -1) -> Any:
    """float64: weights below 1e-6 come from a single-precision tail path (rounded to
    float32): off by up to 6e-8 of themselves, far below the absolute floor."""
    xp = array_namespace(x)
    s = reference.stable_softmax(x, axis=axis)
    if s.dtype != xp.float64:
        return s
    single = xp.astype(xp.astype(s, xp.float32), xp.float64)
    return xp.where(s < 1e-6, single, s)


def small_weights_truncated_to_8_bits(x: Any, axis: int = -1) -> Any:
    """float32: weights below 1e-6 are stored with bfloat16's 8 significant bits, truncated
    (rounded toward zero)."""
    xp = array_namespace(x)
    s = reference.stable_softmax(x, axis=axis)
    if s.dtype != xp.float32:
        return s
    positive = s > 0
    safe = xp.where(positive, s, xp.ones_like(s))
    unit = xp.pow(xp.asarray(2.0, dtype=s.dtype, device=device(s)), xp.floor(xp.log2(safe)) - 7)
    truncated = xp.floor(safe / unit) * unit
    return xp.where(positive & (s < 1e-6), truncated, s)


def exp_argument_clamped(x: Any, axis: int = -1) -> Any:
    """Clamps the finite shifted scores at −40 before exp ("keep exp in range"): every weight
    below e^−40 is raised to e^−40 of the largest, far too big."""
    xp = array_namespace(x)
    shifted = x - xp.max(x, axis=axis, keepdims=True)
    floor = xp.asarray(-40.0, dtype=x.dtype, device=device(x))
    clamped = xp.where(xp.isfinite(shifted), xp.maximum(shifted, floor), shifted)
    return _normalize(xp, xp.exp(clamped), axis)


def epsilon_added(x: Any, axis: int = -1) -> Any:
    """Adds 1e-20 to each finite score's exponential ("no zero probabilities"): tiny weights
    become ~1e-20, mis-scaled by many orders of magnitude."""
    xp = array_namespace(x)
    e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
    e = xp.where(xp.isfinite(x), e + xp.asarray(1e-20, dtype=x.dtype, device=device(x)), e)
    return _normalize(xp, e, axis)


RANGE_SOFTMAXES = (
    shift_by_mean,
    shift_by_mean_torch,
    shift_by_min,
    shift_by_min_torch,
    shift_by_first,
    shift_by_first_block_max,
    masks_below_minus_1e9,
    masks_at_half_finfo_min,
    bfloat16_via_float16,
    bfloat16_saturated_to_float16,
    long_rows_truncated_at_65535,
    online_blocks_not_rescaled,
    flushes_below_1e_8,
    flushes_below_eps_squared,
    small_weights_via_float32,
    small_weights_truncated_to_8_bits,
    exp_argument_clamped,
    epsilon_added,
)
