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
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from typing import Any

from softmax_claimcheck.conformance.results import ConformanceError, PropertyCheck, Result
from softmax_claimcheck.conformance.subject import UsageError, subject_for
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
) -> Result:
    """Judge `fn` by every property of its kind on each declared device and dtype. A property
    in `require` that is not supported (no autograd graph, no `attn_mask` keyword, no axis
    keyword) fails instead, on the declared dtypes and devices."""
    from softmax_claimcheck.conformance.runner import run

    label: str
    if isinstance(fn, str):
        target, _ = load(fn)
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
    )
    required = _property_ids(subject.kind, "--require", _split(require) or ())
    only = _property_ids(subject.kind, "--property", _split(properties) or ())
    subject.declared["require"] = sorted(required) or None
    return run(subject, only=(only | required) if only else None, required=required)


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
