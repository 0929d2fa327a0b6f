"""What a training preset costs, measured on this machine before any GPU minute is spent:

    python scripts/gpu/estimate.py [--presets cpu,gpu] [--time-steps 20] [--json FILE]

Per preset and task: the model's parameters, the training FLOPs of one step (forward and
backward, torch's FlopCounterMode), the kernels one step launches (torch operations that are not
views, AdamW and clipping with foreach as on CUDA: what bounds a small model's step on a GPU), the
runs of the grid and their steps (fewest and most: a bracketing learning-rate sweep adds rungs
as it goes), and, with --time-steps, the seconds one step takes here on one CPU thread. The GPU
estimate printed beside them is arithmetic on those counts with the assumptions it prints; it is
an estimate, not a measurement.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# A GPU estimate's assumptions (printed with it), as (optimistic, pessimistic): eager PyTorch
# spends 8-12 µs of host time per kernel it launches (the workers do this in parallel); the GPU
# runs the kernels of all workers one after another (processes time-share it), 2-4 µs each at a
# small model's sizes at the least; fp32 matrix work reaches 20 or only 8 TFLOP/s.
HOST_S_PER_KERNEL = (8e-6, 12e-6)
GPU_S_PER_KERNEL = (2e-6, 4e-6)
GPU_FLOPS = (20e12, 8e12)


def run_counts(preset: Any) -> dict[str, tuple[int, int, int]]:
    """Per task: (fewest runs, most runs, steps per run) of the whole grid."""
    counts: dict[str, list[int]] = {}
    for arm in preset.arms():
        scale = preset.scale(arm.task)
        seeds = arm.n_seeds or preset.seeds
        low, high = counts.setdefault(arm.task, [0, 0])
        if arm.finetune_from:  # short runs: counted as their share of a full run's steps
            share = seeds * preset.finetune_steps / scale.steps
            counts[arm.task] = [low + round(share), high + round(share)]
            continue
        rungs = len(scale.lrs)
        fewest = rungs if arm.full_sweep or rungs <= 2 else 2
        sweep_low, sweep_high = fewest * arm.sweep_seeds, rungs * arm.sweep_seeds
        extra_seeds = max(0, seeds - arm.sweep_seeds)  # seed 0 at the best rung is a sweep run
        counts[arm.task] = [low + sweep_low + extra_seeds, high + sweep_high + extra_seeds]
    return {t: (lo, hi, preset.scale(t).steps) for t, (lo, hi) in counts.items()}


def step_profile(preset: Any, task: str, time_steps: int) -> dict[str, Any]:
    """Parameters, FLOPs and torch operations of one training step of the task's softmax arm at
    the preset's smaller head size, and (time_steps > 0) its CPU seconds per step."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import FlopCounterMode

    from softmax_claimcheck.experiments import grid, train
    from softmax_claimcheck.experiments.transformer import ModelConfig, TinyTransformer

    class CountOps(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.ops = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
            self.ops += 0 if func.is_view else 1  # a view launches no kernel
            return func(*args, **(kwargs or {}))

    arm = preset.arm(task, "softmax")
    cfg = replace(grid.run_config(preset, arm, preset.scale(task).lrs[0], 0), device="cpu")
    data = train.Task(cfg)
    torch.manual_seed(0)
    model = TinyTransformer(
        ModelConfig(
            vocab_size=data.vocab_size,
            seq_len=data.seq_len,
            n_layers=cfg.n_layers,
            n_heads=cfg.n_heads,
            d_k=cfg.d_k,
            variant=cfg.variant,
        )
    )
    # foreach: what AdamW and clipping use on CUDA (one launch per operation for all tensors)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, foreach=True)
    generator = torch.Generator().manual_seed(0)

    def step() -> None:
        inputs, targets, scored = data.batch(cfg.batch, generator)
        loss = train.masked_loss(model(inputs), targets, scored)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0, foreach=True)
        optimizer.step()

    step()  # optimizer state exists from here on
    with FlopCounterMode(display=False) as flops:
        step()
    with CountOps() as ops:
        step()
    profile = {
        "parameters": model.n_parameters(),
        "tokens_per_step": cfg.batch * data.seq_len,
        "context": data.seq_len,
        "flops_per_step": flops.get_total_flops(),
        "ops_per_step": ops.ops,
    }
    if time_steps:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        began = time.perf_counter()
        for _ in range(time_steps):
            step()
        profile["cpu_s_per_step_1_thread"] = (time.perf_counter() - began) / time_steps
        torch.set_num_threads(threads)
    return profile


def estimate(name: str, time_steps: int) -> dict[str, Any]:
    from softmax_claimcheck.experiments import presets

    preset = presets.PRESETS[name]
    tasks: dict[str, Any] = {}
    for task, (low, high, steps) in run_counts(preset).items():
        tasks[task] = {
            "runs": [low, high],
            "steps_per_run": steps,
            **step_profile(preset, task, time_steps),
        }
    steps_high = sum(t["runs"][1] * t["steps_per_run"] for t in tasks.values())
    ops = sum(t["runs"][1] * t["steps_per_run"] * t["ops_per_step"] for t in tasks.values())
    flops = sum(t["runs"][1] * t["steps_per_run"] * t["flops_per_step"] for t in tasks.values())
    result = {
        "preset": name,
        "workers": preset.workers,
        "seeds": preset.seeds,
        "layers": preset.n_layers,
        "d_model": preset.d_model,
        "head_sizes": list(preset.head_sizes),
        "tasks": tasks,
        "grid_steps_most": steps_high,
        "grid_ops_most": ops,
        "grid_flops_most": flops,
    }
    if time_steps:
        result["cpu_s_most_1_thread"] = sum(
            t["runs"][1] * t["steps_per_run"] * t["cpu_s_per_step_1_thread"] for t in tasks.values()
        )
    # the slowest of: the workers' host time in parallel, the GPU's kernels one after another,
    # the FLOPs (evaluation adds about 3 %, pytest and the workers' start some 15-20 s)
    result["gpu_s_estimate"] = [
        round(max(ops * host / preset.workers, ops * kernel, flops / rate), 1)
        for host, kernel, rate in zip(HOST_S_PER_KERNEL, GPU_S_PER_KERNEL, GPU_FLOPS, strict=True)
    ]
    return result


def _range(pair: tuple[float, float], unit: float) -> str:
    return f"{pair[0] * unit:.0f}-{pair[1] * unit:.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", default="cpu,gpu")
    parser.add_argument("--time-steps", type=int, default=0, help="time this many CPU steps")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    results = [estimate(n, args.time_steps) for n in args.presets.split(",")]
    for r in results:
        print(
            f"preset {r['preset']}: {r['layers']} layers, d_model {r['d_model']}, head sizes "
            f"{r['head_sizes']}, {r['seeds']} seeds, {r['workers']} workers"
        )
        for task, t in r["tasks"].items():
            line = (
                f"  {task:6} {t['parameters']:>9,} parameters, context {t['context']}, "
                f"{t['tokens_per_step']} tokens/step, "
                f"{t['flops_per_step'] / 1e9:.2f} GFLOP/step, "
                f"{t['ops_per_step']} kernels/step, {t['runs'][0]}-{t['runs'][1]} runs x "
                f"{t['steps_per_run']} steps"
            )
            if "cpu_s_per_step_1_thread" in t:
                line += f", {t['cpu_s_per_step_1_thread'] * 1e3:.1f} ms/step here (1 thread)"
            print(line)
        print(
            f"  grid (most runs): {r['grid_steps_most']:,} steps, "
            f"{r['grid_flops_most'] / 1e12:.1f} TFLOP, {r['grid_ops_most'] / 1e6:.1f} M kernels"
            + (f", {r['cpu_s_most_1_thread']:.0f} CPU-s here" if "cpu_s_most_1_thread" in r else "")
            + f"; GPU estimate {r['gpu_s_estimate'][0]}-{r['gpu_s_estimate'][1]} s of training "
            f"(the slowest of: {_range(HOST_S_PER_KERNEL, 1e6)} µs host time per kernel over "
            f"{r['workers']} workers; {_range(GPU_S_PER_KERNEL, 1e6)} µs of GPU per kernel, "
            f"serialised; {GPU_FLOPS[0] / 1e12:.0f}-{GPU_FLOPS[1] / 1e12:.0f} TFLOP/s)"
        )
    if len(results) > 1:
        base, *others = results
        for r in others:
            ratio = r["grid_flops_most"] / base["grid_flops_most"]
            print(f"{r['preset']} / {base['preset']}: {ratio:.1f}x the grid's FLOPs")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
