"""What the registry holds: an Implementation (a function and what it supports) and an ImplCase
(one implementation on one device in one dtype, the unit a conformance check runs on)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

from softmax_claimcheck.impl.attention import sdpa_keywords

ALL_DTYPES = ("float64", "float32", "float16", "bfloat16")
NUMPY_DTYPES = ("float64", "float32", "float16")  # numpy has no bfloat16

# (device, dtype) -> None when the implementation can run there, else the reason it cannot.
Availability = Callable[[str, str], "str | None"]


@dataclass(frozen=True)
class KnownDeviation:
    """A property a built-in is known to break, as data on its entry (PyTorch OpInfo's
    DecorateInfo habit). The conformance runner expects it to fail; if it holds, the run fails
    (a strict expected failure), so the data stays true."""

    properties: frozenset[str]
    reason: str
    dtypes: tuple[str, ...] | None = None  # None: every dtype

    def applies(self, property_id: str, dtype: str) -> bool:
        return property_id in self.properties and (self.dtypes is None or dtype in self.dtypes)


@dataclass(frozen=True)
class Implementation:
    id: str
    # "softmax": fn(x, axis=-1) -> weights along axis.
    # "log-softmax": fn(x, axis=-1) -> log of the softmax weights along axis.
    # "normalizer": fn(x, axis=-1) -> an alternative to softmax (the article's brain teasers).
    # "attention": SDPA's calling convention, the one attention convention (impl/attention.py):
    #   fn(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
    #   enable_gqa=False) -> output (..., L, Ev); a boolean attn_mask is True where a query may
    #   attend, a float one is added to the scores; is_causal is top-left tril(ones(L, S)).
    role: str
    backend: str  # "numpy" | "torch"
    fn: Callable[..., Any] = field(compare=False)
    devices: tuple[str, ...]
    dtypes: tuple[str, ...]
    description: str
    tags: frozenset[str] = frozenset()  # e.g. "stable" (claims overflow safety), "row-wise"
    # Probed once per (device, dtype) and cached: a kernel that does not exist here (e.g. the
    # cuDNN attention backend on a CPU) is kept as a case and skipped with this reason.
    available: Availability | None = field(default=None, compare=False)
    known_deviations: tuple[KnownDeviation, ...] = field(default=(), compare=False)

    def known_deviation(self, property_id: str, dtype: str) -> str | None:
        """Why this property is expected to fail here, or None."""
        return next(
            (k.reason for k in self.known_deviations if k.applies(property_id, dtype)), None
        )


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
        if self.impl.available is not None:
            return availability(self.impl, self.device, self.dtype)
        return None

    def asarray(self, values: Any) -> Any:
        """Values (any nested sequence or float64 array) in this case's backend, device, dtype."""
        if self.impl.backend == "numpy":
            return np.asarray(values, dtype=np.dtype(self.dtype))
        import torch

        return torch.as_tensor(np.asarray(values, dtype=np.float64)).to(
            device=self.device, dtype=getattr(torch, self.dtype)
        )

    def rounded(self, values: Any) -> np.ndarray:
        """The values as this case's dtype represents them, back in float64: the exact oracle
        judges an implementation on the inputs it was actually given. A value beyond the
        dtype's range (−1e9 in float16) becomes ±∞ there, a value to record, not a warning."""
        with np.errstate(over="ignore"):
            return to_numpy(self.asarray(values))

    def attention(
        self,
        query: Any,
        key: Any,
        value: Any,
        attn_mask: Any = None,
        is_causal: bool = False,
        scale: float | None = None,
    ) -> Any:
        """The attention in SDPA's calling convention (the only one): query, key, value and a
        float attn_mask in this case's backend, device and dtype, a boolean mask (True where a
        query may attend) kept boolean. As the seam does (impl/loading.py), only keywords that
        differ from the defaults are passed, by keyword, and never attn_mask with is_causal."""
        if attn_mask is not None and is_causal:
            raise ValueError(
                "SDPA's convention takes attn_mask or is_causal=True, never both: combine them "
                "into one boolean attn_mask (attention.causal_allowed(L, S) & mask)"
            )
        mask = None if attn_mask is None else self._mask(attn_mask)
        kwargs = sdpa_keywords(mask, is_causal, scale)
        q, k, v = (self.asarray(a) for a in (query, key, value))
        with np.errstate(all="ignore"):
            return self.impl.fn(q, k, v, **kwargs)

    def _mask(self, mask: Any) -> Any:
        """A boolean mask on this case's device; a float (additive) mask in its dtype too."""
        if not hasattr(mask, "dtype"):
            mask = np.asarray(mask)
        if str(mask.dtype) not in ("bool", "torch.bool"):
            return self.asarray(mask)
        if self.impl.backend == "numpy":
            return np.asarray(mask.cpu() if hasattr(mask, "cpu") else mask)
        import torch

        return torch.as_tensor(mask, device=self.device)

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


@cache
def availability(implementation: Implementation, device: str, dtype: str) -> str | None:
    """The implementation's own probe, run once per (device, dtype) in a session."""
    assert implementation.available is not None
    return implementation.available(device, dtype)
