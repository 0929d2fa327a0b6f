"""Comparisons the claim checks share: the article's printed numbers against true values (claim
tolerance), implementations against the exact oracle (numerical tolerance); score strategies.

A check reads its claim through the `claim` fixture (claimcheck/context.py), never by id."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from softmax_claimcheck.claimcheck.context import ClaimContext
from softmax_claimcheck.claimcheck.evidence import Evidence
from softmax_claimcheck.claimcheck.tolerance import numeric_tolerance
from softmax_claimcheck.impl.model import to_numpy


def compare_printed(
    evidence: Evidence, claim: ClaimContext, quantity: str, printed: float, true: float
) -> bool:
    """One printed number against the true one, within the claim tolerance of its precision."""
    tol = claim.tolerance(printed)
    return evidence.printed_value(
        quantity, printed, true, tol.bound, tol.description, claim.decimals
    )


def compare_printed_vector(
    evidence: Evidence,
    claim: ClaimContext,
    names: list[str],
    printed_values: list[float],
    true_values: Any,
) -> None:
    """Each printed number against the true one, within the claim tolerance of its precision."""
    for name, shown, true in zip(
        names, printed_values, np.asarray(true_values).tolist(), strict=True
    ):
        compare_printed(evidence, claim, name, shown, true)


def compare_to_exact(
    evidence: Evidence,
    quantity: str,
    exact: Any,
    measured: Any,
    dtype: str,
) -> None:
    """Implementation against the exact oracle, within the per-dtype numerical tolerance."""
    bound = numeric_bound(dtype, exact)
    evidence.close_to(quantity, exact, measured, bound, numeric_tolerance(dtype).describe())


def numeric_bound(dtype: str, exact: Any) -> float:
    """The dtype's numerical tolerance (claimcheck.tolerance) for outputs of this size:
    atol + rtol·max|exact|, the bound compare_to_exact applies."""
    tol = numeric_tolerance(dtype)
    return float(tol.atol + tol.rtol * np.max(np.abs(to_numpy(exact))))


def score_vectors(min_size: int = 2, max_size: int = 16, bound: float = 20.0) -> Any:
    """Finite score vectors, |score| ≤ bound (softmax inputs of an attention row)."""
    return st.lists(
        st.floats(-bound, bound, allow_nan=False, allow_infinity=False, width=64),
        min_size=min_size,
        max_size=max_size,
    )


class Worst:
    """Track the worst value seen across Hypothesis examples, with the example that gave it."""

    def __init__(self) -> None:
        self.value = -np.inf
        self.example: dict[str, Any] = {}
        self.count = 0

    def update(self, value: float, **example: Any) -> None:
        """NaN is the worst of all values and stays so: `value > worst` is False for a NaN, so a
        plain comparison would let an implementation that returns NaN look perfect."""
        self.count += 1
        if is_worse(value, self.value):
            self.value, self.example = float(value), example


def is_worse(candidate: float, current: float) -> bool:
    """candidate > current, where NaN is worse than every number (and a NaN current stays)."""
    if np.isnan(current):
        return False
    return bool(np.isnan(candidate) or candidate > current)


def nan_safe_min(values: Any) -> float:
    """The smallest value to show as evidence: NaN when any value is NaN (never dropped), with no
    warning for an all-NaN array (np.nanmin's RuntimeWarning is an error in this project)."""
    array = np.asarray(values, dtype=float)
    if array.size == 0:
        return float("nan")
    return float(np.min(array))  # np.min propagates NaN
