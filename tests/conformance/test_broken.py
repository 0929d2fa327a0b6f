"""Every deliberately broken implementation is caught by the conformance command, with the
property named; the hidden ones (right on the happy path) only where they are wrong."""

from __future__ import annotations

import pytest

from softmax_claimcheck.impl import broken

# name -> (the property that must fail, the only dtypes it may fail in, or None for any)
SOFTMAX = {
    # the bugs the issue names
    "wrong_output_dtype": ("shape-and-dtype", None),
    "modifies_input": ("input-not-modified", None),
    "neg_inf_to_finite": ("zero-at-neg-inf", None),
    "batch_normalized": ("batch-independence", None),
    "axis_ignored": ("axis-non-last", None),
    # hidden: only some lengths, axes, shapes, dtypes or values
    "long_rows_unshifted": ("large-scores", None),  # rows longer than 32
    "positive_axis_wrong": ("axis-last", None),  # axis given as a positive index
    "float16_unshifted": ("large-scores", {"float16"}),  # float16 only
    "float32_via_float16": ("values", {"float32"}),  # float32 only
    "block_tail_dropped": ("values", None),  # row lengths not a multiple of 16
    "vector_unnormalized": ("sums-to-one", None),  # 1-D input only
    "nd_second_last": ("axis-last", None),  # 3-D and larger input only
    "clamps_low_scores": ("very-negative-scores", None),  # scores below −100 only
    "big_batch_global_max": ("batch-independence", None),  # batches of more than 8 rows only
    "approximate_exp": ("values", None),  # scores 8 or more below the row max only
    "length_one_zero": ("values", None),  # rows of length 1 only
    "bfloat16_returns_float32": ("shape-and-dtype", {"bfloat16"}),  # bfloat16 only
    "reshape_not_transpose": ("axis-non-last", None),  # non-last axes only
    # the article checks' teeth (impl/broken.py SOFTMAXES)
    "no_max_shift": ("large-scores", None),
    "wrong_axis": ("axis-last", None),
    "global_max": ("batch-independence", None),
    "no_normalization": ("sums-to-one", None),
    "exp2_instead_of_exp": ("values", None),
    "float16_inside": ("values", {"float64", "float32"}),
    "sum_skips_last": ("sums-to-one", None),
}
LOG_SOFTMAX = {
    # float64 too since the inputs reach the dtype's limits (log of an underflowed weight)
    "log_softmax_via_log": ("agrees-with-log-softmax", None),
    "log_softmax_sign": ("logsumexp-zero", None),
}
ATTENTION = {
    "sdpa_scale_by_d": ("values", None),  # wrong scale
    "sdpa_scale_ignored": ("custom-scale", None),
    "sdpa_causal_off_by_one": ("causal", None),
    "sdpa_causal_bottom_right": ("causal-lengths-differ", None),  # only when L ≠ S
    "sdpa_mask_inverted": ("boolean-mask", None),
    "sdpa_additive_finite_mask": ("no-leak-from-masked-keys", None),  # only huge masked scores
    "sdpa_scale_from_value": ("head-sizes-differ", None),  # only when d_v ≠ d_qk
    "sdpa_long_keys_truncated": ("values", None),  # only more than 16 keys
    "sdpa_first_batch_keys": ("batch-independence", None),
    "sdpa_scales_query_in_place": ("input-not-modified", None),
    "sdpa_half_returns_float32": ("shape-and-dtype", {"float16"}),  # float16 only
    "sdpa_detached_weights": ("gradient", None),
    "sdpa_mask_after_softmax": ("boolean-mask", None),
    # the article checks' teeth (impl/broken.py ATTENTIONS, Implementation objects)
    "mask_after_softmax_attention": ("boolean-mask", None),
    "scaled_by_d_k_attention": ("values", None),
    "causal_ignored_attention": ("causal", None),
}
CASES = [
    *((name, "softmax", *v) for name, v in SOFTMAX.items()),
    *((name, "log-softmax", *v) for name, v in LOG_SOFTMAX.items()),
    *((name, "attention", *v) for name, v in ATTENTION.items()),
]


def test_catalogue_is_covered() -> None:
    """Every bug in the conformance catalogue has an expectation here, and it is big enough."""
    listed = {
        f.__name__
        for f in (
            *broken.CONFORMANCE_SOFTMAXES,
            *broken.CONFORMANCE_LOG_SOFTMAXES,
            *broken.SDPA_ATTENTIONS,
            *broken.SOFTMAXES,
        )
    }
    assert listed <= {name for name, *_ in CASES}
    assert len(CASES) > 40


@pytest.mark.parametrize(("name", "kind", "prop", "only"), CASES, ids=[c[0] for c in CASES])
def test_caught_with_the_property_named(conform, name, kind, prop, only) -> None:
    code, out = conform(f"softmax_claimcheck.impl.broken:{name}", "--kind", kind)
    assert code == 1, out
    failing = [line for line in out.splitlines() if line.startswith(("FAIL: ", "ERROR: "))]
    assert not any(line.startswith("ERROR") for line in failing), out
    caught = [line for line in failing if line.startswith(f"FAIL: {prop} [")]
    assert caught, f"{name} was not caught by {prop}:\n{out}"
    if only is not None:
        dtypes = {line.split("[", 1)[1].split("]")[0].split("/")[1] for line in failing}
        assert dtypes <= only, f"{name} should hide outside {only}; failed in {dtypes}"
