"""Run the property catalogue on one implementation × device × dtype and decide each check."""

from __future__ import annotations

import platform
import time
import traceback

import numpy as np

from softmax_claimcheck.conformance import properties as P
from softmax_claimcheck.conformance.adapters import Subject
from softmax_claimcheck.conformance.known import known_deviation
from softmax_claimcheck.conformance.results import (
    BEHAVIOUR,
    ERROR,
    EXPECTED_FAIL,
    FAIL,
    NOT_SUPPORTED,
    PASS,
    UNEXPECTED_PASS,
    CheckResult,
    PropertyInfo,
    Result,
)


def device_reason(subject: Subject, device: str) -> str | None:
    if device == "cpu":
        return None
    if subject.backend == "numpy":
        return f"numpy arrays live on the CPU, not {device}"
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if device.startswith("cuda") and not torch.cuda.is_available():
        return "no CUDA device on this machine"
    return None


def run(subject: Subject, *, only: set[str] | None = None) -> Result:
    """Every property of the subject's kind, on each of its declared devices and dtypes; the
    columns also show the backend's usual dtypes that were not declared (not supported)."""
    start = time.perf_counter()
    props = [p for p in P.catalogue(subject.kind) if only is None or p.id in only]
    usual = (
        ("float64", "float32", "float16")
        if subject.backend == "numpy"
        else ("float64", "float32", "float16", "bfloat16")
    )
    dtypes = list(subject.dtypes) + [d for d in usual if d not in subject.dtypes]
    checks: list[CheckResult] = []
    for device in subject.devices:
        for dtype in dtypes:
            for prop in props:
                checks.append(decide(subject, prop, device, dtype))
    return Result(
        implementation=subject.name,
        kind=subject.kind,
        backend=subject.backend,
        devices=list(subject.devices),
        dtypes=dtypes,
        declared=subject.declared,
        properties=[PropertyInfo(p.id, p.title, p.statement) for p in props],
        checks=checks,
        environment=environment(subject),
        seconds=round(time.perf_counter() - start, 3),
    )


def decide(subject: Subject, prop: P.Property, device: str, dtype: str) -> CheckResult:
    result = CheckResult(prop.id, device, dtype, PASS)
    if dtype not in subject.dtypes:
        result.outcome, result.message = NOT_SUPPORTED, f"{dtype} not declared (--dtypes)"
        return result
    reason = device_reason(subject, device)
    if reason is not None:
        result.outcome, result.message = NOT_SUPPORTED, reason
        return result
    if subject.available is not None:
        reason = subject.available(device, dtype)
        if reason is not None:
            result.outcome, result.message = NOT_SUPPORTED, reason
            return result
    ctx = P.Ctx(subject, device, dtype)
    try:
        with np.errstate(all="ignore"):
            prop.check(ctx)
        result.message = "holds"
    except P.PropertyFailed as failed:
        result.outcome, result.message, result.inputs = FAIL, failed.message, failed.inputs
        result.measured, result.bound = failed.measured, failed.bound
    except P.ImplementationRaised as raised:
        result.outcome = FAIL
        result.message = f"the implementation {_verb(raised.call.exception)} on {dtype}"
        result.exception, result.inputs = raised.call.exception, raised.inputs
    except P.Unsupported as unsupported:
        result.outcome, result.message = NOT_SUPPORTED, str(unsupported)
    except P.Behaviour as behaviour:
        result.outcome, result.behaviour = BEHAVIOUR, behaviour.name
        result.message, result.inputs = behaviour.message, behaviour.inputs
    except Exception as exc:  # a defect of the runner, never the implementation's
        result.outcome = ERROR
        result.message = f"conformance runner defect: {type(exc).__name__}: {exc}"
        result.exception = traceback.format_exc(limit=-3)
    result.warnings = sorted({w for call in ctx.calls for w in call.warnings})
    result.output = "".join(call.printed for call in ctx.calls)[-1000:]
    known = known_deviation(subject.impl_id, prop.id, dtype)
    if known is not None:
        if result.outcome == FAIL:
            result.outcome = EXPECTED_FAIL
            result.message = f"known deviation ({known}): {result.message}"
        elif result.outcome == PASS:
            result.outcome = UNEXPECTED_PASS
            result.message = f"listed as a known deviation ({known}) but it holds: update known.py"
    return result


def _verb(exception: str) -> str:
    return exception if exception.startswith("called") else f"raised {exception}"


def environment(subject: Subject) -> dict[str, str]:
    env = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
    }
    if subject.backend == "torch":
        import torch

        env["torch"] = torch.__version__
    return env


def decide_case(case: object, property_id: str) -> CheckResult:
    """One property on one registry case (`impl.model.ImplCase`): for the article's checks,
    which can call the same properties on the implementations a claim is about."""
    from softmax_claimcheck.conformance.adapters import subject_for

    implementation = case.impl  # type: ignore[attr-defined]
    subject = subject_for(
        implementation,
        implementation.id,
        dtypes=(case.dtype,),  # type: ignore[attr-defined]
        devices=(case.device,),  # type: ignore[attr-defined]
    )
    matching = [p for p in P.catalogue(subject.kind) if p.id == property_id]
    if not matching:
        raise KeyError(f"no property {property_id!r} for a {subject.kind}")
    return decide(subject, matching[0], case.device, case.dtype)  # type: ignore[attr-defined]
