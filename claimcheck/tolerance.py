"""The two tolerances of docs/design.md, never mixed.

* ClaimTolerance: what the article's printed precision promises (|true - printed| <= bound).
* NumericTolerance: how exact an implementation must be against the exact oracle, per dtype,
  including FlashAttention's self-calibrating rule (at most `factor` times the error of a plain
  reference computed in the same dtype, plus a floor), both absolute and, where the exact value
  is a normal number of the dtype, relative to its own size.

What a dtype can hold (its largest finite value, smallest normal and subnormal numbers, eps) is
data read from finfo (`dtype_range`), never guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
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


ACCUMULATION_LANES = 64


@dataclass(frozen=True)
class DtypeRange:
    """What a float dtype can hold, from its finfo: the largest finite value, the smallest
    normal number (finfo's `smallest_normal`, alias `tiny`), the smallest subnormal one, eps."""

    dtype: str
    max: float
    smallest_normal: float
    smallest_subnormal: float
    eps: float


@cache
def dtype_range(dtype: str) -> DtypeRange:
    """numpy's finfo for float16/32/64; torch's for bfloat16 (numpy has none). torch.finfo has
    no smallest_subnormal: for these IEEE-style formats it is smallest_normal × eps (the spacing
    of the subnormals), which numpy's finfo confirms for its own dtypes."""
    if dtype == "bfloat16":
        import torch

        info = torch.finfo(torch.bfloat16)
        normal, eps = float(info.smallest_normal), float(info.eps)
        return DtypeRange(dtype, float(info.max), normal, normal * eps, eps)
    np_info = np.finfo(np.dtype(dtype))
    return DtypeRange(
        dtype,
        float(np_info.max),
        float(np_info.smallest_normal),
        float(np_info.smallest_subnormal),
        float(np_info.eps),
    )


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

    # -- relative accuracy -----------------------------------------------------------------
    def judged_relatively(self, exact: np.ndarray, log_space: bool = False) -> np.ndarray:
        """Where the exact value (a weight, or for log_space a log-weight) is a normal number
        of the dtype: there a weight is judged against its own size. Zero, subnormal and
        underflowed weights are left to the absolute bound (the subnormal range is data from
        finfo: a kernel that flushes subnormals to zero is not wrong)."""
        normal = dtype_range(self.dtype).smallest_normal
        with np.errstate(invalid="ignore"):
            if log_space:
                return np.isfinite(exact) & (exact >= np.log(normal))
            return np.isfinite(exact) & (np.abs(exact) >= normal)

    def relative_error(
        self, measured: np.ndarray, exact: np.ndarray, log_space: bool = False
    ) -> np.ndarray:
        """|measured − exact| / |exact| where judged relatively (NaN where not; a NaN or
        infinite measurement is an infinite error). In log space the absolute error of a
        log-weight is already the relative error of the weight."""
        judged = self.judged_relatively(exact, log_space)
        with np.errstate(all="ignore"):
            err = np.abs(measured - exact)
            if not log_space:
                err = err / np.abs(exact)
        err = np.where(np.isnan(err), np.inf, err)
        return np.where(judged, err, np.nan)

    def relative_bound(
        self,
        exact: np.ndarray,
        reference: np.ndarray | None,
        factor: float = 2.0,
        log_space: bool = False,
        terms: int = 1,
    ) -> np.ndarray:
        """The self-calibrating rule on relative errors, element by element, as a bound on
        |measured − exact| (inf where not judged relatively): `factor` × the plain reference's
        largest relative error over the judged elements, plus the dtype's rtol (in log space
        rtol·max(1, |exact|), the rounding of the log-weight itself), plus eps·terms/64 for a
        normalizing sum of `terms` terms accumulated in 64 lanes (one rounding per sequential
        addition: torch's float32 softmax on a row of 131,073 is ~92 eps off). Only judged
        elements calibrate it, so one ill-conditioned element far out cannot loosen it for
        the rest."""
        judged = self.judged_relatively(exact, log_space)
        ref_rel = 0.0
        if reference is not None and judged.any():
            errors = self.relative_error(reference, exact, log_space)[judged]
            ref_rel = float(np.max(np.where(np.isfinite(errors), errors, 0.0)))
        size = np.abs(np.where(judged, exact, 0.0))
        summing = dtype_range(self.dtype).eps * terms / ACCUMULATION_LANES
        if log_space:
            bound = factor * ref_rel + summing + self.rtol * np.maximum(1.0, size)
        else:
            bound = (factor * ref_rel + summing + self.rtol) * size
        return np.where(judged, bound, np.inf)

    def describe_relative(self, log_space: bool = False) -> str:
        normal = dtype_range(self.dtype).smallest_normal
        if log_space:
            return (
                f"where exp(exact) ≥ {normal:.3g} (normal in {self.dtype}): |error| ≤ "
                f"2 × reference's + eps·n/{ACCUMULATION_LANES} + {self.rtol:g}·max(1, |exact|)"
            )
        return (
            f"where exact ≥ {normal:.3g} (normal in {self.dtype}): |error|/exact ≤ "
            f"2 × reference's + eps·n/{ACCUMULATION_LANES} + {self.rtol:g}"
        )


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
