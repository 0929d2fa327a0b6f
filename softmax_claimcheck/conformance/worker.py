"""The conformance worker: a fresh Python process (started by supervisor.py, never forked, so it
initialises CUDA itself) that imports the user's module, learns how to call the function and
judges the property catalogue, telling its supervisor what it does over a connection:

    ("phase", "import" | "probe" | "probe-dtype D")  loading the module / learning kind and
                                       backend / one call on the tiny input in dtype D
    ("call", about, bound)             a call of the user's code starts (its input, its bound)
    ("back", seconds)                  ... and returned (or raised, or timed out in-process)
    ("frame", Result.to_json())        what will be judged (no checks yet)
    ("start", (property, device, dtype)) / ("done", PropertyCheck as a dict)
    ("usage", message)                 it cannot be judged (a one-line usage error)
    ("crash", traceback)               a defect of ours
    ("end", None)

Each call is bounded in this process too (impl/time_bound.py), so a Python-level hang costs no
restart; one that holds the GIL is ended by the supervisor, which kills this process.
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import os
import signal
import sys
import traceback
from dataclasses import asdict
from multiprocessing.connection import Connection
from typing import Any

from softmax_claimcheck.impl.calling import Call


class Heartbeat:
    """The seam's Monitor (impl/calling.py): every call of the user's code, told as it happens."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def before(self, about: str, timeout: float | None) -> None:
        self.conn.send(("call", about[:2000], timeout))

    def after(self, call: Call) -> None:
        self.conn.send(("back", call.seconds))

    def phase(self, name: str) -> None:
        self.conn.send(("phase", name))


def plain(data: dict[str, Any]) -> dict[str, Any]:
    """Only JSON's types cross to the supervisor: unpickling a torch or numpy type there would
    import torch into it (torch.__version__ is a str subclass of torch's: seconds of import)."""
    loaded: dict[str, Any] = json.loads(json.dumps(data, default=str))
    return loaded


def die_with_parent() -> None:
    """Linux: the kernel kills this process if its supervisor dies (even while a call of the
    user's code holds the GIL). Elsewhere the closed connection ends it at the next message."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def serve(conn: Connection) -> None:
    from softmax_claimcheck.conformance import selection
    from softmax_claimcheck.conformance.runner import plan, run
    from softmax_claimcheck.conformance.subject import UsageError, subject_for
    from softmax_claimcheck.impl.calling import about, set_monitor
    from softmax_claimcheck.impl.loading import load

    job: dict[str, Any] = conn.recv()
    sys.path[:] = job["sys_path"]
    set_monitor(Heartbeat(conn))
    try:
        conn.send(("phase", "import"))
        module = job["spec"].partition(":")[0]
        with about(f"importing {module!r}"):
            target, _ = load(job["spec"], timeout=job["import_timeout"])
        conn.send(("phase", "probe"))
        subject = subject_for(
            target,
            job["spec"],
            kind=job["kind"],
            dtypes=job["dtypes"],
            devices=job["devices"],
            fully_masked=job["fully_masked"],
            backend=job["backend"],
            timeout=job["timeout"],
            lost=job["lost"],
        )
        only, required = selection(subject, job["properties"], job["require"])
    except UsageError as exc:
        conn.send(("usage", str(exc)))
        return
    conn.send(("frame", plain(plan(subject, only).to_json())))
    run(
        subject,
        only=only,
        skip={tuple(cell) for cell in job["skip"]},
        stopped={tuple(k): v for k, v in job["stopped"]},
        required=required,
        on_start=lambda cell: conn.send(("start", cell)),
        on_done=lambda check: conn.send(("done", plain(asdict(check)))),
    )
    conn.send(("end", None))


def main(fd: int) -> None:
    """Entry point: `python -c "...; main(FD)"` with FD the worker's end of a socket pair."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the supervisor's to handle
    die_with_parent()
    faulthandler.enable()  # a crash leaves its traceback in the log the supervisor reads
    conn = Connection(fd)
    try:
        serve(conn)
    except (BrokenPipeError, EOFError, ConnectionResetError):
        os._exit(0)  # the supervisor is gone
    except BaseException:
        with contextlib.suppress(Exception):
            conn.send(("crash", traceback.format_exc(limit=-6)))
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        conn.close()
