"""Correct softmaxes in the shapes of callable the command once refused: `f(x)` with no axis
keyword, an object with `__call__`, an nn.Module instance (the conformance controls of
tests/conformance/test_callables.py)."""

from __future__ import annotations

import numpy as np
import torch


def fx_softmax(x: np.ndarray) -> np.ndarray:
    """A softmax over the last axis that takes the array alone."""
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


class SoftmaxObject:
    """A callable instance, with its own state (a scale of 1)."""

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale

    def __call__(self, x: torch.Tensor, dim: int = -1) -> torch.Tensor:
        return torch.softmax(x * self.scale, dim=dim)


softmax_object = SoftmaxObject()
softmax_module = torch.nn.Softmax(dim=-1)


def float16_refusing_fx(x: np.ndarray) -> np.ndarray:
    """f(x) that refuses float16, as many kernels do."""
    if x.dtype == np.float16:
        raise TypeError("float16 is not supported")
    return fx_softmax(x)
