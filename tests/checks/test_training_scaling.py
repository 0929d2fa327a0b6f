"""Training checks of 'Brain Teaser #2: What If We Skip Scaling?': a small transformer trained
with and without the 1/√d_k factor, each arm with its own learning-rate sweep, at two head
sizes (parameter d_k), several seeds. The scale is stated in every check's evidence."""

from __future__ import annotations

import pytest

from experiments import analysis
from experiments.checks import PRESET, TIMEOUT_S, curves, record_interval, record_scale
from experiments.checks import training_grid as training_grid  # the shared grid fixture
from experiments.stats import ratio_interval, t_interval


pytestmark = [pytest.mark.training, pytest.mark.timeout(TIMEOUT_S)]
HEAD_SIZES = PRESET.head_sizes


def _arms(grid, d_k):
    return grid.get("lm", "softmax", d_k), grid.get("lm", "unscaled", d_k)


@pytest.mark.claim("training-unscaled-trains-slower")
@pytest.mark.parametrize("d_k", HEAD_SIZES)
def test_unscaled_needs_more_steps_to_reach_a_common_loss(claim, evidence, training_grid, d_k):
    scaled, unscaled = _arms(training_grid, d_k)
    record_scale(evidence, training_grid, [scaled, unscaled])
    target = analysis.common_target([scaled, unscaled])
    steps_unscaled, steps_scaled = (
        analysis.steps_to(unscaled, target),
        analysis.steps_to(scaled, target),
    )
    ratios = [u / s for u, s in zip(steps_unscaled, steps_scaled, strict=True)]
    slowdown = ratio_interval(steps_unscaled, steps_scaled)
    low, high = claim.printed("slowdown_range")
    evidence.record_inputs(
        target_val_loss=target, steps_unscaled=steps_unscaled, steps_scaled=steps_scaled
    )
    record_interval(evidence, "slowdown (unscaled steps / scaled steps)", slowdown, ratios)
    evidence.property_holds(
        f"steps to validation loss {target:.3f}, unscaled / scaled, 95% interval",
        slowdown.consistent_with_range(low, high, null=1.0),
        slowdown.as_dict(),
        f"overlaps [{low}, {high}] and lies above 1",
    )
    curves(evidence, [scaled, unscaled], f"scaled vs unscaled softmax, d_k = {d_k}")


@pytest.mark.claim("training-unscaled-worse-perplexity")
@pytest.mark.parametrize("d_k", HEAD_SIZES)
def test_unscaled_perplexity_at_equal_budget(claim, evidence, training_grid, d_k):
    scaled, unscaled = _arms(training_grid, d_k)
    record_scale(evidence, training_grid, [scaled, unscaled])
    ppl_u, ppl_s = analysis.perplexities(unscaled), analysis.perplexities(scaled)
    ratio = ratio_interval(ppl_u, ppl_s)
    low, high = claim.printed("relative_perplexity_range")
    evidence.record_inputs(perplexity_unscaled=ppl_u, perplexity_scaled=ppl_s)
    record_interval(
        evidence,
        "perplexity ratio unscaled / scaled",
        ratio,
        [u / s for u, s in zip(ppl_u, ppl_s, strict=True)],
    )
    evidence.property_holds(
        "relative perplexity increase, unscaled vs scaled (geometric mean − 1), 95% interval",
        ratio.consistent_with_range(1 + low, 1 + high, null=1.0),
        {"mean": ratio.mean - 1, "low": ratio.low - 1, "high": ratio.high - 1},
        f"overlaps [{low:.0%}, {high:.0%}] and lies above 0%",
    )


@pytest.mark.claim("training-unscaled-attention-too-peaked", reading="more-peaked-than-scaled")
@pytest.mark.parametrize("d_k", HEAD_SIZES)
def test_unscaled_attention_entropy_is_lower(evidence, training_grid, d_k):
    scaled, unscaled = _arms(training_grid, d_k)
    record_scale(evidence, training_grid, [scaled, unscaled])
    h_u = [analysis.late_entropy(r) for r in unscaled.seeds]
    h_s = [analysis.late_entropy(r) for r in scaled.seeds]
    difference = [u - s for u, s in zip(h_u, h_s, strict=True)]
    interval = t_interval(difference)
    evidence.record_inputs(
        entropy_unscaled_nats=h_u,
        entropy_scaled_nats=h_s,
        max_weight_unscaled=[analysis.late_max_weight(r) for r in unscaled.seeds],
        max_weight_scaled=[analysis.late_max_weight(r) for r in scaled.seeds],
    )
    record_interval(evidence, "entropy difference unscaled − scaled (nats)", interval, difference)
    evidence.property_holds(
        "entropy(unscaled) − entropy(scaled), 95% interval",
        interval.excludes_zero_below(),
        interval.as_dict(),
        "entirely below 0",
    )
    curves(evidence, [scaled, unscaled], f"attention entropy, d_k = {d_k}")


@pytest.mark.claim("training-unscaled-attention-too-peaked", reading="below-article-threshold")
@pytest.mark.parametrize("d_k", HEAD_SIZES)
def test_unscaled_attention_entropy_below_article_threshold(claim, evidence, training_grid, d_k):
    scaled, unscaled = _arms(training_grid, d_k)
    record_scale(evidence, training_grid, [scaled, unscaled])
    threshold = claim.printed("entropy_threshold_nats")
    h_u = [analysis.late_entropy(r) for r in unscaled.seeds]
    h_s = [analysis.late_entropy(r) for r in scaled.seeds]
    evidence.record_inputs(entropy_unscaled_nats=h_u, entropy_scaled_nats=h_s)
    evidence.note(
        "Entropy in nats (natural logarithm); in bits every value would be 1.44× larger, so "
        "'below 1.0' would be harder to meet. The maximum for a causal row i is ln(i + 1)."
    )
    evidence.property_holds(
        f"unscaled mean entropy < {threshold} nat in every seed",
        max(h_u) < threshold,
        h_u,
        f"all < {threshold}",
    )
    evidence.property_holds(
        f"scaled mean entropy not consistently < {threshold} nat",
        max(h_s) >= threshold,
        h_s,
        f"some ≥ {threshold}",
    )
