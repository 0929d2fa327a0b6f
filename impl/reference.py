"""Reference softmax variants written once against the Array API, so numpy and torch share them.

Each takes an array of its backend (numpy.ndarray or torch.Tensor) and an axis.
"""

from __future__ import annotations

from typing import Any

from array_api_compat import array_namespace


def naive_softmax(x: Any, axis: int = -1) -> Any:
    """The textbook formula, no shift: overflows once exp(x) exceeds the dtype's range."""
    xp = array_namespace(x)
    e = xp.exp(x)
    return e / xp.sum(e, axis=axis, keepdims=True)


def stable_softmax(x: Any, axis: int = -1) -> Any:
    """Row-wise max shift, then exp, then normalize: what production kernels do."""
    xp = array_namespace(x)
    shifted = x - xp.max(x, axis=axis, keepdims=True)
    e = xp.exp(shifted)
    return e / xp.sum(e, axis=axis, keepdims=True)


def article_softmax(x: Any, axis: int = -1) -> Any:
    """The article's three-line function exactly as printed (global max and global sum).

        def softmax(x):
            shifted = x - x.max()
            exp_shifted = np.exp(shifted)
            return exp_shifted / exp_shifted.sum()

    `axis` is accepted for a uniform signature and ignored, as the printed code has none.
    """
    xp = array_namespace(x)
    shifted = x - xp.max(x)
    exp_shifted = xp.exp(shifted)
    return exp_shifted / xp.sum(exp_shifted)


def temperature_softmax(x: Any, temperature: float, axis: int = -1) -> Any:
    """softmax(x / T): T < 1 sharpens, T > 1 flattens."""
    return stable_softmax(x / temperature, axis=axis)


def masked_softmax(x: Any, allowed: Any, axis: int = -1, fill: float = float("-inf")) -> Any:
    """Set disallowed scores to `fill` (−∞ as the article does, or a finite large negative),
    then take the stable softmax. `allowed` is a boolean array, True where attention may go."""
    xp = array_namespace(x)
    filled = xp.where(allowed, x, xp.asarray(fill, dtype=x.dtype, device=_device(x)))
    return stable_softmax(filled, axis=axis)


def log_softmax(x: Any, axis: int = -1) -> Any:
    """x − max − log Σ exp(x − max): never takes the log of an underflowed weight."""
    xp = array_namespace(x)
    shifted = x - xp.max(x, axis=axis, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))


def online_softmax(x: Any, axis: int = -1, block: int = 4) -> Any:
    """Stream over the row in blocks keeping a running max m and a rescaled running sum s
    (the FlashAttention recurrence): s ← s·exp(m_old − m_new) + Σ exp(x_block − m_new).
    A block whose scores are all −∞ leaves m at −∞; the rescale then uses 0, not NaN."""
    xp = array_namespace(x)
    moved = xp.moveaxis(x, axis, -1) if axis != -1 else x
    n = moved.shape[-1]
    neg_inf = xp.asarray(float("-inf"), dtype=x.dtype, device=_device(x))
    zero = xp.asarray(0.0, dtype=x.dtype, device=_device(x))
    running_max = xp.full((*moved.shape[:-1], 1), float("-inf"), dtype=x.dtype, device=_device(x))
    running_sum = xp.zeros((*moved.shape[:-1], 1), dtype=x.dtype, device=_device(x))
    for start in range(0, n, block):
        chunk = moved[..., start : start + block]
        new_max = xp.maximum(running_max, xp.max(chunk, axis=-1, keepdims=True))
        safe_max = xp.where(new_max == neg_inf, zero, new_max)
        rescale = xp.where(running_max == neg_inf, zero, xp.exp(running_max - safe_max))
        running_sum = running_sum * rescale + xp.sum(
            xp.exp(chunk - safe_max), axis=-1, keepdims=True
        )
        running_max = new_max
    safe_max = xp.where(running_max == neg_inf, zero, running_max)
    out = xp.exp(moved - safe_max) / running_sum
    return xp.moveaxis(out, -1, axis) if axis != -1 else out


def sum_normalize(x: Any, axis: int = -1) -> Any:
    """Brain Teaser #1's 'simple normalization': divide each score by the sum of the scores."""
    xp = array_namespace(x)
    return x / xp.sum(x, axis=axis, keepdims=True)


def relu_normalize(x: Any, axis: int = -1) -> Any:
    """ReLU, then divide by the sum, as the article writes Option 3 (0/0 when all scores ≤ 0)."""
    xp = array_namespace(x)
    weights = xp.maximum(x, xp.asarray(0.0, dtype=x.dtype, device=_device(x)))
    return weights / xp.sum(weights, axis=axis, keepdims=True)


def _device(x: Any) -> Any:
    from array_api_compat import device

    return device(x)
