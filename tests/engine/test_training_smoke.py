"""The training harness itself: it learns, its attention variants are causal and correct, and
the smoke preset runs the whole pipeline (grid, statistics, figures) in seconds. These tests
give no verdict; they make sure a broken harness cannot produce one."""

from __future__ import annotations

import math

import pytest
import torch

from softmax_claimcheck.experiments import analysis, data, grid, presets, train
from softmax_claimcheck.experiments.plots import temperature_figure, training_figure
from softmax_claimcheck.experiments.stats import ratio_interval, steps_to_target, t_interval
from softmax_claimcheck.experiments.train import RunConfig, RunResult
from softmax_claimcheck.experiments.transformer import (
    VARIANTS,
    ModelConfig,
    TinyTransformer,
    attention_weights,
    causal_linear_attention,
)


def test_harness_learns_well_below_the_unigram_baseline():
    """A small softmax model must beat the best context-free predictor by a wide margin: a loop
    that does not update, or scores the wrong targets, stays near or above it."""
    cfg = RunConfig(
        task="lm", variant="softmax", d_k=16, n_heads=2, n_layers=1, seq_len=32, batch=16,
        steps=250, lr=1e-2, seed=0, eval_points=2, val_sequences=32,
    )  # fmt: skip
    result = grid.run_single_threaded(cfg)
    unigram = data.load_corpus().unigram_loss
    assert result.diverged_at is None
    assert result.val_loss[0] > unigram  # it starts worse than the baseline …
    assert result.final_val_loss < unigram - 0.4, (
        result.final_val_loss,
        unigram,
    )  # … ends well below


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_is_causal(variant):
    """Changing the last tokens must not change the outputs at earlier positions."""
    torch.manual_seed(0)
    model = TinyTransformer(ModelConfig(vocab_size=50, seq_len=12, n_layers=2, n_heads=2, d_k=8,
                                        variant=variant)).double()  # fmt: skip
    tokens = torch.randint(0, 50, (3, 12))
    changed = tokens.clone()
    changed[:, 8:] = (changed[:, 8:] + 7) % 50
    before, after = model(tokens), model(changed)
    assert torch.allclose(before[:, :8], after[:, :8], atol=1e-10)
    assert not torch.allclose(before[:, 8:], after[:, 8:])


def test_chunked_linear_attention_equals_the_quadratic_form():
    torch.manual_seed(1)
    q, k, v = (torch.randn(2, 3, 21, 8, dtype=torch.float64) for _ in range(3))
    quadratic = attention_weights(q, k, "linear") @ v
    for chunk in (1, 4, 16, 32):
        torch.testing.assert_close(causal_linear_attention(q, k, v, chunk), quadratic)


@pytest.mark.parametrize("variant", ["softmax", "unscaled", "relu", "linear"])
def test_weights_are_distributions_over_the_past(variant):
    torch.manual_seed(2)
    q, k = (
        torch.randn(2, 2, 9, 8, dtype=torch.float64),
        torch.randn(2, 2, 9, 8, dtype=torch.float64),
    )
    w = attention_weights(q, k, variant)
    assert (w >= 0).all()
    assert torch.equal(w.triu(1), torch.zeros_like(w))
    row_sums = w.sum(-1)
    # ReLU divides by (row sum + 1e-6): within 1e-4 of 1, or exactly 0 on a row with no positive
    # score (the article's formula gives 0/0 there)
    assert ((row_sums - 1).abs() < 1e-4).logical_or(row_sums == 0).all()


def test_scaling_divides_scores_by_sqrt_dk():
    torch.manual_seed(3)
    q, k = (
        torch.randn(1, 1, 5, 16, dtype=torch.float64),
        torch.randn(1, 1, 5, 16, dtype=torch.float64),
    )
    torch.testing.assert_close(
        attention_weights(q / 4, k, "unscaled"), attention_weights(q, k, "softmax")
    )


def test_corpus_is_deterministic_and_described():
    first, again = data.corpus_text(), data.corpus_text()
    assert first == again
    described = data.load_corpus().describe()
    assert described["bytes"] > 300_000 and len(described["sha256"]) == 64


def test_recall_batches_score_only_the_answers():
    task = data.RecallTask(n_keys=6, n_values=5, n_pairs=6, n_queries=3)
    inputs, targets, scored = task.batch(4, torch.Generator().manual_seed(0))
    assert inputs.shape == (4, task.seq_len) and scored.sum() == 4 * 3
    for row in range(4):
        pairs = {int(t) // 5: int(t) % 5 for t in inputs[row, :6]}
        for pos in range(6, 9):
            key = int(inputs[row, pos]) - task.query_offset
            assert int(targets[row, pos]) - task.value_offset == pairs[key]


def test_statistics_helpers():
    assert steps_to_target([0, 10, 20], [5.0, 3.0, 1.0], 2.0) == 15.0
    assert steps_to_target([0, 10], [5.0, 3.0], 1.0) == math.inf
    ci = t_interval([1.0, 2.0, 3.0])
    assert ci.estimate == 2.0 and ci.low < 2.0 < ci.high
    ratio = ratio_interval([4.0, 4.0, 4.0], [2.0, 2.0, 2.0])
    assert math.isclose(ratio.estimate, 2.0) and math.isclose(ratio.low, 2.0)


def test_instability_is_detected():
    diverged = RunResult(config={"steps": 10}, eval_steps=[0], val_loss=[4.0], diverged_at=5)
    spike = RunResult(config={"steps": 10}, eval_steps=[0, 5, 10], val_loss=[4.0, 2.0, 2.6])
    calm = RunResult(config={"steps": 10}, eval_steps=[0, 5, 10], val_loss=[4.0, 2.0, 1.9])
    assert "non-finite" in analysis.instability(diverged, 3.0)
    assert "spiked" in analysis.instability(spike, 3.0)
    assert analysis.instability(calm, 3.0) is None


def test_smoke_preset_runs_the_whole_pipeline():
    """The grid, every measurement the checks use, and the figures, at the smoke scale."""
    preset = presets.SMOKE
    result = grid.TrainingGrids().results(preset)
    assert set(result.arms) == {a.name for a in preset.arms()}
    small = preset.head_sizes[0]
    scaled, unscaled = result.get("lm", "softmax", small), result.get("lm", "unscaled", small)
    assert len(scaled.seeds) == preset.seeds and len(scaled.sweep) == len(preset.lm.lrs)
    target = analysis.common_target([scaled, unscaled])
    assert all(math.isfinite(s) for s in analysis.steps_to(unscaled, target))
    assert math.isfinite(analysis.late_entropy(scaled.seeds[0]))
    assert analysis.accuracies(result.get("recall", "linear"))
    temperatures = result.temperature_arm()
    assert temperatures.seeds[0].temperatures is not None
    assert analysis.mean_temperature(temperatures.seeds[0], slice(0, 1)) > 0
    assert analysis.sweep_spread(result.get("lm", "relu")) >= 0
    training_figure([scaled, unscaled], "smoke").clf()
    temperature_figure(temperatures).clf()


def test_a_non_finite_loss_stops_the_run_and_is_recorded(monkeypatch):
    """Divergence is a result (the step is recorded), not a crash."""
    calls = {"n": 0}
    real_loss = train.masked_loss

    def loss_that_blows_up_at_step_3(*args):
        calls["n"] += 1
        loss = real_loss(*args)
        return loss * math.inf if calls["n"] >= 3 else loss

    monkeypatch.setattr(train, "masked_loss", loss_that_blows_up_at_step_3)
    cfg = RunConfig(
        task="lm", variant="softmax", d_k=8, n_heads=1, n_layers=1, seq_len=16, batch=4,
        steps=8, lr=1e-3, seed=0, eval_points=2, val_sequences=4,
    )  # fmt: skip
    result = train.run(cfg)
    assert result.diverged_at == 3 and len(result.train_loss) == 3
    assert result.final_val_loss == math.inf and result.tokens_seen == 2 * 4 * 16
