"""Training checks of 'Brain Teaser #3: What If We Remove Softmax Entirely?': ReLU-normalized
attention as the article writes it, and causal linear attention (φ = elu + 1), against scaled
softmax on language modelling and on associative recall (precise token selection)."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from experiments import analysis
from experiments.checks import TIMEOUT_S, curves, record_interval, record_scale
from experiments.checks import training_grid as training_grid  # the shared grid fixture
from experiments.data import RecallTask
from experiments.stats import ratio_interval, t_interval


pytestmark = [pytest.mark.training, pytest.mark.timeout(TIMEOUT_S)]
DEGRADES = "training-relu-attention-degrades"
VARIANT_OF = {"relu-as-written": "relu", "linear-attention": "linear"}


@pytest.mark.claim(DEGRADES, reading="relu-as-written-lm")
def test_relu_perplexity_degradation(evidence, training_grid):
    _perplexity_degradation(evidence, training_grid, "relu")


@pytest.mark.claim(DEGRADES, reading="linear-attention-lm")
def test_linear_perplexity_degradation(evidence, training_grid):
    _perplexity_degradation(evidence, training_grid, "linear")


def _perplexity_degradation(evidence, grid, variant):
    softmax, other = grid.get("lm", "softmax"), grid.get("lm", variant)
    record_scale(evidence, grid, [softmax, other])
    ppl_o, ppl_s = analysis.perplexities(other), analysis.perplexities(softmax)
    ratio = ratio_interval(ppl_o, ppl_s)
    low, high = printed(DEGRADES, "degradation_range")
    evidence.record_inputs(perplexity_variant=ppl_o, perplexity_softmax=ppl_s)
    record_interval(
        evidence,
        f"perplexity ratio {variant} / softmax",
        ratio,
        [o / s for o, s in zip(ppl_o, ppl_s, strict=True)],
    )
    evidence.property_holds(
        f"relative perplexity increase, {variant} vs softmax (geometric mean − 1), 95% interval",
        ratio.consistent_with_range(1 + low, 1 + high, null=1.0),
        {"mean": ratio.mean - 1, "low": ratio.low - 1, "high": ratio.high - 1},
        f"overlaps [{low:.0%}, {high:.0%}] and lies above 0%",
    )
    curves(evidence, [softmax, other], f"language modelling: softmax vs {variant}")


@pytest.mark.claim(DEGRADES, reading="relu-as-written-recall")
def test_relu_recall_degradation(evidence, training_grid):
    _recall_degradation(evidence, training_grid, "relu")


@pytest.mark.claim(DEGRADES, reading="linear-attention-recall")
def test_linear_recall_degradation(evidence, training_grid):
    _recall_degradation(evidence, training_grid, "linear")


def _recall_degradation(evidence, grid, variant):
    softmax, other = grid.get("recall", "softmax"), grid.get("recall", variant)
    record_scale(evidence, grid, [softmax, other])
    acc_o, acc_s = analysis.accuracies(other), analysis.accuracies(softmax)
    losses = [1 - o / s for o, s in zip(acc_o, acc_s, strict=True)]
    interval = t_interval(losses)
    low, high = printed(DEGRADES, "degradation_range")
    evidence.record_inputs(accuracy_variant=acc_o, accuracy_softmax=acc_s)
    record_interval(evidence, f"relative accuracy loss 1 − {variant}/softmax", interval, losses)
    evidence.property_holds(
        f"relative accuracy loss, {variant} vs softmax (mean over seeds), 95% interval",
        interval.consistent_with_range(low, high, null=0.0),
        interval.as_dict(),
        f"overlaps [{low:.0%}, {high:.0%}] and lies above 0%",
    )


@pytest.mark.claim(
    "training-relu-attention-harder-to-train", reading="learning-rate-sensitivity-lm"
)
def test_relu_learning_rate_sensitivity_lm(evidence, training_grid):
    _sweep_sensitivity(evidence, training_grid, "lm")


@pytest.mark.claim(
    "training-relu-attention-harder-to-train", reading="learning-rate-sensitivity-recall"
)
def test_relu_learning_rate_sensitivity_recall(evidence, training_grid):
    _sweep_sensitivity(evidence, training_grid, "recall")


def _sweep_sensitivity(evidence, grid, task):
    softmax, relu = grid.get(task, "softmax"), grid.get(task, "relu")
    record_scale(evidence, grid, [softmax, relu])
    spread_s, spread_r = analysis.sweep_spread(softmax), analysis.sweep_spread(relu)
    metric = "val_accuracy" if task == "recall" else "val_loss"
    unit = "accuracy, best − worst" if task == "recall" else "validation loss, worst − best (nats)"
    for arm in (softmax, relu):
        finals = {lr: getattr(run, metric)[-1] for lr, run in arm.sweep.items()}
        evidence.record_inputs(**{f"sweep_final_{metric}_{arm.arm.variant}": finals})
    evidence.note(
        "One seed per learning rate: the spread has no interval, so treat a small "
        "difference as noise."
    )
    evidence.property_holds(
        f"spread over the learning-rate sweep ({unit}): relu > softmax",
        spread_r > spread_s,
        {"relu": spread_r, "softmax": spread_s},
        "relu's spread larger",
    )
    curves(evidence, [softmax, relu], f"{task}: softmax vs relu", metric)


@pytest.mark.claim("training-relu-attention-harder-to-train", reading="slower-to-target-lm")
def test_relu_slower_to_common_loss(evidence, training_grid):
    softmax, relu = training_grid.get("lm", "softmax"), training_grid.get("lm", "relu")
    record_scale(evidence, training_grid, [softmax, relu])
    target = analysis.common_target([softmax, relu])
    steps_r, steps_s = analysis.steps_to(relu, target), analysis.steps_to(softmax, target)
    ratio = ratio_interval(steps_r, steps_s)
    evidence.record_inputs(target_val_loss=target, steps_relu=steps_r, steps_softmax=steps_s)
    record_interval(
        evidence,
        "steps ratio relu / softmax",
        ratio,
        [r / s for r, s in zip(steps_r, steps_s, strict=True)],
    )
    evidence.property_holds(
        f"steps to validation loss {target:.3f}, relu / softmax, 95% interval",
        ratio.low > 1,
        ratio.as_dict(),
        "entirely above 1",
    )


@pytest.mark.claim("training-linear-attention-precise-selection", reading="relu-as-written")
def test_relu_recall_accuracy_below_softmax(evidence, training_grid):
    _recall_accuracy_below_softmax(evidence, training_grid, "relu")


@pytest.mark.claim("training-linear-attention-precise-selection", reading="linear-attention")
def test_linear_recall_accuracy_below_softmax(evidence, training_grid):
    _recall_accuracy_below_softmax(evidence, training_grid, "linear")


def _recall_accuracy_below_softmax(evidence, grid, variant):
    softmax, other = grid.get("recall", "softmax"), grid.get("recall", variant)
    record_scale(evidence, grid, [softmax, other])
    acc_o, acc_s = analysis.accuracies(other), analysis.accuracies(softmax)
    difference = [o - s for o, s in zip(acc_o, acc_s, strict=True)]
    interval = t_interval(difference)
    scale = grid.preset.recall
    task = RecallTask(
        scale.recall_pairs, n_pairs=scale.recall_pairs, n_queries=scale.recall_queries
    )
    evidence.record_inputs(
        accuracy_variant=acc_o,
        accuracy_softmax=acc_s,
        recall_task={**asdict(task), "chance_accuracy": 1 / task.n_values},
    )
    record_interval(evidence, f"accuracy difference {variant} − softmax", interval, difference)
    evidence.property_holds(
        f"recall accuracy {variant} − softmax, 95% interval",
        interval.excludes_zero_below(),
        interval.as_dict(),
        "entirely below 0",
    )
    curves(evidence, [softmax, other], f"associative recall: softmax vs {variant}", "val_accuracy")
