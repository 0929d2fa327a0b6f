"""Small helpers shared by the claim checks: reading claim data, comparing, strategies."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from claimcheck.evidence import Evidence
from claimcheck.model import Claim
from claimcheck.plugin import active_claims
from claimcheck.tolerance import ClaimTolerance, numeric_tolerance


def claim(claim_id: str) -> Claim:
    """The claim as the session loaded it (checks read printed numbers from there, never inline)."""
    return active_claims()[claim_id]


def printed(claim_id: str, key: str) -> Any:
    return claim(claim_id).claimed[key]


def parameter(claim_id: str, key: str) -> Any:
    """One of our own choices for the check (a threshold, a size), from the claim's `parameters`."""
    return claim(claim_id).parameters[key]


def claim_tolerance(claim_id: str) -> ClaimTolerance:
    return ClaimTolerance.from_spec(claim(claim_id).tolerance)


def decimals(claim_id: str) -> int | None:
    spec = claim(claim_id).tolerance or {}
    return int(spec["decimals"]) if "decimals" in spec else None


def compare_printed_vector(
    evidence: Evidence,
    claim_id: str,
    names: list[str],
    printed_values: list[float],
    true_values: Any,
) -> None:
    """Each printed number against the true one, within the claim tolerance of its precision."""
    tol = claim_tolerance(claim_id)
    for name, shown, true in zip(
        names, printed_values, np.asarray(true_values).tolist(), strict=True
    ):
        evidence.printed_value(name, shown, true, tol.bound, tol.description, decimals(claim_id))


def compare_to_exact(
    evidence: Evidence,
    quantity: str,
    exact: Any,
    measured: Any,
    dtype: str,
    overrides: dict[str, tuple[float, float]] | None = None,
) -> None:
    """Implementation against the exact oracle, within the per-dtype numerical tolerance."""
    bound = numeric_bound(dtype, exact, overrides)
    evidence.close_to(
        quantity, exact, measured, bound, numeric_tolerance(dtype, overrides).describe()
    )


def numeric_bound(
    dtype: str, exact: Any, overrides: dict[str, tuple[float, float]] | None = None
) -> float:
    """The dtype's numerical tolerance (claimcheck.tolerance) for outputs of this size:
    atol + rtol·max|exact|, the bound compare_to_exact applies."""
    tol = numeric_tolerance(dtype, overrides)
    return float(tol.atol + tol.rtol * np.max(np.abs(np.asarray(exact, dtype=np.float64))))


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
        self.count += 1
        if value > self.value:
            self.value, self.example = float(value), example
