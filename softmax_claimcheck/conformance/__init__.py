"""Conformance of one softmax, log-softmax or attention implementation, property by property.

From Python or a pytest suite::

    from softmax_claimcheck.conformance import check, assert_conforms

    result = check(my_softmax, dtypes=("float32", "float64"))
    assert result.ok, result.summary()
    assert_conforms(torch.nn.functional.scaled_dot_product_attention, kind="attention")

`check` takes a function (softmax/log-softmax `f(x, axis=-1)` or `f(x, dim=-1)`; attention with
the calling convention of torch's `scaled_dot_product_attention`), a `"module:function"` string,
or a registry `impl.model.Implementation`; it returns a `Result` (results.py).
"""

from __future__ import annotations

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
    name: str | None = None,
) -> Result:
    """Judge `fn` by every property of its kind on each declared device and dtype."""
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
    return run(subject, only=set(properties) if properties else None)


def assert_conforms(fn: Callable[..., Any] | str | Any, **options: Any) -> Result:
    """`check`, raising ConformanceError (an AssertionError) listing every failing check."""
    result = check(fn, **options)
    if not result.ok:
        raise ConformanceError(result)
    return result
