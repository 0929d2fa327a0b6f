"""Calling an implementation under test: the one place that captures what the user's code does
besides returning (warnings, printing, exceptions, `sys.exit`, time) and bounds how long a call
may take.

Those are the implementation's behaviour, never errors of the run: `invoke` records
them in a `Call`; `returned` hands the output to a check, turning a raise or an exit into a
failure of the implementation (claimcheck's ImplementationFailure, an AssertionError that names
it; a timeout into ImplementationTimedOut, a BaseException that Hypothesis does not retry), never
a crash of the harness.

Time: `invoke(..., timeout=T)` bounds the call in this process (impl/time_bound.py: SIGALRM,
main thread only; a call that holds the GIL in C is beyond it). A process that runs calls for a
supervisor (the conformance worker) installs a `Monitor`: it hears of every call before it
starts (with a description of its input, set by the caller with `about`) and after it returns,
so the supervisor can kill the process when a call outlives its bound, or name the call the
process died in.
"""

from __future__ import annotations

import contextlib
import io
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from softmax_claimcheck.impl.time_bound import CallTimedOut, within

DEFAULT_TIMEOUT_S = 10.0  # the per-call bound of `conform --timeout` and `--impl-timeout`
# Importing the module, and the first call on each device and dtype, pay one-off costs (lazy
# imports of torch, JIT compilation, a CUDA context): they get this many times the bound.
ONE_OFF_FACTOR = 3.0


@dataclass
class Call:
    """One call of the user's code and everything it did."""

    output: Any = None
    exception: str = ""  # "ValueError: ..." or "called sys.exit(3)"; empty when it returned
    warnings: list[str] = field(default_factory=list)
    printed: str = ""  # stdout and stderr, the last 2000 characters
    seconds: float = 0.0
    # the registry's adapters raise impl.unsupported.NotSupported for an input their kernel
    # does not take (flash attention with d_v ≠ d_qk): not supported, not a failure
    not_supported: str = ""
    error: BaseException | None = field(default=None, repr=False)
    timed_out: bool = False  # did not return within its bound (exception says so)

    @property
    def raised(self) -> bool:
        return bool(self.exception)


class Monitor(Protocol):
    """Told of every call of the implementation (installed by a supervised worker process)."""

    def before(self, about: str, timeout: float | None) -> None: ...

    def after(self, call: Call) -> None: ...


_monitor: Monitor | None = None
_about: list[str] = []


def set_monitor(monitor: Monitor | None) -> None:
    global _monitor
    _monitor = monitor


def phase(name: str) -> None:
    """Tell the monitor (if any, and if it listens) what the calls that follow are for."""
    listener = getattr(_monitor, "phase", None)
    if listener is not None:
        listener(name)


@contextlib.contextmanager
def about(description: str) -> Iterator[None]:
    """What the calls in the body are given (for a monitor: the input of a call that hangs)."""
    _about.append(description)
    try:
        yield
    finally:
        _about.pop()


def invoke(
    fn: Callable[..., Any],
    args: tuple[Any, ...] = (),
    kwargs: dict[str, Any] | None = None,
    *,
    timeout: float | None = None,
) -> Call:
    """Call fn(*args, **kwargs) within `timeout` seconds (None: unbounded), recording its
    warnings, printing, exceptions, sys.exit and time. numpy's floating-point warnings are the
    implementation's too."""
    from softmax_claimcheck.impl.unsupported import NotSupported

    call = Call()
    buffer = io.StringIO()
    monitor = _monitor
    if monitor is not None:
        monitor.before(_about[-1] if _about else describe(args, kwargs or {}), timeout)
    start = time.perf_counter()
    with (
        warnings.catch_warnings(record=True) as caught,
        contextlib.redirect_stdout(buffer),
        contextlib.redirect_stderr(buffer),
    ):
        warnings.simplefilter("always")
        try:
            with within(timeout):
                call.output = fn(*args, **(kwargs or {}))
        except CallTimedOut as exc:
            call.exception, call.timed_out, call.error = str(exc), True, exc
        except SystemExit as exc:
            call.exception = f"called sys.exit({exc.code!r})"
            call.error = exc
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            call.exception = f"{type(exc).__name__}: {first_line(exc)}"
            call.error = exc
            if isinstance(exc, NotSupported):
                call.not_supported = first_line(exc.msg)
    call.seconds = time.perf_counter() - start
    seen: list[str] = []
    for w in caught:
        text = f"{w.category.__name__}: {first_line(w.message)}"
        if text not in seen:
            seen.append(text)
    call.warnings = seen
    call.printed = buffer.getvalue()[-2000:]
    if monitor is not None:
        monitor.after(call)
    return call


def describe(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """A cheap description of a call's arguments (shapes and dtypes of arrays)."""

    def one(value: Any) -> str:
        shape = getattr(value, "shape", None)
        if shape is not None and hasattr(value, "dtype"):
            dtype = str(value.dtype).removeprefix("torch.")
            device = getattr(value, "device", None)
            where = f" on {device}" if device is not None and str(device) != "cpu" else ""
            return f"{dtype} array of shape {tuple(shape)}{where}"
        return repr(value)[:80]

    parts = [one(a) for a in args] + [f"{k}={one(v)}" for k, v in kwargs.items()]
    return ", ".join(parts)


def returned(call: Call) -> Any:
    """The call's output for a check: NotSupported passes through (the case is skipped); an
    exception or sys.exit of the implementation becomes an ImplementationFailure (an
    AssertionError) naming it; a call past its bound (ours, or the check's own) an
    ImplementationTimedOut."""
    if call.not_supported and call.error is not None:
        raise call.error
    if call.raised:
        from softmax_claimcheck.claimcheck.outcomes import (
            ImplementationFailure,
            ImplementationTimedOut,
            timed_out,
        )

        if call.timed_out or timed_out(call.error):  # a BaseException: Hypothesis won't retry
            raise ImplementationTimedOut(f"the implementation {did(call.exception)}")
        raise ImplementationFailure(f"the implementation {did(call.exception)}") from call.error
    return call.output


def did(exception: str) -> str:
    """'raised ValueError: ...', 'called sys.exit(3)', 'timed out after 10 s' or 'ended the
    process ...'."""
    own = ("called", "timed out", "ended", "was killed")
    return exception if exception.startswith(own) else f"raised {exception}"


def first_line(message: Any) -> str:
    lines = str(message).strip().splitlines()
    return lines[0][:300] if lines else ""
