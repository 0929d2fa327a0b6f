"""Library kernels as implementations under test."""

from __future__ import annotations

from typing import Any


def torch_softmax(x: Any, axis: int = -1) -> Any:
    import torch

    return torch.softmax(x, dim=axis)
