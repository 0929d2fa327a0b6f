"""The implementation under test as the conformance runner judges it: a `Subject`, i.e. the
seam's `Callee` (impl/loading.py: kind, backend, calling convention; every call captured by
impl/calling.py) with what the user declared (dtypes, devices, fully-masked behaviour) and, for
a built-in, its registry entry (its known deviations)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from softmax_claimcheck.impl.calling import Call
from softmax_claimcheck.impl.loading import Callee, LoadError, learn, of_registry
from softmax_claimcheck.impl.model import Implementation

NUMPY_DEFAULT_DTYPES = ("float64", "float32", "float16")
TORCH_DEFAULT_DTYPES = ("float64", "float32", "float16", "bfloat16")
FULLY_MASKED = ("nan", "zeros", "uniform")
UsageError = LoadError  # the command cannot judge anything (exit 2)


@dataclass
class Subject:
    """The implementation under test, with what it declares."""

    name: str
    callee: Callee
    dtypes: tuple[str, ...] = ()
    devices: tuple[str, ...] = ("cpu",)
    declared: dict[str, Any] = field(default_factory=dict)
    fully_masked: str | None = None
    builtin: Implementation | None = None  # a registry entry: its known deviations
    available: Callable[[str, str], str | None] | None = None  # the registry's own probe

    @property
    def kind(self) -> str:
        return self.callee.kind

    @property
    def backend(self) -> str:
        return self.callee.backend

    @property
    def supports(self) -> frozenset[str]:
        return self.callee.supports

    def softmax(self, x: Any, axis: int) -> Call:
        return self.callee.softmax(x, axis)

    def attention(
        self, q: Any, k: Any, v: Any, mask: Any = None, causal: bool = False, scale: Any = None
    ) -> Call:
        return self.callee.attention(q, k, v, mask=mask, causal=causal, scale=scale)

    def known_deviation(self, property_id: str, dtype: str) -> str | None:
        """A user's implementation has none: it is judged by the properties only."""
        return None if self.builtin is None else self.builtin.known_deviation(property_id, dtype)


def subject_for(
    target: Any,
    name: str,
    *,
    kind: str = "auto",
    dtypes: tuple[str, ...] | None = None,
    devices: tuple[str, ...] | None = None,
    fully_masked: str | None = None,
    backend: str | None = None,
) -> Subject:
    """A Subject for a function or a registry Implementation, with the user's declarations."""
    if fully_masked is not None and fully_masked not in FULLY_MASKED:
        raise UsageError(f"--fully-masked {fully_masked}: choose one of {', '.join(FULLY_MASKED)}")
    declared = {
        "dtypes": list(dtypes) if dtypes else None,
        "devices": list(devices) if devices else None,
        "fully_masked": fully_masked,
    }
    builtin = target if isinstance(target, Implementation) else None
    if builtin is not None:
        callee = of_registry(builtin, kind)
    else:
        try:
            callee = learn(target, name, kind=kind, backend=backend)
        except LoadError as exc:
            raise UsageError(f"{name}: {exc}") from None
    default: tuple[str, ...] = (
        NUMPY_DEFAULT_DTYPES if callee.backend == "numpy" else TORCH_DEFAULT_DTYPES
    )
    if builtin is not None:
        default = tuple(d for d in default if d in builtin.dtypes)
    return Subject(
        name,
        callee,
        dtypes=tuple(dtypes) if dtypes else default,
        devices=tuple(devices) if devices else ("cpu",),
        declared=declared,
        fully_masked=fully_masked,
        builtin=builtin,
        available=None if builtin is None else builtin.available,
    )
