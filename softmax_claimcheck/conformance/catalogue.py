"""The catalogue of conformance properties: data (id, title, the statement shown) plus the check
function (softmax_properties.py, attention_properties.py), for the softmax, log-softmax and
attention contracts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from softmax_claimcheck.conformance import attention_properties as AP
from softmax_claimcheck.conformance import range_properties as RP
from softmax_claimcheck.conformance import softmax_properties as SP
from softmax_claimcheck.conformance.harness import Ctx


@dataclass(frozen=True)
class Property:
    id: str
    kinds: tuple[str, ...]
    title: str
    statement: str
    check: Callable[[Ctx], None]


S, L, A = "softmax", "log-softmax", "attention"
SL = (S, L)
CATALOGUE: tuple[Property, ...] = (
    Property(
        "values",
        SL,
        "matches the exact oracle",
        "every output is within the dtype's tolerance of the exact (mpmath) result, on row "
        f"lengths {', '.join(map(str, SP.VALUE_LENGTHS))}",
        SP.check_values,
    ),
    Property(
        "sums-to-one",
        (S,),
        "sums to one",
        "each row of the output sums to 1 within the dtype's rounding",
        SP.check_sums_to_one,
    ),
    Property(
        "non-negative",
        (S,),
        "non-negative",
        "no output is negative or NaN, on ordinary, huge and −∞ scores",
        SP.check_non_negative,
    ),
    Property(
        "non-positive",
        (L,),
        "outputs ≤ 0",
        "no output is positive or NaN, on ordinary, huge and −∞ scores",
        SP.check_non_positive,
    ),
    Property(
        "zero-at-neg-inf",
        SL,
        "exact zero weight at −∞",
        "a −∞ score gets exactly 0 (log-softmax: stays −∞), whatever the finite scores beside "
        "it (also below −10⁴, and at every magnitude down to the dtype's −max: a kernel that "
        "takes any score below a large negative constant as masked fails)",
        SP.check_zero_at_neg_inf,
    ),
    Property(
        "logsumexp-zero",
        (L,),
        "logsumexp of the output is 0",
        "log Σ exp(output) = 0 for every row",
        SP.check_logsumexp_zero,
    ),
    Property(
        "agrees-with-log-softmax",
        (L,),
        "agrees with log(softmax) where finite",
        "equals log of the exact softmax wherever that is finite",
        SP.check_agrees_with_log_softmax,
    ),
    Property(
        "shift-invariance",
        SL,
        "shift invariance",
        "f(x + c) = f(x) for c = 1000, 100, ±8 (where x + c is exact in the dtype)",
        SP.check_shift_invariance,
    ),
    Property(
        "large-scores",
        SL,
        "large finite scores do not overflow",
        "scores around 1000 and 8000, on rows of 5 and 40, and rows at every magnitude from "
        "2¹⁴ up to the dtype's max, give the exact (finite) result",
        SP.check_large_scores,
    ),
    Property(
        "very-negative-scores",
        SL,
        "very negative rows do not underflow to NaN",
        "scores around −1000 and −8000, on rows of 5 and 40, and rows at every magnitude from "
        "−2¹⁴ down to the dtype's −max, give the exact (finite) result (a kernel that takes "
        "scores below a large negative constant as masked fails)",
        SP.check_very_negative,
    ),
    Property(
        "whole-range",
        SL,
        "scores spread to the dtype's limits",
        "rows spread to ±max/2 (maximum first, in the middle, last), large positive beside "
        "large negative, one huge score among 1024 tiny ones (subnormal, normal, ±eps), and "
        "scores beyond float16's range where the dtype holds them give the exact result: a "
        "shift by the mean, the minimum or the first element instead of the maximum, or "
        "bfloat16 computed through float16, fails",
        RP.check_whole_range,
    ),
    Property(
        "long-rows",
        SL,
        "long rows and block boundaries",
        f"rows of {', '.join(f'{n:,}' for n in RP.LONG_ROW_LENGTHS)} (65,536 and more, and "
        "just past powers of two and block sizes), the maximum last, give the exact result: "
        "a dropped tail or blocks merged without rescaling fail",
        RP.check_long_rows,
    ),
    Property(
        "small-weights",
        SL,
        "small weights relatively accurate",
        "each weight that is a normal number of the dtype (finfo's smallest_normal) is within "
        "the calibrated relative tolerance of the exact one (log-softmax: in log space), on "
        "weights from 1 down past the smallest subnormal: flushed, truncated or mis-scaled "
        "small weights fail; the subnormal range is judged absolutely",
        RP.check_small_weights,
    ),
    Property(
        "axis-last",
        SL,
        "last axis of N-D input",
        "the softmax is taken along the requested last axis (as −1 and as a positive index)",
        SP.check_axis_last,
    ),
    Property(
        "axis-non-last",
        SL,
        "non-last axis of N-D input",
        "the softmax is taken along a requested axis that is not the last",
        SP.check_axis_non_last,
    ),
    Property(
        "shape-and-dtype",
        SL,
        "output shape, dtype, kind and device equal the input's",
        "no silent upcast or downcast; numpy in, numpy out; tensor in, tensor on the same "
        "device out",
        SP.check_shape_and_dtype,
    ),
    Property(
        "input-not-modified",
        SL,
        "the input is not modified",
        "the caller's array is bitwise unchanged after the call",
        SP.check_input_not_modified,
    ),
    Property(
        "deterministic",
        SL,
        "same input, same output",
        "two calls on the same input give bitwise equal outputs",
        SP.check_deterministic,
    ),
    Property(
        "batch-independence",
        SL,
        "rows are independent",
        "a row's result does not depend on the other rows of the batch",
        SP.check_batch_independence,
    ),
    Property(
        "gradient",
        SL,
        "gradient matches the closed form",
        "autograd's gradient equals the closed form (softmax: s ⊙ (g − Σgs); log-softmax: "
        "g − s·Σg) within the calibrated tolerance",
        SP.check_gradient,
    ),
    Property(
        "fully-masked-row",
        SL,
        "fully masked row (behaviour)",
        "what an all −∞ row gives (nan, zeros, uniform, ...) is recorded; it fails only "
        "against --fully-masked, and the other rows must stay right",
        SP.check_fully_masked_softmax,
    ),
    # attention
    Property(
        "values",
        (A,),
        "matches the exact oracle",
        "softmax(QKᵀ/√d)·V within the dtype's tolerance of the exact result",
        AP.check_attention_values,
    ),
    Property(
        "shape-and-dtype",
        (A,),
        "output shape, dtype, kind and device",
        "output is (..., L, Ev) in the input's dtype, kind and device",
        AP.check_attention_shape_and_dtype,
    ),
    Property(
        "causal",
        (A,),
        "causal masking",
        "is_causal=True: query i attends to keys j ≤ i",
        AP.check_causal,
    ),
    Property(
        "causal-lengths-differ",
        (A,),
        "causal masking, L ≠ S",
        "is_causal=True with query and key lengths that differ: the top-left aligned mask "
        "tril(ones(L, S)), as SDPA documents",
        AP.check_causal_lengths_differ,
    ),
    Property(
        "boolean-mask",
        (A,),
        "boolean mask (True = may attend)",
        "a boolean attn_mask of shape (L, S) keeps exactly the True positions",
        AP.check_boolean_mask,
    ),
    Property(
        "custom-scale",
        (A,),
        "custom scale",
        "scale=0.3 and scale=1.0 replace 1/√d",
        AP.check_custom_scale,
    ),
    Property(
        "head-sizes-differ",
        (A,),
        "d_qk ≠ d_v",
        "query/key head size 4 with value head size 6, and 8 with 3",
        AP.check_head_sizes_differ,
    ),
    Property(
        "no-leak-from-masked-keys",
        (A,),
        "no leak from masked keys",
        "masked keys get no weight whatever their scores (±30000) and whatever the allowed "
        "keys' scores",
        AP.check_no_leak,
    ),
    Property(
        "large-scores",
        (A,),
        "large and very negative scores",
        "scores around ±1000 give the exact (finite) result",
        AP.check_attention_large_scores,
    ),
    Property(
        "input-not-modified",
        (A,),
        "inputs not modified",
        "q, k and v are bitwise unchanged",
        AP.check_attention_input_not_modified,
    ),
    Property(
        "deterministic",
        (A,),
        "same input, same output",
        "two calls give bitwise equal outputs",
        AP.check_attention_deterministic,
    ),
    Property(
        "batch-independence",
        (A,),
        "batch elements are independent",
        "a batch element's output does not depend on the others",
        AP.check_attention_batch_independence,
    ),
    Property(
        "gradient",
        (A,),
        "dQ, dK, dV against float64",
        "autograd's dQ, dK, dV match float64 autograd of the exact formula within the "
        "calibrated tolerance",
        AP.check_attention_gradient,
    ),
    Property(
        "fully-masked-row",
        (A,),
        "fully masked row (behaviour)",
        "what a query that may attend to no key gives (nan, zeros, uniform) is recorded; it "
        "fails only against --fully-masked",
        AP.check_attention_fully_masked,
    ),
)


def catalogue(kind: str) -> list[Property]:
    return [p for p in CATALOGUE if kind in p.kinds]
