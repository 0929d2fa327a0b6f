"""Training check of 'Putting It All Together', the training-instability part of "No
normalization → unbounded outputs, training instability": unnormalized attention (QKᵀ·V under
the causal mask) against scaled softmax, both WITHOUT gradient clipping (clipping is the
mechanism that would hide an explosion), every seed at every learning rate of the same sweep."""

from __future__ import annotations

import pytest

from softmax_claimcheck.experiments import analysis
from softmax_claimcheck.experiments.data import load_corpus
from softmax_claimcheck.experiments.reporting import TIMEOUT_S, curves, record_scale

pytestmark = [pytest.mark.training, pytest.mark.timeout(TIMEOUT_S)]


@pytest.mark.claim("training-no-normalization-unstable")
def test_unnormalized_attention_trains_less_stably(claim, evidence, training_grid):
    preset = training_grid.preset
    softmax = training_grid.arms[preset.instability_arm("softmax").name]
    raw = training_grid.arms[preset.instability_arm("raw").name]
    record_scale(evidence, training_grid, [softmax, raw])
    unigram = load_corpus().unigram_loss

    def unstable(arm):
        return {
            f"lr={r.config['lr']:g}, seed={r.config['seed']}": why
            for r in arm.sweep_runs
            if (why := analysis.instability(r, unigram))
        }

    raw_unstable, softmax_unstable = unstable(raw), unstable(softmax)
    n_raw, n_softmax = len(raw.sweep_runs), len(softmax.sweep_runs)
    difference, low, high = analysis.proportion_difference(
        len(raw_unstable), n_raw, len(softmax_unstable), n_softmax
    )
    evidence.record_inputs(
        gradient_clipping="none in either arm",
        unstable_runs_raw=raw_unstable or "none",
        unstable_runs_softmax=softmax_unstable or "none",
        runs_per_arm={"raw": n_raw, "softmax": n_softmax},
        spike_threshold_nats=analysis.SPIKE_NATS,
        share_unstable_difference={"difference": difference, "low": low, "high": high},
    )
    threshold = claim.parameter("share_difference_threshold")
    needed = "more seeds per learning rate in both arms would decide it"
    decision = evidence.interval_decision(
        "share of unstable runs: unnormalized − softmax (95% Newcombe interval)",
        (low, high),
        (threshold, None),
        claim.parameter("rule"),
        needed=needed,
    )
    where = {"holds": "above it", "fails": "below it"}.get(decision, f"straddling it ({needed})")
    evidence.conclude(
        f"without gradient clipping, {len(raw_unstable)} of {n_raw} unnormalized runs and "
        f"{len(softmax_unstable)} of {n_softmax} softmax runs were unstable: a difference in "
        f"share of {difference:.3g} (95% interval [{low:.3g}, {high:.3g}]) against the "
        f"claimed 'typically unstable', a difference above {threshold:g}: {where}"
    )
    curves(evidence, [softmax, raw], "language modelling, no gradient clipping: softmax vs raw")
