"""Relative accuracy and the dtype's range as data (claimcheck/tolerance.py), and the exact
oracle on long rows (impl/oracle.py): the pieces the range properties stand on."""

from __future__ import annotations

import math

import numpy as np
import pytest

from softmax_claimcheck.claimcheck.tolerance import dtype_range, numeric_tolerance
from softmax_claimcheck.conformance.harness import exact
from softmax_claimcheck.impl import oracle


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
def test_dtype_range_is_numpys_finfo(dtype: str) -> None:
    info, got = np.finfo(np.dtype(dtype)), dtype_range(dtype)
    assert got.max == float(info.max)
    assert got.smallest_normal == float(info.smallest_normal)
    assert got.smallest_subnormal == float(info.smallest_subnormal)
    # the rule used for bfloat16, where torch's finfo has no smallest_subnormal
    assert got.smallest_subnormal == got.smallest_normal * got.eps


def test_bfloat16_range_is_torchs_finfo() -> None:
    torch = pytest.importorskip("torch")
    info, got = torch.finfo(torch.bfloat16), dtype_range("bfloat16")
    assert (got.max, got.smallest_normal, got.eps) == (info.max, info.smallest_normal, info.eps)
    assert torch.tensor(got.smallest_subnormal, dtype=torch.bfloat16).item() > 0
    assert torch.tensor(got.smallest_subnormal / 2, dtype=torch.bfloat16).item() == 0


def _weights() -> np.ndarray:
    scores = -np.arange(0, 48, 0.75)  # weights from ~0.5 down to ~1e-21
    return oracle.softmax(scores)


def test_flushing_small_weights_fails_relatively_not_absolutely() -> None:
    """A float64 softmax that flushes weights below 1e-13: within the absolute bound (all the
    command judged before), outside the relative one at every flushed weight."""
    tol = numeric_tolerance("float64")
    want = _weights()
    flushed = np.where(want < 1e-13, 0.0, want)
    err = np.abs(flushed - want)
    assert (err <= tol.calibrated(want, 0.0)).all()
    outside = err > tol.relative_bound(want, want)
    assert outside.any()
    assert (outside == (want < 1e-13)).all()


@pytest.mark.parametrize("factor", [1 + 1e-6, 1 - 2.0**-8])
def test_mis_scaled_or_truncated_small_weights_fail(factor: float) -> None:
    tol = numeric_tolerance("float64")
    want = _weights()
    got = np.where(want < 1e-12, want * factor, want)
    assert (np.abs(got - want) > tol.relative_bound(want, want)).any()
    assert (np.abs(got - want) <= tol.calibrated(want, 0.0)).all()


def test_subnormal_weights_are_judged_absolutely_only() -> None:
    """A kernel that flushes subnormals to zero is not wrong: the range is data from finfo."""
    tol = numeric_tolerance("float32")
    info = dtype_range("float32")
    want = np.array([0.5, info.smallest_normal, info.smallest_normal / 2, 0.0])
    judged = tol.judged_relatively(want)
    assert judged.tolist() == [True, True, False, False]
    assert np.isinf(tol.relative_bound(want, None)[~judged]).all()


def test_log_space_judges_where_the_weight_is_normal() -> None:
    tol = numeric_tolerance("float32")
    edge = math.log(dtype_range("float32").smallest_normal)
    want = np.array([0.0, edge + 1, edge - 1, -np.inf])
    assert tol.judged_relatively(want, log_space=True).tolist() == [True, True, False, False]
    # an error of 1e-3 in a log-weight is a relative error of 1e-3 of the weight
    bound = tol.relative_bound(want, want, log_space=True)
    assert bound[0] < 1e-3 < bound[2]


def test_one_bad_element_does_not_loosen_the_relative_bound() -> None:
    """Only judged elements calibrate it: a reference badly off on an underflowed weight (or
    −max far out) leaves the bound on the others as tight as before."""
    tol = numeric_tolerance("float64")
    want = np.array([0.75, 0.25, 1e-320])
    ref = np.array([0.75, 0.25, 1e-310])
    assert np.allclose(tol.relative_bound(want, ref)[:2], tol.relative_bound(want, want)[:2])


def test_exact_long_rows_through_distinct_values() -> None:
    """The conformance oracle on a row of 65,537: exact (mpmath, once per distinct value),
    the same values as row by row on a short row, −∞ exactly zero."""
    row = np.round(np.random.default_rng(3).uniform(-12, 4, 65537) * 8) / 8
    row[5] = -np.inf
    got = exact("softmax", row[None, :])[0]
    assert got[5] == 0.0 and abs(math.fsum(got) - 1) < 1e-12
    short = row[:40]
    assert np.array_equal(exact("softmax", short), oracle.softmax(short))
    assert np.array_equal(exact("log-softmax", short), oracle.log_softmax(short))
    huge = np.array([[8.9e307, -8.9e307, 0.0, 1.0]])
    assert exact("softmax", huge).tolist() == [[1.0, 0.0, 0.0, 0.0]]
    assert exact("log-softmax", huge)[0, 1] == -2 * 8.9e307
