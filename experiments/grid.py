"""The experiment grid every training claim shares: each configuration runs once per process
(a memo) and, given a cache directory, once per code version (a JSON file per run, keyed by a
hash of the run's configuration, the experiment code, Python and torch).

Fairness: every arm gets its own learning-rate sweep on the first seed (on the first
``sweep_seeds`` seeds where an arm asks for more), bracketing its best rung of the ladder or over
every rung (presets.py says which); the other seeds run at the arm's best learning rate (lowest
final validation loss of seed 0). The first seed's sweep run is one of the arm's
seeds, the same procedure for every arm. A fine-tuning arm trains last: seed s starts from the
final weights of seed s of its base arm (kept in the cache as a .pt file beside the run's JSON).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import multiprocessing
import os
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, fields
from pathlib import Path

from softmax_claimcheck.experiments.presets import Arm, Preset
from softmax_claimcheck.experiments.train import RunConfig, RunResult, run

MAX_CACHE_BYTES = 64 * 1024 * 1024  # a cached run is a few KB; more is not one of ours

CODE_FILES = ("data.py", "transformer.py", "train.py")


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

    @property
    def runs(self) -> list[RunResult]:
        """Every run of the arm once: its whole sweep (every seed at every rate), then the seed
        runs the sweep does not hold."""
        return self.sweep_runs + [r for r in self.seeds if all(r is not s for s in self.sweep_runs)]


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
        return sum(r.cpu_s for a in self.arms.values() for r in a.runs)

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


class GridStopped(Exception):
    """The run ended before the grid did (the background training was told to stop)."""


class TrainingGrids:
    """The training grids of one run (a pytest run keeps its own in the config's stash; no
    module holds them): each (preset, cache) grid computed at most once, in a background
    thread that `start` begins or in the caller's thread, and the background ones stopped with
    the run."""

    def __init__(self) -> None:
        self._futures: dict[tuple[Preset, str | None], Future] = {}
        self._stop_events: list[threading.Event] = []  # one per background grid: set, it stops
        self._waiting = threading.Event()  # set: someone waits, so a progress bar may show

    def results(self, preset: Preset, cache_dir: Path | None = None) -> GridResult:
        """The whole grid of `preset`: computed here, or by the background thread `start`
        began (then this waits for it)."""
        key = (preset, str(cache_dir) if cache_dir else None)
        self._waiting.set()
        future = self._futures.get(key)
        if future is None:
            future = self._futures[key] = Future()
            self._settle(future, preset, cache_dir, None)
        return future.result()

    def start(self, preset: Preset, cache_dir: Path | None = None) -> None:
        """Begin computing the grid in a background thread, so that training (in worker
        processes) overlaps whatever this process does next; `results` then waits for it, and
        `stop` ends it early."""
        key = (preset, str(cache_dir) if cache_dir else None)
        if key in self._futures:
            return
        future = self._futures[key] = Future()
        stop_event = threading.Event()
        self._stop_events.append(stop_event)
        thread = threading.Thread(
            target=self._settle, args=(future, preset, cache_dir, stop_event),
            name="training-grid", daemon=True,
        )  # fmt: skip
        thread.start()

    def stop(self) -> None:
        """End the background grids nobody waits for any more (the run is over): their queued
        runs are dropped, the running ones finish. A grid computed in the caller's thread never
        stops."""
        while self._stop_events:
            self._stop_events.pop().set()

    def _settle(
        self,
        future: Future,
        preset: Preset,
        cache_dir: Path | None,
        stop_event: threading.Event | None,
    ) -> None:
        try:
            future.set_result(_compute(preset, cache_dir, stop_event, self._waiting))
        except BaseException as exc:  # the waiting check reports it (an ERROR), with traceback
            future.set_exception(exc)


def _compute(
    preset: Preset,
    cache_dir: Path | None,
    stop_event: threading.Event | None = None,
    waiting: threading.Event | None = None,
) -> GridResult:
    started = time.perf_counter()
    plan = _Plan(preset)
    runner = _Runner(preset, cache_dir, waiting)
    with _cache_lock(cache_dir):
        runner.drive(plan, stop_event)
    runs = runner.results
    for run_result in runs.values():
        run_result.state = None  # the weights were needed only to start the fine-tuning
    result = {
        a.name: ArmResult(
            a,
            plan.best[a.name],
            [runs[c] for c in plan.seed_configs[a.name]],
            {lr: runs[cs[0]] for lr, cs in plan.sweeps.get(a.name, {}).items()},
            [runs[c] for cs in plan.sweeps.get(a.name, {}).values() for c in cs],
        )
        for a in plan.arms
    }
    wall = time.perf_counter() - started if runner.trained else 0.0
    return GridResult(preset, result, runner.trained, runner.cached, wall, runner.problems)


class _Plan:
    """Which runs the grid needs, given the runs done so far: the runner asks for what is ready
    to run whenever a run ends, so no core waits for a whole stage (sweep, seeds, fine-tuning)
    to finish.

    A bracketing arm starts at the two middle rungs of its ladder and adds the rung beyond its
    best one until that one has a worse neighbour on each side or is the ladder's end; then its
    seeds run at the best rung; a fine-tuning arm's seed s starts once its base arm's seed s has
    its final weights."""

    def __init__(self, preset: Preset) -> None:
        self.preset = preset
        self.arms = preset.arms()
        self.trained = [a for a in self.arms if a.finetune_from is None]
        self.finetuning = [a for a in self.arms if a.finetune_from is not None]
        self.bases = {a.finetune_from for a in self.finetuning}
        self.rungs: dict[str, list[int]] = {}
        for a in self.trained:
            n = len(self.ladder(a))
            self.rungs[a.name] = list(range(n)) if a.full_sweep or n <= 2 else [n // 2 - 1, n // 2]
        self.sweeps = {a.name: self._sweep(a) for a in self.trained}
        self.best: dict[str, float] = {}
        self.seed_configs: dict[str, list[RunConfig]] = {}
        # a base arm's runs keep their final weights (in memory, and in the cache); its seed-0
        # run may be any rung of its sweep
        self.keep: set[RunConfig] = set()
        for a in self.trained:
            self._keep_if_base(a, [c for cs in self.sweeps[a.name].values() for c in cs])

    def ladder(self, arm: Arm) -> tuple[float, ...]:
        return self.preset.scale(arm.task).lrs

    def complete(self) -> bool:
        return all(a.name in self.seed_configs for a in self.arms)

    def ready(self, done: dict[RunConfig, RunResult]) -> list[RunConfig]:
        """Every configuration whose inputs are known, run or not (the runner skips those it has
        already started)."""
        out = []
        for a in self.trained:
            sweep = self.sweeps[a.name]
            if a.name not in self.best and all(cs[0] in done for cs in sweep.values()):
                self._settle(a, {lr: done[cs[0]] for lr, cs in sweep.items()})
            out += [c for cs in self.sweeps[a.name].values() for c in cs]
            out += self.seed_configs.get(a.name, [])
        for a in self.finetuning:
            base = a.finetune_from or ""
            if base in self.best and a.name not in self.seed_configs:
                self.best[a.name] = self.best[base]
                self.seed_configs[a.name] = [
                    run_config(self.preset, a, self.best[base], s, base=c)
                    for s, c in enumerate(self.seed_configs[base])
                ]
            out += [c for c in self.seed_configs.get(a.name, []) if c.base in done]
        return out

    def _sweep(self, arm: Arm) -> dict[float, list[RunConfig]]:
        lrs = self.ladder(arm)
        return {
            lrs[i]: [run_config(self.preset, arm, lrs[i], s) for s in range(arm.sweep_seeds)]
            for i in sorted(self.rungs[arm.name])
        }

    def _settle(self, arm: Arm, sweep: dict[float, RunResult]) -> None:
        """Extend a bracketing sweep by one rung, or fix the arm's best rung and its seeds."""
        lrs, rungs = self.ladder(arm), self.rungs[arm.name]
        best = lrs.index(_best_lr(sweep))
        beyond = best - 1 if best == min(rungs) else best + 1 if best == max(rungs) else None
        if beyond is not None and 0 <= beyond < len(lrs) and beyond not in rungs:
            rungs.append(beyond)
            self.sweeps[arm.name] = self._sweep(arm)
            self._keep_if_base(arm, self.sweeps[arm.name][lrs[beyond]])
            return
        self.best[arm.name] = lrs[best]
        n_seeds = arm.n_seeds or self.preset.seeds
        self.seed_configs[arm.name] = [
            run_config(self.preset, arm, lrs[best], s) for s in range(n_seeds)
        ]
        self._keep_if_base(arm, self.seed_configs[arm.name])

    def _keep_if_base(self, arm: Arm, configs: list[RunConfig]) -> None:
        if arm.name in self.bases:
            self.keep.update(configs)


def _best_lr(sweep: dict[float, RunResult]) -> float:
    def loss(lr: float) -> float:
        value = sweep[lr].final_val_loss
        return value if math.isfinite(value) else math.inf

    return min(sweep, key=loss)


class _Runner:
    """Runs configurations (in parallel where the preset says so), reading and writing the
    on-disk cache, with a progress bar on an interactive terminal."""

    def __init__(
        self, preset: Preset, cache_dir: Path | None, waiting: threading.Event | None = None
    ) -> None:
        self.preset = preset
        self.cache_dir = cache_dir
        self.waiting = waiting  # set when someone waits for the grid: a progress bar may show
        self.version = code_version()
        self.trained = self.cached = 0
        self.problems: list[str] = []
        self.results: dict[RunConfig, RunResult] = {}  # every run so far, by configuration

    def _problem(self, message: str) -> None:
        """A cache problem is never an error of the claims: say it, retrain, go on."""
        self.problems.append(message)
        print(f"claimcheck training cache: {message}", file=sys.stderr)

    def drive(self, plan: _Plan, stop_event: threading.Event | None = None) -> None:
        """Run what `plan` says is ready (from the cache, or trained in parallel where the
        preset says so) until it says nothing more; results go to `self.results`. Runs in
        `plan.keep` keep their final weights (a cached one without stored weights is trained
        again); a fine-tuning run starts from its base run's weights. A set `stop_event`
        drops the queued runs (GridStopped)."""
        started: set[RunConfig] = set()
        pending: dict[Future, RunConfig] = {}
        with _pool(self.preset) as pool, _Progress(self.preset.name, self.waiting) as bar:
            while True:
                fresh = [c for c in dict.fromkeys(plan.ready(self.results)) if c not in started]
                if not fresh and not pending:
                    if not plan.complete():  # a defect of the plan, never a silent partial grid
                        raise RuntimeError("the training plan stopped before every arm had run")
                    return
                fresh.sort(key=_cost, reverse=True)  # long runs first: a shorter tail
                hits = 0
                for cfg in fresh:
                    started.add(cfg)
                    hit = self._load(cfg, with_state=cfg in plan.keep)
                    if hit is not None:
                        self.results[cfg] = hit
                        self.cached += 1
                        hits += 1
                        continue
                    initial = self.results[cfg.base].state if cfg.base is not None else None
                    pending[pool.submit(run_single_threaded, cfg, initial)] = cfg
                    bar.total += 1
                    bar.refresh()
                if hits or not pending:
                    continue  # cached results may make more runs ready
                finished, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                if stop_event is not None and stop_event.is_set():
                    raise GridStopped("the run ended before the training grid did")
                for future in finished:
                    cfg = pending.pop(future)
                    result = future.result()
                    self.results[cfg] = result
                    self._store(cfg, result, with_state=cfg in plan.keep)
                    self.trained += 1
                    bar.update(1)

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


@contextlib.contextmanager
def _cache_lock(cache_dir: Path | None):
    """One process at a time trains into a cache directory: pytest-xdist workers that each get
    training checks share one grid (the first trains it, the others then read it from the
    cache) instead of training it twice side by side. Without a usable cache, no lock."""
    if cache_dir is None:
        yield
        return
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        handle = open(cache_dir / ".lock", "a")  # noqa: SIM115 (held across the yield)
    except OSError:
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


@contextlib.contextmanager
def _pool(preset: Preset):
    """Worker processes (spawned once for the whole grid, one torch thread each), or, for one
    worker, runs in this process as they are submitted. On a timeout or an error the queued
    runs are dropped instead of waited for."""
    if preset.workers <= 1:
        yield _InProcess()
        return
    pool = ProcessPoolExecutor(preset.workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class _InProcess:
    """The one-worker pool: `submit` runs the call at once and returns its finished future."""

    def submit(self, fn, *args) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except Exception as exc:
            future.set_exception(exc)
        return future


def _cost(cfg: RunConfig) -> float:
    return cfg.steps * cfg.seq_len * cfg.batch * cfg.n_layers


class _Progress:
    """A progress bar on an interactive terminal only (CI or not), shown once someone waits for
    the grid (a background grid stays quiet while other checks print); its total grows as the
    plan adds runs."""

    def __init__(self, preset: str, waiting: threading.Event | None) -> None:
        self.label = f"training ({preset} preset)"
        self.waiting = waiting
        self.total = self.n = 0
        self.bar = None

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc_info) -> None:
        if self.bar is not None:
            self.bar.close()

    def refresh(self) -> None:
        waited_for = self.waiting is not None and self.waiting.is_set()
        if self.bar is None and waited_for and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, initial=self.n, desc=self.label, unit="run")
        if self.bar is not None:
            self.bar.total = self.total
            self.bar.n = self.n
            self.bar.refresh()

    def update(self, n: int) -> None:
        self.n += n
        self.refresh()
