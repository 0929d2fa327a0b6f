"""Training checks of 'Brain Teaser #1: Why Not Simple Normalization?': attention without the
exponential (simple normalization: scores / row sum; ReLU normalization) against scaled softmax
on language modelling."""

from __future__ import annotations

import pytest

from experiments import analysis
from experiments.checks import TIMEOUT_S, curves, record_interval, record_scale
from experiments.checks import training_grid as training_grid  # the shared grid fixture
from experiments.data import load_corpus
from experiments.stats import ratio_interval, t_interval

pytestmark = [pytest.mark.training, pytest.mark.timeout(TIMEOUT_S)]
FAILS = "training-no-exponential-fails-or-mediocre"
FLAT = "training-no-exponential-too-flat"
VARIANT = {"simple-normalization": "sum", "relu-normalization": "relu"}


@pytest.mark.claim(FAILS, reading="simple-normalization")
def test_simple_normalization_fails_or_is_mediocre(evidence, training_grid):
    _fails_or_mediocre(evidence, training_grid, VARIANT["simple-normalization"])


@pytest.mark.claim(FAILS, reading="relu-normalization")
def test_relu_normalization_fails_or_is_mediocre(evidence, training_grid):
    _fails_or_mediocre(evidence, training_grid, VARIANT["relu-normalization"])


def _fails_or_mediocre(evidence, grid, variant):
    softmax, other = grid.get("lm", "softmax"), grid.get("lm", variant)
    record_scale(evidence, grid, [softmax, other])
    unigram = load_corpus().unigram_loss
    failed = [analysis.instability(r, unigram) for r in other.seeds]
    failed = [
        why for why in failed if why and ("non-finite" in why or "unigram" in why)
    ]  # did not train at all
    ppl_o, ppl_s = analysis.perplexities(other), analysis.perplexities(softmax)
    ratio = ratio_interval(ppl_o, ppl_s)
    evidence.record_inputs(
        unigram_val_loss=unigram,
        final_val_loss_variant=analysis.final_losses(other),
        final_val_loss_softmax=analysis.final_losses(softmax),
        runs_that_did_not_train=failed,
    )
    record_interval(
        evidence,
        f"perplexity ratio {variant} / softmax",
        ratio,
        [o / s for o, s in zip(ppl_o, ppl_s, strict=True)],
    )
    evidence.property_holds(
        f"{variant}: fails to train (some seed) or perplexity above softmax (95% interval > 1)",
        bool(failed) or ratio.low > 1,
        {"seeds_that_did_not_train": len(failed), "perplexity_ratio": ratio.as_dict()},
        "fails, or ratio interval entirely above 1",
    )
    curves(evidence, [softmax, other], f"language modelling: softmax vs {variant}")


@pytest.mark.claim(FLAT, reading="simple-normalization")
def test_simple_normalization_attention_is_flatter(evidence, training_grid):
    _flatter(evidence, training_grid, VARIANT["simple-normalization"])


@pytest.mark.claim(FLAT, reading="relu-normalization")
def test_relu_normalization_attention_is_flatter(evidence, training_grid):
    _flatter(evidence, training_grid, VARIANT["relu-normalization"])


def _flatter(evidence, grid, variant):
    softmax, other = grid.get("lm", "softmax"), grid.get("lm", variant)
    record_scale(evidence, grid, [softmax, other])
    h_o = [analysis.late_entropy(r) for r in other.seeds]
    h_s = [analysis.late_entropy(r) for r in softmax.seeds]
    difference = [o - s for o, s in zip(h_o, h_s, strict=True)]
    interval = t_interval(difference)
    evidence.record_inputs(entropy_variant_nats=h_o, entropy_softmax_nats=h_s)
    record_interval(
        evidence, f"entropy difference {variant} − softmax (nats)", interval, difference
    )
    evidence.property_holds(
        f"entropy({variant}) − entropy(softmax), 95% interval",
        interval.excludes_zero_above(),
        interval.as_dict(),
        "entirely above 0",
    )
