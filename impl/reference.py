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
