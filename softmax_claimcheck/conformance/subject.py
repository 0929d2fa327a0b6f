"""The implementation under test as the conformance runner judges it: a `Subject`, i.e. the
seam's `Callee` (impl/loading.py: kind, backend, calling convention; every call captured by
impl/calling.py) with what the user declared (dtypes, devices, fully-masked behaviour) and, for
a built-in, its registry entry (its known deviations)."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from softmax_claimcheck.impl.calling import Call, did
from softmax_claimcheck.impl.loading import (
    DEVICES_HELP,
    Callee,
    LoadError,
    learn,
    of_registry,
    probe,
    unknown_devices,
)
from softmax_claimcheck.impl.model import ALL_DTYPES, Implementation

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
    # why torch autograd cannot reach it (an adapter around another framework: the frameworks
    # table); None for a torch implementation, whose missing gradient path is a failure
    no_autograd: str | None = None

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
    """A Subject for a function or a registry Implementation, with the user's declarations.
    What cannot be judged is a UsageError (one line, with the option that fixes it)."""
    if fully_masked is not None and fully_masked not in FULLY_MASKED:
        raise UsageError(f"--fully-masked {fully_masked}: choose one of {', '.join(FULLY_MASKED)}")
    _known(dtypes, "--dtypes", ALL_DTYPES, "dtype")
    if devices is not None and not devices:
        raise UsageError("--devices is empty: name at least one device, e.g. --devices cpu")
    unknown = unknown_devices(devices or ())
    if unknown:
        raise UsageError(
            f"--devices {','.join(devices or ())}: unknown device {unknown[0]!r}; {DEVICES_HELP}"
        )
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
    if dtypes and callee.backend == "numpy" and "bfloat16" in dtypes:
        raise UsageError(f"--dtypes: numpy has no bfloat16 ({name} takes numpy arrays)")
    subject = Subject(
        name,
        callee,
        dtypes=tuple(dict.fromkeys(dtypes)) if dtypes else default,
        devices=tuple(dict.fromkeys(devices)) if devices else ("cpu",),
        declared=declared,
        fully_masked=fully_masked,
        builtin=builtin,
        available=None if builtin is None else builtin.available,
    )
    runnable = [d for d in subject.devices if device_reason(subject, d) is None]
    if not runnable:
        why = "; ".join(f"{d}: {device_reason(subject, d)}" for d in subject.devices)
        raise UsageError(f"--devices: nothing to run on ({why}); pass --devices cpu")
    if not dtypes and builtin is None:
        _undeclared_dtypes_work(subject, runnable[0])
    return subject


def _known(values: tuple[str, ...] | None, option: str, known: tuple[str, ...], what: str) -> None:
    if values is not None and not values:
        raise UsageError(f"{option} is empty: name at least one {what}")
    unknown = [v for v in values or () if v not in known]
    if unknown:
        close = difflib.get_close_matches(unknown[0], known, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise UsageError(
            f"{option} {','.join(values or ())}: unknown {what} {unknown[0]!r}; {hint}"
            f"choose from {', '.join(known)}"
        )


def device_reason(subject: Subject, device: str) -> str | None:
    """Why this device cannot run here (None when it can)."""
    if device == "cpu":
        return None
    if subject.backend == "numpy":
        return f"numpy arrays live on the CPU, not {device}"
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    kind, _, index = device.partition(":")
    backend = {"cuda": torch.cuda, "xpu": getattr(torch, "xpu", None), "mps": torch.backends.mps}
    module = backend.get(kind)
    if module is None or not module.is_available():
        return f"no {kind.upper() if kind != 'mps' else 'MPS'} device on this machine"
    if index and hasattr(module, "device_count") and int(index) >= module.device_count():
        return f"this machine has {module.device_count()} {kind} device(s), not {device}"
    return None


def _undeclared_dtypes_work(subject: Subject, device: str) -> None:
    """Without --dtypes every dtype of the backend is judged: one that raises on a tiny input
    while others do not is a usage error that names the --dtypes to pass, not one failure per
    property."""
    raising: dict[str, str] = {}
    for dtype in subject.dtypes:
        call = probe(subject.callee, dtype, device)
        if call.raised and not call.not_supported:
            raising[dtype] = call.exception
    works = [d for d in subject.dtypes if d not in raising]
    if raising and works:  # raising on every dtype: judged, every check fails with it
        dtype, exception = next(iter(raising.items()))
        hint = f"pass --dtypes {','.join(works)}"
        raise UsageError(
            f"{subject.name} {did(exception)} on {dtype} input (no --dtypes given, so every "
            f"{subject.backend} dtype is tried): {hint}"
        )
