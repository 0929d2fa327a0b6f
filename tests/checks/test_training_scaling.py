"""Training checks of 'Brain Teaser #2: What If We Skip Scaling?': a small transformer trained
with and without the 1/√d_k factor, each arm with its own learning-rate sweep, at two head
sizes, several seeds. The larger head size (64 on the cpu preset: the article's own example)
decides; the smaller is an alternative reading, shown and never deciding (docs/design.md,
"Empirical claims"). The scale is stated in every check's evidence; every decision is
three-valued (a 95% t-interval over seeds against the claim's region)."""

from __future__ import annotations

import pytest

from softmax_claimcheck.experiments import analysis
from softmax_claimcheck.experiments.reporting import (
    TIE,
    TIMEOUT_S,
    curves,
    decide,
    record_scale,
)
from softmax_claimcheck.experiments.stats import ratio_interval, t_interval

pytestmark = [pytest.mark.training, pytest.mark.timeout(TIMEOUT_S)]


def _arms(grid, d_k):
    return grid.get("lm", "softmax", d_k), grid.get("lm", "unscaled", d_k)


@pytest.mark.head_sizes(
    pytest.mark.claim("training-unscaled-trains-slower", reading="article-head-size"),
    pytest.mark.claim("training-unscaled-trains-slower", reading="other-head-size"),
)
def test_unscaled_needs_more_steps_to_reach_a_common_loss(claim, evidence, training_grid, d_k):
    scaled, unscaled = _arms(training_grid, d_k)
    record_scale(evidence, training_grid, [scaled, unscaled])
    target = analysis.common_target([scaled, unscaled])
    steps_u, steps_s = analysis.steps_to(unscaled, target), analysis.steps_to(scaled, target)
    low, high = claim.printed("slowdown_range")
    evidence.record_inputs(target_val_loss=target, steps_unscaled=steps_u, steps_scaled=steps_s)
    decide(
        evidence,
        claim,
        f"d_k = {d_k}: steps to validation loss {target:.3f}, unscaled / scaled",
        ratio_interval(steps_u, steps_s),
        (low, high),
        [u / s for u, s in zip(steps_u, steps_s, strict=True)],
        log_scale=True,
        null=1.0,
        unit="×",
    )
    curves(evidence, [scaled, unscaled], f"scaled vs unscaled softmax, d_k = {d_k}")


@pytest.mark.head_sizes(
    pytest.mark.claim("training-unscaled-worse-perplexity", reading="article-head-size"),
    pytest.mark.claim("training-unscaled-worse-perplexity", reading="other-head-size"),
)
def test_unscaled_perplexity_at_equal_budget(claim, evidence, training_grid, d_k):
    scaled, unscaled = _arms(training_grid, d_k)
    record_scale(evidence, training_grid, [scaled, unscaled])
    ppl_u, ppl_s = analysis.perplexities(unscaled), analysis.perplexities(scaled)
    low, high = claim.printed("relative_perplexity_range")
    evidence.record_inputs(perplexity_unscaled=ppl_u, perplexity_scaled=ppl_s)
    decide(
        evidence,
        claim,
        f"d_k = {d_k}: final perplexity, unscaled / scaled (1.10 = 10% worse)",
        ratio_interval(ppl_u, ppl_s),
        (1 + low, 1 + high),
        [u / s for u, s in zip(ppl_u, ppl_s, strict=True)],
        log_scale=True,
        null=1.0,
        unit="×",
    )


def _late_entropies(grid, evidence, d_k):
    scaled, unscaled = _arms(grid, d_k)
    record_scale(evidence, grid, [scaled, unscaled])
    h_u = [analysis.late_entropy(r) for r in unscaled.seeds]
    h_s = [analysis.late_entropy(r) for r in scaled.seeds]
    evidence.record_inputs(
        entropy_unscaled_nats=h_u,
        entropy_scaled_nats=h_s,
        max_weight_unscaled=[analysis.late_max_weight(r) for r in unscaled.seeds],
        max_weight_scaled=[analysis.late_max_weight(r) for r in scaled.seeds],
    )
    return scaled, unscaled, h_u, h_s


@pytest.mark.head_sizes(
    pytest.mark.claim("training-unscaled-attention-too-peaked", reading="more-peaked-than-scaled"),
    pytest.mark.claim(
        "training-unscaled-attention-too-peaked", reading="more-peaked-than-scaled-other-head-size"
    ),
)
def test_unscaled_attention_entropy_is_lower(claim, evidence, training_grid, d_k):
    scaled, unscaled, h_u, h_s = _late_entropies(training_grid, evidence, d_k)
    difference = [u - s for u, s in zip(h_u, h_s, strict=True)]
    decide(
        evidence,
        claim,
        f"d_k = {d_k}: attention entropy, unscaled − scaled (nats, paired by seed)",
        t_interval(difference),
        (None, -TIE),
        difference,
        null=0.0,
    )
    curves(evidence, [scaled, unscaled], f"attention entropy, d_k = {d_k}")


@pytest.mark.head_sizes(
    pytest.mark.claim("training-unscaled-attention-too-peaked", reading="below-article-threshold"),
    pytest.mark.claim(
        "training-unscaled-attention-too-peaked", reading="below-article-threshold-other-head-size"
    ),
)
def test_unscaled_attention_entropy_below_article_threshold(claim, evidence, training_grid, d_k):
    _, _, h_u, _ = _late_entropies(training_grid, evidence, d_k)
    threshold = claim.printed("entropy_threshold_nats")
    evidence.note(
        "Entropy in nats (natural logarithm); in bits every value would be 1.44× larger, so "
        "'below 1.0' would be harder to meet. The maximum for a causal row i is ln(i + 1)."
    )
    decide(
        evidence,
        claim,
        f"d_k = {d_k}: mean attention entropy of the unscaled model (nats)",
        t_interval(h_u),
        (None, threshold),
        h_u,
    )
