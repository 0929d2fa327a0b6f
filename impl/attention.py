"""Attention variants the article discusses, written once for numpy and torch (Array API), and
the meaning of SDPA's calling convention (the one attention convention) for our attentions.

Shapes: q (..., n, d), k (..., m, d), v (..., m, d_v). In `scores`, `scale=True` divides the
scores by √d_k.
"""

from __future__ import annotations

import math
from typing import Any

from array_api_compat import array_namespace, device

from softmax_claimcheck.impl import reference
from softmax_claimcheck.impl.unsupported import NotSupported


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


# -- SDPA's calling convention: the one attention convention ------------------------------------
# Every attention under test, built-in or a user's, is called as
# torch.nn.functional.scaled_dot_product_attention is: f(query, key, value, attn_mask=None,
# dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False). These helpers give that
# convention its one meaning for our own attentions.
def sdpa_mask(query: Any, key: Any, attn_mask: Any = None, is_causal: bool = False) -> Any:
    """The one mask SDPA's arguments describe, or None: `is_causal` is SDPA's top-left aligned
    tril(ones(L, S)) (query i sees keys j ≤ i); `attn_mask` is boolean (True where a query may
    attend) or a float mask added to the scores. Both together are an error, as in SDPA."""
    one_mask_only(attn_mask, is_causal)
    if is_causal:
        return causal_allowed(query.shape[-2], key.shape[-2], query)
    return attn_mask


def sdpa_keywords(attn_mask: Any, is_causal: bool, scale: Any) -> dict[str, Any]:
    """The keywords a call in SDPA's convention passes after `value`: only those that differ
    from the defaults (a function without `scale` still takes an unscaled call). The callers
    refuse attn_mask together with is_causal first."""
    keywords: dict[str, Any] = {}
    if attn_mask is not None:
        keywords["attn_mask"] = attn_mask
    if is_causal:
        keywords["is_causal"] = True
    if scale is not None:
        keywords["scale"] = scale
    return keywords


def one_mask_only(attn_mask: Any, is_causal: bool) -> None:
    """SDPA rejects attn_mask together with is_causal=True; so does every attention of ours."""
    if is_causal and attn_mask is not None:
        raise ValueError(
            "attn_mask and is_causal=True together: SDPA's convention takes one mask "
            "(combine them into one boolean attn_mask)"
        )


def is_boolean(mask: Any) -> bool:
    return bool(mask.dtype == array_namespace(mask).bool)


def masked_weights(scores: Any, mask: Any) -> Any:
    """softmax of the scores under an SDPA mask: boolean masks set disallowed scores to −∞, a
    float mask is added."""
    if mask is None:
        return reference.stable_softmax(scores)
    if is_boolean(mask):
        return reference.masked_softmax(scores, mask)
    return reference.stable_softmax(scores + mask)


def grouped_heads(query: Any, key: Any, value: Any, enable_gqa: bool) -> tuple[Any, Any]:
    """Key and value with their heads (axis −3) repeated to the query's head count, as SDPA's
    enable_gqa does (grouped-query attention); unchanged without it."""
    if not enable_gqa:
        return key, value
    heads, kv_heads = query.shape[-3], key.shape[-3]
    if kv_heads == 0 or heads % kv_heads or value.shape[-3] != kv_heads:
        raise ValueError(
            f"enable_gqa: query heads ({heads}) must be a multiple of the key/value heads "
            f"({kv_heads}, {value.shape[-3]})"
        )
    xp = array_namespace(query)
    group = heads // kv_heads
    return xp.repeat(key, group, axis=-3), xp.repeat(value, group, axis=-3)


def no_dropout(dropout_p: float, who: str) -> None:
    """Our attentions are deterministic: a dropout probability other than 0 is not supported."""
    if dropout_p != 0.0:
        raise NotSupported(f"{who} has no dropout (dropout_p={dropout_p}); it takes 0.0 only")


def reference_attention(
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Any:
    """softmax(QKᵀ·scale + mask)·V in SDPA's calling convention, scale 1/√d_k by default; a
    disallowed score (boolean mask False) is −∞."""
    no_dropout(dropout_p, "the reference attention")
    key, value = grouped_heads(query, key, value, enable_gqa)
    mask = sdpa_mask(query, key, attn_mask, is_causal)
    s = scores(query, key, True if scale is None else scale)
    return masked_weights(s, mask) @ value
