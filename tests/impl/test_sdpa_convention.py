"""SDPA's calling convention is the one attention convention: every built-in attention takes
f(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
enable_gqa=False) with torch's meaning, the seam learns a built-in as it learns a user's
function, and a check's case calls attentions that way only."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pytest
import torch

from softmax_claimcheck.impl import broken
from softmax_claimcheck.impl.loading import KINDS, learn, of_registry
from softmax_claimcheck.impl.model import ImplCase, Implementation
from softmax_claimcheck.impl.registry import Registry
from softmax_claimcheck.impl.unsupported import NotSupported

REGISTRY = Registry.builtin()
SDPA_PARAMETERS = [
    ("query", inspect.Parameter.empty),
    ("key", inspect.Parameter.empty),
    ("value", inspect.Parameter.empty),
    ("attn_mask", None),
    ("dropout_p", 0.0),
    ("is_causal", False),
    ("scale", None),
    ("enable_gqa", False),
]
ATTENTIONS = [i for i in REGISTRY.implementations(role="attention") if "cpu" in i.devices]
ATTENTION_IDS = [i.id for i in ATTENTIONS]
BROKEN = list(broken.ATTENTIONS)


def _float64_case(implementation: Implementation) -> ImplCase:
    case = ImplCase(implementation, "cpu", "float64")
    reason = case.skip_reason()
    if reason:
        pytest.skip(reason)
    return case


def _inputs(gqa: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """q (2, 4, 5, 8), k and v (2, 4 or 2, 7, 8): L ≠ S, so top-left causality is visible."""
    rng = np.random.default_rng(3)
    kv_heads = 2 if gqa else 4
    return (
        rng.normal(size=(2, 4, 5, 8)),
        rng.normal(size=(2, kv_heads, 7, 8)),
        rng.normal(size=(2, kv_heads, 7, 8)),
    )


def _boolean_mask() -> np.ndarray:
    allowed = np.random.default_rng(4).random((5, 7)) < 0.5
    allowed[:, 2] = True  # no row fully masked: SDPA's answer there is not the question here
    return allowed


def _float_mask() -> np.ndarray:
    rng = np.random.default_rng(5)
    added = np.where(rng.random((5, 7)) < 0.3, -np.inf, rng.normal(0.0, 2.0, (5, 7)))
    added[:, 3] = 0.5
    return added


SCENARIOS: dict[str, dict[str, Any]] = {
    "no mask": {},
    "is_causal, L < S (top-left)": {"is_causal": True},
    "boolean attn_mask": {"attn_mask": _boolean_mask()},
    "float attn_mask (added)": {"attn_mask": _float_mask()},
    "custom scale": {"scale": 0.3},
    "enable_gqa": {"enable_gqa": True},
}
# What a built-in honestly cannot do (the adapter raises NotSupported, the check skips saying so)
NOT_SUPPORTED = {("torch-mha", "custom scale"): "always scales the scores by 1/√d_k"}


def _torch(value: Any) -> Any:
    return torch.as_tensor(value) if isinstance(value, np.ndarray) else value


def _as(case: ImplCase, value: Any) -> Any:
    """An argument in the case's backend: a boolean mask stays boolean, arrays take its dtype."""
    if not isinstance(value, np.ndarray):
        return value
    if value.dtype == np.bool_:
        return torch.as_tensor(value) if case.impl.backend == "torch" else value
    return case.asarray(value)


@pytest.mark.parametrize("impl_id", ATTENTION_IDS)
def test_every_builtin_attention_has_sdpas_signature(impl_id: str) -> None:
    params = inspect.signature(REGISTRY.get(impl_id).fn).parameters
    assert [(p.name, p.default) for p in params.values()][:8] == SDPA_PARAMETERS
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in list(params.values())[8:])


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("impl_id", ATTENTION_IDS)
def test_builtin_attention_means_what_sdpa_means(impl_id: str, scenario: str) -> None:
    """Each built-in against torch's own F.scaled_dot_product_attention, in float64."""
    case = _float64_case(REGISTRY.get(impl_id))
    keywords = SCENARIOS[scenario]
    q, k, v = _inputs(gqa=keywords.get("enable_gqa", False))
    expected = torch.nn.functional.scaled_dot_product_attention(
        *(torch.as_tensor(a) for a in (q, k, v)),
        **{name: _torch(value) for name, value in keywords.items()},
    )
    arguments = {name: _as(case, value) for name, value in keywords.items()}
    reason = NOT_SUPPORTED.get((impl_id, scenario))
    try:
        out = case.impl.fn(case.asarray(q), case.asarray(k), case.asarray(v), **arguments)
    except NotSupported as exc:
        if reason is None and not impl_id.startswith("sdpa-"):
            raise AssertionError(f"{impl_id} refused {scenario}: {exc.msg}") from None
        if reason is not None:
            assert reason in exc.msg
            return
        pytest.skip(exc.msg)  # torch has no such SDPA kernel here
    assert reason is None, f"{impl_id} should refuse {scenario}"
    np.testing.assert_allclose(np.asarray(out), expected.numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("fn", [i.fn for i in ATTENTIONS] + [b.fn for b in BROKEN[:2]])
def test_attn_mask_with_is_causal_is_refused_as_sdpa_refuses_it(fn: Any) -> None:
    q = torch.ones(1, 3, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match="one mask"):
        fn(q, q, q, attn_mask=torch.ones(3, 3, dtype=torch.bool), is_causal=True)


@pytest.mark.parametrize(
    "impl_id", [i for i in ATTENTION_IDS if not i.startswith("sdpa-")] + ["broken-causal-ignored"]
)
def test_our_attentions_refuse_dropout(impl_id: str) -> None:
    implementation = next(i for i in (*ATTENTIONS, *BROKEN) if i.id == impl_id)
    case = _float64_case(implementation)
    q = case.asarray(np.ones((1, 3, 4)))
    with pytest.raises(NotSupported, match="dropout"):
        implementation.fn(q, q, q, dropout_p=0.1)


# -- the seam learns a built-in as it learns a user's function ------------------------------------
LEARNABLE = [
    i for i in REGISTRY.implementations(role=None) if i.role in KINDS and "cpu" in i.devices
]


@pytest.mark.parametrize("impl_id", [i.id for i in LEARNABLE])
def test_the_seam_learns_each_builtin_from_its_signature_alone(impl_id: str) -> None:
    """Given only the backend (one function serves numpy and torch), the seam guesses the
    built-in's kind and learns its convention, as for a user's function; `of_registry` (the
    conformance command's way in) agrees. There is no other convention than a user's."""
    implementation = REGISTRY.get(impl_id)
    callee = learn(implementation.fn, impl_id, backend=implementation.backend)
    expected = "sdpa" if implementation.role == "attention" else "axis"
    assert (callee.kind, callee.convention) == (implementation.role, expected)
    from_entry = of_registry(implementation)
    assert (from_entry.kind, from_entry.backend, from_entry.convention, from_entry.supports) == (
        implementation.role,
        implementation.backend,
        expected,
        callee.supports,
    )
    if implementation.role == "attention":
        assert callee.supports == {"attn_mask", "is_causal", "scale"}


# -- a check's case calls attentions in SDPA's convention ------------------------------------------
def _recording(backend: str) -> tuple[Implementation, list[dict[str, Any]]]:
    calls: list[dict[str, Any]] = []

    def attention(query: Any, key: Any, value: Any, **keywords: Any) -> Any:
        calls.append({"query": query, **keywords})
        return query

    implementation = Implementation(
        "recording", "attention", backend, attention, ("cpu",), ("float32",), "records its call"
    )
    return implementation, calls


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_the_case_passes_only_keywords_that_differ_from_sdpas_defaults(backend: str) -> None:
    implementation, calls = _recording(backend)
    case = ImplCase(implementation, "cpu", "float32")
    q = np.ones((3, 4))
    allowed = np.tril(np.ones((3, 3), dtype=bool))
    case.attention(q, q, q)
    case.attention(q, q, q, is_causal=True)
    case.attention(q, q, q, attn_mask=allowed, scale=0.5)
    case.attention(q, q, q, attn_mask=np.where(allowed, 0.0, -np.inf))
    assert [sorted(c) for c in calls] == [
        ["query"],
        ["is_causal", "query"],
        ["attn_mask", "query", "scale"],
        ["attn_mask", "query"],
    ]
    assert calls[1]["is_causal"] is True and calls[2]["scale"] == 0.5
    boolean, added = calls[2]["attn_mask"], calls[3]["attn_mask"]
    assert str(calls[0]["query"].dtype).endswith("float32")
    assert str(boolean.dtype) in ("bool", "torch.bool")  # a boolean mask stays boolean
    assert str(added.dtype).endswith("float32")  # a float mask in the case's dtype
    assert type(boolean).__module__.startswith(backend) and type(added) is type(calls[0]["query"])


def test_the_case_never_passes_a_mask_with_is_causal() -> None:
    implementation, calls = _recording("torch")
    case = ImplCase(implementation, "cpu", "float32")
    q = np.ones((3, 4))
    with pytest.raises(ValueError, match="never both"):
        case.attention(q, q, q, attn_mask=np.ones((3, 3), dtype=bool), is_causal=True)
    assert calls == []
