"""The time budget of the one-command GPU run (scripts/gpu/run.py): stages, their budgets, and
running them so that the whole command ends inside its limit.

The rules, each for a reason:

* Each stage has a budget; the budgets and the setup's reserve must add up to no more than the
  command's limit, or the run refuses to start (`BudgetError`): a plan that cannot fit would
  otherwise be found out on the device, minutes in.
* A stage may use its budget plus whatever the stages before it left unused, never the time the
  stages after it are budgeted: a slow stage cannot starve the next ones, a fast one hands its
  spare time on (the last stage, training, gets most of it).
* A stage over its time is stopped (SIGINT first, so pytest still writes its reports, then
  SIGKILL) and recorded as "timed out"; the remaining stages still run.
* A stage that cannot start (its program or one of its files is missing, or the OS refuses to
  start it) is recorded as "could not start", with the reason, and fails the run; the remaining
  stages still run.
* After each stage, `on_end` is called (run.py copies the stage's files out at once, so a
  command killed later still returns what was done).

Stdlib only: it runs on the box before anything is installed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# The part of a stage's time kept for its reports after SIGINT (at most this, at most a quarter).
GRACE_S = 15.0
# A stage left with less than this (or than its whole budget, if smaller) cannot do anything
# useful: it is not started.
MIN_START_S = 5.0


@dataclass
class Stage:
    name: str
    what: str
    command: list[str]
    budget_s: int
    env: dict[str, str] = field(default_factory=dict)
    needs: list[str] = field(default_factory=list)  # files (relative to the root) it reads
    status: str = "not run"  # passed | failed | timed out | could not start | not run
    returncode: int | None = None
    wall_s: float = 0.0
    timeout_s: float = 0.0  # what it was allowed: its budget plus what earlier stages left
    reason: str = ""
    log: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "passed"


class BudgetError(ValueError):
    """The stage budgets and the setup reserve exceed the command's limit."""


def check_plan(stages: Sequence[Stage], limit_s: float, reserve_s: float) -> None:
    """Refuse a plan whose budgets cannot fit the limit (before anything runs)."""
    if not stages:
        raise BudgetError("no stage selected")
    names = [s.name for s in stages]
    if len(set(names)) != len(names):
        raise BudgetError(f"a stage is selected twice: {', '.join(names)}")
    for stage in stages:
        if stage.budget_s <= 0:
            raise BudgetError(f"stage {stage.name}: a budget of {stage.budget_s} s")
    total = sum(s.budget_s for s in stages) + reserve_s
    if total > limit_s:
        parts = " + ".join(f"{s.name} {s.budget_s}" for s in stages)
        raise BudgetError(
            f"the stage budgets do not fit the command's limit: {parts} + setup {reserve_s:.0f} "
            f"= {total:.0f} s > {limit_s:.0f} s (raise --limit, or pick fewer --stages)"
        )


def cannot_start(stage: Stage, root: Path) -> str:
    """Why `stage` cannot start, or "" (its program and files are all there)."""
    program = stage.command[0] if stage.command else ""
    if not program or not (shutil.which(program) or Path(program).is_file()):
        return f"its program {program!r} is not there"
    missing = [n for n in stage.needs if not (root / n).exists()]
    if missing:
        return f"missing: {', '.join(missing)}"
    return ""


def run_stage(
    stage: Stage, env: dict[str, str], root: Path, log_path: Path, timeout: float
) -> None:
    """Run one stage's command with its output in `log_path`, stopped at `timeout` seconds."""
    stage.log = log_path.name
    stage.timeout_s = round(timeout, 1)
    grace = min(GRACE_S, timeout / 4)
    started = time.monotonic()
    with open(log_path, "w") as log:
        log.write(
            f"$ {' '.join(stage.command)}\n(budget {stage.budget_s} s, may use {timeout:.0f} s)\n"
        )
        log.flush()
        try:
            process = subprocess.Popen(
                stage.command, cwd=root, env={**env, **stage.env}, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        except OSError as exc:
            stage.status, stage.reason = "could not start", f"the OS refused to start it: {exc}"
            log.write(stage.reason + "\n")
            return
        try:
            stage.returncode = process.wait(timeout=timeout - grace)
            stage.status = "passed" if stage.returncode == 0 else "failed"
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGINT)  # pytest writes its reports on an interrupt
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            stage.returncode = process.returncode
            stage.status = "timed out"
            stage.reason = f"stopped at {timeout:.0f} s (budget {stage.budget_s} s)"
            log.write(f"\n[run.py] {stage.reason}\n")
    stage.wall_s = round(time.monotonic() - started, 1)


def run_plan(
    stages: Sequence[Stage],
    env: dict[str, str],
    root: Path,
    out: Path,
    limit_s: float,
    started: float,
    on_end: Callable[[Stage], None] = lambda stage: None,
) -> None:
    """Run the stages in order within `limit_s` seconds counted from `started` (monotonic)."""
    for i, stage in enumerate(stages):
        later = sum(s.budget_s for s in stages[i + 1 :])
        allowed = limit_s - (time.monotonic() - started) - later
        why = cannot_start(stage, root)
        if why:
            stage.status, stage.reason = "could not start", why
        elif allowed < min(MIN_START_S, stage.budget_s):
            stage.status = "could not start"
            stage.reason = f"only {allowed:.0f} s left for it (the later stages keep theirs)"
        else:
            run_stage(stage, env, root, out / f"{stage.name}.log", allowed)
        tail = ""
        if stage.log and (out / stage.log).exists():
            lines = (out / stage.log).read_text(errors="replace").strip().splitlines()
            tail = lines[-1] if lines else ""
        print(
            f"[{stage.name}] {stage.status} (exit {stage.returncode}) in {stage.wall_s} s "
            f"of {stage.budget_s} s: {stage.reason or tail}",
            flush=True,
        )
        on_end(stage)
