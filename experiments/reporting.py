"""What every training check records beside its decision: the scale of the experiment behind
the verdict, intervals with their per-seed values, and training curves. (The grid fixture itself
lives in tests/checks/conftest.py.)"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from types import MappingProxyType

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


TASKS = MappingProxyType({"lm": "language modelling", "recall": "associative recall"})
ARM_COLUMNS = (
    "arm",
    "d_k × heads",
    "parameters",
    "learning rate (swept)",
    "seeds",
    "steps",
    "final val. loss (mean, range)",
    "wall time",
)


def _loss_cell(arm: ArmResult) -> str:
    losses = [r.final_val_loss for r in arm.seeds]
    finite = [x for x in losses if math.isfinite(x)]
    if not finite:
        return "diverged"
    mean = sum(finite) / len(finite)
    diverged = len(losses) - len(finite)
    spread = f" ({min(finite):.3f}–{max(finite):.3f})" if len(finite) > 1 else ""
    return f"{mean:.3f}{spread}" + (f", {diverged} diverged" if diverged else "")


def _lr_cell(arm: ArmResult, grid: GridResult) -> str:
    if arm.sweep:
        return f"{arm.best_lr:g} (of {', '.join(f'{lr:g}' for lr in sorted(arm.sweep))})"
    return (
        f"{arm.best_lr:g} (fine-tunes {arm.arm.finetune_from} at "
        f"{grid.preset.finetune_lr_factor} × its best)"
    )


def record_scale(evidence, grid: GridResult, arms: Sequence[ArmResult]) -> None:
    """The scale of the experiment behind a verdict (as data the report reads: preset, task,
    steps, parameters, seeds) and the arms as a table a reader scans."""
    preset = grid.preset
    first = arms[0].seeds[0]
    runs = [r for a in arms for r in a.runs]
    evidence.record_scale(
        preset=preset.name,
        device=preset.device,
        task=[TASKS.get(t, t) for t in dict.fromkeys(a.arm.task for a in arms)],
        steps=first.config["steps"],
        parameters=first.n_parameters,
        seeds=len(arms[0].seeds),
        layers=arms[0].arm.n_layers,
        context=first.config["seq_len"],
    )
    evidence.record_inputs(
        preset=preset.name,
        device=preset.device,
        code_version=code_version(),
        grid_runs_trained_this_session=grid.trained_runs,
        grid_runs_from_cache=grid.cached_runs,
        grid_wall_s=round(grid.wall_s, 1),
        grid_cpu_s=round(grid.cpu_s, 1),
        batch=first.config["batch"],
        tokens_seen_per_run=first.tokens_seen,
        gradient_clipping=", ".join(f"{a.name}: {'1.0' if a.arm.clip else 'none'}" for a in arms),
    )
    evidence.table(
        "The arms behind this check (each at its own best learning rate)",
        list(ARM_COLUMNS),
        [
            [
                arm.name,
                f"{arm.arm.d_k} × {arm.arm.n_heads}",
                arm.seeds[0].n_parameters,
                _lr_cell(arm, grid),
                len(arm.seeds),
                arm.seeds[0].config["steps"],
                _loss_cell(arm),
                f"{sum(r.wall_s for r in arm.runs):.0f} s ({len(arm.runs)} runs)",
            ]
            for arm in arms
        ],
    )
    for problem in grid.cache_problems:
        evidence.note(f"training cache: {problem}")
    if first.config["task"] == "lm":
        evidence.record_inputs(corpus=load_corpus().describe())
    evidence.note(
        f"Scale: {preset.name} preset on {preset.device}; {len(runs)} training runs behind this "
        f"check, {first.n_parameters:,} parameters each (first arm), "
        f"{first.tokens_seen:,} training tokens per run. A toy scale: effects here need not "
        "carry over to production models, and the article's numbers may refer to other scales."
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
    null: float | None = None,
    unit: str = "",
) -> str:
    """Decide a claim's region against a 95% t-interval over seeds, by the rule its claim states
    in `parameters` before the run: holds inside, fails outside, inconclusive across a boundary
    (never evidence against; the evidence says how many seeds would decide it)."""
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
    needed = seeds_to_decide(values, bounds)
    decision = evidence.interval_decision(
        quantity, (interval.low, interval.high), region, claim.parameter("rule"), needed=needed
    )
    evidence.conclude(finding(quantity, interval, region, decision, needed, null, unit))
    return decision


def _bound(value: float) -> str:
    return "0" if abs(value) < 1e-6 else f"{value:.3g}"


def region_text(region: tuple[float | None, float | None], unit: str = "") -> str:
    low, high = region
    if low is not None and high is not None:
        return f"{_bound(low)}–{_bound(high)}{unit}"
    if low is not None:
        return f"above {_bound(low)}{unit}"
    return f"below {_bound(high if high is not None else math.inf)}{unit}"


def finding(
    quantity: str,
    interval: Interval,
    region: tuple[float | None, float | None],
    decision: str,
    needed: str,
    null: float | None = None,
    unit: str = "",
) -> str:
    """A training check's sentence: the measured effect (estimate and interval over seeds)
    beside the claimed region, whether it points the claimed way, and how big it is next to
    the claimed size (docs/design.md, "Empirical claims": direction and size)."""
    low, high = region
    measured = (
        f"{quantity}: {interval.estimate:.3g}{unit} ({interval.confidence:.0%} interval "
        f"[{interval.low:.3g}, "
        f"{interval.high:.3g}] over {interval.n} seeds) against the claimed "
        f"{region_text(region, unit)}"
    )
    direction = ""
    if null is not None:
        claimed_up = low is not None and low >= null
        claimed_down = high is not None and high <= null
        if claimed_up or claimed_down:
            same = interval.low > null if claimed_up else interval.high < null
            opposite = interval.high < null if claimed_up else interval.low > null
            direction = (
                "the claimed direction"
                if same
                else "the opposite direction"
                if opposite
                else "no clear direction"
            )
    if decision == "holds":
        verdict = "inside it" + (f", {direction}" if direction else "")
    elif decision == "fails":
        if direction == "the claimed direction" and low is not None and interval.high < low:
            verdict = "the claimed direction, but smaller than claimed"
        elif direction == "the claimed direction" and high is not None and interval.low > high:
            verdict = "the claimed direction, but larger than claimed"
        else:
            verdict = "outside it" + (f", {direction}" if direction else "")
    else:
        verdict = "straddling its boundary" + (f", {direction}" if direction else "")
        verdict += f" ({needed})"
    return f"{measured}: {verdict}"


TIE = 1e-9  # moves a strict boundary ("above 0") off the tie: an interval [0, 0] does not hold
