"""No check ends the process: `os._exit`, `posix._exit` and the `os.exec*` family are guarded
while a claims run collects and runs its checks.

A check (or an implementation a check calls) that ends the process with status 0 would leave a
report that says "in progress" behind a run that reads as passed. While the guard is on, such a
call raises `ProcessExitAttempt` instead (in a thread the check started, the call returns and
the run fails with one line naming it): a BaseException, so that Hypothesis and `except
Exception` let it through, and not an assertion, so the check is a crash (ERROR). Threads alive
before the guard went on (pytest-xdist's channel, the hard timeout's watchdog) keep the real
functions. What no guard can catch (C code calling exit(), SIGKILL) is caught one level up: the
main job reads the report's own `finished` and `ok` flags (claimcheck/run_status.py).
"""

from __future__ import annotations

import os
import posix
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any

GUARDED = (
    "_exit",
    "execv",
    "execve",
    "execl",
    "execle",
    "execlp",
    "execlpe",
    "execvp",
    "execvpe",
)
# The real functions, taken at import (read-only: no run state in modules).
REAL: Mapping[str, Callable[..., Any]] = MappingProxyType(
    {name: getattr(os, name) for name in GUARDED}
)


class ProcessExitAttempt(BaseException):
    """A check tried to end or replace the process (a crash of the check, never evidence)."""


class Guard:
    """Installed around collection and each check; `attempts` lists what was stopped."""

    def __init__(self) -> None:
        self.attempts: list[str] = []  # from threads other than the main one
        self._exempt: set[int] = set()

    def _guarded(self, name: str) -> Callable[..., Any]:
        real = REAL[name]

        def guarded(*args: Any, **kwargs: Any) -> Any:
            me = threading.get_ident()
            if me in self._exempt and me != threading.main_thread().ident:
                return real(*args, **kwargs)
            shown = ", ".join(repr(a) for a in args)[:120]
            what = f"os.{name}({shown})"
            if me != threading.main_thread().ident:
                # The run fails with this line; the call returns, so the thread goes on quietly
                # instead of printing a traceback into the run's output.
                self.attempts.append(f"{what} in thread {threading.current_thread().name!r}")
                return None
            raise ProcessExitAttempt(
                f"the check called {what}, which would end the process: a check must return "
                "(or raise), never end the run"
            )

        guarded.__name__ = name
        return guarded

    @contextmanager
    def on(self) -> Iterator[None]:
        saved = {name: (getattr(os, name), getattr(posix, name, None)) for name in GUARDED}
        self._exempt = {t.ident for t in threading.enumerate() if t.ident is not None}
        for name in GUARDED:
            replacement = self._guarded(name)
            setattr(os, name, replacement)
            if hasattr(posix, name):
                setattr(posix, name, replacement)
        try:
            yield
        finally:
            for name, (os_value, posix_value) in saved.items():
                setattr(os, name, os_value)
                if posix_value is not None:
                    setattr(posix, name, posix_value)
