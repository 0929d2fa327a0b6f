"""Attention variants the article discusses, written once for numpy and torch (Array API).

Shapes: q (..., n, d), k (..., m, d), v (..., m, d_v). `scale=True` divides scores by √d_k.
"""

from __future__ import annotations

import math
from typing import Any

from array_api_compat import array_namespace, device

from softmax_claimcheck.impl import reference


def scores(q: Any, k: Any, scale: bool | float = True) -> Any:
    xp = array_namespace(q)
    s = q @ xp.matrix_transpose(k)
    if scale is True:
        return s / math.sqrt(q.shape[-1])
    if scale is False:
        return s
    return s * scale


def causal_allowed(n: int, m: int | None = None, like: Any = None) -> Any:
    """Boolean (n, m) mask, True where query i may attend to key j (j ≤ i)."""
    xp = array_namespace(like)
    m = n if m is None else m
    rows = xp.arange(n, device=device(like))[:, None]
    cols = xp.arange(m, device=device(like))[None, :]
    return cols <= rows


def softmax_attention(
    q: Any,
    k: Any,
    v: Any,
    *,
    scale: bool | float = True,
    causal: bool = False,
    fill: float = float("-inf"),
) -> Any:
    """softmax(QKᵀ/√d_k + mask)·V, the standard attention."""
    s = scores(q, k, scale)
    if causal:
        weights = reference.masked_softmax(
            s, causal_allowed(s.shape[-2], s.shape[-1], s), fill=fill
        )
    else:
        weights = reference.stable_softmax(s)
    return weights @ v


def raw_dot_attention(q: Any, k: Any, v: Any) -> Any:
    """Option 1 of Brain Teaser #3: (Q @ K.T) @ V, no normalization at all."""
    return scores(q, k, scale=False) @ v


def relu_attention(q: Any, k: Any, v: Any) -> Any:
    """Option 3 exactly as the article writes it: ReLU(QKᵀ), divide by the row sum, @ V.
    Note that it still forms the n×m weight matrix: quadratic, not linear."""
    return reference.relu_normalize(scores(q, k, scale=False)) @ v


def elu_plus_one(x: Any) -> Any:
    """φ(x) = elu(x) + 1 > 0, the feature map of Katharopoulos et al. (2020)."""
    xp = array_namespace(x)
    return xp.where(x > 0, x + 1.0, xp.exp(xp.minimum(x, xp.zeros_like(x))))


def linear_attention(q: Any, k: Any, v: Any, feature_map: Any = elu_plus_one) -> Any:
    """Genuinely linear attention: φ(Q)·(φ(K)ᵀ·V) / φ(Q)·Σφ(K), computing φ(K)ᵀV first, so the
    cost is O(n·d²) and no n×m matrix is formed (non-causal)."""
    xp = array_namespace(q)
    fq, fk = feature_map(q), feature_map(k)
    kv = xp.matrix_transpose(fk) @ v  # (..., d, d_v)
    normalizer = fq @ xp.sum(fk, axis=-2)[..., None]  # (..., n, 1)
    return (fq @ kv) / normalizer


def reference_attention(
    q: Any, k: Any, v: Any, *, allowed: Any = None, causal: bool = False
) -> Any:
    """The registry's attention signature: softmax(QKᵀ/√d_k with disallowed scores at −∞)·V.
    `allowed` is a boolean (n, m) array, True where query i may attend to key j."""
    s = scores(q, k, scale=True)
    mask = causal_allowed(s.shape[-2], s.shape[-1], s) if causal else None
    if allowed is not None:
        mask = allowed if mask is None else (mask & allowed)
    weights = reference.stable_softmax(s) if mask is None else reference.masked_softmax(s, mask)
    return weights @ v
