"""A hard time bound for a check's call phase, inside and outside Hypothesis' `@given`.

pytest-timeout's "signal" method raises `pytest.fail` inside the test body. Hypothesis catches that
like any failure and calls the test again (to shrink), so a hanging `@given` check is never
stopped; its "thread" method ends the whole run without reports. Hypothesis' own `deadline` only
measures an example after it returns. This module bounds the call in three stages, each a
fallback for the one before (T is the check's timeout: pytest-timeout's marker, --timeout or ini
`timeout`, read directly when pytest-timeout is disabled; when none is set, the ini
`claimcheck_check_timeout`, 300 s by default: a check of a claims run always has a bound):

1. T + `raise_after` (1 s): a watchdog thread sends `signum` (SIGUSR2) to the main thread, whose
   handler raises `CheckTimedOut`. It derives from BaseException, not Exception, and is not a
   pytest outcome: Hypothesis lets it through at once, without retrying or shrinking (checked by
   tests/engine/faults/test_hard_timeout.py), and pytest records the call as failed with it, which
   the plugin classifies as a crash: ERROR for our checks. This ends Python loops, `time.sleep`,
   and blocking calls that release the GIL and return on EINTR.
2. T + `stop_after` (10 s): the call is still running (the exception was swallowed, or C code that
   released the GIL does not come back). The watchdog thread calls `on_hard_stop(HardStop)` (the
   plugin writes its reports there, with this check as not finished) and ends the process with
   `os._exit(HARD_STOP_STATUS)`.
3. T + `kill_after` (25 s): nothing Python can run (C code holding the GIL: no thread, not even the
   watchdog, gets to run). faulthandler's C watchdog thread, which needs no GIL, writes every
   thread's traceback to `dump_path` below a header naming the check, and ends the process with
   status 1 (faulthandler's fixed status). Reports written before the run started are all that is
   left: the plugin must write a "run in progress, not finished" report at the start for this case.

So a call that never returns ends within T + 25 s (< T + 30 s). Wiring (plugin.py): see
`HardTimeoutPlugin`. faulthandler's dump_traceback_later is process-global: pytest's own
`faulthandler_timeout` ini option (off by default) is overridden while a call is armed.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import pytest

HARD_STOP_STATUS = 124  # as GNU timeout(1): the run was ended because something did not return
RAISE_AFTER_S = 1.0
STOP_AFTER_S = 10.0
KILL_AFTER_S = 25.0
# The real os._exit, taken before claimcheck/process_guard.py guards it while checks run.
_exit = os._exit


class CheckTimedOut(BaseException):
    """A check's call did not return within its hard time bound (a crash of the check, ERROR).

    BaseException so that Hypothesis, and code that catches Exception, let it through."""


@dataclass(frozen=True)
class HardStop:
    """What on_hard_stop is told: which call hangs, its bound, and how long it has run."""

    label: str  # the item's node id
    timeout_s: float
    elapsed_s: float
    exit_status: int

    @property
    def message(self) -> str:
        return (
            f"{self.label}: the call did not return within its timeout of {self.timeout_s:g} s "
            f"and ignored CheckTimedOut; the run was ended after {self.elapsed_s:.0f} s "
            f"(exit status {self.exit_status})"
        )


class Watchdog:
    """One daemon thread that bounds one call at a time (arm/disarm, or `bounded`)."""

    def __init__(
        self,
        on_hard_stop: Callable[[HardStop], None] | None = None,
        *,
        signum: int = signal.SIGUSR2,
        raise_after: float = RAISE_AFTER_S,
        stop_after: float = STOP_AFTER_S,
        kill_after: float = KILL_AFTER_S,
        exit_status: int = HARD_STOP_STATUS,
        dump_path: Path | None = None,
    ) -> None:
        if not 0 <= raise_after < stop_after < kill_after:
            raise ValueError("need 0 <= raise_after < stop_after < kill_after")
        self.on_hard_stop = on_hard_stop
        self.before_hard_stop: Callable[[], None] | None = None  # e.g. suspend pytest's capture
        self.signum = signum
        self.raise_after, self.stop_after, self.kill_after = raise_after, stop_after, kill_after
        self.exit_status = exit_status
        self.dump_path = dump_path
        self._dump: TextIO | None = None
        self._cond = threading.Condition()
        self._token = 0  # which arming is current; 0: none
        self._armed: tuple[int, str, float, float, int] | None = None  # token, label, T, t0, tid
        self._raised_for = 0
        self._previous_handler: Any = None
        self._signal_installed = False
        self._thread: threading.Thread | None = None
        self._closed = False

    # -- lifetime ------------------------------------------------------------------------------
    def start(self) -> Watchdog:
        if threading.current_thread() is threading.main_thread():
            try:
                self._previous_handler = signal.signal(self.signum, self._on_signal)
                self._signal_installed = True
            except (ValueError, OSError):  # not the main thread of the main interpreter
                self._signal_installed = False
        self._thread = threading.Thread(target=self._watch, name="claimcheck-watchdog", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self.disarm()
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._signal_installed:
            signal.signal(self.signum, self._previous_handler or signal.SIG_DFL)
            self._signal_installed = False
        if self._dump is not None:
            empty = self._dump.tell() == 0
            self._dump.close()
            self._dump = None
            if empty and self.dump_path is not None:
                with contextlib.suppress(OSError):
                    self.dump_path.unlink()

    # -- one call ------------------------------------------------------------------------------
    def arm(self, timeout_s: float, label: str) -> int:
        with self._cond:
            self._token += 1
            self._armed = (
                self._token,
                label,
                float(timeout_s),
                time.monotonic(),
                threading.get_ident(),
            )
            self._cond.notify_all()
            token = self._token
        self._arm_faulthandler(timeout_s, label)
        return token

    def disarm(self) -> None:
        with self._cond:
            self._armed = None
            self._cond.notify_all()
        with contextlib.suppress(Exception):
            faulthandler.cancel_dump_traceback_later()
        if self._dump is not None:
            with contextlib.suppress(OSError, ValueError):
                self._dump.seek(0)
                self._dump.truncate()

    @contextlib.contextmanager
    def bounded(self, timeout_s: float | None, label: str) -> Iterator[None]:
        """Bound the body by timeout_s (None or <= 0: no bound)."""
        if not timeout_s or timeout_s <= 0:
            yield
            return
        self.arm(timeout_s, label)
        try:
            yield
        finally:
            self.disarm()

    # -- stage 1: raise in the main thread -------------------------------------------------------
    def _on_signal(self, signum: int, frame: Any) -> None:
        armed = self._armed
        if armed is None or armed[0] != self._raised_for:
            return  # a late signal for a call that has already returned: ignore it
        raise CheckTimedOut(
            f"{armed[1]}: did not return within its timeout of {armed[2]:g} s "
            "(claimcheck hard timeout; the call was interrupted)"
        )

    # -- the watchdog thread ---------------------------------------------------------------------
    def _watch(self) -> None:
        with self._cond:
            while not self._closed:
                armed = self._armed
                if armed is None:
                    self._cond.wait()
                    continue
                token, label, timeout_s, started, tid = armed
                elapsed = time.monotonic() - started
                if elapsed >= timeout_s + self.stop_after:
                    self._hard_stop(label, timeout_s, elapsed)
                    return
                if elapsed >= timeout_s + self.raise_after and self._raised_for != token:
                    self._raised_for = token
                    if self._signal_installed and tid == threading.main_thread().ident:
                        with contextlib.suppress(OSError, ValueError):
                            signal.pthread_kill(tid, self.signum)
                    continue
                nxt = self.raise_after if self._raised_for != token else self.stop_after
                self._cond.wait(max(0.01, timeout_s + nxt - elapsed))

    def _hard_stop(self, label: str, timeout_s: float, elapsed: float) -> None:
        stop = HardStop(label, timeout_s, elapsed, self.exit_status)
        with contextlib.suppress(Exception):
            faulthandler.cancel_dump_traceback_later()  # stage 3 must not cut the reports short
            faulthandler.dump_traceback_later(self.kill_after - self.stop_after, exit=True)
        if self._dump is not None:  # the file a user finds beside the reports
            with contextlib.suppress(OSError, ValueError):
                self._dump.seek(0)
                self._dump.truncate()
                self._dump.write(f"claimcheck: {stop.message}\n")
                self._dump.flush()
        if self.before_hard_stop is not None:
            with contextlib.suppress(Exception):
                self.before_hard_stop()
        with contextlib.suppress(Exception):
            sys.stderr.write(f"\nclaimcheck: {stop.message}\n")
            sys.stderr.flush()
        if self.on_hard_stop is not None:
            try:
                self.on_hard_stop(stop)
            except BaseException as exc:  # the process ends anyway; say why the reports may lack
                with contextlib.suppress(Exception):
                    sys.stderr.write(f"claimcheck: on_hard_stop failed: {exc!r}\n")
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        _exit(self.exit_status)

    # -- stage 3: faulthandler, which needs no GIL ------------------------------------------------
    def _arm_faulthandler(self, timeout_s: float, label: str) -> None:
        target: Any = self._dump_file()
        if target is not None:
            with contextlib.suppress(OSError, ValueError):
                target.seek(0)
                target.truncate()
                target.write(
                    f"claimcheck: {label}: the call did not return within its timeout of "
                    f"{timeout_s:g} s, even in C code (no thread could run); the process was "
                    f"ended {timeout_s + self.kill_after:g} s after the call started, "
                    "with exit status 1. Tracebacks of every thread:\n"
                )
                target.flush()
        if target is None:
            target = sys.__stderr__
        # Without a usable file descriptor, stages 1 and 2 still bound the call.
        with contextlib.suppress(ValueError, OSError, AttributeError, RuntimeError):
            faulthandler.dump_traceback_later(timeout_s + self.kill_after, exit=True, file=target)

    def _dump_file(self) -> TextIO | None:
        if self.dump_path is None:
            return None
        if self._dump is None:
            try:
                self.dump_path.parent.mkdir(parents=True, exist_ok=True)
                self._dump = open(self.dump_path, "w", encoding="utf-8")  # noqa: SIM115
            except OSError:
                self.dump_path = None
                return None
        return self._dump


# -- pytest integration --------------------------------------------------------------------------
DEFAULT_TIMEOUT_INI = "claimcheck_check_timeout"
DEFAULT_TIMEOUT_S = 300.0


def _seconds(value: Any) -> float | None:
    try:
        seconds = float(value) if value not in (None, "") else 0.0
    except (TypeError, ValueError):
        return None
    return seconds if seconds > 0 else None


def _raw_ini(config: pytest.Config, name: str) -> Any:
    """An ini value whether or not a plugin declared it (pytest-timeout disabled: `timeout`)."""
    try:
        return config.getini(name)
    except ValueError:
        inicfg = getattr(config, "_inicfg", None) or getattr(config, "inicfg", None) or {}
        value = inicfg.get(name) if hasattr(inicfg, "get") else None
        return getattr(value, "value", value)


def item_timeout(item: pytest.Item) -> float:
    """The check's bound, never none: pytest-timeout's (marker, then --timeout, then ini) when it
    is active and sets one; else the `timeout` marker or ini value read directly (the bound must
    not depend on pytest-timeout being enabled: `-p no:timeout`, or not installed); else
    `claimcheck_check_timeout` (ini, default 300 s)."""
    config = item.config
    value: Any = None
    try:
        import pytest_timeout  # registered as "timeout" (entry point) or "pytest_timeout" (-p)

        active = config.pluginmanager.is_registered(pytest_timeout)
    except ImportError:
        active = False
    if active:
        with contextlib.suppress(Exception):
            value = pytest_timeout._get_item_settings(item).timeout
    else:
        marker = item.get_closest_marker("timeout")
        value = marker.args[0] if marker and marker.args else _raw_ini(config, "timeout")
    seconds = _seconds(value)
    if seconds is None:
        seconds = _seconds(_raw_ini(config, DEFAULT_TIMEOUT_INI)) or DEFAULT_TIMEOUT_S
    return seconds


class HardTimeoutPlugin:
    """Register once per process (the controller, or each xdist worker):

        config.pluginmanager.register(
            HardTimeoutPlugin(on_hard_stop=..., dump_path=reports / "hard-timeout.txt"),
            "claimcheck-hard-timeout",
        )

    It bounds every item's call phase by the item's timeout (see the module's docstring)."""

    def __init__(
        self,
        on_hard_stop: Callable[[HardStop], None] | None = None,
        dump_path: Path | None = None,
        **options: Any,
    ) -> None:
        self.watchdog = Watchdog(on_hard_stop, dump_path=dump_path, **options)
        self._started = False

    def pytest_configure(self, config: pytest.Config) -> None:
        capman = config.pluginmanager.getplugin("capturemanager")
        if capman is not None:
            # Stage 2 runs on the watchdog thread, then os._exit: with pytest's fd capture on,
            # what it and on_hard_stop print would vanish with the capture's temporary files.
            self.watchdog.before_hard_stop = lambda: capman.suspend_global_capture(in_=False)

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if not self._started:
            self.watchdog.start()
            self._started = True

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, Any, Any]:
        if not self._started:
            self.watchdog.start()
            self._started = True
        with self.watchdog.bounded(item_timeout(item), item.nodeid):
            return (yield)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self._started:
            self.watchdog.close()
            self._started = False
