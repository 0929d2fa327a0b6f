"""Correct implementations that a careless harness would fail: the conformance controls."""

from __future__ import annotations

import sys
import warnings
from typing import Any

import numpy as np


def warns_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Correct, but warns on every call (and once more on −∞ input) and prints."""
    warnings.warn("warns_softmax is deprecated, use softmax_v2", DeprecationWarning, stacklevel=2)
    if np.isneginf(x).any():
        warnings.warn("−∞ in the input", RuntimeWarning, stacklevel=2)
        print("note: -inf seen", file=sys.stderr)
    shifted = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


def no_float16_softmax(x: Any, dim: int = -1) -> Any:
    """torch.softmax that refuses float16, as many kernels do."""
    import torch

    if x.dtype == torch.float16:
        raise TypeError("no_float16_softmax: float16 is not supported")
    return torch.softmax(x, dim=dim)


def exits_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Calls sys.exit on float16 input: the run must record it, not stop."""
    if x.dtype == np.float16:
        sys.exit(3)
    return warns_softmax(x, axis)


def flash_layout_attention(
    q: Any, k: Any, v: Any, causal: bool = False, softmax_scale: float | None = None
) -> Any:
    """A flash-attention-style kernel: (batch, seq, heads, dim) layout, its own keywords."""
    import torch.nn.functional as F

    out = F.scaled_dot_product_attention(
        q.transpose(1, 2),
        k.transpose(1, 2),
        v.transpose(1, 2),
        is_causal=causal,
        scale=softmax_scale,
    )
    return out.transpose(1, 2)


def flash_adapter(
    query: Any, key: Any, value: Any, is_causal: bool = False, scale: float | None = None
) -> Any:
    """The README's adapter: SDPA's convention, (..., heads, seq, dim), to the kernel's
    (batch, seq, heads, dim). It takes no attn_mask, so the mask properties are "not
    supported" for it rather than failures."""
    squeeze = query.dim() == 3  # (batch, seq, dim): one head
    if squeeze:
        query, key, value = (t.unsqueeze(1) for t in (query, key, value))
    out = flash_layout_attention(
        query.transpose(1, 2),
        key.transpose(1, 2),
        value.transpose(1, 2),
        causal=is_causal,
        softmax_scale=scale,
    )
    out = out.transpose(1, 2)
    return out.squeeze(1) if squeeze else out


def always_raises(x: Any, axis: int = -1) -> Any:
    raise ValueError("always")


def float32_only_softmax(x: Any, dim: int = -1) -> Any:
    """torch.softmax that takes float32 only, as many GPU kernels do."""
    import torch

    if x.dtype != torch.float32:
        raise TypeError(f"float32_only_softmax: {x.dtype} is not supported")
    return torch.softmax(x, dim=dim)
