"""Training checks of 'Brain Teaser #1: Why Not Simple Normalization?': attention without the
exponential (simple normalization: scores / row sum; ReLU normalization) against scaled softmax
on language modelling. Every interval decision is three-valued."""

from __future__ import annotations

import pytest

from softmax_claimcheck.experiments import analysis
from softmax_claimcheck.experiments.data import load_corpus
from softmax_claimcheck.experiments.reporting import (
    TIE,
    TIMEOUT_S,
    curves,
    decide,
    record_interval,
    record_scale,
)
from softmax_claimcheck.experiments.stats import ratio_interval, t_interval

pytestmark = [pytest.mark.training, pytest.mark.timeout(TIMEOUT_S)]


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(
            "sum",
            marks=pytest.mark.claim(
                "training-no-exponential-fails-or-mediocre", reading="simple-normalization"
            ),
            id="sum",
        ),
        pytest.param(
            "relu",
            marks=pytest.mark.claim(
                "training-no-exponential-fails-or-mediocre", reading="relu-normalization"
            ),
            id="relu",
        ),
    ],
)
def test_fails_to_train_or_is_mediocre(claim, evidence, training_grid, variant):
    softmax, other = training_grid.get("lm", "softmax"), training_grid.get("lm", variant)
    record_scale(evidence, training_grid, [softmax, other])
    unigram = load_corpus().unigram_loss
    reasons = [analysis.instability(r, unigram) for r in other.seeds]
    # did not train at all: a non-finite loss, or no better than the unigram baseline
    failed = [why for why in reasons if why and ("non-finite" in why or "unigram" in why)]
    ppl_o, ppl_s = analysis.perplexities(other), analysis.perplexities(softmax)
    ratio = ratio_interval(ppl_o, ppl_s)
    per_seed = [o / s for o, s in zip(ppl_o, ppl_s, strict=True)]
    evidence.record_inputs(
        unigram_val_loss=unigram,
        final_val_loss_variant=analysis.final_losses(other),
        final_val_loss_softmax=analysis.final_losses(softmax),
        runs_that_did_not_train=failed or "none",
    )
    if failed:
        record_interval(evidence, f"perplexity ratio {variant} / softmax", ratio, per_seed)
        evidence.property_holds(
            f"{variant}: fails to train in some seed", True, failed, "some seed did not train"
        )
    else:
        decide(
            evidence,
            claim,
            f"perplexity ratio {variant} / softmax (geometric mean; above 1 = worse)",
            ratio,
            (1.0 + TIE, None),
            per_seed,
            log_scale=True,
        )
    curves(evidence, [softmax, other], f"language modelling: softmax vs {variant}")


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(
            "sum",
            marks=pytest.mark.claim(
                "training-no-exponential-too-flat", reading="simple-normalization"
            ),
            id="sum",
        ),
        pytest.param(
            "relu",
            marks=pytest.mark.claim(
                "training-no-exponential-too-flat", reading="relu-normalization"
            ),
            id="relu",
        ),
    ],
)
def test_attention_is_flatter_than_softmax(claim, evidence, training_grid, variant):
    softmax, other = training_grid.get("lm", "softmax"), training_grid.get("lm", variant)
    record_scale(evidence, training_grid, [softmax, other])
    h_o = [analysis.late_entropy(r) for r in other.seeds]
    h_s = [analysis.late_entropy(r) for r in softmax.seeds]
    difference = [o - s for o, s in zip(h_o, h_s, strict=True)]
    evidence.record_inputs(entropy_variant_nats=h_o, entropy_softmax_nats=h_s)
    decide(
        evidence,
        claim,
        f"attention entropy {variant} − softmax (nats, paired by seed)",
        t_interval(difference),
        (TIE, None),
        difference,
    )
