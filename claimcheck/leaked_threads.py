"""A check that leaves a non-daemon thread running neither passes nor keeps the process alive.

Python waits for every non-daemon thread at exit, so such a thread kept a finished run (that
printed "claims: OK") from ever ending. The check's call now fails with `LeakedThread` (a crash:
ERROR) when a non-daemon thread it started is still alive after a short grace; and should such a
thread still be running when the interpreter shuts down, a daemon watchdog ends the process
with the run's exit status (never 0) once the main thread has waited `EXIT_GRACE_S` for it.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Generator
from typing import Any

import pytest

JOIN_GRACE_S = 0.5  # a thread the check started may finish just after the check returns
EXIT_GRACE_S = 2.0


class LeakedThread(Exception):
    """The check returned leaving a non-daemon thread running (a defect of the check)."""


def _non_daemon(exclude: set[int]) -> list[threading.Thread]:
    main = threading.main_thread()
    return [
        t
        for t in threading.enumerate()
        if not t.daemon and t.is_alive() and t.ident not in exclude and t is not main
    ]


class LeakedThreadsPlugin:
    """Registered in a claims run (claimcheck/plugin.py)."""

    def __init__(self) -> None:
        self.leaked: list[threading.Thread] = []
        self.exit_status = 1

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, Any, Any]:
        before = {t.ident for t in threading.enumerate() if t.ident is not None}
        result = yield
        deadline = time.monotonic() + JOIN_GRACE_S
        for thread in _non_daemon(before):
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = _non_daemon(before)
        if alive:
            self.leaked += alive
            names = ", ".join(repr(t.name) for t in alive)
            raise LeakedThread(
                f"the check left non-daemon thread(s) {names} running; a check must stop the "
                "threads it starts (or make them daemons)"
            )
        return result

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.exit_status = int(session.exitstatus) or 1

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if any(t.is_alive() for t in self.leaked):
            watchdog = threading.Thread(
                target=self._end_at_shutdown, name="claimcheck-exit-watchdog", daemon=True
            )
            watchdog.start()

    def _end_at_shutdown(self) -> None:
        """Wait until the main thread waits for the leaked threads at exit, then end it."""
        from softmax_claimcheck.claimcheck.hard_timeout import _exit

        main = threading.main_thread().ident
        waiting_since: float | None = None
        while any(t.is_alive() for t in self.leaked):
            frame = sys._current_frames().get(main) if main is not None else None
            at_exit = False
            while frame is not None:
                if frame.f_code.co_name == "_shutdown" and frame.f_code.co_filename.endswith(
                    "threading.py"
                ):
                    at_exit = True
                    break
                frame = frame.f_back
            if not at_exit:
                waiting_since = None
            elif waiting_since is None:
                waiting_since = time.monotonic()
            elif time.monotonic() - waiting_since >= EXIT_GRACE_S:
                names = ", ".join(repr(t.name) for t in self.leaked if t.is_alive())
                with contextlib.suppress(Exception):
                    sys.stderr.write(
                        f"claimcheck: ending the process: thread(s) {names} left by a check "
                        f"would keep it alive (exit status {self.exit_status})\n"
                    )
                    sys.stdout.flush()
                    sys.stderr.flush()
                _exit(self.exit_status)
            time.sleep(0.1)
