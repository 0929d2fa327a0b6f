"""Training checks of 'Brain Teaser #3: What If We Remove Softmax Entirely?': ReLU-normalized
attention as the article writes it, and causal linear attention (φ = elu + 1), against scaled
softmax on language modelling and on associative recall (precise token selection). Every
decision is three-valued: a 95% interval against the region the claim states."""

from __future__ import annotations

import math
from dataclasses import asdict

import pytest

from softmax_claimcheck.claimcheck.intervals import Interval
from softmax_claimcheck.experiments import analysis
from softmax_claimcheck.experiments.data import RecallTask
from softmax_claimcheck.experiments.reporting import TIE, TIMEOUT_S, curves, decide, record_scale
from softmax_claimcheck.experiments.stats import ratio_interval, t_interval

pytestmark = [pytest.mark.training, pytest.mark.timeout(TIMEOUT_S)]


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(
            "relu",
            marks=pytest.mark.claim(
                "training-relu-attention-degrades", reading="relu-as-written-lm"
            ),
            id="relu",
        ),
        pytest.param(
            "linear",
            marks=pytest.mark.claim(
                "training-relu-attention-degrades", reading="linear-attention-lm"
            ),
            id="linear",
        ),
    ],
)
def test_perplexity_degradation(claim, evidence, training_grid, variant):
    softmax, other = training_grid.get("lm", "softmax"), training_grid.get("lm", variant)
    record_scale(evidence, training_grid, [softmax, other])
    ppl_o, ppl_s = analysis.perplexities(other), analysis.perplexities(softmax)
    low, high = claim.printed("degradation_range")
    evidence.record_inputs(perplexity_variant=ppl_o, perplexity_softmax=ppl_s)
    decide(
        evidence,
        claim,
        f"perplexity ratio {variant} / softmax (geometric mean; 1.05 = 5% worse)",
        ratio_interval(ppl_o, ppl_s),
        (1 + low, 1 + high),
        [o / s for o, s in zip(ppl_o, ppl_s, strict=True)],
        log_scale=True,
        null=1.0,
        unit="×",
    )
    curves(evidence, [softmax, other], f"language modelling: softmax vs {variant}")


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(
            "relu",
            marks=pytest.mark.claim(
                "training-relu-attention-degrades", reading="relu-as-written-recall"
            ),
            id="relu",
        ),
        pytest.param(
            "linear",
            marks=pytest.mark.claim(
                "training-relu-attention-degrades", reading="linear-attention-recall"
            ),
            id="linear",
        ),
    ],
)
def test_recall_degradation(claim, evidence, training_grid, variant):
    softmax, other = training_grid.get("recall", "softmax"), training_grid.get("recall", variant)
    record_scale(evidence, training_grid, [softmax, other])
    acc_o, acc_s = analysis.accuracies(other), analysis.accuracies(softmax)
    losses = [1 - o / s for o, s in zip(acc_o, acc_s, strict=True)]
    evidence.record_inputs(accuracy_variant=acc_o, accuracy_softmax=acc_s)
    decide(
        evidence,
        claim,
        f"relative accuracy loss 1 − {variant} / softmax (mean over seeds)",
        t_interval(losses),
        tuple(claim.printed("degradation_range")),
        losses,
        null=0.0,
    )


@pytest.mark.parametrize(
    "task",
    [
        pytest.param(
            "lm",
            marks=pytest.mark.claim(
                "training-relu-attention-harder-to-train", reading="learning-rate-sensitivity-lm"
            ),
            id="lm",
        ),
        pytest.param(
            "recall",
            marks=pytest.mark.claim(
                "training-relu-attention-harder-to-train",
                reading="learning-rate-sensitivity-recall",
            ),
            id="recall",
        ),
    ],
)
def test_relu_learning_rate_sensitivity(claim, evidence, training_grid, task):
    """The spread of each arm's sweep (one seed per learning rate) is the difference of two
    runs' final values, so its noise is √2·σ with σ the arm's run-to-run standard deviation at
    its best learning rate (its seeds); the difference of the two spreads gets the normal
    interval d ± 1.96·√(2σ_relu² + 2σ_softmax²). Approximate (σ from few seeds, and taken at
    the best learning rate only), and stated as such in the claim's rule."""
    softmax, relu = training_grid.get(task, "softmax"), training_grid.get(task, "relu")
    record_scale(evidence, training_grid, [softmax, relu])
    spread_s, spread_r = analysis.sweep_spread(softmax), analysis.sweep_spread(relu)
    noise_s, noise_r = analysis.seed_noise(softmax, task), analysis.seed_noise(relu, task)
    metric = "val_accuracy" if task == "recall" else "val_loss"
    unit = "accuracy, best − worst" if task == "recall" else "validation loss, worst − best (nats)"
    evidence.record_inputs(
        **{
            f"sweep_penalty_{arm.arm.variant}": analysis.sweep_penalties(arm)
            for arm in (softmax, relu)
        },
        run_noise_sd={"softmax": noise_s, "relu": noise_r},
    )
    difference = spread_r - spread_s
    half = analysis.Z95 * math.sqrt(2 * noise_s**2 + 2 * noise_r**2)
    if math.isinf(difference):  # a diverged relu run in the sweep: as sensitive as it gets
        half = 0.0
    method = "normal approximation from the arms' seed noise"
    interval = Interval(difference, difference - half, difference + half, 2, method)
    evidence.record_inputs(spread={"relu": spread_r, "softmax": spread_s, **interval.as_dict()})
    evidence.interval_decision(
        f"sweep spread ({unit}): relu − softmax",
        (interval.low, interval.high),
        (TIE, None),
        claim.parameter("rule"),
        needed="several seeds per learning rate of both sweeps would decide it",
    )
    curves(evidence, [softmax, relu], f"{task}: softmax vs relu", metric)


@pytest.mark.claim("training-relu-attention-harder-to-train", reading="slower-to-target-lm")
def test_relu_slower_to_common_loss(claim, evidence, training_grid):
    softmax, relu = training_grid.get("lm", "softmax"), training_grid.get("lm", "relu")
    record_scale(evidence, training_grid, [softmax, relu])
    target = analysis.common_target([softmax, relu])
    steps_r, steps_s = analysis.steps_to(relu, target), analysis.steps_to(softmax, target)
    evidence.record_inputs(target_val_loss=target, steps_relu=steps_r, steps_softmax=steps_s)
    decide(
        evidence,
        claim,
        f"steps to validation loss {target:.3f}: relu / softmax (geometric mean)",
        ratio_interval(steps_r, steps_s),
        (1.0 + TIE, None),
        [r / s for r, s in zip(steps_r, steps_s, strict=True)],
        log_scale=True,
        null=1.0,
        unit="×",
    )


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(
            "relu",
            marks=pytest.mark.claim(
                "training-linear-attention-precise-selection", reading="relu-as-written"
            ),
            id="relu",
        ),
        pytest.param(
            "linear",
            marks=pytest.mark.claim(
                "training-linear-attention-precise-selection", reading="linear-attention"
            ),
            id="linear",
        ),
    ],
)
def test_recall_accuracy_below_softmax(claim, evidence, training_grid, variant):
    softmax, other = training_grid.get("recall", "softmax"), training_grid.get("recall", variant)
    record_scale(evidence, training_grid, [softmax, other])
    acc_o, acc_s = analysis.accuracies(other), analysis.accuracies(softmax)
    difference = [o - s for o, s in zip(acc_o, acc_s, strict=True)]
    scale = training_grid.preset.recall
    task = RecallTask(
        scale.recall_pairs, n_pairs=scale.recall_pairs, n_queries=scale.recall_queries
    )
    evidence.record_inputs(
        accuracy_variant=acc_o,
        accuracy_softmax=acc_s,
        recall_task={**asdict(task), "chance_accuracy": 1 / task.n_values},
    )
    decide(
        evidence,
        claim,
        f"recall accuracy {variant} − softmax (paired by seed)",
        t_interval(difference),
        (None, -TIE),
        difference,
        null=0.0,
    )
    curves(evidence, [softmax, other], f"associative recall: softmax vs {variant}", "val_accuracy")
