"""`--impl` (the article checks' switch) takes what the conformance command takes: an attention
with SDPA's calling convention, a softmax that warns, declared dtypes and devices; a user's
exception inside a check is a failure of that implementation (an AssertionError), not a crash."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from softmax_claimcheck.impl import pytest_plugin


def test_sdpa_registers_as_a_user_attention() -> None:
    impl = pytest_plugin.from_option("torch.nn.functional:scaled_dot_product_attention")
    assert (impl.id, impl.role, impl.backend) == (
        "user-scaled_dot_product_attention",
        "attention",
        "torch",
    )
    q = torch.randn(2, 3, 4, dtype=torch.float64)
    k = torch.randn(2, 5, 4, dtype=torch.float64)
    allowed = torch.rand(3, 5) < 0.5
    allowed[:, 0] = True
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, k, attn_mask=allowed)
    torch.testing.assert_close(impl.fn(q, k, k, attn_mask=allowed), expected)
    causal = torch.nn.functional.scaled_dot_product_attention(q, k, k, is_causal=True)
    torch.testing.assert_close(impl.fn(q, k, k, is_causal=True), causal)
    scaled = torch.nn.functional.scaled_dot_product_attention(q, k, k, scale=0.3)
    torch.testing.assert_close(impl.fn(q, k, k, scale=0.3), scaled)  # SDPA's own keywords


def test_a_warning_softmax_is_accepted_and_its_warnings_are_not_errors() -> None:
    impl = pytest_plugin.from_option("tests.conformance.controls:warns_softmax")
    assert impl.role == "softmax"
    out = impl.fn(np.array([[0.0, -np.inf, 1.0]]))  # warns twice: recorded, not raised
    np.testing.assert_allclose(out.sum(axis=-1), [1.0])


def test_declared_dtypes_and_devices_narrow_the_cases() -> None:
    impl = pytest_plugin.from_option(
        "tests.conformance.controls:no_float16_softmax",
        dtypes=("float32", "float64"),
        devices=("cpu",),
        fully_masked="nan",
    )
    assert set(impl.dtypes) == {"float32", "float64"} and impl.devices == ("cpu",)
    assert "fully-masked-nan" in impl.tags


def test_a_users_exception_is_a_failure_of_the_implementation() -> None:
    impl = pytest_plugin.from_option("tests.conformance.controls:no_float16_softmax")
    with pytest.raises(AssertionError, match=r"the implementation raised TypeError.*float16"):
        impl.fn(torch.zeros(2, 3, dtype=torch.float16))
