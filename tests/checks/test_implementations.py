"""Checks of the implementations themselves ('What Is Softmax, Really?'): every registered softmax,
log-softmax and attention computes the textbook formula within its dtype's numerical tolerance,
and those that shift by the maximum survive scores whose exp overflows the dtype. The claims are
about production softmax (and the shifted one): the other implementations are shown beside them
as conformance evidence and never decide.

They reach implementations only through `@pytest.mark.cases(...)`, so an implementation given
with --impl (or an entry point) is checked by every one of them. Inputs are rounded to the
case's dtype first and the exact oracle is applied to the rounded values: the implementation is
judged on what it was actually given.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from softmax_claimcheck.impl import oracle
from softmax_claimcheck.impl.registry import to_numpy
from tests.checks.support.claims import (
    compare_to_exact,
)

SEED = 4
ROW_LENGTHS = (2, 7, 33)
SCALE = 2.0  # ordinary attention scores: normal(0, 2)


def _random_rows() -> list[np.ndarray]:
    rng = np.random.default_rng(SEED)
    return [rng.normal(0.0, SCALE, n) for n in ROW_LENGTHS]


def _overflow_top(dtype: str) -> float:
    """t = ln(largest finite value of the dtype) + 2: exp(t) is inf in that dtype."""
    import torch

    return math.log(torch.finfo(getattr(torch, dtype)).max) + 2.0


def _overflowing_row(dtype: str) -> list[float]:
    top = _overflow_top(dtype)
    return [top, top - 1.0, top - 3.0]


# -- the textbook formula -----------------------------------------------------------------------
@pytest.mark.claim("implementations-compute-textbook-softmax", reading="single-rows")
@pytest.mark.cases("softmax")
def test_softmax_of_single_rows_is_exact(evidence, case):
    evidence.record_inputs(seed=SEED, row_lengths=list(ROW_LENGTHS), scores="normal(0, 2)")
    for row in _random_rows():
        given = case.rounded(row)
        compare_to_exact(
            evidence,
            f"row of {len(row)}: output vs exact softmax",
            oracle.softmax(given),
            case.run_float64(given),
            case.dtype,
        )


@pytest.mark.claim("implementations-compute-textbook-softmax", reading="score-matrix")
@pytest.mark.cases("row-wise-softmax")
def test_softmax_of_a_batch_along_each_axis_is_exact(evidence, case):
    scores = case.rounded(np.random.default_rng(SEED).normal(0.0, SCALE, (3, 4, 5)))
    evidence.record_inputs(seed=SEED, shape=list(scores.shape), axes=[-1, 0, 1])
    for axis in (-1, 0, 1):
        compare_to_exact(
            evidence,
            f"softmax along axis {axis} vs exact",
            oracle.softmax(scores, axis=axis),
            case.run_float64(scores, axis=axis),
            case.dtype,
        )


@pytest.mark.claim("implementations-compute-textbook-softmax", reading="log-softmax")
@pytest.mark.cases("log-softmax")
def test_log_softmax_is_exact(evidence, case):
    matrix = np.random.default_rng(SEED + 1).normal(0.0, SCALE, (3, 5))
    evidence.record_inputs(seed=SEED, row_lengths=list(ROW_LENGTHS), matrix=list(matrix.shape))
    for index, scores in enumerate([*_random_rows(), matrix]):
        given = case.rounded(scores)
        compare_to_exact(
            evidence,
            f"input {index} (shape {list(given.shape)}): output vs exact log-softmax",
            oracle.log_softmax(given),
            case.run_float64(given),
            case.dtype,
        )


def _attention_inputs(case) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """q, k, v of shape (2, 5, 8) (square, d_v = d_k, so every kernel can take them) and an
    arbitrary boolean mask with the diagonal allowed, so no row is empty."""
    rng = np.random.default_rng(SEED)
    q, k, v = (case.rounded(rng.normal(0.0, 1.0, (2, 5, 8))) for _ in range(3))
    allowed = (rng.random((5, 5)) < 0.6) | np.eye(5, dtype=bool)
    return q, k, v, allowed


@pytest.mark.claim("implementations-compute-textbook-softmax", reading="attention")
@pytest.mark.cases("attention")
def test_attention_is_exact(evidence, case):
    q, k, v, allowed = _attention_inputs(case)
    causal = np.tril(np.ones((5, 5), dtype=bool))
    evidence.record_inputs(seed=SEED, shape=list(q.shape), allowed=allowed)
    for name, kwargs, mask in (
        ("no mask", {}, None),
        ("causal", {"is_causal": True}, causal),
        ("boolean mask", {"attn_mask": allowed}, allowed),
        # SDPA takes one mask: causality and the boolean mask combined
        ("causal and boolean mask", {"attn_mask": allowed & causal}, allowed & causal),
    ):
        compare_to_exact(
            evidence,
            f"{name}: output vs exact softmax(QKᵀ/√d_k)·V",
            oracle.attention(q, k, v, mask),
            to_numpy(case.attention(q, k, v, **kwargs)),
            case.dtype,
        )


# -- overflow safety ----------------------------------------------------------------------------
def _finite_and_exact(evidence, case, scores: np.ndarray, exact: np.ndarray, what: str) -> None:
    out = case.run_float64(scores)
    evidence.property_holds(
        f"{what}: output is finite", bool(np.isfinite(out).all()), out, "finite"
    )
    compare_to_exact(evidence, f"{what}: output vs exact", exact, out, case.dtype)


def _overflowing_row_is_exact(evidence, case, exact_fn) -> None:
    """One row whose exp overflows the dtype, against `exact_fn` (softmax or log-softmax)."""
    scores = case.rounded(_overflowing_row(case.dtype))
    evidence.record_inputs(scores=scores, why="exp(max score) is inf in this dtype")
    _finite_and_exact(evidence, case, scores, exact_fn(scores), "overflowing row")


@pytest.mark.claim("stable-implementations-are-overflow-safe", reading="single-row")
@pytest.mark.cases("shifted-softmax")
def test_stable_softmax_survives_overflowing_scores(evidence, case):
    _overflowing_row_is_exact(evidence, case, oracle.softmax)


@pytest.mark.claim("stable-implementations-are-overflow-safe", reading="score-matrix")
@pytest.mark.cases("production-softmax")
def test_stable_softmax_shifts_each_row_by_its_own_max(evidence, case):
    top = _overflowing_row(case.dtype)
    scores = case.rounded([top, [-s for s in top], [0.0, 1.0, 2.0]])
    evidence.record_inputs(scores=scores, rows=["overflowing", "its negative", "ordinary"])
    _finite_and_exact(evidence, case, scores, oracle.softmax(scores), "rows far apart")


@pytest.mark.claim("stable-implementations-are-overflow-safe", reading="log-softmax")
@pytest.mark.cases("log-softmax")
def test_stable_log_softmax_survives_overflowing_scores(evidence, case):
    _overflowing_row_is_exact(evidence, case, oracle.log_softmax)
