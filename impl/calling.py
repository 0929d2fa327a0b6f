"""Calling an implementation under test: the one place that captures what the user's code does
besides returning (warnings, printing, exceptions, `sys.exit`, time).

Those are the implementation's behaviour, never errors of the run: `capture` records them in a
`Call`; `returned` hands the output to a check, turning a raise or an exit into a failure of
the implementation (claimcheck's ImplementationFailure, an AssertionError that names it; a
time-out into ImplementationTimedOut), never a crash of the harness.
"""

from __future__ import annotations

import contextlib
import io
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


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

    @property
    def raised(self) -> bool:
        return bool(self.exception)


def capture(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Call:
    """Call fn, recording its warnings, printing, exceptions, sys.exit and time
    (KeyboardInterrupt still stops the run). numpy's floating-point warnings are the
    implementation's too."""
    from softmax_claimcheck.impl.unsupported import NotSupported

    call = Call()
    buffer = io.StringIO()
    start = time.perf_counter()
    with (
        warnings.catch_warnings(record=True) as caught,
        contextlib.redirect_stdout(buffer),
        contextlib.redirect_stderr(buffer),
    ):
        warnings.simplefilter("always")
        try:
            call.output = fn(*args, **kwargs)
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
    return call


def returned(call: Call) -> Any:
    """The call's output for a check: NotSupported passes through (the case is skipped); an
    exception or sys.exit of the implementation becomes an AssertionError naming it."""
    if call.not_supported and call.error is not None:
        raise call.error
    if call.raised:
        from softmax_claimcheck.claimcheck.outcomes import (
            ImplementationFailure,
            ImplementationTimedOut,
            timed_out,
        )

        if timed_out(call.error):  # a BaseException, so Hypothesis does not call it again
            raise ImplementationTimedOut(f"the implementation {did(call.exception)}")
        raise ImplementationFailure(f"the implementation {did(call.exception)}") from call.error
    return call.output


def did(exception: str) -> str:
    """'raised ValueError: ...' or 'called sys.exit(3)'."""
    return exception if exception.startswith("called") else f"raised {exception}"


def first_line(message: Any) -> str:
    lines = str(message).strip().splitlines()
    return lines[0][:300] if lines else ""
