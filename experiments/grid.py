"""The experiment grid every training claim shares: each configuration runs once per process
(a memo) and, given a cache directory, once per code version (a JSON file per run, keyed by a
hash of the run's configuration, the experiment code, Python and torch).

Fairness: every arm gets its own learning-rate sweep on the first seed; the other seeds run at
the arm's best learning rate (lowest final validation loss). The first seed's sweep run is one of
the arm's seeds, the same procedure for every arm.
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

from experiments.presets import Arm, Preset
from experiments.train import RunConfig, RunResult, run

MAX_CACHE_BYTES = 64 * 1024 * 1024  # a cached run is a few KB; more is not one of ours

CODE_FILES = ("data.py", "model.py", "train.py")


@dataclass
class ArmResult:
    arm: Arm
    best_lr: float
    seeds: list[RunResult]  # seed 0, 1, … at best_lr
    sweep: dict[float, RunResult] = field(default_factory=dict)  # lr → seed-0 run

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


def code_version() -> str:
    import torch

    digest = hashlib.sha256()
    here = Path(__file__).parent
    for name in CODE_FILES:
        digest.update((here / name).read_bytes())
    digest.update(f"{sys.version}|{torch.__version__}".encode())
    return digest.hexdigest()[:16]


def run_config(preset: Preset, arm: Arm, lr: float, seed: int) -> RunConfig:
    scale = preset.scale(arm.task)
    return RunConfig(
        task=arm.task,
        variant=arm.variant,
        d_k=arm.d_k,
        n_heads=arm.n_heads,
        n_layers=arm.n_layers,
        seq_len=scale.seq_len,
        batch=scale.batch,
        steps=scale.steps,
        lr=lr,
        seed=seed,
        learn_temperature=arm.learn_temperature,
        eval_points=scale.eval_points,
        val_sequences=scale.val_sequences,
        recall_pairs=scale.recall_pairs,
        recall_queries=scale.recall_queries,
        device=preset.device,
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
    runner = _Runner(preset, cache_dir)
    arms = preset.arms()
    swept = [a for a in arms if a.lr_from is None]
    lrs = {a.name: preset.scale(a.task).lrs for a in swept}
    sweep_runs = runner.run_all([run_config(preset, a, lr, 0) for a in swept for lr in lrs[a.name]])
    sweeps = {
        a.name: {lr: sweep_runs[run_config(preset, a, lr, 0)] for lr in lrs[a.name]} for a in swept
    }
    best = {name: _best_lr(sweep) for name, sweep in sweeps.items()}
    for a in arms:
        if a.lr_from is not None:
            best[a.name] = best[a.lr_from]
    seed_configs = {
        a.name: [run_config(preset, a, best[a.name], s) for s in range(preset.seeds)] for a in arms
    }
    seed_runs = runner.run_all(
        [c for cs in seed_configs.values() for c in cs if c not in sweep_runs]
    )
    seed_runs.update(sweep_runs)
    result = {
        a.name: ArmResult(
            a, best[a.name], [seed_runs[c] for c in seed_configs[a.name]], sweeps.get(a.name, {})
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

    def run_all(self, configs: list[RunConfig]) -> dict[RunConfig, RunResult]:
        out: dict[RunConfig, RunResult] = {}
        todo = []
        for cfg in dict.fromkeys(configs):
            hit = self._load(cfg)
            if hit is None:
                todo.append(cfg)
            else:
                out[cfg] = hit
                self.cached += 1
        todo.sort(key=_cost, reverse=True)  # long runs first: a shorter tail in parallel
        with _progress(len(todo), self.preset.name) as bar:
            for cfg, result in self._execute(todo):
                out[cfg] = result
                self._store(cfg, result)
                self.trained += 1
                bar.update(1)
        return out

    def _execute(self, todo: list[RunConfig]):
        workers = min(self.preset.workers, len(todo))
        if workers <= 1:
            for cfg in todo:
                yield cfg, run_single_threaded(cfg)
            return
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(workers, mp_context=context)
        try:
            futures = {pool.submit(run_single_threaded, cfg): cfg for cfg in todo}
            for future in as_completed(futures):
                yield futures[future], future.result()
        finally:  # on a timeout or an error, drop the queued runs instead of waiting for them
            pool.shutdown(wait=True, cancel_futures=True)

    def _path(self, cfg: RunConfig) -> Path | None:
        if self.cache_dir is None:
            return None
        key = json.dumps(cfg.key(), sort_keys=True) + self.version
        return self.cache_dir / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"

    def _load(self, cfg: RunConfig) -> RunResult | None:
        """The cached run, or None (a miss: the run is trained). A corrupt cache file (truncated,
        not JSON, wrong shape, not a regular file) is named once and treated as a miss."""
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
            missing = sorted({f.name for f in fields(RunResult)} - set(stored))
            if missing:
                raise ValueError(f"missing {', '.join(missing)}")
            if not isinstance(stored["val_loss"], list) or not stored["val_loss"]:
                raise ValueError("no validation losses")
            return RunResult.from_dict(stored)
        except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
            why = str(exc).splitlines()[0][:160] if str(exc) else ""
            self._problem(
                f"{path}: unreadable cache file ({type(exc).__name__}: {why}); "
                "treated as a miss, the run is trained again"
            )
            return None

    def _store(self, cfg: RunConfig, result: RunResult) -> None:
        path = self._path(cfg)
        if path is None:
            return
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(result.as_dict()), encoding="utf-8")
            tmp.replace(path)
        except OSError as exc:
            self._problem(f"{path}: cannot write the cache file ({exc.strerror or exc})")
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)


def run_single_threaded(cfg: RunConfig) -> RunResult:
    """One run with one torch thread on CPU: small models train faster per core that way, and
    parallel workers do not fight over the cores."""
    import torch

    threads = torch.get_num_threads()
    if cfg.device == "cpu":
        torch.set_num_threads(1)
    try:
        return run(cfg)
    finally:
        torch.set_num_threads(threads)


def _cost(cfg: RunConfig) -> float:
    return cfg.steps * cfg.seq_len * cfg.batch * cfg.n_layers


def _progress(total: int, preset: str):
    from tqdm import tqdm

    quiet = not sys.stderr.isatty() or bool(os.environ.get("CI")) or total == 0
    return tqdm(total=total, desc=f"training ({preset} preset)", unit="run", disable=quiet)
