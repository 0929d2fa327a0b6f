"""The one data model of conformance results (JSON-ready): what the console table, the
conformance page, conformance.json and the Python entry point all read.

A `Result` is one implementation judged by the property catalogue; it holds one `PropertyCheck`
per property × device × dtype. Each check is decided on its own (DESIGN.md, "Conformance"):

- pass: the property holds.
- fail: it does not, or the implementation raised or exited on the input (fails the run).
- not supported: dtype or device not declared, or the property needs what the implementation
  does not offer (a `scale` keyword, an axis keyword, autograd for numpy); shown with its
  reason, does not fail unless the property is required (`--require`). A run in which every
  check was not supported checked nothing and does not conform.
- behaviour: no single right answer (fully masked rows): what it does, recorded; fails only
  against a declared behaviour.
- expected fail: a known deviation of a built-in (data beside it) that occurred.
- unexpected pass: a known deviation that no longer occurs (strict: fails the run).
- error: the conformance runner itself crashed, a defect of ours (fails the run, exit 3).
"""

from __future__ import annotations

import builtins
from dataclasses import asdict, dataclass, field
from typing import Any

PASS = "pass"
FAIL = "fail"
NOT_SUPPORTED = "not supported"
BEHAVIOUR = "behaviour"
EXPECTED_FAIL = "expected fail"
UNEXPECTED_PASS = "unexpected pass"
ERROR = "error"
OUTCOMES = (PASS, FAIL, NOT_SUPPORTED, BEHAVIOUR, EXPECTED_FAIL, UNEXPECTED_PASS, ERROR)
FAILING = frozenset({FAIL, UNEXPECTED_PASS, ERROR})
SCHEMA_VERSION = 1


@dataclass
class PropertyCheck:
    property: str  # the property's id, e.g. "sums-to-one"
    device: str
    dtype: str
    outcome: str
    message: str = ""  # one line: what was measured, or why not supported
    inputs: str = ""  # the failing input, printed small enough to paste into a test
    exception: str = ""  # "TypeError: ..." when the implementation raised (or exited)
    warnings: list[str] = field(default_factory=list)  # what the implementation warned
    output: str = ""  # what the implementation printed to stdout/stderr
    behaviour: str = ""  # for recorded behaviours: "nan", "zeros", "uniform", ...
    measured: float | None = None
    bound: float | None = None

    @builtins.property  # the field `property` shadows the builtin here
    def failed(self) -> bool:
        return self.outcome in FAILING

    @builtins.property  # the field `property` shadows the builtin here
    def case(self) -> str:
        return f"{self.device}/{self.dtype}"


@dataclass
class PropertyInfo:
    id: str
    title: str
    statement: str


@dataclass
class Result:
    implementation: str  # "mypkg.kernels:softmax"
    kind: str  # softmax | log-softmax | attention
    backend: str  # numpy | torch
    convention: str  # how it is called: axis | dim | axis-or-dim | x (f(x)) | sdpa
    devices: list[str]
    dtypes: list[str]
    declared: dict[str, Any]  # what the user declared (dtypes, devices, fully_masked)
    properties: list[PropertyInfo]
    checks: list[PropertyCheck]
    environment: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no check failed and something was checked: the implementation conforms
        (on what it declared). A run where every check was not supported checked nothing."""
        return not any(c.failed for c in self.checks) and not self.checked_nothing

    @property
    def checked_nothing(self) -> bool:
        return all(c.outcome == NOT_SUPPORTED for c in self.checks)

    @property
    def errors(self) -> list[PropertyCheck]:
        return [c for c in self.checks if c.outcome == ERROR]

    @property
    def failures(self) -> list[PropertyCheck]:
        return [c for c in self.checks if c.failed]

    def failed_properties(self) -> list[str]:
        return sorted({c.property for c in self.failures})

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(OUTCOMES, 0)
        for check in self.checks:
            counts[check.outcome] += 1
        return counts

    def cell(self, prop: str, device: str, dtype: str) -> PropertyCheck | None:
        for check in self.checks:
            if (check.property, check.device, check.dtype) == (prop, device, dtype):
                return check
        return None

    def summary(self) -> str:
        counts = ", ".join(f"{n} {o}" for o, n in self.counts().items() if n)
        verdict = "CONFORMS" if self.ok else "DOES NOT CONFORM"
        if self.checked_nothing:
            verdict = "CHECKED NOTHING (every check was not supported)"
        failing = self.failed_properties()
        tail = f" (failing: {', '.join(failing)})" if failing else ""
        return f"{self.implementation} [{self.kind}, {self.backend}]: {verdict}{tail}; {counts}"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["schema_version"] = SCHEMA_VERSION
        data["ok"] = self.ok
        data["counts"] = self.counts()
        data["failed_properties"] = self.failed_properties()
        return data


class ConformanceError(AssertionError):
    """Raised by `assert_conforms`: the message lists every failing check."""

    def __init__(self, result: Result) -> None:
        self.result = result
        lines = [result.summary()]
        for check in result.failures:
            lines.append(f"  {check.property} [{check.case}]: {check.outcome}: {check.message}")
            if check.exception:
                lines.append(f"    raised {check.exception}")
            if check.inputs:
                lines.append(f"    input: {check.inputs}")
        super().__init__("\n".join(lines))
