"""Conformance of one softmax, log-softmax or attention implementation, property by property.

From Python or a pytest suite::

    from softmax_claimcheck.conformance import check, assert_conforms

    result = check(my_softmax, dtypes=("float32", "float64"))
    assert result.ok, result.summary()
    assert_conforms(torch.nn.functional.scaled_dot_product_attention, kind="attention")

`check` takes a callable (softmax/log-softmax `f(x, axis=-1)`, `f(x, dim=-1)` or `f(x)` over the
last axis, a callable object or an nn.Module; attention with the calling convention of torch's
`scaled_dot_product_attention`), a `"module:function"` or `"module:Class(literal args)"` string,
or a registry `impl.model.Implementation`; it returns a `Result` (results.py). `require=` names
properties that must hold: "not supported" fails them. What cannot be judged (an unknown dtype,
device or property, a class instead of an instance) raises UsageError.

Each call of the implementation is bounded by `timeout` seconds. A `"module:function"` string is
judged in a worker process (supervisor.py) that is killed when a call outlives its bound, holding
the GIL or not, or that the implementation ends (os._exit, a crash): the property fails with
what happened. A function object is judged in this process, where the bound is a SIGALRM in the
main thread (impl/time_bound.py): it ends Python code and blocking calls, not C code that holds
the GIL.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from typing import Any

from softmax_claimcheck.conformance.results import ConformanceError, PropertyCheck, Result
from softmax_claimcheck.conformance.subject import UsageError, subject_for
from softmax_claimcheck.impl.calling import DEFAULT_TIMEOUT_S
from softmax_claimcheck.impl.loading import load

__all__ = [
    "ConformanceError",
    "PropertyCheck",
    "Result",
    "UsageError",
    "assert_conforms",
    "check",
]


def _split(value: Sequence[str] | str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = value.split(",")
    return tuple(v.strip() for v in value if v.strip())


def check(
    fn: Callable[..., Any] | str | Any,
    *,
    kind: str = "auto",
    dtypes: Sequence[str] | str | None = None,
    devices: Sequence[str] | str | None = None,
    fully_masked: str | None = None,
    backend: str | None = None,
    properties: Sequence[str] | None = None,
    require: Sequence[str] | None = None,
    name: str | None = None,
    timeout: float | None = DEFAULT_TIMEOUT_S,
    total_timeout: float | None = None,
    isolated: bool | None = None,
    progress: Any = None,
) -> Result:
    """Judge `fn` by every property of its kind on each declared device and dtype. A property
    in `require` that is not supported (no autograd graph, no `attn_mask` keyword, no axis
    keyword) fails instead, on the declared dtypes and devices. Each call within `timeout`
    seconds (None: unbounded). `isolated` (default: when `fn` is a "module:function" string)
    runs it in a worker process; `total_timeout` bounds that whole run (the result is then
    marked unfinished)."""
    from softmax_claimcheck.conformance.runner import run

    if timeout is not None and timeout <= 0:
        raise UsageError(f"timeout {timeout:g}: give a positive number of seconds")
    if isolated is None:
        isolated = isinstance(fn, str)
    if isolated:
        if not isinstance(fn, str):
            raise UsageError("isolated=True needs a 'module:function' string")
        from softmax_claimcheck.conformance.supervisor import Job, Supervisor

        job = Job(
            fn,
            kind=kind,
            dtypes=_split(dtypes),
            devices=_split(devices),
            fully_masked=fully_masked,
            backend=backend,
            properties=list(_split(properties) or ()) or None,
            require=list(_split(require) or ()) or None,
            timeout=timeout,
            total_timeout=total_timeout,
        )
        return Supervisor(job, progress=progress).run()
    label: str
    if isinstance(fn, str):
        target, _ = load(fn, timeout=timeout)
        label = name or fn
    else:
        target = fn
        default_name = str(getattr(fn, "id", None) or getattr(fn, "__name__", type(fn).__name__))
        label = name or (
            f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', default_name)}"
            if callable(fn) and not hasattr(fn, "role")
            else default_name
        )
    subject = subject_for(
        target,
        label,
        kind=kind,
        dtypes=_split(dtypes),
        devices=_split(devices),
        fully_masked=fully_masked,
        backend=backend,
        timeout=timeout,
    )
    only, required = selection(subject, properties, require)
    return run(subject, only=only, required=required)


def selection(
    subject: Any, properties: Sequence[str] | str | None, require: Sequence[str] | str | None
) -> tuple[frozenset[str] | None, frozenset[str]]:
    """The properties to judge (None: all) and those required, checked against the subject's
    kind (a UsageError names the ones it has); the requirement is recorded as declared."""
    required = _property_ids(subject.kind, "--require", _split(require) or ())
    only = _property_ids(subject.kind, "--property", _split(properties) or ())
    subject.declared["require"] = sorted(required) or None
    return ((only | required) if only else None), required


def _property_ids(kind: str, option: str, ids: Sequence[str]) -> frozenset[str]:
    """The ids, each a property of this kind; otherwise a UsageError naming the ones it has."""
    from softmax_claimcheck.conformance.catalogue import catalogue

    known = [p.id for p in catalogue(kind)]
    for prop in ids:
        if prop in known:
            continue
        other = [k for k in ("softmax", "log-softmax", "attention") if k != kind]
        elsewhere = [k for k in other if prop in {p.id for p in catalogue(k)}]
        what = f"a property of {elsewhere[0]}, not of {kind}" if elsewhere else "no such property"
        close = difflib.get_close_matches(prop, known, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise UsageError(
            f"{option} {prop}: {what}; {hint}the {kind} properties: {', '.join(known)}"
        )
    return frozenset(ids)


def assert_conforms(fn: Callable[..., Any] | str | Any, **options: Any) -> Result:
    """`check`, raising ConformanceError (an AssertionError) listing every failing check."""
    result = check(fn, **options)
    if not result.ok:
        raise ConformanceError(result)
    return result
