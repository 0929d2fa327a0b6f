"""Deliberately broken softmaxes of the kinds the conformance command once let through: torch
softmaxes whose output has no gradient path (they read "not supported" for the gradient
property and conformed), and callables it refused outright (`f(x)` with no axis keyword, objects
with `__call__`, `nn.Module`s). tests/conformance/test_broken_callables.py requires the command
to fail each one with the property named; the correct controls beside them must conform.

Not in the default registry; the command loads them by name, e.g.
`softmax-claimcheck conform softmax_claimcheck.impl.broken_callables:detached_softmax` or
`...broken_callables:HalfTemperatureSoftmax()` (an instance, made from literal arguments).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


# -- no gradient path (the gradient property) ---------------------------------------------------
def detached_softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Right values, but `.detach()`ed: a model built on it never trains what feeds it."""
    return torch.softmax(x, dim=dim).detach()


def numpy_roundtrip_softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Computed in float64 numpy and converted back: right values, no autograd graph."""
    z = x.detach().to("cpu", torch.float64).numpy()
    e = np.exp(z - z.max(axis=dim, keepdims=True))
    out = torch.from_numpy(e / e.sum(axis=dim, keepdims=True))
    return out.to(device=x.device, dtype=x.dtype)


class NoGradSoftmax(torch.nn.Module):
    """An nn.Module whose forward runs under torch.no_grad() (an inference-only kernel
    wrapper): its output carries no graph."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.softmax(x, dim=-1)


no_grad_softmax_module = NoGradSoftmax()


# -- callables the command refused (f(x), __call__, nn.Module) ---------------------------------
def first_axis_softmax(x: Any) -> Any:
    """f(x) that normalizes over the first axis instead of the last: right on a single
    vector only."""
    e = np.exp(x - np.max(x, axis=0, keepdims=True))
    return e / np.sum(e, axis=0, keepdims=True)


class UnshiftedSoftmax:
    """A callable object (no function) that skips the max shift: exp overflows for large
    scores."""

    def __call__(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            e = np.exp(x)
            return e / np.sum(e, axis=-1, keepdims=True)


unshifted_softmax_object = UnshiftedSoftmax()


class HalfTemperatureSoftmax(torch.nn.Module):
    """An nn.Module that divides the scores by 2 (a temperature left in by mistake): smooth,
    sums to one, wrong values."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(x / 2, dim=-1)
