"""Training curves per arm for the report: validation loss (mean over seeds, band from the best
to the worst seed), attention entropy, and the learning-rate sweep that chose each arm's rate."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from softmax_claimcheck.experiments.analysis import entropy_curve
from softmax_claimcheck.experiments.grid import ArmResult


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _finite(values: Sequence[float]) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(x), x, np.nan)


def _curves(runs, value_of):
    """Per-eval mean, min and max over seeds (curves of diverged runs stop early)."""
    length = max(len(r.eval_steps) for r in runs)
    steps = next(r.eval_steps for r in runs if len(r.eval_steps) == length)
    table = np.full((len(runs), length), np.nan)
    for i, r in enumerate(runs):
        values = _finite(value_of(r))
        table[i, : len(values)] = values
    return np.asarray(steps), table


def training_figure(arms: Sequence[ArmResult], title: str, metric: str = "val_loss"):
    """Three panels: the metric over training, mean attention entropy over training, and the
    final metric of each learning rate of each arm's sweep."""
    plt = _pyplot()
    fig, (ax_loss, ax_entropy, ax_sweep) = plt.subplots(1, 3, figsize=(12, 3.2), layout="tight")
    label = "validation accuracy" if metric == "val_accuracy" else "validation loss (nats)"
    for arm in arms:
        steps, table = _curves(arm.seeds, lambda r: getattr(r, metric))
        label_arm = f"{arm.name} (lr {arm.best_lr:g})"
        (line,) = ax_loss.plot(steps, np.nanmean(table, 0), label=label_arm)
        ax_loss.fill_between(steps, np.nanmin(table, 0), np.nanmax(table, 0), alpha=0.2,
                             color=line.get_color())  # fmt: skip
        steps, entropy = _curves(arm.seeds, entropy_curve)
        if np.isfinite(entropy).any():
            ax_entropy.plot(steps, np.nanmean(entropy, 0), color=line.get_color())
        if arm.sweep:
            lrs = sorted(arm.sweep)
            finals = [getattr(arm.sweep[lr], metric)[-1] for lr in lrs]
            finals = [f if arm.sweep[lr].diverged_at is None else math.nan
                      for f, lr in zip(finals, lrs, strict=True)]  # fmt: skip
            ax_sweep.semilogx(lrs, finals, marker="o", color=line.get_color())
    ax_loss.set(xlabel="step", ylabel=label, title=title)
    if metric == "val_loss":
        low = np.nanmin([np.nanmin(_finite(r.val_loss)) for a in arms for r in a.seeds])
        ax_loss.set_ylim(low - 0.1, low + 2.0)
    ax_loss.legend(fontsize=7)
    ax_entropy.set(xlabel="step", ylabel="attention entropy (nats)",
                   title="mean over layers, heads, rows")  # fmt: skip
    ax_sweep.set(xlabel="peak learning rate", ylabel=f"final {label}", title="sweep (seed 0)")
    return fig


def temperature_figure(arm: ArmResult):
    """Learned temperature per layer: each head of each seed, and the mean."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 3), layout="tight")
    for seed, run in enumerate(arm.seeds):
        temps = np.asarray(run.temperatures)
        layers = np.arange(1, temps.shape[0] + 1)
        ax.scatter(np.repeat(layers, temps.shape[1]) + 0.05 * seed, temps.ravel(), s=10,
                   label=f"seed {seed}")  # fmt: skip
    mean = np.mean([np.asarray(r.temperatures).mean(1) for r in arm.seeds], axis=0)
    ax.plot(np.arange(1, len(mean) + 1), mean, color="black", label="mean")
    ax.axhline(1.0, color="grey", linestyle=":", linewidth=1)
    ax.set(xlabel="layer (1 = lowest)", ylabel="learned temperature T", title=arm.name)
    ax.legend(fontsize=7)
    return fig
