"""The in-process per-call time bound on an implementation under test (used by impl/calling.py).

A call that has not returned after its bound gets `CallTimedOut` raised inside it by a SIGALRM
handler (an interval timer, so the signal also interrupts `time.sleep`, lock waits and other
blocking calls that return on EINTR), and again every `REFIRE_S` while it keeps running (code
that swallows the first one). It derives from BaseException, so `except Exception` in the
user's code does not swallow it.

What this cannot stop: C code that holds the GIL and never returns (no Python signal handler
runs until it does). That is what the process-level bounds are for: the conformance command
runs the implementation in a worker process and kills it (softmax_claimcheck/conformance/
supervisor.py); a pytest run has claimcheck/hard_timeout.py as its backstop.

Only in the main thread of a POSIX process (signals are delivered there); elsewhere the call
runs unbounded here. An interval timer already running (pytest-timeout's `signal` method uses
SIGALRM too) is kept: if it falls due during the call, its handler runs, and it is re-armed
with what remains of it afterwards.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

REFIRE_S = 0.5


class CallTimedOut(BaseException):
    """The implementation's call did not return within its time bound."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"timed out after {seconds:g} s")
        self.seconds = seconds


def available() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def within(seconds: float | None) -> Iterator[None]:
    """Raise CallTimedOut in the body once it has run for `seconds` (None or <= 0: no bound)."""
    if not seconds or seconds <= 0 or not available():
        yield
        return
    start = time.monotonic()
    outer_handler: Any = signal.getsignal(signal.SIGALRM)
    if outer_handler is None:  # installed from C: restored as the default
        outer_handler = signal.SIG_DFL
    outer_delay, outer_interval = signal.getitimer(signal.ITIMER_REAL)
    state = {"active": True, "outer_due": outer_delay > 0}

    def on_alarm(signum: int, frame: Any) -> None:
        if not state["active"]:
            return
        elapsed = time.monotonic() - start
        if state["outer_due"] and elapsed >= outer_delay - 1e-3:
            state["outer_due"] = False  # the outer timer's turn: its handler may raise
            signal.setitimer(signal.ITIMER_REAL, max(seconds - elapsed, 1e-3), REFIRE_S)
            if callable(outer_handler):
                outer_handler(signum, frame)
            return
        if elapsed >= seconds - 1e-3:
            raise CallTimedOut(seconds)
        signal.setitimer(signal.ITIMER_REAL, seconds - elapsed, REFIRE_S)

    signal.signal(signal.SIGALRM, on_alarm)
    first = min(seconds, outer_delay) if outer_delay > 0 else seconds
    signal.setitimer(signal.ITIMER_REAL, first, REFIRE_S)
    try:
        yield
    finally:
        state["active"] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, outer_handler)
        if state["outer_due"]:
            left = outer_delay - (time.monotonic() - start)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-3), outer_interval)
