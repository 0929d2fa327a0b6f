"""Deliberately broken attentions for the article checks (tests/impl/test_teeth.py): each has one
bug the article's masking and scaling sections warn about. They take SDPA's calling convention
(the one attention convention, impl/attention.py) and are Implementation objects on numpy, so
`--impl softmax_claimcheck.impl.broken:<name>` registers them as attentions (impl/broken.py
re-exports them). NOT in the default registry.
"""

from __future__ import annotations

import math
from typing import Any

from array_api_compat import array_namespace

from softmax_claimcheck.impl import reference
from softmax_claimcheck.impl.attention import (
    grouped_heads,
    is_boolean,
    no_dropout,
    reference_attention,
    scores,
    sdpa_mask,
)
from softmax_claimcheck.impl.model import NUMPY_DTYPES, Implementation


def mask_after_softmax(
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Any:
    """Softmax over every key first, then zero the disallowed weights: the allowed weights no
    longer sum to 1 (the mask must go in before the softmax, as −∞ scores)."""
    xp = array_namespace(query)
    no_dropout(dropout_p, "mask_after_softmax")
    key, value = grouped_heads(query, key, value, enable_gqa)
    weights = reference.stable_softmax(scores(query, key, True if scale is None else scale))
    mask = sdpa_mask(query, key, attn_mask, is_causal)
    if mask is not None:
        allowed = mask if is_boolean(mask) else (mask != -math.inf)
        weights = xp.where(allowed, weights, xp.zeros_like(weights))
    return weights @ value


def scaled_by_d_k(
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Any:
    """Divides the scores by d_k instead of √d_k by default: too flat an attention for d_k > 1
    (a custom scale is honoured)."""
    scale = 1.0 / query.shape[-1] if scale is None else scale
    return reference_attention(
        query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa
    )


def causal_ignored(
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Any:
    """Forgets the causal flag: every query sees the future."""
    return reference_attention(query, key, value, attn_mask, dropout_p, False, scale, enable_gqa)


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
