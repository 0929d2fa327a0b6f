"""Measuring how an attention variant's cost grows with the sequence length n.

Two deterministic measures, no timing:
* matmul FLOPs, counted by torch's FlopCounterMode (torch backends only; it counts matrix
  products, not elementwise steps);
* the largest intermediate: the largest array any op produces, elementwise ones included
  (torch: a dispatch mode sees every op; numpy: an ndarray subclass sees every new array).
The growth exponent is the log-log slope over the last doubling of n.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

SEQUENCE_LENGTHS = (16, 32, 64, 128, 256)
HEAD_DIM = 8
LINEAR_MAX_SLOPE = 1.15  # "O(n)": log-log slope at most this
QUADRATIC_MIN_SLOPE = 1.85  # "O(n²)": log-log slope at least this


def growth_exponent(lengths: Sequence[float], costs: Sequence[float]) -> float:
    """Local exponent over the last step, log(c₂/c₁) / log(n₂/n₁): O() is about large n, and
    a fixed overhead at small n would flatten a fit over all lengths."""
    (n1, n2), (c1, c2) = lengths[-2:], costs[-2:]
    return math.log(c2 / c1) / math.log(n2 / n1)


def random_qkv(case: Any, n: int, d: int = HEAD_DIM, seed: int = 0) -> tuple[Any, ...]:
    """Standard normal Q, K, V of n tokens in the case's backend, device and dtype."""
    rng = np.random.default_rng(seed)
    return tuple(case.asarray(rng.normal(size=(n, d))) for _ in range(3))


def matmul_flops(fn: Callable[..., Any], *arrays: Any) -> int:
    """FLOPs of the matrix products fn performs on torch tensors."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn(*arrays)
    return int(counter.get_total_flops())


def largest_intermediate(fn: Callable[..., Any], *arrays: Any) -> int:
    """Elements of the largest array fn creates (every op's output, elementwise ones included)."""
    if hasattr(arrays[0], "detach"):
        return _largest_torch_output(fn, *arrays)
    return _largest_numpy_output(fn, *arrays)


def _largest_torch_output(fn: Callable[..., Any], *arrays: Any) -> int:
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves

    class LargestOutput(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.largest = 0

        def __torch_dispatch__(
            self, func: Any, types: Any, args: Any = (), kwargs: Any = None
        ) -> Any:
            out = func(*args, **(kwargs or {}))
            sizes = [t.numel() for t in tree_leaves(out) if isinstance(t, torch.Tensor)]
            self.largest = max([self.largest, *sizes])
            return out

    with LargestOutput() as mode:
        fn(*arrays)
    return mode.largest


class _TrackedArray(np.ndarray):
    """An ndarray that notes the size of every array numpy creates from it (ufunc outputs,
    array-function results, views): numpy's counterpart of the torch dispatch mode."""

    largest = 0

    def __array_finalize__(self, obj: Any) -> None:
        _TrackedArray.largest = max(_TrackedArray.largest, self.size)


def _largest_numpy_output(fn: Callable[..., Any], *arrays: Any) -> int:
    tracked = [np.asarray(a).view(_TrackedArray) for a in arrays]
    _TrackedArray.largest = 0
    with np.errstate(all="ignore"):
        fn(*tracked)
    return _TrackedArray.largest


def cost_table(
    measure: Callable[..., int], fn: Callable[..., Any], case: Any
) -> tuple[list[int], float]:
    """measure(fn, q, k, v) at every sequence length, and the fitted growth exponent."""
    costs = [measure(fn, *random_qkv(case, n)) for n in SEQUENCE_LENGTHS]
    return costs, growth_exponent(SEQUENCE_LENGTHS, costs)
