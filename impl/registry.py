"""The registry: every implementation under test has an id, a backend, the devices and dtypes it
supports and what it is. Checks reach implementations only through `cases()`, one switch
(array-api-tests' habit), with parametrize ids that read well: `torch-softmax-cpu-float32`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import pytest

from impl import attention, library, reference

ALL_DTYPES = ("float64", "float32", "float16", "bfloat16")
NUMPY_DTYPES = ("float64", "float32", "float16")  # numpy has no bfloat16


@dataclass(frozen=True)
class Implementation:
    id: str
    # "softmax": fn(x, axis=-1) -> weights along axis.
    # "attention": fn(q, k, v, *, allowed=None, causal=False) -> output (..., n, d_v), scores
    #   scaled by 1/sqrt(d_k); `allowed` is a boolean (n, m) mask, True where attention may go.
    role: str
    backend: str  # "numpy" | "torch"
    fn: Callable[..., Any] = field(compare=False)
    devices: tuple[str, ...]
    dtypes: tuple[str, ...]
    description: str
    tags: frozenset[str] = frozenset()  # e.g. "stable" (claims overflow safety), "row-wise"


@dataclass(frozen=True)
class ImplCase:
    """One implementation on one device in one dtype: the unit a conformance check runs on."""

    impl: Implementation
    device: str
    dtype: str

    def __str__(self) -> str:
        return f"{self.impl.id}-{self.device}-{self.dtype}"

    def labels(self) -> dict[str, str]:
        return {"implementation": self.impl.id, "device": self.device, "dtype": self.dtype}

    def skip_reason(self) -> str | None:
        if self.device == "cuda" and not cuda_available():
            return "no CUDA device on this machine"
        return None

    def asarray(self, values: Any) -> Any:
        """Values (any nested sequence or float64 array) in this case's backend, device, dtype."""
        if self.impl.backend == "numpy":
            return np.asarray(values, dtype=np.dtype(self.dtype))
        import torch

        return torch.as_tensor(np.asarray(values, dtype=np.float64)).to(
            device=self.device, dtype=getattr(torch, self.dtype)
        )

    def call(self, *arrays: Any, **kwargs: Any) -> Any:
        """Call the implementation with each array converted to this case's backend, device and
        dtype (booleans, e.g. masks, keep their dtype); other arguments pass through."""
        converted = [self.asarray(a) for a in arrays]
        kwargs = {k: self._convert_mask(v) for k, v in kwargs.items()}
        with np.errstate(all="ignore"):
            return self.impl.fn(*converted, **kwargs)

    def _convert_mask(self, value: Any) -> Any:
        if isinstance(value, np.ndarray) and value.dtype == np.bool_:
            if self.impl.backend == "numpy":
                return value
            import torch

            return torch.as_tensor(value, device=self.device)
        return value

    def run(self, values: Any, axis: int = -1) -> Any:
        """The implementation's output. Overflow to inf/NaN is a result to judge, not an error,
        so numpy's floating-point warnings are silenced here (torch emits none)."""
        with np.errstate(all="ignore"):
            return self.impl.fn(self.asarray(values), axis=axis)

    def run_float64(self, values: Any, axis: int = -1) -> np.ndarray:
        """Run, then hand the result back as a float64 numpy array for comparison."""
        return to_numpy(self.run(values, axis=axis))

    @property
    def eps(self) -> float:
        import torch

        return float(torch.finfo(getattr(torch, self.dtype)).eps)


def to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        return value.detach().to("cpu").double().numpy()
    return np.asarray(value, dtype=np.float64)


@cache
def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _builtin() -> list[Implementation]:
    both = ("cpu", "cuda")
    return [
        Implementation(
            "numpy-stable",
            "softmax",
            "numpy",
            reference.stable_softmax,
            ("cpu",),
            NUMPY_DTYPES,
            "row-wise max shift, exp, normalize (numpy)",
            frozenset({"stable", "row-wise"}),
        ),
        Implementation(
            "numpy-naive",
            "softmax",
            "numpy",
            reference.naive_softmax,
            ("cpu",),
            NUMPY_DTYPES,
            "textbook formula without the shift (numpy)",
            frozenset({"row-wise"}),
        ),
        Implementation(
            "numpy-article",
            "softmax",
            "numpy",
            reference.article_softmax,
            ("cpu",),
            NUMPY_DTYPES,
            "the article's three-line function exactly as printed",
            frozenset({"stable"}),
        ),
        Implementation(
            "torch-stable",
            "softmax",
            "torch",
            reference.stable_softmax,
            both,
            ALL_DTYPES,
            "row-wise max shift, exp, normalize (torch ops)",
            frozenset({"stable", "row-wise"}),
        ),
        Implementation(
            "torch-naive",
            "softmax",
            "torch",
            reference.naive_softmax,
            both,
            ALL_DTYPES,
            "textbook formula without the shift (torch ops)",
            frozenset({"row-wise"}),
        ),
        Implementation(
            "torch-article",
            "softmax",
            "torch",
            reference.article_softmax,
            both,
            ALL_DTYPES,
            "the article's three-line function, on torch tensors",
            frozenset({"stable"}),
        ),
        Implementation(
            "torch-softmax",
            "softmax",
            "torch",
            library.torch_softmax,
            both,
            ALL_DTYPES,
            "torch.softmax (library kernel)",
            frozenset({"stable", "row-wise", "library"}),
        ),
        Implementation(
            "numpy-attention",
            "attention",
            "numpy",
            attention.reference_attention,
            ("cpu",),
            NUMPY_DTYPES,
            "softmax(QKᵀ/√d_k + −∞ mask)·V (numpy)",
            frozenset({"masking", "reference"}),
        ),
        Implementation(
            "torch-attention",
            "attention",
            "torch",
            attention.reference_attention,
            both,
            ALL_DTYPES,
            "softmax(QKᵀ/√d_k + −∞ mask)·V (torch ops)",
            frozenset({"masking", "reference"}),
        ),
    ]


_REGISTRY: dict[str, Implementation] = {i.id: i for i in _builtin()}


def register(implementation: Implementation) -> None:
    if implementation.id in _REGISTRY:
        raise ValueError(f"implementation id {implementation.id!r} is already registered")
    _REGISTRY[implementation.id] = implementation


def get(impl_id: str) -> Implementation:
    try:
        return _REGISTRY[impl_id]
    except KeyError:
        raise KeyError(
            f"unknown implementation {impl_id!r}; known: {', '.join(_REGISTRY)}"
        ) from None


def implementations(role: str = "softmax", tags: Iterable[str] = ()) -> list[Implementation]:
    wanted = set(tags)
    return [i for i in _REGISTRY.values() if i.role == role and wanted <= i.tags]


def cases(
    role: str = "softmax",
    *,
    tags: Iterable[str] = (),
    ids: Sequence[str] | None = None,
    dtypes: Sequence[str] = ALL_DTYPES,
    devices: Sequence[str] = ("cpu", "cuda"),
    backend: str | None = None,
) -> list[Any]:
    """pytest params for every (implementation, device, dtype) matching the filters; cases that
    cannot run here are kept and skipped with their reason, so the report shows them."""
    chosen = [get(i) for i in ids] if ids is not None else implementations(role, tags)
    params = []
    for implementation in chosen:
        if backend is not None and implementation.backend != backend:
            continue
        for device in implementation.devices:
            if device not in devices:
                continue
            for dtype in implementation.dtypes:
                if dtype not in dtypes:
                    continue
                case = ImplCase(implementation, device, dtype)
                reason = case.skip_reason()
                marks = [pytest.mark.skip(reason=reason)] if reason else []
                params.append(pytest.param(case, id=str(case), marks=marks))
    return params
