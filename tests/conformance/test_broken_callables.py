"""The broken callables of impl/broken_callables.py (issue 21, item 7, for items 4 and 5): each
fails with the property named. Before, the command passed the first three (gradient read "not
supported": "CONFORMS; 52 pass, 4 not supported, 4 behaviour") or refused them with a usage
error (exit 2: an nn.Module, f(x), a callable object, an instance to be made)."""

from __future__ import annotations

import pytest

BROKEN = "softmax_claimcheck.impl.broken_callables"
# target -> the property that must fail (in every dtype it is judged in)
CASES = {
    "detached_softmax": "gradient",
    "numpy_roundtrip_softmax": "gradient",
    "no_grad_softmax_module": "gradient",
    "first_axis_softmax": "axis-last",
    "unshifted_softmax_object": "large-scores",
    "HalfTemperatureSoftmax()": "values",
}


@pytest.mark.parametrize("target", CASES, ids=list(CASES))
def test_caught_with_the_property_named(conform, target: str) -> None:
    code, out = conform(f"{BROKEN}:{target}")
    assert code == 1, out
    prop = CASES[target]
    failing = [line for line in out.splitlines() if line.startswith(("FAIL: ", "ERROR: "))]
    assert not any(line.startswith("ERROR") for line in failing), out
    caught = {
        line.split("[")[1].split("]")[0] for line in failing if line.startswith(f"FAIL: {prop} [")
    }
    assert caught >= {"cpu/float64", "cpu/float32"}, f"{target} not caught by {prop}:\n{out}"


def test_the_gradient_ones_are_right_otherwise(conform) -> None:
    """Only the gradient path is missing: every other property holds."""
    for target in ("detached_softmax", "numpy_roundtrip_softmax", "no_grad_softmax_module"):
        code, out = conform(f"{BROKEN}:{target}")
        assert code == 1 and "(failing: gradient)" in out, out
