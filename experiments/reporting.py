"""What every training check records beside its decision: the scale of the experiment behind
the verdict, intervals with their per-seed values, and training curves. (The grid fixture itself
lives in tests/checks/conftest.py.)"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from softmax_claimcheck.claimcheck.intervals import Interval
from softmax_claimcheck.experiments.data import load_corpus
from softmax_claimcheck.experiments.grid import ArmResult, GridResult, code_version
from softmax_claimcheck.experiments.plots import training_figure

CACHE_ENV = "CLAIMCHECK_TRAINING_CACHE"  # "0" turns the on-disk cache off
TIMEOUT_S = 1800  # the first training check trains the whole grid (minutes on a loaded CPU)


def cache_dir(reports_dir: str | Path | None, root: Path) -> Path | None:
    """<reports dir>/training-cache (also under --no-reports: the cache is not a report, and
    it spares a second session minutes of training), unless CLAIMCHECK_TRAINING_CACHE=0."""
    if os.environ.get(CACHE_ENV) == "0" or not reports_dir:
        return None
    path = Path(reports_dir)
    return (path if path.is_absolute() else root / path) / "training-cache"


def record_scale(evidence, grid: GridResult, arms: Sequence[ArmResult]) -> None:
    """The scale of the experiment behind a verdict: preset, model, data, budget, wall time."""
    preset = grid.preset
    first = arms[0].seeds[0]
    runs = [r for a in arms for r in a.runs]
    evidence.record_inputs(
        preset=preset.name,
        device=preset.device,
        seeds=preset.seeds,
        code_version=code_version(),
        grid_runs_trained_this_session=grid.trained_runs,
        grid_runs_from_cache=grid.cached_runs,
        grid_wall_s=round(grid.wall_s, 1),
        grid_cpu_s=round(grid.cpu_s, 1),
    )
    for problem in grid.cache_problems:
        evidence.note(f"training cache: {problem}")
    for arm in arms:
        run = arm.seeds[0]
        evidence.record_inputs(
            **{
                arm.name: {
                    "parameters": run.n_parameters,
                    "layers": arm.arm.n_layers,
                    "heads": arm.arm.n_heads,
                    "d_k": arm.arm.d_k,
                    "d_model": arm.arm.n_heads * arm.arm.d_k,
                    "steps": run.config["steps"],
                    "batch": run.config["batch"],
                    "seq_len": run.config["seq_len"],
                    "tokens_seen_per_run": run.tokens_seen,
                    "learning_rate_sweep": sorted(arm.sweep)
                    or f"none: fine-tunes {arm.arm.finetune_from} at "
                    f"{grid.preset.finetune_lr_factor} × its best learning rate",
                    "gradient_clipping": 1.0 if arm.arm.clip else "none",
                    "best_learning_rate": arm.best_lr,
                    "wall_s_all_runs": round(sum(r.wall_s for r in arm.runs), 1),
                    "cpu_s_all_runs": round(sum(r.cpu_s for r in arm.runs), 1),
                }
            }
        )
    if first.config["task"] == "lm":
        evidence.record_inputs(corpus=load_corpus().describe())
    evidence.note(
        f"Scale: {preset.name} preset on {preset.device}; {len(runs)} training runs behind this "
        f"check, {first.n_parameters:,} parameters each (first arm), "
        f"{first.tokens_seen:,} training tokens per run, {preset.seeds} seeds per arm at the "
        "arm's own best learning rate. A toy scale: effects here need not carry over to "
        "production models, and the article's numbers may refer to other scales."
    )


def record_interval(evidence, name: str, interval: Interval, per_seed: Sequence[float]) -> None:
    evidence.record_inputs(**{name: {**interval.as_dict(), "per_seed": list(per_seed)}})
    evidence.note(f"{name}: {interval}")


def curves(evidence, arms: Sequence[ArmResult], title: str, metric: str = "val_loss") -> None:
    what = "accuracy" if metric == "val_accuracy" else "validation loss"
    evidence.figure(
        training_figure(arms, title, metric),
        f"{title}: {what} over training (mean over seeds, band = best to worst seed), mean "
        "attention entropy, and each arm's learning-rate sweep.",
    )


def decide(
    evidence,
    claim,
    quantity: str,
    interval: Interval,
    region: tuple[float | None, float | None],
    per_seed: Sequence[float],
    *,
    log_scale: bool = False,
) -> str:
    """Decide a claim's region against a 95% t-interval over seeds, by the rule its claim states
    in `parameters` before the run: holds inside, fails outside, inconclusive across a boundary
    (never evidence against; the evidence says how many seeds would decide it)."""
    import math

    from softmax_claimcheck.experiments.analysis import seeds_to_decide

    if claim.parameter("confidence") != interval.confidence:
        raise ValueError(f"the claim states confidence {claim.parameter('confidence')}, the "
                         f"interval is {interval.confidence}")  # fmt: skip
    record_interval(evidence, quantity, interval, per_seed)
    if log_scale:  # ratios: intervals are t-intervals of the log ratios
        values = [math.log(v) if v > 0 else -math.inf for v in per_seed]
        low, high = region
        bounds = (
            None if low is None else math.log(low),
            None if high is None else math.log(high),
        )
    else:
        values, bounds = list(per_seed), region
    return evidence.interval_decision(
        quantity,
        (interval.low, interval.high),
        region,
        claim.parameter("rule"),
        needed=seeds_to_decide(values, bounds),
    )


TIE = 1e-9  # moves a strict boundary ("above 0") off the tie: an interval [0, 0] does not hold
