"""Training checks of 'The Temperature Knob: A Hidden Hyperparameter': a deeper softmax model
with one learnable temperature per head (T = e^θ, θ from 0), trained on language modelling;
lower half of the layers against upper half."""

from __future__ import annotations

import pytest

from experiments import analysis
from experiments.checks import TIMEOUT_S, record_interval, record_scale
from experiments.checks import training_grid as training_grid  # the shared grid fixture
from experiments.plots import temperature_figure
from experiments.stats import t_interval

pytestmark = [pytest.mark.training, pytest.mark.timeout(TIMEOUT_S)]
LOWER = "training-temperature-lower-layers-higher"
UPPER = "training-temperature-upper-layers-lower"


def _halves(grid, evidence, figure=False):
    arm = grid.temperature_arm()
    record_scale(evidence, grid, [arm])
    half = arm.arm.n_layers // 2
    lower = [analysis.mean_temperature(r, slice(0, half)) for r in arm.seeds]
    upper = [analysis.mean_temperature(r, slice(half, None)) for r in arm.seeds]
    evidence.record_inputs(
        lower_layers=f"1–{half}",
        upper_layers=f"{half + 1}–{arm.arm.n_layers}",
        mean_temperature_lower=lower,
        mean_temperature_upper=upper,
        temperatures_per_seed_layer_head=[r.temperatures for r in arm.seeds],
    )
    if figure:
        caption = "Learned temperature per layer (dots: heads of each seed)."
        evidence.figure(temperature_figure(arm), caption)
    return lower, upper


def _paired_difference(grid, evidence, figure=False):
    """mean T(lower half) − mean T(upper half) per seed and its 95% t-interval: the one
    comparison both claims make, read from either side by the two paired readings."""
    lower, upper = _halves(grid, evidence, figure=figure)
    difference = [lo - up for lo, up in zip(lower, upper, strict=True)]
    evidence.note(
        f"The paired readings of {LOWER} and {UPPER} are this one interval, read as above 0 "
        "and (negated) below 0: they always agree and are not independent evidence."
    )
    return difference, t_interval(difference)


@pytest.mark.claim(LOWER, reading="above-upper-layers")
def test_lower_layers_learn_higher_temperatures_than_upper(evidence, training_grid):
    difference, interval = _paired_difference(training_grid, evidence, figure=True)
    record_interval(evidence, "temperature lower − upper", interval, difference)
    evidence.property_holds(
        "mean T(lower half) − mean T(upper half), 95% interval",
        interval.excludes_zero_above(),
        interval.as_dict(),
        "entirely above 0",
    )


@pytest.mark.claim(LOWER, reading="above-initial")
def test_lower_layers_temperature_above_initial(evidence, training_grid):
    lower, _ = _halves(training_grid, evidence)
    interval = t_interval(lower)
    record_interval(evidence, "mean temperature of the lower half", interval, lower)
    evidence.property_holds(
        "mean T(lower half), 95% interval", interval.low > 1, interval.as_dict(), "entirely above 1"
    )


@pytest.mark.claim(UPPER, reading="below-lower-layers")
def test_upper_layers_learn_lower_temperatures_than_lower(evidence, training_grid):
    lower_minus_upper, _ = _paired_difference(training_grid, evidence, figure=True)
    difference = [-d for d in lower_minus_upper]  # upper − lower: the same interval, negated
    interval = t_interval(difference)
    record_interval(evidence, "temperature upper − lower", interval, difference)
    evidence.property_holds(
        "mean T(upper half) − mean T(lower half), 95% interval",
        interval.excludes_zero_below(),
        interval.as_dict(),
        "entirely below 0",
    )


@pytest.mark.claim(UPPER, reading="below-initial")
def test_upper_layers_temperature_below_initial(evidence, training_grid):
    _, upper = _halves(training_grid, evidence)
    interval = t_interval(upper)
    record_interval(evidence, "mean temperature of the upper half", interval, upper)
    evidence.property_holds(
        "mean T(upper half), 95% interval",
        interval.high < 1,
        interval.as_dict(),
        "entirely below 1",
    )
