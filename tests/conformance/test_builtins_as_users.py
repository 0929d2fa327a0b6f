"""The conformance command judges a built-in attention exactly as it judges a user's: the same
function handed over as a plain callable gives the same convention and the same outcome for
every property and dtype (a built-in only adds its known deviations and availability probe)."""

from __future__ import annotations

import pytest

from softmax_claimcheck.conformance import check
from softmax_claimcheck.impl.registry import Registry

REGISTRY = Registry.builtin()
SAME_AS_A_USERS = ("numpy-attention", "torch-attention", "sdpa-math", "torch-mha")


def _outcomes(result) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    return [(c.property, c.dtype, c.outcome) for c in result.checks]


@pytest.mark.parametrize("impl_id", SAME_AS_A_USERS)
def test_a_builtin_attention_is_judged_as_the_same_users_function(impl_id: str) -> None:
    implementation = REGISTRY.get(impl_id)
    assert not implementation.known_deviations  # else the two could not agree
    as_builtin = check(implementation)
    as_users = check(implementation.fn, kind="attention", backend=implementation.backend)
    assert as_builtin.convention == as_users.convention == "sdpa"
    assert _outcomes(as_builtin) == _outcomes(as_users)
    assert as_builtin.ok, as_builtin.summary()
    # SDPA's `scale` keyword reaches the built-in: the property is judged, not "not supported"
    # (nn.MultiheadAttention has no scale: its adapter says so)
    scale = {outcome for prop, _, outcome in _outcomes(as_builtin) if prop == "custom-scale"}
    assert scale == ({"not supported"} if impl_id == "torch-mha" else {"pass"})
