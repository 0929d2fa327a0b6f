"""Deliberately broken softmaxes and attentions: the suite's teeth. Each has one bug of the kind
the article warns about or a kernel author makes; tests/impl/test_teeth.py runs the
implementation-level checks on them (through `--impl impl.broken:<name>`) and requires every
one to be caught by at least one check that the correct reference passes.

They are NOT in the default registry. The softmaxes take fn(x, axis=-1) on numpy arrays or
torch tensors (Array API); the attentions are Implementation objects with the registry's
attention signature, since `--impl` probes plain functions as softmaxes.
"""

from __future__ import annotations

import math
from typing import Any

from array_api_compat import array_namespace, device

from impl import reference
from impl.attention import causal_allowed, scores
from impl.model import NUMPY_DTYPES, Implementation


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


# -- attentions: fn(q, k, v, *, allowed=None, causal=False) ----------------------------------------
def _mask(q: Any, k: Any, allowed: Any, causal: bool) -> Any:
    mask = causal_allowed(q.shape[-2], k.shape[-2], q) if causal else None
    if allowed is not None:
        mask = allowed if mask is None else (mask & allowed)
    return mask


def mask_after_softmax(q: Any, k: Any, v: Any, *, allowed: Any = None, causal: bool = False) -> Any:
    """Softmax over every key first, then zero the disallowed weights: the allowed weights no
    longer sum to 1 (the mask must go in before the softmax, as −∞ scores)."""
    xp = array_namespace(q)
    weights = reference.stable_softmax(scores(q, k))
    mask = _mask(q, k, allowed, causal)
    if mask is not None:
        weights = xp.where(mask, weights, xp.zeros_like(weights))
    return weights @ v


def scaled_by_d_k(q: Any, k: Any, v: Any, *, allowed: Any = None, causal: bool = False) -> Any:
    """Divides the scores by d_k instead of √d_k: too flat an attention for d_k > 1."""
    mask = _mask(q, k, allowed, causal)
    s = scores(q, k, scale=1.0 / q.shape[-1])
    weights = reference.stable_softmax(s) if mask is None else reference.masked_softmax(s, mask)
    return weights @ v


def causal_ignored(q: Any, k: Any, v: Any, *, allowed: Any = None, causal: bool = False) -> Any:
    """Forgets the causal flag: every query sees the future."""
    s = scores(q, k, scale=1.0 / math.sqrt(q.shape[-1]))
    weights = (
        reference.stable_softmax(s) if allowed is None else reference.masked_softmax(s, allowed)
    )
    return weights @ v


def _broken_attention(fn: Any, what: str) -> Implementation:
    return Implementation(
        f"broken-{fn.__name__.replace('_', '-')}",
        "attention",
        "numpy",
        fn,
        ("cpu",),
        NUMPY_DTYPES,
        f"deliberately broken attention: {what}",
        frozenset({"masking", "broken"}),
    )


mask_after_softmax_attention = _broken_attention(mask_after_softmax, "mask applied after softmax")
scaled_by_d_k_attention = _broken_attention(scaled_by_d_k, "scores divided by d_k, not √d_k")
causal_ignored_attention = _broken_attention(causal_ignored, "causal flag ignored")

ATTENTIONS = (mask_after_softmax_attention, scaled_by_d_k_attention, causal_ignored_attention)
