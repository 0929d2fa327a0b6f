"""The bugs that hide in the middle of the range (impl/broken_range.py): each is caught by the
conformance command with the property named, in the dtypes where it is wrong."""

from __future__ import annotations

import pytest

from softmax_claimcheck.impl import broken_range

# name -> (the property that must fail, the only dtypes it may fail in, or None for any)
RANGE = {
    # a shift by something other than the row maximum
    "shift_by_mean": ("whole-range", None),
    "shift_by_mean_torch": ("whole-range", None),
    "shift_by_min": ("whole-range", None),
    "shift_by_min_torch": ("whole-range", None),
    "shift_by_first": ("whole-range", None),
    "shift_by_first_block_max": ("whole-range", None),
    # a large negative constant taken as masked (float16 holds nothing below them)
    "masks_below_minus_1e9": ("zero-at-neg-inf", {"float64", "float32", "bfloat16"}),
    "masks_at_half_finfo_min": ("zero-at-neg-inf", None),
    # bfloat16 through float16
    "bfloat16_via_float16": ("whole-range", {"bfloat16"}),
    "bfloat16_saturated_to_float16": ("whole-range", {"bfloat16"}),
    # long rows and block boundaries
    "long_rows_truncated_at_65535": ("long-rows", None),
    "online_blocks_not_rescaled": ("long-rows", None),
    # small weights flushed, truncated or mis-scaled
    "flushes_below_1e_8": ("small-weights", None),
    "flushes_below_eps_squared": ("small-weights", None),
    "small_weights_via_float32": ("small-weights", {"float64"}),
    "small_weights_truncated_to_8_bits": ("small-weights", {"float32"}),
    "exp_argument_clamped": ("small-weights", None),
    "epsilon_added": ("small-weights", None),
}


def test_every_range_bug_has_an_expectation() -> None:
    assert {f.__name__ for f in broken_range.RANGE_SOFTMAXES} == set(RANGE)


@pytest.mark.parametrize(
    ("name", "prop", "only"), [(n, *v) for n, v in RANGE.items()], ids=list(RANGE)
)
def test_caught_with_the_property_named(conform, name, prop, only) -> None:
    code, out = conform(f"softmax_claimcheck.impl.broken_range:{name}", "--kind", "softmax")
    assert code == 1, out
    failing = [line for line in out.splitlines() if line.startswith(("FAIL: ", "ERROR: "))]
    assert not any(line.startswith("ERROR") for line in failing), out
    assert any(line.startswith(f"FAIL: {prop} [") for line in failing), (
        f"{name} was not caught by {prop}:\n{out}"
    )
    if only is not None:
        dtypes = {line.split("[", 1)[1].split("]")[0].split("/")[1] for line in failing}
        assert dtypes <= only, f"{name} should hide outside {only}; failed in {dtypes}"
