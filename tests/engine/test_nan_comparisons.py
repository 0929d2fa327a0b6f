"""Issue 22, class 3, at the level of the comparisons: a NaN (or an infinite bound) is never
evidence that something holds. Every comparison with NaN is False, so a check written as "keep
the row if it is worse" or "fail if it exceeds" lets NaN through; these helpers do not."""

from __future__ import annotations

import math

import numpy as np
import pytest

from softmax_claimcheck.claimcheck.evidence import Evidence
from tests.checks.support.claims import Worst, is_worse, nan_safe_min


@pytest.mark.parametrize("order", ["nan-first", "nan-last", "nan-middle"])
def test_worst_keeps_a_nan_wherever_it_comes(order):
    values = {"nan-first": [math.nan, 1.0, 2.0], "nan-last": [1.0, 2.0, math.nan],
              "nan-middle": [1.0, math.nan, 2.0]}[order]  # fmt: skip
    worst = Worst()
    for i, value in enumerate(values):
        worst.update(value, i=i)
    assert math.isnan(worst.value)
    assert worst.example == {"i": values.index(next(v for v in values if math.isnan(v)))}


def test_is_worse():
    assert is_worse(math.nan, 1.0) and is_worse(2.0, 1.0)
    assert not is_worse(0.5, 1.0) and not is_worse(5.0, math.nan)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1.0, np.nan, -2.0], math.nan),
        ([np.nan, np.nan], math.nan),
        ([3.0, 1.0], 1.0),
        ([], math.nan),
    ],
)
def test_nan_safe_min_never_drops_a_nan_and_never_warns(values, expected):
    result = nan_safe_min(np.array(values))  # filterwarnings=error: a RuntimeWarning would fail
    assert (math.isnan(result) and math.isnan(expected)) or result == expected


@pytest.mark.parametrize("measured", [math.nan, math.inf, -math.inf])
def test_close_to_never_holds_for_a_non_finite_measurement(measured):
    assert not Evidence().close_to("x", 0.5, measured, 1e-6, "tol")


@pytest.mark.parametrize("bound", [math.nan, math.inf])
def test_close_to_needs_a_finite_bound(bound):
    assert not Evidence().close_to("x", 0.5, 0.5, bound, "tol")


@pytest.mark.parametrize("interval", [(math.nan, 1.0), (0.0, math.nan), (math.nan, math.nan)])
def test_a_nan_interval_is_no_decision(interval):
    with pytest.raises(ValueError, match="confidence interval"):
        Evidence().interval_decision("x", interval, (0.0, None), "rule")


def test_printed_value_never_holds_for_nan():
    assert not Evidence().printed_value("x", 0.5, math.nan, 0.005, "2 decimals", decimals=2)
