"""The experiment grid every training claim shares: each configuration runs once per process
(a memo) and, given a cache directory, once per code version (a JSON file per run, keyed by a
hash of the run's configuration, the experiment code, Python and torch).

Fairness: every arm gets its own learning-rate sweep on the first seed (on the first
``sweep_seeds`` seeds where an arm asks for more); the other seeds run at the arm's best learning
rate (lowest final validation loss of seed 0). The first seed's sweep run is one of the arm's
seeds, the same procedure for every arm. A fine-tuning arm trains last: seed s starts from the
final weights of seed s of its base arm (kept in the cache as a .pt file beside the run's JSON).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, fields
from pathlib import Path

from softmax_claimcheck.experiments.presets import Arm, Preset
from softmax_claimcheck.experiments.train import RunConfig, RunResult, run

MAX_CACHE_BYTES = 64 * 1024 * 1024  # a cached run is a few KB; more is not one of ours

CODE_FILES = ("data.py", "model.py", "train.py")


@dataclass
class ArmResult:
    arm: Arm
    best_lr: float
    seeds: list[RunResult]  # seed 0, 1, … at best_lr
    sweep: dict[float, RunResult] = field(default_factory=dict)  # lr → seed-0 run
    sweep_runs: list[RunResult] = field(default_factory=list)  # every seed at every lr

    @property
    def name(self) -> str:
        return self.arm.name


@dataclass
class GridResult:
    preset: Preset
    arms: dict[str, ArmResult]
    trained_runs: int
    cached_runs: int
    wall_s: float  # spent training in this process (0 when everything came from the cache)
    # Cache files that could not be read (and were retrained) or written, one line each.
    cache_problems: list[str] = field(default_factory=list)

    @property
    def cpu_s(self) -> float:
        """CPU time of every run in the grid (cached or not): its cost on idle cores."""
        runs = {id(r): r for a in self.arms.values() for r in [*a.seeds, *a.sweep.values()]}
        return sum(r.cpu_s for r in runs.values())

    def get(self, task: str, variant: str, d_k: int | None = None, **extra) -> ArmResult:
        return self.arms[self.preset.arm(task, variant, d_k, **extra).name]

    def temperature_arm(self) -> ArmResult:
        return next(a for a in self.arms.values() if a.arm.learn_temperature)

    def base_of(self, arm: ArmResult) -> ArmResult:
        """The arm whose trained models a fine-tuning arm starts from."""
        if arm.arm.finetune_from is None:
            raise ValueError(f"{arm.name} is not a fine-tuning arm")
        return self.arms[arm.arm.finetune_from]


def code_version() -> str:
    import torch

    digest = hashlib.sha256()
    here = Path(__file__).parent
    for name in CODE_FILES:
        digest.update((here / name).read_bytes())
    digest.update(f"{sys.version}|{torch.__version__}".encode())
    return digest.hexdigest()[:16]


def run_config(
    preset: Preset, arm: Arm, lr: float, seed: int, base: RunConfig | None = None
) -> RunConfig:
    scale = preset.scale(arm.task)
    finetune = base is not None
    return RunConfig(
        task=arm.task,
        variant=arm.variant,
        d_k=arm.d_k,
        n_heads=arm.n_heads,
        n_layers=arm.n_layers,
        seq_len=scale.seq_len,
        batch=scale.batch,
        steps=preset.finetune_steps if finetune else scale.steps,
        lr=lr * preset.finetune_lr_factor if finetune else lr,
        seed=seed,
        learn_temperature=arm.learn_temperature,
        eval_points=scale.eval_points,
        val_sequences=scale.val_sequences,
        recall_pairs=scale.recall_pairs,
        recall_queries=scale.recall_queries,
        device=preset.device,
        clip=1.0 if arm.clip else None,
        base=base,
    )


_MEMO: dict[tuple[Preset, str | None], GridResult] = {}


def results(preset: Preset, cache_dir: Path | None = None) -> GridResult:
    """The whole grid of `preset`, computed at most once per process."""
    key = (preset, str(cache_dir) if cache_dir else None)
    if key not in _MEMO:
        _MEMO[key] = _compute(preset, cache_dir)
    return _MEMO[key]


def _compute(preset: Preset, cache_dir: Path | None) -> GridResult:
    started = time.perf_counter()
    arms = preset.arms()
    by_name = {a.name: a for a in arms}
    finetuning = [a for a in arms if a.finetune_from is not None]
    trained = [a for a in arms if a.finetune_from is None]
    n_seeds = {a.name: a.n_seeds or preset.seeds for a in arms}
    lrs = {a.name: preset.scale(a.task).lrs for a in trained}
    sweep_configs = {
        a.name: {
            lr: [run_config(preset, a, lr, s) for s in range(a.sweep_seeds)] for lr in lrs[a.name]
        }
        for a in trained
    }
    # the seed runs of a base arm keep their weights (in memory, and in the cache)
    bases = {a.finetune_from for a in finetuning}
    runner = _Runner(preset, cache_dir)
    all_sweep = [c for by_lr in sweep_configs.values() for cs in by_lr.values() for c in cs]
    base_sweep = {c for name in bases for cs in sweep_configs[name].values() for c in cs}
    runs = runner.run_all(all_sweep, base_sweep)
    best = {
        name: _best_lr({lr: runs[cs[0]] for lr, cs in by_lr.items()})
        for name, by_lr in sweep_configs.items()
    }
    seed_configs = {
        a.name: [run_config(preset, a, best[a.name], s) for s in range(n_seeds[a.name])]
        for a in trained
    }
    keep = {c for name in bases for c in seed_configs[name]}
    runs.update(
        runner.run_all([c for cs in seed_configs.values() for c in cs if c not in runs], keep)
    )
    if keep:  # a base run that came from the sweep: reload it with its weights
        runs.update(runner.run_all([c for c in keep if runs[c].state is None], keep))
    for a in finetuning:
        base = by_name[a.finetune_from]
        best[a.name] = best[base.name]
        seed_configs[a.name] = [
            run_config(preset, a, best[base.name], s, base=c)
            for s, c in enumerate(seed_configs[base.name])
        ]
    initial = {c.base: runs[c.base].state for a in finetuning for c in seed_configs[a.name]}
    runs.update(
        runner.run_all([c for a in finetuning for c in seed_configs[a.name]], initial=initial)
    )
    for run_result in runs.values():
        run_result.state = None  # the weights were needed only to start the fine-tuning
    result = {
        a.name: ArmResult(
            a,
            best[a.name],
            [runs[c] for c in seed_configs[a.name]],
            {lr: runs[cs[0]] for lr, cs in sweep_configs.get(a.name, {}).items()},
            [runs[c] for cs in sweep_configs.get(a.name, {}).values() for c in cs],
        )
        for a in arms
    }
    wall = time.perf_counter() - started if runner.trained else 0.0
    return GridResult(preset, result, runner.trained, runner.cached, wall, runner.problems)


def _best_lr(sweep: dict[float, RunResult]) -> float:
    def loss(lr: float) -> float:
        value = sweep[lr].final_val_loss
        return value if math.isfinite(value) else math.inf

    return min(sweep, key=loss)


class _Runner:
    """Runs configurations (in parallel where the preset says so), reading and writing the
    on-disk cache, with a progress bar on an interactive terminal."""

    def __init__(self, preset: Preset, cache_dir: Path | None) -> None:
        self.preset = preset
        self.cache_dir = cache_dir
        self.version = code_version()
        self.trained = self.cached = 0
        self.problems: list[str] = []

    def _problem(self, message: str) -> None:
        """A cache problem is never an error of the claims: say it, retrain, go on."""
        self.problems.append(message)
        print(f"claimcheck training cache: {message}", file=sys.stderr)

    def run_all(
        self,
        configs: list[RunConfig],
        keep: set[RunConfig] = frozenset(),
        initial: dict[RunConfig, dict] | None = None,
    ) -> dict[RunConfig, RunResult]:
        """Results of `configs` (from the cache or trained). Runs in `keep` keep their final
        weights (a cached one without stored weights is trained again); a fine-tuning run
        starts from `initial[its base]`."""
        out: dict[RunConfig, RunResult] = {}
        todo = []
        for cfg in dict.fromkeys(configs):
            hit = self._load(cfg, with_state=cfg in keep)
            if hit is None:
                todo.append(cfg)
            else:
                out[cfg] = hit
                self.cached += 1
        todo.sort(key=_cost, reverse=True)  # long runs first: a shorter tail in parallel
        with _progress(len(todo), self.preset.name) as bar:
            for cfg, result in self._execute(todo, initial or {}):
                out[cfg] = result
                self._store(cfg, result, with_state=cfg in keep)
                self.trained += 1
                bar.update(1)
        return out

    def _execute(self, todo: list[RunConfig], initial: dict[RunConfig, dict]):
        def start(cfg: RunConfig):
            return initial.get(cfg.base) if cfg.base is not None else None

        workers = min(self.preset.workers, len(todo))
        if workers <= 1:
            for cfg in todo:
                yield cfg, run_single_threaded(cfg, start(cfg))
            return
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(workers, mp_context=context)
        try:
            futures = {pool.submit(run_single_threaded, cfg, start(cfg)): cfg for cfg in todo}
            for future in as_completed(futures):
                yield futures[future], future.result()
        finally:  # on a timeout or an error, drop the queued runs instead of waiting for them
            pool.shutdown(wait=True, cancel_futures=True)

    def _path(self, cfg: RunConfig) -> Path | None:
        if self.cache_dir is None:
            return None
        key = json.dumps(cfg.key(), sort_keys=True) + self.version
        return self.cache_dir / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"

    def _load(self, cfg: RunConfig, with_state: bool = False) -> RunResult | None:
        """The cached run, or None (a miss: the run is trained). A corrupt cache file (truncated,
        not JSON, wrong shape, not a regular file) is named once and treated as a miss; with
        `with_state`, a run without its stored weights is a miss too."""
        path = self._path(cfg)
        if path is None or not os.path.lexists(path):
            return None
        try:
            if not path.is_file():
                raise ValueError("not a regular file")
            stored = json.loads(path.read_bytes()[:MAX_CACHE_BYTES].decode("utf-8"))
            if not isinstance(stored, dict):
                raise ValueError(f"a JSON {type(stored).__name__}, not an object")
            if stored.get("config") != cfg.key():
                return None
            # The weights (`state`) travel in a .pt file beside the JSON, never in it.
            stored_fields = {f.name for f in fields(RunResult)} - {"state"}
            missing = sorted(stored_fields - set(stored))
            if missing:
                raise ValueError(f"missing {', '.join(missing)}")
            if not isinstance(stored["val_loss"], list) or not stored["val_loss"]:
                raise ValueError("no validation losses")
            result = RunResult.from_dict(stored)
        except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
            why = str(exc).splitlines()[0][:160] if str(exc) else ""
            self._problem(
                f"{path}: unreadable cache file ({type(exc).__name__}: {why}); "
                "treated as a miss, the run is trained again"
            )
            return None
        if with_state:
            weights = path.with_suffix(".pt")
            if not weights.is_file():
                return None
            import torch

            try:
                result.state = torch.load(weights, weights_only=True)
            except Exception as exc:  # a corrupt weights file: a miss, named
                self._problem(f"{weights}: unreadable weights ({type(exc).__name__}); retrained")
                return None
        return result

    def _store(self, cfg: RunConfig, result: RunResult, with_state: bool = False) -> None:
        path = self._path(cfg)
        if path is None:
            return
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if with_state and result.state is not None:
                import torch

                weights_tmp = path.with_suffix(f".{os.getpid()}.pt.tmp")
                torch.save(result.state, weights_tmp)
                weights_tmp.replace(path.with_suffix(".pt"))
            tmp.write_text(json.dumps(result.as_dict()), encoding="utf-8")
            tmp.replace(path)
        except OSError as exc:
            self._problem(f"{path}: cannot write the cache file ({exc.strerror or exc})")
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)


def run_single_threaded(cfg: RunConfig, initial_state: dict | None = None) -> RunResult:
    """One run with one torch thread on CPU: small models train faster per core that way, and
    parallel workers do not fight over the cores."""
    import torch

    threads = torch.get_num_threads()
    if cfg.device == "cpu":
        torch.set_num_threads(1)
    try:
        return run(cfg, initial_state)
    finally:
        torch.set_num_threads(threads)


def _cost(cfg: RunConfig) -> float:
    return cfg.steps * cfg.seq_len * cfg.batch * cfg.n_layers


def _progress(total: int, preset: str):
    from tqdm import tqdm

    quiet = not sys.stderr.isatty() or total == 0  # progress only on a terminal, CI or not
    return tqdm(total=total, desc=f"training ({preset} preset)", unit="run", disable=quiet)
