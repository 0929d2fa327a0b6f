"""The conformance command's supervisor: it runs the judging in a worker process (worker.py),
started fresh (never forked: it initialises CUDA itself), and bounds it in time from outside.

The worker tells of every call of the user's code before it starts and after it returns. A call
still running `GRACE_S` after its bound (the worker's own in-process bound did not end it: C code
holding the GIL, a swallowed timeout) gets the worker killed; a worker that dies inside a call
(os._exit, a segfault, SIGKILL) is the implementation's doing. Either way that property fails on
that device and dtype with what happened and the input, the rest of that column is not run, and
a fresh worker goes on with what is left. Importing the module is bounded too (by
`ONE_OFF_FACTOR` × the per-call bound: imports of torch-based packages are slow). A hang or death
while importing or probing means nothing can be judged: a usage error, as when it raises there.

The whole run may be bounded (`total_timeout`) and stopped (`Stopped`, raised by the command's
SIGINT/SIGTERM handlers): the worker is killed and what was decided comes back, the rest not
run, in a Result marked unfinished.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO, Any

from softmax_claimcheck.conformance.results import (
    ERROR,
    FAIL,
    NOT_RUN,
    PropertyCheck,
    Result,
)
from softmax_claimcheck.conformance.subject import UsageError
from softmax_claimcheck.impl.calling import ONE_OFF_FACTOR

GRACE_S = 1.0  # after the bound, before the supervisor kills a call the worker did not end
MAX_RESTARTS = 20
Cell = tuple[str, str, str]


class Stopped(Exception):
    """The run is to stop now (Ctrl-C, SIGTERM); `why` is what the unfinished result says."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class WorkerDefect(Exception):
    """The worker crashed in our code (a defect of ours: the command's exit 3)."""


@dataclass
class Job:
    spec: str
    kind: str = "auto"
    dtypes: tuple[str, ...] | None = None
    devices: tuple[str, ...] | None = None
    fully_masked: str | None = None
    backend: str | None = None
    properties: list[str] | None = None
    require: list[str] | None = None
    timeout: float | None = None
    total_timeout: float | None = None

    def message(
        self, frame: Result | None, skip: list[Cell], stopped: dict[Any, str], lost: dict
    ) -> dict:
        known = frame is not None  # a restart: the kind and backend are known, no probe
        return {
            "spec": self.spec,
            "kind": frame.kind if known else self.kind,  # type: ignore[union-attr]
            "backend": frame.backend if known else self.backend,  # type: ignore[union-attr]
            "dtypes": self.dtypes,
            "devices": self.devices,
            "fully_masked": self.fully_masked,
            "properties": self.properties,
            "require": self.require,
            "timeout": self.timeout,
            "import_timeout": None if not self.timeout else self.timeout * ONE_OFF_FACTOR,
            "sys_path": list(sys.path),
            "skip": skip,
            "stopped": list(stopped.items()),
            "lost": lost,
        }


class Worker:
    """One worker process and its connection; its output goes to a log file (read when it
    dies, for the crash message)."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        self.log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed in kill)
        package_root = str(Path(__file__).resolve().parents[2])
        code = (
            f"import sys; sys.path.insert(0, {package_root!r}); "
            "from softmax_claimcheck.conformance.worker import main; "
            f"main({theirs.fileno()})"
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", code],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=self.log,
        )
        theirs.close()
        self.socket = ours
        self.conn = Connection(os.dup(ours.fileno()))

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.process.kill()
        with contextlib.suppress(Exception):
            self.process.wait(timeout=10)
        with contextlib.suppress(Exception):
            self.conn.close()
        self.socket.close()

    def close(self) -> None:
        self.kill()
        self.log.close()

    def ended(self) -> str:
        """How the process ended: "ended the process with status 0" or "was killed by SIGSEGV"."""
        try:
            status = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "stopped responding"
        if status < 0:
            with contextlib.suppress(ValueError):
                return f"was killed by {signal.Signals(-status).name}"
            return f"was killed by signal {-status}"
        return f"ended the process with status {status}"

    def log_tail(self) -> str:
        with contextlib.suppress(Exception):
            self.log.seek(0)
            return self.log.read().decode("utf-8", "replace").strip()[-1500:]
        return ""


@dataclass
class Supervisor:
    job: Job
    progress: Any = None  # a Progress (progress.py) or None
    frame: Result | None = None
    decided: dict[Cell, PropertyCheck] = field(default_factory=dict)
    stopped: dict[tuple[str, str], str] = field(default_factory=dict)
    phase: str = "import"
    lost: dict[str, str] = field(default_factory=dict)  # dtype -> how its probe call ended
    cell: Cell | None = None
    call: tuple[str, float, float | None] | None = None  # about, started, bound

    def run(self) -> Result:
        start = time.monotonic()
        deadline = start + self.job.total_timeout if self.job.total_timeout else None
        why = ""
        restarts = 0
        try:
            while True:
                worker = Worker()
                try:
                    if self._pump(worker, deadline):
                        break
                finally:
                    worker.close()
                restarts += 1
                if restarts > MAX_RESTARTS:
                    why = f"the worker process was restarted {MAX_RESTARTS} times"
                    break
        except Stopped as stop:
            why = stop.why
        finally:
            if self.progress is not None:
                self.progress.close()
        return self._result(why, time.monotonic() - start)

    # -- one worker ---------------------------------------------------------------------------
    def _pump(self, worker: Worker, deadline: float | None) -> bool:
        """Serve one worker until the end (True) or until it has to be replaced (False)."""
        skip = list(self.decided)
        worker.conn.send(self.job.message(self.frame, skip, self.stopped, self.lost))
        self.call, self.cell = None, None
        while True:
            now = time.monotonic()
            limits = [deadline] if deadline is not None else []
            if self.call is not None and self.call[2]:
                limits.append(self.call[1] + self.call[2] + GRACE_S)
            due = min(limits, default=now + 1.0)
            if deadline is not None and now >= deadline:
                raise Stopped(
                    f"the total time bound of {self.job.total_timeout:g} s (--total-timeout) "
                    "was reached"
                )
            if now >= due:
                self._lost(worker, f"timed out after {self.call[2]:g} s", timed_out=True)  # type: ignore[index]
                return False
            if self.progress is not None:
                self.progress.tick(self.call)
            if not worker.conn.poll(min(due - now, 0.5)):
                continue
            try:
                message = worker.conn.recv()
            except (EOFError, OSError):
                self._lost(worker, worker.ended(), timed_out=False)
                return False
            if self._handle(message):
                return True

    def _handle(self, message: tuple[Any, ...]) -> bool:
        kind, value = message[0], message[1]
        if kind == "call":
            self.call = (value, time.monotonic(), message[2])
        elif kind == "back":
            self.call = None
        elif kind == "phase":
            self.phase = value
        elif kind == "frame":
            if self.frame is None:
                self.frame = Result.from_json(value)
            self.phase = "judge"
        elif kind == "start":
            self.cell = tuple(value)
            if self.progress is not None and self.frame is not None:
                self.progress.cell(self.cell, len(self.decided), self.frame)
        elif kind == "done":
            check = PropertyCheck(**value)
            self.decided[(check.property, check.device, check.dtype)] = check
            self.cell = None
        elif kind == "usage":
            raise UsageError(value)
        elif kind == "crash":
            raise WorkerDefect(value)
        elif kind == "end":
            return True
        return False

    def _lost(self, worker: Worker, what: str, *, timed_out: bool) -> None:
        """The worker is gone (or about to be killed): say what happened, where."""
        call = self.call
        if timed_out:
            worker.kill()
        if self.phase.startswith("probe-dtype "):  # a defect on that dtype, not a rejection
            how = " (it ignored the in-process bound: its worker was killed)" if timed_out else ""
            where = " inside the call" if call is not None and not timed_out else ""
            self.lost[self.phase.split()[1]] = f"{what}{where}{how}"
            return
        if self.phase != "judge":
            raise UsageError(self._load_failure(what, call, worker))
        cell = self.cell or self._next_cell()
        if cell is None:
            raise WorkerDefect(f"the worker {what} after the last check: {worker.log_tail()}")
        prop, device, dtype = cell
        if call is None:  # between calls: in our code, not the implementation's
            check = PropertyCheck(
                prop,
                device,
                dtype,
                ERROR,
                f"conformance runner defect: the worker process {what} outside the "
                f"implementation's calls",
                exception=worker.log_tail(),
            )
        else:
            where = "" if timed_out else " inside the call"
            killed = ""
            if timed_out:
                killed = " (it ignored the in-process bound: its worker was killed)"
            check = PropertyCheck(
                prop,
                device,
                dtype,
                FAIL,
                f"the implementation {what}{where} on {dtype}{killed}",
                inputs=call[0],
                exception=f"{what}{where}",
                output=worker.log_tail()[-1000:],
                timed_out=True,
            )
            from softmax_claimcheck.conformance.runner import column_stopped

            self.stopped[(device, dtype)] = column_stopped(check)
        self.decided[cell] = check

    def _load_failure(self, what: str, call: Any, worker: Worker) -> str:
        spec = self.job.spec
        tail = worker.log_tail().splitlines()
        detail = f" ({tail[-1][:200]})" if tail and call is None else ""
        if self.phase == "import":
            module = spec.partition(":")[0]
            return f"{spec}: importing {module!r} {what}{detail}"
        about = f" ({call[0][:200]})" if call else ""
        return (
            f"{spec}: the probe call that learns its kind and backend{about} {what}{detail}; "
            "give --kind and --backend to skip the probe"
        )

    def _next_cell(self) -> Cell | None:
        from softmax_claimcheck.conformance.runner import cells

        assert self.frame is not None
        return next((c for c in cells(self.frame) if c not in self.decided), None)

    # -- the result ---------------------------------------------------------------------------
    def _result(self, why: str, seconds: float) -> Result:
        from softmax_claimcheck.conformance.runner import cells

        frame = self.frame or Result(
            self.job.spec, self.job.kind, self.job.backend or "?", "?", [], [], {}, [], []
        )
        frame.checks = []
        for cell in cells(frame):
            check = self.decided.get(cell)
            if check is None:
                prop, device, dtype = cell
                reason = self.stopped.get((device, dtype)) or f"not run: {why or 'not judged'}"
                check = PropertyCheck(prop, device, dtype, NOT_RUN, reason)
            frame.checks.append(check)
        frame.finished = not why
        frame.stopped = why
        frame.seconds = round(seconds, 3)
        frame.timeout = self.job.timeout
        return frame
