"""The training grid's run plan and its background run (experiments/grid.py): bracketing and
full learning-rate sweeps, seeds at the best rung, fine-tuning after its base models; a grid
started in the background is waited for, and stops with the run. The plan is driven with fake
results of chosen final losses: no training."""

from __future__ import annotations

import math
import threading
import time

import pytest
import torch

from softmax_claimcheck.experiments import grid, presets
from softmax_claimcheck.experiments.train import RunConfig, RunResult
from softmax_claimcheck.experiments.transformer import causal_bias, causal_mask

PRESET = presets.CPU  # a ladder of four learning rates for language modelling, three for recall
LADDER = PRESET.lm.lrs
# where each language-model arm's loss is lowest (an index into LADDER); the rest: rung 2
OPTIMUM = {"unscaled": 0, "linear": 3, "sum": 1}


def fake_loss(cfg: RunConfig) -> float:
    """A loss that is smallest at the arm's optimum rung and grows with the distance to it."""
    if cfg.task == "recall":
        best = 1
        rung = PRESET.recall.lrs.index(cfg.lr)
    else:
        best = OPTIMUM.get(cfg.variant, 2)
        rung = min(range(len(LADDER)), key=lambda i: abs(math.log(LADDER[i] / cfg.lr)))
    return 2.0 + 0.1 * (rung - best) ** 2 + 0.001 * cfg.seed


def run_plan(plan: grid._Plan) -> dict[RunConfig, RunResult]:
    """What the runner does, in order and in one thread."""
    done: dict[RunConfig, RunResult] = {}
    while fresh := [c for c in dict.fromkeys(plan.ready(done)) if c not in done]:
        for cfg in fresh:
            if cfg.base is not None:
                assert cfg.base in done, "a fine-tuning run was ready before its base model"
            done[cfg] = RunResult(config=cfg.key(), eval_steps=[cfg.steps],
                                  val_loss=[fake_loss(cfg)], val_accuracy=[0.5])  # fmt: skip
    return done


@pytest.fixture(scope="module")
def planned():
    plan = grid._Plan(PRESET)
    return plan, run_plan(plan)


def test_the_plan_completes(planned):
    plan, _ = planned
    assert plan.complete()
    assert set(plan.seed_configs) == {a.name for a in PRESET.arms()}


@pytest.mark.parametrize(
    ("variant", "d_k", "rungs"),
    [
        ("unscaled", 16, [0, 1, 2]),  # best at the ladder's low end: two rungs added
        ("linear", 16, [1, 2, 3]),  # best at the high end
        ("sum", 16, [0, 1, 2]),  # best at a middle rung: one neighbour added
        ("unscaled", 64, [0, 1, 2]),
        ("softmax", 64, [1, 2, 3]),
    ],
)
def test_a_bracketing_arm_runs_only_the_rungs_around_its_best(planned, variant, d_k, rungs):
    plan, _ = planned
    arm = PRESET.arm("lm", variant, d_k)
    assert sorted(plan.sweeps[arm.name]) == [LADDER[i] for i in rungs]
    assert plan.best[arm.name] == LADDER[OPTIMUM.get(variant, 2)]


@pytest.mark.parametrize("arm", [PRESET.arm("lm", "softmax"), PRESET.arm("lm", "relu"),
                                 PRESET.instability_arm("raw")], ids=lambda a: a.name)  # fmt: skip
def test_an_arm_whose_sweep_is_evidence_runs_every_rung(planned, arm):
    plan, _ = planned
    assert sorted(plan.sweeps[arm.name]) == list(LADDER)
    assert all(len(runs) == arm.sweep_seeds for runs in plan.sweeps[arm.name].values())


def test_seeds_run_at_the_best_rung_and_seed_0_is_the_sweep_run(planned):
    plan, _ = planned
    arm = PRESET.arm("lm", "linear")
    seeds = plan.seed_configs[arm.name]
    assert [c.seed for c in seeds] == list(range(PRESET.seeds))
    assert {c.lr for c in seeds} == {plan.best[arm.name]}
    assert seeds[0] == plan.sweeps[arm.name][plan.best[arm.name]][0]


def test_fine_tuning_starts_from_each_base_model_which_keeps_its_weights(planned):
    plan, done = planned
    finetune = next(a for a in PRESET.arms() if a.finetune_from)
    base = plan.seed_configs[finetune.finetune_from or ""]
    assert [c.base for c in plan.seed_configs[finetune.name]] == base
    assert set(base) <= plan.keep and all(c in done for c in plan.seed_configs[finetune.name])


def test_the_grid_costs_fewer_runs_than_full_sweeps(planned):
    """The point of bracketing: five language-model arms skip one rung each."""
    plan, done = planned
    full = PRESET.seeds  # the fine-tuning runs
    for a in plan.trained:
        seeds = a.n_seeds or PRESET.seeds
        full += len(PRESET.scale(a.task).lrs) * a.sweep_seeds + max(0, seeds - a.sweep_seeds)
    assert len(done) == full - 5


def test_the_additive_causal_mask_gives_exactly_the_masked_fill_values():
    """Same forward values and gradients, bit for bit, as masked_fill(−∞): the faster form
    changes no result of the grid."""
    torch.manual_seed(0)
    scores = torch.randn(3, 2, 9, 9, requires_grad=True)
    filled = torch.softmax(scores.masked_fill(causal_mask(9, scores.device) == 0, -math.inf), -1)
    added = torch.softmax(scores + causal_bias(9, scores.device), -1)
    assert torch.equal(filled, added)
    weights = torch.randn(3, 2, 9, 9)
    (grad_filled,) = torch.autograd.grad((filled * weights).sum(), scores)
    (grad_added,) = torch.autograd.grad((added * weights).sum(), scores)
    assert torch.equal(grad_filled, grad_added)


def test_a_background_grid_is_waited_for_and_computed_once(tmp_path, monkeypatch):
    calls = []

    def fake_compute(preset, cache_dir, stop_event=None, waiting=None):
        calls.append(threading.current_thread().name)
        time.sleep(0.2)
        return "grid"

    monkeypatch.setattr(grid, "_compute", fake_compute)
    grids = grid.TrainingGrids()
    grids.start(presets.SMOKE, tmp_path)
    assert grids.results(presets.SMOKE, tmp_path) == "grid"
    assert grids.results(presets.SMOKE, tmp_path) == "grid"
    assert calls == ["training-grid"]


def test_a_background_grid_stops_with_the_run_and_its_error_reaches_the_waiting_check(
    tmp_path, monkeypatch
):
    """stop() drops the queued runs; a check that still waits gets GridStopped (an ERROR,
    never a verdict). A grid computed in the caller's thread is not stopped by it."""
    started, stopped = threading.Event(), threading.Event()

    def fake_run(cfg, initial=None):
        started.set()
        stopped.wait(10)  # the grid is still at its first run when the run ends
        return RunResult(config=cfg.key(), eval_steps=[cfg.steps], val_loss=[fake_loss(cfg)],
                         val_accuracy=[0.5])  # fmt: skip

    monkeypatch.setattr(grid, "run_single_threaded", fake_run)
    grids = grid.TrainingGrids()
    grids.start(presets.SMOKE, tmp_path / "a")  # one worker: runs in the grid's own thread
    assert started.wait(10)
    grids.stop()
    stopped.set()
    with pytest.raises(grid.GridStopped):
        grids.results(presets.SMOKE, tmp_path / "a")
    assert grids.results(presets.SMOKE, tmp_path / "b").preset is presets.SMOKE
