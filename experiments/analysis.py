"""The measurements the claims are read through, computed from the grid's runs.

Every claim's check states which of these operationalises it (its reading) in its evidence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from softmax_claimcheck.experiments.grid import ArmResult
from softmax_claimcheck.experiments.stats import steps_to_target
from softmax_claimcheck.experiments.train import RunResult

SPIKE_NATS = 0.5  # a validation-loss rise above its running minimum that counts as a spike


def final_losses(arm: ArmResult) -> list[float]:
    return [r.final_val_loss for r in arm.seeds]


def perplexities(arm: ArmResult) -> list[float]:
    return [math.exp(x) if math.isfinite(x) else math.inf for x in final_losses(arm)]


def accuracies(arm: ArmResult) -> list[float]:
    return [r.final_accuracy for r in arm.seeds]


def _late(run: RunResult) -> list[int]:
    """Evaluation indices in the second half of training (step > steps/2): 'over training'
    without the first steps, where every model is still near its initialisation."""
    half = run.config["steps"] / 2
    return [i for i, s in enumerate(run.eval_steps) if s > half]


def late_entropy(run: RunResult, layers: slice = slice(None)) -> float:
    """Mean attention entropy (nats) over the chosen layers, all heads, and the evaluations of
    the second half of training."""
    values = [np.nanmean(np.asarray(run.entropy[i])[layers]) for i in _late(run)]
    return float(np.mean(values)) if values else math.nan


def entropy_curve(run: RunResult) -> list[float]:
    return [float(np.nanmean(e)) if np.isfinite(e).any() else math.nan for e in run.entropy]


def late_max_weight(run: RunResult) -> float:
    values = [np.nanmean(run.max_weight[i]) for i in _late(run)]
    return float(np.mean(values)) if values else math.nan


def mean_temperature(run: RunResult, layers: slice) -> float:
    if run.temperatures is None:
        raise ValueError("this run has no learned temperatures")
    return float(np.mean(np.asarray(run.temperatures)[layers]))


def common_target(arms: Sequence[ArmResult]) -> float:
    """A validation loss every run of these arms reaches: the worst final loss among them
    (so steps-to-target is defined for every run, and it measures speed, not the end point)."""
    finals = [x for a in arms for x in final_losses(a)]
    return max(finals)


def steps_to(arm: ArmResult, target: float) -> list[float]:
    return [steps_to_target(r.eval_steps, r.val_loss, target) for r in arm.seeds]


def instability(run: RunResult, unigram_loss: float) -> str | None:
    """Why a run counts as unstable, or None: its loss became non-finite, its validation loss
    rose more than SPIKE_NATS above its running minimum, or it never got below the unigram
    baseline (it did not train)."""
    if run.diverged_at is not None:
        return f"loss non-finite at step {run.diverged_at}"
    best = math.inf
    for step, loss in zip(run.eval_steps, run.val_loss, strict=True):
        if loss > best + SPIKE_NATS:
            return f"validation loss spiked to {loss:.3f} at step {step} (best so far {best:.3f})"
        best = min(best, loss)
    if run.final_val_loss >= unigram_loss:
        return f"final validation loss {run.final_val_loss:.3f} ≥ unigram {unigram_loss:.3f}"
    return None


def sweep_spread(arm: ArmResult) -> float:
    """How much a learning rate off the arm's best one costs, over its sweep (one seed each),
    in the task's own unit: language modelling, final validation loss worst − best (nats);
    recall, final accuracy best − worst."""
    if arm.arm.task == "recall":
        accuracy = [r.final_accuracy for r in arm.sweep.values()]
        return max(accuracy) - min(accuracy)
    finals = [r.final_val_loss for r in arm.sweep.values()]
    return max(finals) - min(finals)


def sweep_penalties(arm: ArmResult) -> dict[float, float]:
    """Per learning rate of the sweep (seed 0): how much worse than the sweep's best it ends, in
    the task's own unit (language modelling: final validation loss − best, nats; recall: best
    final accuracy − this one). A diverged run costs the worst finite penalty of the task
    scale it would have: infinity for loss, the full best accuracy for recall."""
    if arm.arm.task == "recall":
        accuracy = {lr: r.final_accuracy for lr, r in arm.sweep.items()}
        return {lr: max(accuracy.values()) - a for lr, a in accuracy.items()}
    finals = {lr: r.final_val_loss for lr, r in arm.sweep.items()}
    return {lr: f - min(finals.values()) for lr, f in finals.items()}


def seed_noise(arm: ArmResult, task: str) -> float:
    """The run-to-run standard deviation of an arm's final metric at its best learning rate
    (over its seeds): the noise in one run's final value."""
    values = accuracies(arm) if task == "recall" else final_losses(arm)
    finite = [v for v in values if math.isfinite(v)]
    return float(np.std(finite, ddof=1)) if len(finite) > 1 else math.inf


Z95 = 1.959963984540054  # the standard normal's 97.5% quantile


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def proportion_difference(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float, float]:
    """k1/n1 − k2/n2 and its 95% interval (Newcombe's hybrid score interval, method 10: good
    coverage also at 0/n and n/n, where the Wald interval collapses)."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1)
    l2, u2 = wilson(k2, n2)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return d, low, high


def seeds_to_decide(values: Sequence[float], region: tuple[float | None, float | None]) -> str:
    """A rough sample size that would decide a straddling t-interval: the n at which the
    half-width (normal approximation, the observed spread) shrinks to the distance from the
    mean to the nearest region boundary."""
    x = np.asarray([v for v in values if math.isfinite(v)], dtype=np.float64)
    bounds = [b for b in region if b is not None]
    if len(x) < 2 or not bounds:
        return "more seeds would decide it"
    gap = min(abs(float(x.mean()) - b) for b in bounds)
    sd = float(x.std(ddof=1))
    if gap == 0 or sd == 0:
        return "no number of seeds decides it at this mean"
    n = math.ceil((Z95 * sd / gap) ** 2) + 2
    return f"n ≈ {n} seeds would decide it at the observed mean and spread"
