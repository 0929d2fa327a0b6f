"""Training check of 'Putting It All Together', the training-instability reading of "No
normalization → unbounded outputs, training instability": unnormalized attention (QKᵀ·V under
the causal mask) against scaled softmax over the same learning-rate sweep and seeds."""

from __future__ import annotations

import pytest

from experiments import analysis
from experiments.checks import TIMEOUT_S, curves, record_scale
from experiments.checks import training_grid as training_grid  # the shared grid fixture
from experiments.data import load_corpus

pytestmark = [pytest.mark.training, pytest.mark.timeout(TIMEOUT_S)]


@pytest.mark.claim("training-no-normalization-unstable")
def test_unnormalized_attention_trains_less_stably(evidence, training_grid):
    softmax, raw = training_grid.get("lm", "softmax"), training_grid.get("lm", "raw")
    record_scale(evidence, training_grid, [softmax, raw])
    unigram = load_corpus().unigram_loss

    def unstable(arm):
        return {
            f"lr={r.config['lr']:g}, seed={r.config['seed']}": why
            for r in analysis.all_runs(arm)
            if (why := analysis.instability(r, unigram))
        }

    raw_unstable, softmax_unstable = unstable(raw), unstable(softmax)
    evidence.record_inputs(
        unstable_runs_raw=raw_unstable or "none",
        unstable_runs_softmax=softmax_unstable or "none",
        runs_per_arm=len(analysis.all_runs(raw)),
        spike_threshold_nats=analysis.SPIKE_NATS,
        final_val_loss_raw=analysis.final_losses(raw),
        final_val_loss_softmax=analysis.final_losses(softmax),
    )
    evidence.property_holds(
        "unstable runs: unnormalized > softmax",
        len(raw_unstable) > len(softmax_unstable),
        {"raw": len(raw_unstable), "softmax": len(softmax_unstable)},
        "more unstable runs without normalization",
    )
    curves(evidence, [softmax, raw], "language modelling: softmax vs no normalization")
