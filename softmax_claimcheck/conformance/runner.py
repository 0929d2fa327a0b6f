"""Run the property catalogue on one implementation × device × dtype and decide each check."""

from __future__ import annotations

import platform
import time
import traceback

import numpy as np

from softmax_claimcheck.conformance import harness as H
from softmax_claimcheck.conformance.catalogue import Property, catalogue
from softmax_claimcheck.conformance.results import (
    BEHAVIOUR,
    ERROR,
    EXPECTED_FAIL,
    FAIL,
    NOT_SUPPORTED,
    PASS,
    UNEXPECTED_PASS,
    PropertyCheck,
    PropertyInfo,
    Result,
)
from softmax_claimcheck.conformance.subject import Subject, device_reason
from softmax_claimcheck.impl.calling import did


def run(
    subject: Subject,
    *,
    only: set[str] | frozenset[str] | None = None,
    required: frozenset[str] = frozenset(),
) -> Result:
    """Every property of the subject's kind, on each of its declared devices and dtypes; the
    columns also show the backend's usual dtypes that were not declared (not supported). A
    required property that the implementation does not support fails."""
    start = time.perf_counter()
    props = [p for p in catalogue(subject.kind) if only is None or p.id in only]
    usual = (
        ("float64", "float32", "float16")
        if subject.backend == "numpy"
        else ("float64", "float32", "float16", "bfloat16")
    )
    dtypes = list(subject.dtypes) + [d for d in usual if d not in subject.dtypes]
    checks: list[PropertyCheck] = []
    for device in subject.devices:
        for dtype in dtypes:
            for prop in props:
                checks.append(
                    judge_property(subject, prop, device, dtype, required=prop.id in required)
                )
    return Result(
        implementation=subject.name,
        kind=subject.kind,
        backend=subject.backend,
        convention=subject.callee.convention,
        devices=list(subject.devices),
        dtypes=dtypes,
        declared=subject.declared,
        properties=[PropertyInfo(p.id, p.title, p.statement) for p in props],
        checks=checks,
        environment=environment(subject),
        seconds=round(time.perf_counter() - start, 3),
    )


def judge_property(
    subject: Subject, prop: Property, device: str, dtype: str, *, required: bool = False
) -> PropertyCheck:
    """One property on one device in one dtype, decided on its own (DESIGN.md, "Conformance");
    `required` (--require): not supported by the implementation is a failure."""
    result = PropertyCheck(prop.id, device, dtype, PASS)
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
    ctx = H.Ctx(subject, device, dtype)
    try:
        with np.errstate(all="ignore"):
            prop.check(ctx)
        result.message = "holds"
    except H.PropertyFailed as failed:
        result.outcome, result.message, result.inputs = FAIL, failed.message, failed.inputs
        result.measured, result.bound = failed.measured, failed.bound
    except H.ImplementationRaised as raised:
        result.outcome = FAIL
        result.message = f"the implementation {did(raised.call.exception)} on {dtype}"
        result.exception, result.inputs = raised.call.exception, raised.inputs
    except H.Unsupported as unsupported:
        result.outcome, result.message = NOT_SUPPORTED, str(unsupported)
        if required:
            result.outcome = FAIL
            result.message = f"required (--require {prop.id}) but not supported: {unsupported}"
    except H.Behaviour as behaviour:
        result.outcome, result.behaviour = BEHAVIOUR, behaviour.name
        result.message, result.inputs = behaviour.message, behaviour.inputs
    except Exception as exc:  # a defect of the runner, never the implementation's
        result.outcome = ERROR
        result.message = f"conformance runner defect: {type(exc).__name__}: {exc}"
        result.exception = traceback.format_exc(limit=-3)
    result.warnings = sorted({w for call in ctx.calls for w in call.warnings})
    result.output = "".join(call.printed for call in ctx.calls)[-1000:]
    known = subject.known_deviation(prop.id, dtype)
    if known is not None:
        if result.outcome == FAIL:
            result.outcome = EXPECTED_FAIL
            result.message = f"known deviation ({known}): {result.message}"
        elif result.outcome == PASS:
            result.outcome = UNEXPECTED_PASS
            result.message = (
                f"listed as a known deviation ({known}) but it holds: update its entry in "
                "impl/catalogue.py"
            )
    return result


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
