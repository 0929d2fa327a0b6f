"""Deliberately broken softmaxes and attentions: the suite's teeth. Each has one bug of the kind
the article warns about or a kernel author makes; tests/impl/test_teeth.py runs the
implementation-level checks on them (through `--impl softmax_claimcheck.impl.broken:<name>`)
and requires every one to be caught by at least one check that the correct reference passes.

They are NOT in the default registry. The softmaxes take fn(x, axis=-1) on numpy arrays or
torch tensors (Array API); the attentions take SDPA's calling convention (the one attention
convention). The article checks' broken attentions live in impl/broken_attention.py.
"""

from __future__ import annotations

import math
from typing import Any

from array_api_compat import array_namespace, device

from softmax_claimcheck.impl import reference
from softmax_claimcheck.impl.broken_attention import (  # noqa: F401 (here by name for --impl)
    ATTENTIONS,
    causal_ignored_attention,
    mask_after_softmax_attention,
    scaled_by_d_k_attention,
)


# -- softmaxes: fn(x, axis=-1) ---------------------------------------------------------------------
def no_max_shift(x: Any, axis: int = -1) -> Any:
    """Skips the shift: exp overflows to inf once a score passes ln(largest finite value)."""
    return reference.naive_softmax(x, axis=axis)


def wrong_axis(x: Any, axis: int = -1) -> Any:
    """Normalizes over the first axis whatever axis it is given: right on one vector only."""
    return reference.stable_softmax(x, axis=0)


def global_max(x: Any, axis: int = -1) -> Any:
    """Shifts every row by the max of the whole array instead of its own max: rows far below
    the global max underflow to 0/0."""
    xp = array_namespace(x)
    e = xp.exp(x - xp.max(x))
    return e / xp.sum(e, axis=axis, keepdims=True)


def no_normalization(x: Any, axis: int = -1) -> Any:
    """Shifts and exponentiates but never divides by the sum."""
    xp = array_namespace(x)
    return xp.exp(x - xp.max(x, axis=axis, keepdims=True))


def exp2_instead_of_exp(x: Any, axis: int = -1) -> Any:
    """2^x instead of e^x: a softmax at temperature 1/ln 2, not softmax."""
    xp = array_namespace(x)
    two = xp.asarray(2.0, dtype=x.dtype, device=device(x))
    e = xp.pow(two, x - xp.max(x, axis=axis, keepdims=True))
    return e / xp.sum(e, axis=axis, keepdims=True)


def float16_inside(x: Any, axis: int = -1) -> Any:
    """Computes in float16 whatever the input dtype, then casts back: looks right, but is only
    as accurate as float16 (what a kernel with a hard-coded half accumulator does)."""
    xp = array_namespace(x)
    return xp.astype(reference.stable_softmax(xp.astype(x, xp.float16), axis=axis), x.dtype)


def sum_skips_last(x: Any, axis: int = -1) -> Any:
    """Off by one: the normalizing sum leaves out the last element of each row."""
    xp = array_namespace(x)
    e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
    moved = xp.moveaxis(e, axis, -1)
    total = xp.sum(moved[..., :-1], axis=-1, keepdims=True)
    return e / xp.moveaxis(total, -1, axis)


SOFTMAXES = (
    no_max_shift,
    wrong_axis,
    global_max,
    no_normalization,
    exp2_instead_of_exp,
    float16_inside,
    sum_skips_last,
)


# -- the conformance catalogue (softmax_claimcheck conform): more bugs, many off the happy path --
# Softmaxes take fn(x, axis=-1) on numpy arrays or torch tensors; the attentions below take
# torch's scaled_dot_product_attention convention (query, key, value, attn_mask=None, ...,
# is_causal=False, scale=None). tests/conformance/test_broken.py names the property that must
# catch each one. They are kept apart from SOFTMAXES/ATTENTIONS (the article checks' teeth).
def _stable(x: Any, axis: int) -> Any:
    return reference.stable_softmax(x, axis=axis)


def wrong_output_dtype(x: Any, axis: int = -1) -> Any:
    """Computes in float64 and returns float64 whatever the input dtype (a silent upcast)."""
    xp = array_namespace(x)
    return _stable(xp.astype(x, xp.float64), axis)


def modifies_input(x: Any, axis: int = -1) -> Any:
    """Subtracts the row max from the caller's array in place before exponentiating."""
    xp = array_namespace(x)
    top = xp.max(x, axis=axis, keepdims=True)
    x -= top
    e = xp.exp(x)
    return e / xp.sum(e, axis=axis, keepdims=True)


def neg_inf_to_finite(x: Any, axis: int = -1) -> Any:
    """Replaces −∞ by −10⁴ first (a "large" negative): wrong once the finite scores are lower."""
    xp = array_namespace(x)
    filled = xp.where(xp.isinf(x) & (x < 0), xp.asarray(-1e4, dtype=x.dtype, device=device(x)), x)
    return _stable(filled, axis)


def batch_normalized(x: Any, axis: int = -1) -> Any:
    """Divides by the mean row sum of the whole batch, not by each row's own sum."""
    xp = array_namespace(x)
    e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
    sums = xp.sum(e, axis=axis, keepdims=True)
    return e / xp.mean(sums)


def axis_ignored(x: Any, axis: int = -1) -> Any:
    """Always normalizes over the last axis, whatever axis it is asked for."""
    return _stable(x, -1)


# hidden bugs: right on the happy path, wrong for some shapes, axes, dtypes, lengths or values
def long_rows_unshifted(x: Any, axis: int = -1) -> Any:
    """Skips the max shift for rows longer than 32 ("short rows are the risky ones")."""
    if x.shape[axis] > 32:
        return reference.naive_softmax(x, axis=axis)
    return _stable(x, axis)


def positive_axis_wrong(x: Any, axis: int = -1) -> Any:
    """Handles axis=-1, but a positive index for the last axis is taken as the first axis."""
    return _stable(x, -1 if axis == -1 else (0 if axis == x.ndim - 1 else axis))


def float16_unshifted(x: Any, axis: int = -1) -> Any:
    """Skips the max shift in float16 only (a "fast path" for half precision)."""
    if "float16" in str(x.dtype) and "bfloat16" not in str(x.dtype):
        return reference.naive_softmax(x, axis=axis)
    return _stable(x, axis)


def float32_via_float16(x: Any, axis: int = -1) -> Any:
    """float32 input goes through a float16 kernel: right in float64 and float16, not float32."""
    xp = array_namespace(x)
    if x.dtype == xp.float32:
        return xp.astype(_stable(xp.astype(x, xp.float16), axis), xp.float32)
    return _stable(x, axis)


def block_tail_dropped(x: Any, axis: int = -1) -> Any:
    """Blocks of 16 along the row; the elements after the last full block are left out of the
    sum: right for row lengths that are multiples of 16 (and for rows of up to 16)."""
    xp = array_namespace(x)
    e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
    moved = xp.moveaxis(e, axis, -1)
    n = moved.shape[-1]
    full = n if n <= 16 else (n // 16) * 16
    total = xp.sum(moved[..., :full], axis=-1, keepdims=True)
    return e / xp.moveaxis(total, -1, axis)


def vector_unnormalized(x: Any, axis: int = -1) -> Any:
    """1-D input takes a separate path that forgets to divide by the sum."""
    xp = array_namespace(x)
    if x.ndim == 1:
        return xp.exp(x - xp.max(x))
    return _stable(x, axis)


def nd_second_last(x: Any, axis: int = -1) -> Any:
    """On 3-D and larger input, axis=-1 is taken as axis -2 (a transposed layout bug)."""
    return _stable(x, -2 if x.ndim >= 3 and axis in (-1, x.ndim - 1) else axis)


def clamps_low_scores(x: Any, axis: int = -1) -> Any:
    """Clamps scores to ≥ −100 before the softmax (to "avoid underflow"): very negative rows
    become uniform, and −∞ gets weight."""
    xp = array_namespace(x)
    return _stable(xp.maximum(x, xp.asarray(-100.0, dtype=x.dtype, device=device(x))), axis)


def big_batch_global_max(x: Any, axis: int = -1) -> Any:
    """Batches of more than 8 rows share one max (the whole array's): rows far below it
    underflow to 0/0 (a "batched" fast path)."""
    xp = array_namespace(x)
    rows = 1
    for size in x.shape:
        rows *= size
    if rows // x.shape[axis] > 8:
        e = xp.exp(x - xp.max(x))
        return e / xp.sum(e, axis=axis, keepdims=True)
    return _stable(x, axis)


def approximate_exp(x: Any, axis: int = -1) -> Any:
    """exp(t) ≈ (1 + t/64)^64 for t ≤ 0: fine near the max, far off for scores ≥ 8 below it."""
    xp = array_namespace(x)
    shifted = x - xp.max(x, axis=axis, keepdims=True)
    base = xp.maximum(1 + shifted / 64, xp.zeros_like(shifted))
    e = base**64
    return e / xp.sum(e, axis=axis, keepdims=True)


def length_one_zero(x: Any, axis: int = -1) -> Any:
    """A row of length 1 gives 0 instead of 1 (its sum is taken over the other elements)."""
    xp = array_namespace(x)
    if x.shape[axis] == 1:
        return xp.zeros_like(x)
    return _stable(x, axis)


def bfloat16_returns_float32(x: Any, axis: int = -1) -> Any:
    """torch: bfloat16 input gives a float32 output (the accumulator leaks out); others right."""
    import torch

    if x.dtype == torch.bfloat16:
        return torch.softmax(x.float(), dim=axis)
    return torch.softmax(x, dim=axis)


def reshape_not_transpose(x: Any, axis: int = -1) -> Any:
    """torch: moves a non-last axis to the end with reshape instead of a transpose, scrambling
    the data; right along the last axis."""
    import torch

    if axis in (-1, x.dim() - 1):
        return torch.softmax(x, dim=axis)
    shape = list(x.shape)
    shape[axis], shape[-1] = shape[-1], shape[axis]
    return torch.softmax(x.reshape(shape), dim=-1).reshape(x.shape)


def log_softmax_via_log(x: Any, axis: int = -1) -> Any:
    """log(softmax(x)): −∞ (or a poor value) wherever the softmax underflows."""
    xp = array_namespace(x)
    return xp.log(_stable(x, axis))


def log_softmax_sign(x: Any, axis: int = -1) -> Any:
    """log-softmax with the log-sum-exp added instead of subtracted."""
    xp = array_namespace(x)
    shifted = x - xp.max(x, axis=axis, keepdims=True)
    return shifted + xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))


CONFORMANCE_SOFTMAXES = (
    wrong_output_dtype,
    modifies_input,
    neg_inf_to_finite,
    batch_normalized,
    axis_ignored,
    long_rows_unshifted,
    positive_axis_wrong,
    float16_unshifted,
    float32_via_float16,
    block_tail_dropped,
    vector_unnormalized,
    nd_second_last,
    clamps_low_scores,
    big_batch_global_max,
    approximate_exp,
    length_one_zero,
    bfloat16_returns_float32,
    reshape_not_transpose,
)
CONFORMANCE_LOG_SOFTMAXES = (log_softmax_via_log, log_softmax_sign)


# -- attentions with SDPA's convention ------------------------------------------------------------
def _sdpa_like(
    q: Any,
    k: Any,
    v: Any,
    attn_mask: Any = None,
    is_causal: bool = False,
    scale: float | None = None,
    *,
    causal_diagonal: int = 0,
    bottom_right: bool = False,
    fill: float = float("-inf"),
    additive: bool = False,
    detach: bool = False,
) -> Any:
    import torch

    s = q @ k.transpose(-2, -1) * (1 / math.sqrt(q.shape[-1]) if scale is None else scale)
    n, m = q.shape[-2], k.shape[-2]
    allowed = torch.ones(n, m, dtype=torch.bool, device=q.device)
    if is_causal:
        allowed = torch.tril(allowed, diagonal=causal_diagonal + (m - n if bottom_right else 0))
    if attn_mask is not None:
        allowed = allowed & attn_mask
    if additive:
        s = s + torch.where(allowed, 0.0, fill).to(s.dtype)
    else:
        s = s.masked_fill(~allowed, fill)
    weights = torch.softmax(s, dim=-1)
    if detach:
        weights = weights.detach()
    return weights @ v


def sdpa_scale_by_d(
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
) -> Any:
    """Scales by 1/d instead of 1/√d (a custom scale is honoured)."""
    return _sdpa_like(
        query, key, value, attn_mask, is_causal, 1 / query.shape[-1] if scale is None else scale
    )


def sdpa_scale_ignored(
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
) -> Any:
    """Accepts `scale` but always uses 1/√d."""
    return _sdpa_like(query, key, value, attn_mask, is_causal, None)


def sdpa_causal_off_by_one(
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
) -> Any:
    """The causal mask lets each query see one key into the future (tril diagonal=1)."""
    return _sdpa_like(query, key, value, attn_mask, is_causal, scale, causal_diagonal=1)


def sdpa_causal_bottom_right(
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
) -> Any:
    """Causal mask aligned bottom-right (FlashAttention-2's convention, not SDPA's top-left):
    identical when L = S, different when the lengths differ."""
    return _sdpa_like(query, key, value, attn_mask, is_causal, scale, bottom_right=True)


def sdpa_mask_inverted(
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
) -> Any:
    """Reads the boolean mask as nn.MultiheadAttention does: True = blocked."""
    return _sdpa_like(
        query, key, value, None if attn_mask is None else ~attn_mask, is_causal, scale
    )


def sdpa_additive_finite_mask(
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
) -> Any:
    """Masks by adding −10⁴ to the scores: a masked key with a large score still leaks."""
    return _sdpa_like(query, key, value, attn_mask, is_causal, scale, fill=-1e4, additive=True)


def sdpa_scale_from_value(
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
) -> Any:
    """Takes the head size for the default scale from the value: right only when d_v = d_qk."""
    return _sdpa_like(
        query,
        key,
        value,
        attn_mask,
        is_causal,
        1 / math.sqrt(value.shape[-1]) if scale is None else scale,
    )


def sdpa_long_keys_truncated(
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
) -> Any:
    """Attends to the first 16 keys only (a fixed tile): right for short sequences."""
    if attn_mask is not None:
        attn_mask = attn_mask[..., :16]
    return _sdpa_like(query, key[..., :16, :], value[..., :16, :], attn_mask, is_causal, scale)


def sdpa_first_batch_keys(
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
) -> Any:
    """Broadcasts the first batch element's keys and values to every batch element."""
    return _sdpa_like(query, key[:1], value[:1], attn_mask, is_causal, scale)


def sdpa_scales_query_in_place(
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
) -> Any:
    """Multiplies the caller's query by the scale in place."""
    import torch

    with torch.no_grad():
        query.mul_(1 / math.sqrt(query.shape[-1]) if scale is None else scale)
    return _sdpa_like(query, key, value, attn_mask, is_causal, 1.0)


def sdpa_half_returns_float32(
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
) -> Any:
    """float16 input gives a float32 output (computed in float32, never cast back)."""
    import torch

    if query.dtype == torch.float16:
        query, key, value = query.float(), key.float(), value.float()
    return _sdpa_like(query, key, value, attn_mask, is_causal, scale)


def sdpa_detached_weights(
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
) -> Any:
    """Detaches the attention weights from autograd: dQ and dK come out zero."""
    return _sdpa_like(query, key, value, attn_mask, is_causal, scale, detach=True)


def sdpa_mask_after_softmax(
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
) -> Any:
    """Softmax over every key, then zeroes the masked weights (no renormalization)."""
    import torch

    s = query @ key.transpose(-2, -1) * (1 / math.sqrt(query.shape[-1]) if scale is None else scale)
    weights = torch.softmax(s, dim=-1)
    n, m = query.shape[-2], key.shape[-2]
    allowed = torch.ones(n, m, dtype=torch.bool, device=query.device)
    if is_causal:
        allowed = torch.tril(allowed)
    if attn_mask is not None:
        allowed = allowed & attn_mask
    return weights.masked_fill(~allowed, 0.0) @ value


SDPA_ATTENTIONS = (
    sdpa_scale_by_d,
    sdpa_scale_ignored,
    sdpa_causal_off_by_one,
    sdpa_causal_bottom_right,
    sdpa_mask_inverted,
    sdpa_additive_finite_mask,
    sdpa_scale_from_value,
    sdpa_long_keys_truncated,
    sdpa_first_batch_keys,
    sdpa_scales_query_in_place,
    sdpa_half_returns_float32,
    sdpa_detached_weights,
    sdpa_mask_after_softmax,
)
