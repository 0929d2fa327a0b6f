"""Classify a pytest report into a check outcome: holds, fails (assertion), crashed, skipped."""

from __future__ import annotations

from typing import Any

import pytest

from softmax_claimcheck.claimcheck.hard_timeout import CheckTimedOut
from softmax_claimcheck.claimcheck.verdicts import Outcome


class ImplementationFailure(AssertionError):
    """The implementation under test failed: it raised, tried to end the process, or returned
    something that is not an answer (a scalar, a meta tensor, the wrong shape). The call wrapper
    of the implementations (impl/) raises it. It is evidence about that implementation's cell
    (FAILS), never a crash of the harness: a user's implementation is in no claim's scope, so it
    fails its own cells and leaves every article verdict as it is."""


class ImplementationTimedOut(CheckTimedOut):
    """The implementation under test did not return within the check's time bound. A
    BaseException like CheckTimedOut, so Hypothesis does not call it again; classified like
    ImplementationFailure (FAILS of that implementation's cell), not as a crash of the check."""


def timed_out(exc: BaseException | None) -> bool:
    """The check's time bound ended this call: claimcheck's own (CheckTimedOut) or
    pytest-timeout's signal method (a pytest.fail whose message starts with "Timeout")."""
    if isinstance(exc, CheckTimedOut):
        return True
    return isinstance(exc, pytest.fail.Exception) and str(exc).startswith("Timeout")


def _is_assertion(exc: BaseException) -> bool:
    """A failed assertion (or a failure of the implementation under test) is evidence; anything
    else is a crash. Groups count as evidence only when every member is (Hypothesis may raise
    several distinct failures at once)."""
    if isinstance(exc, BaseExceptionGroup):
        return all(_is_assertion(e) for e in exc.exceptions)
    return isinstance(exc, (AssertionError, ImplementationTimedOut))


def classify(report: pytest.TestReport, call: pytest.CallInfo[Any]) -> Outcome:
    if hasattr(report, "wasxfail"):
        # xfail would hide a crash as "skipped": judge a claim check by what it raised.
        if call.excinfo is None:
            return Outcome.HOLDS
        return Outcome.FAILS if _is_assertion(call.excinfo.value) else Outcome.CRASHED
    if report.skipped:
        return Outcome.SKIPPED
    if report.passed:
        return Outcome.HOLDS
    if report.when == "call" and call.excinfo is not None and _is_assertion(call.excinfo.value):
        return Outcome.FAILS
    return Outcome.CRASHED


def skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr or "")


def falsifying_example(call: pytest.CallInfo[Any]) -> str | None:
    """Hypothesis attaches the failing example to the exception as notes (PEP 678): 'Failing
    test case: ...' in current releases, 'Falsifying example: ...' in older ones."""
    if call.excinfo is None:
        return None
    notes = getattr(call.excinfo.value, "__notes__", None) or []
    markers = ("Failing test case", "Falsifying", "explicit example")
    lines = [str(n) for n in notes if any(m in str(n) for m in markers)]
    return "\n".join(lines) if lines else None


def failure_message(report: pytest.TestReport, call: pytest.CallInfo[Any]) -> str:
    if report.skipped:
        return skip_reason(report)
    if call.excinfo is None:
        return ""
    exc = call.excinfo.value
    text = f"{type(exc).__name__}: {exc}".strip()
    return text if len(text) < 2000 else text[:2000] + " …"
