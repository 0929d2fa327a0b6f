"""One training run: fixed seeds, AdamW with warmup and cosine decay, gradient clipping at 1.0
(the usual recipe; ``clip=None`` turns it off, for the arms that test whether training
explodes), validation loss at regular steps, and attention
statistics (per-head entropy and largest weight) on a fixed batch over training.

A run whose training loss becomes non-finite stops there and records the step: divergence is a
result, not a crash.

A run with a ``base`` configuration fine-tunes: it starts from the final weights of the base run
(passed in as ``initial_state``), adds what the base lacks (a learned temperature per head,
starting at T = 1) and trains every parameter on fresh batches.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch
from torch.nn import functional as F

from softmax_claimcheck.experiments import data
from softmax_claimcheck.experiments.transformer import ModelConfig, TinyTransformer

STATS_SEQUENCES = 8  # sequences of the fixed batch the attention statistics are measured on


@dataclass(frozen=True)
class RunConfig:
    task: str  # "lm" (stdlib text) or "recall" (associative recall)
    variant: str
    d_k: int
    n_heads: int
    n_layers: int
    seq_len: int
    batch: int
    steps: int
    lr: float
    seed: int
    learn_temperature: bool = False
    eval_points: int = 16
    val_sequences: int = 64
    warmup_fraction: float = 0.05
    recall_pairs: int = 16  # recall task: keys (all used in every context) and queries
    recall_queries: int = 8
    device: str = "cpu"
    clip: float | None = 1.0  # gradient-norm clipping; None: none
    base: RunConfig | None = None  # fine-tuning: the run whose final weights this one starts from

    def key(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunResult:
    config: dict[str, Any]
    eval_steps: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)  # recall task only
    train_loss: list[float] = field(default_factory=list)  # every step
    entropy: list[list[list[float]]] = field(default_factory=list)  # [eval][layer][head], nats
    max_weight: list[list[list[float]]] = field(default_factory=list)  # [eval][layer][head]
    temperatures: list[list[float]] | None = None  # [layer][head], learned, at the end
    diverged_at: int | None = None
    n_parameters: int = 0
    tokens_seen: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0  # process CPU time: what the run costs on an idle core
    state: dict[str, torch.Tensor] | None = field(default=None, repr=False)  # final weights

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunResult:
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        """Everything but the weights (the cache stores those separately, where needed)."""
        values = asdict(replace(self, state=None))
        del values["state"]
        return values

    @property
    def final_val_loss(self) -> float:
        return math.inf if self.diverged_at is not None else self.val_loss[-1]

    @property
    def final_accuracy(self) -> float:
        return 0.0 if self.diverged_at is not None else self.val_accuracy[-1]


class Task:
    """Batches, validation set, vocabulary and the model's context length for one task."""

    def __init__(self, cfg: RunConfig) -> None:
        self.name = name = cfg.task
        if name == "lm":
            corpus = data.load_corpus()
            self.vocab_size, self.seq_len = corpus.vocab_size, cfg.seq_len
            self._train = corpus.train
            self.val = data.lm_val_batches(corpus.val, cfg.val_sequences, cfg.seq_len, cfg.batch)
        elif name == "recall":
            self.recall = data.RecallTask(
                n_keys=cfg.recall_pairs, n_pairs=cfg.recall_pairs, n_queries=cfg.recall_queries
            )
            self.vocab_size, self.seq_len = self.recall.vocab_size, self.recall.seq_len
            self.val = self.recall.val_batches(cfg.val_sequences, cfg.batch)
        else:
            raise ValueError(f"unknown task {name!r}")

    def batch(self, size: int, generator: torch.Generator):
        if self.name == "lm":
            return data.lm_batch(self._train, size, self.seq_len, generator)
        return self.recall.batch(size, generator)


def masked_loss(logits, targets, scored) -> torch.Tensor:
    loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none")
    if scored is None:
        return loss.mean()
    return loss[scored.flatten()].mean()


def learning_rate(step: int, cfg: RunConfig) -> float:
    warmup = max(1, int(cfg.warmup_fraction * cfg.steps))
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, cfg.steps - warmup)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


@torch.no_grad()
def evaluate(model: TinyTransformer, task: Task, device: str) -> tuple[float, float]:
    """Mean validation loss over the scored positions, and accuracy on them."""
    total, correct, count = 0.0, 0, 0
    for inputs, targets, scored in task.val:
        inputs, targets = inputs.to(device), targets.to(device)
        logits = model(inputs)
        mask = torch.ones_like(targets, dtype=torch.bool) if scored is None else scored.to(device)
        loss = F.cross_entropy(logits[mask], targets[mask], reduction="sum")
        total += float(loss)
        correct += int((logits[mask].argmax(-1) == targets[mask]).sum())
        count += int(mask.sum())
    return total / count, correct / count


@torch.no_grad()
def attention_statistics(model: TinyTransformer, tokens: torch.Tensor):
    """Per layer and head: mean Shannon entropy (nats) and mean largest |weight| of the
    attention rows, over the sequences and query positions ≥ 1 (row 0 can only attend to
    itself). Signed weights (``sum``) get the entropy of |w| / Σ|w|, the only entropy they
    have; ``raw`` has no weights, so NaN."""
    entropy, peak = [], []
    for weights in model.attention_maps(tokens):
        if weights is None:
            entropy.append([math.nan] * model.cfg.n_heads)
            peak.append([math.nan] * model.cfg.n_heads)
            continue
        rows = weights[:, :, 1:, :].double()
        if not bool(torch.isfinite(rows).all()):
            entropy.append([math.nan] * model.cfg.n_heads)
            peak.append([math.inf] * model.cfg.n_heads)
            continue
        magnitude = rows.abs()
        p = magnitude / magnitude.sum(-1, keepdim=True).clamp_min(1e-300)
        plogp = torch.where(p > 0, p * torch.log(p), torch.zeros_like(p))
        entropy.append((-plogp.sum(-1)).mean(dim=(0, 2)).tolist())
        peak.append(magnitude.amax(-1).mean(dim=(0, 2)).tolist())
    return entropy, peak


def run(cfg: RunConfig, initial_state: dict[str, torch.Tensor] | None = None) -> RunResult:
    """Train one model (from scratch, or from `initial_state` when `cfg.base` is set) and
    record its curves; the result carries the final weights."""
    started, cpu_started = time.perf_counter(), time.process_time()
    device = cfg.device
    task = Task(cfg)
    torch.manual_seed(cfg.seed)
    model_cfg = ModelConfig(
        vocab_size=task.vocab_size,
        seq_len=task.seq_len,
        n_layers=cfg.n_layers,
        n_heads=cfg.n_heads,
        d_k=cfg.d_k,
        variant=cfg.variant,
        learn_temperature=cfg.learn_temperature,
    )
    model = TinyTransformer(model_cfg)
    if cfg.base is not None:
        if initial_state is None:
            raise ValueError("a fine-tuning run needs the base run's final weights")
        missing, unexpected = model.load_state_dict(initial_state, strict=False)
        if unexpected or any("log_temperature" not in name for name in missing):
            raise ValueError(f"base weights do not fit: {missing=}, {unexpected=}")
    model = model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.95), weight_decay=0)
    # a fine-tuning run draws fresh batches, not the base run's again
    generator = torch.Generator().manual_seed(cfg.seed + (0 if cfg.base is None else 1_000_003))
    stats_tokens = task.val[0][0][:STATS_SEQUENCES].to(device)
    result = RunResult(config=cfg.key(), n_parameters=model.n_parameters())
    eval_at = set(_eval_steps(cfg.steps, cfg.eval_points))

    def record(step: int) -> None:
        model.eval()
        loss, accuracy = evaluate(model, task, device)
        entropy, peak = attention_statistics(model, stats_tokens)
        model.train()
        result.eval_steps.append(step)
        result.val_loss.append(loss if math.isfinite(loss) else math.inf)
        result.val_accuracy.append(accuracy)
        result.entropy.append(entropy)
        result.max_weight.append(peak)

    record(0)
    pending: list[torch.Tensor] = []  # losses not yet copied to the host (no sync every step)
    for step in range(1, cfg.steps + 1):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step - 1, cfg)
        inputs, targets, scored = task.batch(cfg.batch, generator)
        inputs, targets = inputs.to(device), targets.to(device)
        loss = masked_loss(model(inputs), targets, None if scored is None else scored.to(device))
        pending.append(loss.detach())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        optimizer.step()
        if step in eval_at:
            diverged = _flush_losses(pending, result)
            result.tokens_seen = (result.diverged_at or step + 1) * inputs.numel() - inputs.numel()
            if diverged:
                break
            record(step)
    result.temperatures = model.temperatures()
    result.state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    result.wall_s = time.perf_counter() - started
    result.cpu_s = time.process_time() - cpu_started
    return result


def _flush_losses(pending: list[torch.Tensor], result: RunResult) -> bool:
    """Move the pending step losses to the result; at the first non-finite one, record the
    step the run diverged at and report it (the steps after it are dropped)."""
    losses = torch.stack(pending).tolist()
    pending.clear()
    for loss in losses:
        result.train_loss.append(loss)
        if not math.isfinite(loss):
            result.diverged_at = len(result.train_loss)
            return True
    return False


def _eval_steps(steps: int, points: int) -> list[int]:
    return sorted({max(1, round(steps * (i + 1) / points)) for i in range(points)})
