"""Training checks of 'The Temperature Knob: A Hidden Hyperparameter', the article's experiment
as it sets it up: take an existing (trained) model, add a learnable temperature per attention
head (T = e^θ, θ from 0, so the model starts exactly where it was), fine-tune, and compare the
temperatures of the lower half of the layers with the upper half. The existing models are the
grid's trained softmax models (one per seed); each is fine-tuned once."""

from __future__ import annotations

import pytest

from softmax_claimcheck.experiments import analysis
from softmax_claimcheck.experiments.plots import temperature_figure
from softmax_claimcheck.experiments.reporting import TIE, TIMEOUT_S, decide, record_scale
from softmax_claimcheck.experiments.stats import t_interval

pytestmark = [pytest.mark.training, pytest.mark.timeout(TIMEOUT_S)]


def _halves(grid, evidence):
    arm = grid.temperature_arm()
    record_scale(evidence, grid, [grid.base_of(arm), arm])
    half = arm.arm.n_layers // 2
    lower = [analysis.mean_temperature(r, slice(0, half)) for r in arm.seeds]
    upper = [analysis.mean_temperature(r, slice(half, None)) for r in arm.seeds]
    evidence.record_inputs(
        lower_layers=f"1–{half}",
        upper_layers=f"{half + 1}–{arm.arm.n_layers}",
        finetune_steps=grid.preset.finetune_steps,
        mean_temperature_lower=lower,
        mean_temperature_upper=upper,
        temperatures_per_seed_layer_head=[r.temperatures for r in arm.seeds],
    )
    evidence.figure(
        temperature_figure(arm), "Learned temperature per layer (dots: heads of each seed)."
    )
    return lower, upper


@pytest.mark.parametrize(
    "sign",
    [
        pytest.param(
            +1,
            marks=pytest.mark.claim(
                "training-temperature-lower-layers-higher", reading="above-upper-layers"
            ),
            id="above-upper-layers",
        ),
        pytest.param(
            -1,
            marks=pytest.mark.claim(
                "training-temperature-upper-layers-lower", reading="below-lower-layers"
            ),
            id="below-lower-layers",
        ),
    ],
)
def test_temperature_lower_minus_upper_layers(claim, evidence, training_grid, sign):
    """One comparison, stated by the article from both ends, per base model with a 95%
    t-interval: mean T(lower half) − mean T(upper half) above 0 for the lower-layers claim;
    mean T(upper half) − mean T(lower half) below 0 for the upper-layers claim."""
    lower, upper = _halves(training_grid, evidence)
    difference = [sign * (lo - up) for lo, up in zip(lower, upper, strict=True)]
    first, second = ("lower", "upper") if sign > 0 else ("upper", "lower")
    decide(
        evidence,
        claim,
        f"mean learned temperature: {first} half − {second} half of the layers",
        t_interval(difference),
        (TIE, None) if sign > 0 else (None, -TIE),
        difference,
    )


@pytest.mark.parametrize(
    "sign",
    [
        pytest.param(
            +1,
            marks=pytest.mark.claim(
                "training-temperature-lower-layers-higher", reading="above-initial"
            ),
            id="above-initial",
        ),
        pytest.param(
            -1,
            marks=pytest.mark.claim(
                "training-temperature-upper-layers-lower", reading="below-initial"
            ),
            id="below-initial",
        ),
    ],
)
def test_temperature_against_its_initial_value(claim, evidence, training_grid, sign):
    """The half the claim names against T = 1, where fine-tuning started: above for the lower
    half (softened: 'broader context'), below for the upper half (sharpened)."""
    lower, upper = _halves(training_grid, evidence)
    values = lower if sign > 0 else upper
    decide(
        evidence,
        claim,
        f"mean learned temperature of the {'lower' if sign > 0 else 'upper'} half",
        t_interval(values),
        (1.0 + TIE, None) if sign > 0 else (None, 1.0 - TIE),
        values,
    )
