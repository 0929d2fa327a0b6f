"""The two tolerances of docs/design.md, never mixed.

* ClaimTolerance: what the article's printed precision promises (|true - printed| <= bound).
* NumericTolerance: how exact an implementation must be against the exact oracle, per dtype,
  including FlashAttention's self-calibrating rule (at most `factor` times the error of a plain
  reference computed in the same dtype, plus a floor).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np


@dataclass(frozen=True)
class ClaimTolerance:
    bound: float
    description: str

    @classmethod
    def from_spec(
        cls, spec: Mapping[str, float] | None, printed: float | None = None
    ) -> ClaimTolerance:
        """Build from a claim's `tolerance` field ({decimals: k} | {absolute: x} | {relative: r});
        a relative tolerance needs the printed value it is relative to."""
        if not spec:
            raise ValueError("this claim has no 'tolerance' field; numeric claims need one")
        if "decimals" in spec:
            k = int(spec["decimals"])
            return cls(
                0.5 * 10.0**-k, f"printed with {k} decimals: |true − printed| ≤ {0.5 * 10.0**-k:g}"
            )
        if "absolute" in spec:
            return cls(float(spec["absolute"]), f"|true − printed| ≤ {spec['absolute']:g}")
        if "relative" in spec:
            if printed is None:
                raise ValueError("a relative claim tolerance needs the printed value")
            return relative_claim_tolerance(printed, float(spec["relative"]))
        raise ValueError(f"unsupported claim tolerance {dict(spec)!r}")


def relative_claim_tolerance(printed: float, relative: float) -> ClaimTolerance:
    bound = abs(printed) * relative
    return ClaimTolerance(bound, f"|true − printed| ≤ {relative:g}·|printed| = {bound:g}")


@dataclass(frozen=True)
class NumericTolerance:
    atol: float
    rtol: float
    dtype: str

    def bound(self, reference: float) -> float:
        return self.atol + self.rtol * abs(reference)

    def describe(self) -> str:
        return f"{self.dtype}: |measured − exact| ≤ {self.atol:g} + {self.rtol:g}·|exact|"

    def calibrated(
        self, exact: np.ndarray, reference_error: float, factor: float = 2.0
    ) -> np.ndarray:
        """FlashAttention's self-calibrating bound, element by element: `factor` × the error of
        a plain reference in this dtype, plus this dtype's floor (infinities count as 0)."""
        finite = np.abs(np.where(np.isfinite(exact), exact, 0.0))
        return factor * reference_error + self.atol + self.rtol * finite


# Per-dtype defaults: a few units in the last place of a well-conditioned softmax output.
DEFAULT_NUMERIC: Mapping[str, tuple[float, float]] = MappingProxyType(
    {
        "float64": (1e-12, 1e-10),
        "float32": (1e-6, 1e-5),
        "float16": (1e-3, 4e-3),
        "bfloat16": (8e-3, 3e-2),
    }
)


def numeric_tolerance(
    dtype: str, overrides: Mapping[str, tuple[float, float]] | None = None
) -> NumericTolerance:
    """The tolerance for `dtype`, optionally overridden per check (PyTorch's toleranceOverride)."""
    table = {**DEFAULT_NUMERIC, **(overrides or {})}
    if dtype not in table:
        raise KeyError(f"no numeric tolerance for dtype {dtype!r}; known: {', '.join(table)}")
    atol, rtol = table[dtype]
    return NumericTolerance(atol, rtol, dtype)


@dataclass(frozen=True)
class CalibratedTolerance:
    """Self-calibrating bound: error(impl) ≤ factor · error(plain reference, same dtype) + floor."""

    reference_error: float
    factor: float = 2.0
    floor: float = 1e-7

    @property
    def bound(self) -> float:
        return self.factor * self.reference_error + self.floor

    def describe(self) -> str:
        return (
            f"≤ {self.factor:g} × reference error ({self.reference_error:.3g}) + {self.floor:g}"
            f" = {self.bound:.3g}"
        )
