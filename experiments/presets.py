"""Presets: how big the experiment grid is.

* ``smoke``: seconds; exercised by the test suite to prove the pipeline runs; never a verdict.
* ``cpu``: what ``nox -s verify`` runs (82 runs, about 4–5 minutes of two cores, in the
  background of the other checks).
* ``gpu``: larger (4× the steps, 5× the parameters, 2× the context of ``cpu``), for one
  H100-class GPU within the GPU command's budget (scripts/gpu/run.py);
  CLAIMCHECK_TRAINING_PRESET=gpu.

Every arm gets its own learning-rate sweep on the first seed, over a ladder of learning rates
(rungs 2.5–3× apart). Most arms bracket their best rung: they start at the two middle rungs
and add the next rung beyond the better end until the best rung has a worse one on each side (or
is the ladder's end); an arm whose sweep is itself evidence (``full_sweep``: the learning-rate
sensitivity claim's softmax and relu arms, the instability arms) runs every rung, the instability
arms with ``sweep_seeds`` seeds each. The remaining seeds run at the arm's best learning rate.
An arm with ``finetune_from`` (the learned-temperature model) trains nothing from scratch: seed s
fine-tunes seed s of that arm's trained models, with a learnable temperature added to every head,
for ``finetune_steps`` steps at ``finetune_lr_factor`` × that arm's best learning rate. An arm
with ``clip=False`` trains without gradient clipping (the instability arms: clipping would hide
an explosion).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

PRESET_ENV = "CLAIMCHECK_TRAINING_PRESET"
DEVICE_ENV = "CLAIMCHECK_TRAINING_DEVICE"


@dataclass(frozen=True)
class TaskScale:
    seq_len: int
    batch: int
    steps: int
    lrs: tuple[float, ...]
    eval_points: int
    val_sequences: int
    recall_pairs: int = 16  # recall task only: keys in every context, and queries
    recall_queries: int = 8


@dataclass(frozen=True)
class Arm:
    task: str
    variant: str
    d_k: int
    n_heads: int
    n_layers: int
    learn_temperature: bool = False
    finetune_from: str | None = None  # name of the arm whose trained models this one fine-tunes
    clip: bool = True  # gradient-norm clipping at 1.0 (the usual recipe)
    full_sweep: bool = False  # every rung of the ladder (else: bracket the best rung)
    sweep_seeds: int = 1  # seeds run at every learning rate of the sweep
    n_seeds: int | None = None  # seeds at the best learning rate (None: the preset's)

    @property
    def name(self) -> str:
        temperature = "-temperature" if self.learn_temperature else ""
        finetuned = "-finetuned" if self.finetune_from else ""
        clip = "" if self.clip else "-noclip"
        variant = f"{self.variant}{temperature}{finetuned}{clip}"
        return f"{self.task}-{variant}-dk{self.d_k}-L{self.n_layers}"


@dataclass(frozen=True)
class Preset:
    name: str
    device: str
    workers: int  # runs in parallel (CPU: one torch thread per worker)
    seeds: int
    d_model: int
    head_sizes: tuple[int, int]  # the smaller and the larger d_k of the scaling claims
    n_layers: int
    lm: TaskScale
    recall: TaskScale
    finetune_steps: int = 100
    finetune_lr_factor: float = 0.5
    instability_seeds: int = 2  # seeds at every learning rate of the instability arms
    yields_verdicts: bool = True
    notes: tuple[str, ...] = field(default_factory=tuple)

    def scale(self, task: str) -> TaskScale:
        return self.lm if task == "lm" else self.recall

    def arm(self, task: str, variant: str, d_k: int | None = None, **extra) -> Arm:
        d_k = d_k or self.head_sizes[0]
        layers = extra.pop("n_layers", self.n_layers)
        return Arm(task, variant, d_k, self.d_model // d_k, layers, **extra)

    def instability_arm(self, variant: str) -> Arm:
        """No clipping, every seed at every rung of the instability ladder."""
        k = self.instability_seeds
        return self.arm("lm", variant, clip=False, full_sweep=True, sweep_seeds=k, n_seeds=k)

    def arms(self) -> list[Arm]:
        """The whole grid, shared by every claim."""
        small, large = self.head_sizes
        # the learning-rate sensitivity claim reads the softmax and relu sweeps: every rung
        sensitivity = {"softmax", "relu"}
        arms = [
            self.arm("lm", v, d, full_sweep=d == small and v in sensitivity)
            for d in (small, large)
            for v in ("softmax", "unscaled")
        ]
        arms += [self.arm("lm", v, full_sweep=v in sensitivity) for v in ("relu", "linear", "sum")]
        arms += [self.arm("recall", v, full_sweep=True) for v in ("softmax", "relu", "linear")]
        arms += [self.instability_arm(v) for v in ("softmax", "raw")]
        base = self.arm("lm", "softmax").name
        arms.append(self.arm("lm", "softmax", learn_temperature=True, finetune_from=base))
        return arms


SMOKE = Preset(
    name="smoke",
    device="cpu",
    workers=1,
    seeds=2,
    d_model=32,
    head_sizes=(8, 32),
    n_layers=1,
    lm=TaskScale(seq_len=32, batch=8, steps=12, lrs=(3e-3, 1e-2), eval_points=3, val_sequences=8),
    finetune_steps=6,
    instability_seeds=2,
    recall=TaskScale(
        seq_len=12,
        batch=8,
        steps=12,
        lrs=(3e-3, 1e-2),
        eval_points=3,
        val_sequences=8,
        recall_pairs=8,
        recall_queries=4,
    ),
    yields_verdicts=False,
)

CPU = Preset(
    name="cpu",
    device="cpu",
    workers=2,
    seeds=4,
    d_model=64,
    head_sizes=(16, 64),
    n_layers=2,
    lm=TaskScale(
        seq_len=64, batch=16, steps=160, lrs=(1e-3, 2.5e-3, 6e-3, 1.5e-2), eval_points=10,
        val_sequences=64,
    ),
    recall=TaskScale(
        seq_len=24, batch=32, steps=160, lrs=(1e-3, 3e-3, 1e-2), eval_points=10,
        val_sequences=256,
    ),
)  # fmt: skip

# Sized so the whole GPU command (scripts/gpu/run.py: claims, kernels, bench, conformance and this)
# fits 7 minutes on one H100-class GPU: its training stage has 105 s of budget plus what the
# stages before it leave. Against the cpu preset: 4× the steps, 5.4× the parameters (3 layers,
# d_model 128), 2× the context (lm 128 tokens, recall 32 pairs + 16 queries), the same seeds,
# arms and head sizes (16 and the article's own d_k = 64); `python scripts/gpu/estimate.py`
# prints what it costs. The old gpu preset (3.2M parameters, 1500-2000 steps: about 2400× the
# cpu grid's FLOPs) was killed at 404 s on an H200.
GPU = Preset(
    name="gpu",
    device="cuda",
    workers=8,  # several small runs share the GPU: each is launch-bound, not compute-bound
    seeds=4,
    d_model=128,
    head_sizes=(16, 64),
    n_layers=3,
    lm=TaskScale(
        seq_len=128, batch=16, steps=640, lrs=(1e-3, 2.5e-3, 6e-3, 1.5e-2), eval_points=10,
        val_sequences=128,
    ),
    recall=TaskScale(
        seq_len=48, batch=32, steps=640, lrs=(1e-3, 3e-3, 1e-2), eval_points=10,
        val_sequences=256, recall_pairs=32, recall_queries=16,
    ),
)  # fmt: skip

PRESETS: Mapping[str, Preset] = MappingProxyType({p.name: p for p in (SMOKE, CPU, GPU)})


def selected() -> Preset:
    """The preset named by CLAIMCHECK_TRAINING_PRESET (default ``cpu``); the device can be
    overridden with CLAIMCHECK_TRAINING_DEVICE (e.g. run the gpu preset on ``cuda:1``)."""
    name = os.environ.get(PRESET_ENV, "cpu")
    if name not in PRESETS:
        raise ValueError(f"{PRESET_ENV}={name!r}; choose one of {', '.join(PRESETS)}")
    preset = PRESETS[name]
    device = os.environ.get(DEVICE_ENV)
    if device:
        from dataclasses import replace

        preset = replace(preset, device=device)
    return preset
