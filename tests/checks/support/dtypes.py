"""Dtype facts and plain array operations in every backend and dtype.

`finfo` gives a dtype's limits (max, min, eps) by name; `op_cases` runs an operation that is not
an implementation under test (exp, plain arithmetic) in every backend × device × dtype, through
the registry's own case-building.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from array_api_compat import array_namespace

from softmax_claimcheck.impl.registry import ALL_DTYPES, NUMPY_DTYPES, Implementation, Registry


def finfo(dtype: str) -> Any:
    """torch.finfo of a dtype named as the registry names it ("float16", "bfloat16", ...)."""
    import torch

    return torch.finfo(getattr(torch, dtype))


def op_cases(name: str, fn: Callable[..., Any], description: str) -> list[Any]:
    """pytest params, one per backend × device × dtype, for an operation that is not an
    implementation under test (exp, dot products, plain arithmetic). The op lives in a registry
    of its own, so no softmax or attention check picks it up and it is in no claim's scope (its
    checks are shown, never decide, unless the claim names no scope)."""
    ops = [
        Implementation(f"{name}-numpy", "op", "numpy", fn, ("cpu",), NUMPY_DTYPES, description),
        Implementation(
            f"{name}-torch", "op", "torch", fn, ("cpu", "cuda"), ALL_DTYPES, description
        ),
    ]
    return Registry(ops).cases(ids=[op.id for op in ops])


def exp_op(x: Any, axis: int = -1) -> Any:
    """exp, elementwise (the axis is ignored: it is there for ImplCase.run's signature)."""
    return array_namespace(x).exp(x)


def identity(x: Any, axis: int = -1) -> Any:
    """No operation: for cases whose checks only need the conversion to backend and dtype."""
    return x
