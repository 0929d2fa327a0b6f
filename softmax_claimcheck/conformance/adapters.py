"""The implementation under test as the conformance runner calls it: a `Subject`.

A user's function is loaded from `MODULE:FUNCTION`, its kind (softmax, log-softmax, attention)
and backend (numpy or torch) learned from its signature and one tiny probe, and every call to it
goes through `capture`, which records what the user's code does besides returning: warnings,
printing, exceptions and `sys.exit`. Those are the implementation's behaviour, never errors of
the runner.

Calling conventions accepted:

* softmax / log-softmax: `f(x, axis=-1)` or `f(x, dim=-1)`, numpy arrays or torch tensors;
* attention: `torch.nn.functional.scaled_dot_product_attention`'s convention, `f(query, key,
  value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False)`, shapes
  (..., L, E), (..., S, E), (..., S, Ev). Only keywords that differ from the defaults are passed,
  always by keyword after `value`; `attn_mask` is never passed with `is_causal=True` (SDPA
  rejects that); a boolean `attn_mask` is True where a query may attend. A property needing a
  keyword the function does not take (no `scale`, say) is "not supported" for it;
* a registry `impl.model.Implementation` (the built-ins): its own signature.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from softmax_claimcheck.impl.model import Implementation

KINDS = ("softmax", "log-softmax", "attention")
SDPA_KEYWORDS = ("attn_mask", "is_causal", "scale")
NUMPY_DEFAULT_DTYPES = ("float64", "float32", "float16")
TORCH_DEFAULT_DTYPES = ("float64", "float32", "float16", "bfloat16")
FULLY_MASKED = ("nan", "zeros", "uniform")


class UsageError(Exception):
    """The command cannot judge anything: bad spec, cannot import, cannot call (exit 2)."""


@dataclass
class Call:
    """One call of the user's code and everything it did."""

    output: Any = None
    exception: str = ""  # "ValueError: ..." or "sys.exit(3)"; empty when it returned
    warnings: list[str] = field(default_factory=list)
    printed: str = ""
    # the registry's adapters raise impl.unsupported.NotSupported for an input their kernel
    # does not take (flash attention with d_v ≠ d_qk): not supported, not a failure
    not_supported: str = ""

    @property
    def raised(self) -> bool:
        return bool(self.exception)


def capture(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Call:
    """Call fn, recording its warnings, printing, exceptions and sys.exit (KeyboardInterrupt
    still stops the run). numpy's floating-point warnings are the implementation's too."""
    call = Call()
    buffer = io.StringIO()
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
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            call.exception = f"{type(exc).__name__}: {_first_line(exc)}"
            if (
                type(exc).__name__ == "NotSupported"
                and type(exc).__module__ == "softmax_claimcheck.impl.unsupported"
            ):
                call.not_supported = _first_line(getattr(exc, "msg", exc))
    seen: list[str] = []
    for w in caught:
        text = f"{w.category.__name__}: {_first_line(w.message)}"
        if text not in seen:
            seen.append(text)
    call.warnings = seen
    call.printed = buffer.getvalue()[-2000:]
    return call


def _first_line(message: Any) -> str:
    lines = str(message).strip().splitlines()
    return lines[0][:300] if lines else ""


@dataclass
class Subject:
    """The implementation under test, with what it declares."""

    name: str
    kind: str
    backend: str  # numpy | torch
    fn: Callable[..., Any]
    convention: str  # "axis" | "dim" | "axis-or-dim" | "sdpa" | "registry"
    supports: frozenset[str] = frozenset(SDPA_KEYWORDS)
    dtypes: tuple[str, ...] = ()
    devices: tuple[str, ...] = ("cpu",)
    declared: dict[str, Any] = field(default_factory=dict)
    fully_masked: str | None = None
    impl_id: str | None = None  # for built-ins: their registry id (known deviations)
    available: Callable[[str, str], str | None] | None = None  # the registry's own probe
    _keyword: str | None = None

    def softmax(self, x: Any, axis: int) -> Call:
        if self.convention == "registry":
            return capture(self.fn, x, axis=axis)
        if self.convention in ("axis", "dim"):
            return capture(self.fn, x, **{self.convention: axis})
        if self._keyword is not None:
            return capture(self.fn, x, **{self._keyword: axis})
        call = capture(self.fn, x, axis=axis)
        if call.exception.startswith("TypeError"):
            other = capture(self.fn, x, dim=axis)
            if not other.raised:
                self._keyword = "dim"
                return other
        elif not call.raised:
            self._keyword = "axis"
        return call

    def attention(
        self, q: Any, k: Any, v: Any, mask: Any = None, causal: bool = False, scale: Any = None
    ) -> Call:
        if self.convention == "registry":
            if scale is not None:
                raise AssertionError("registry attentions take no scale")
            return capture(self.fn, q, k, v, allowed=mask, causal=causal)
        if mask is not None and causal:
            raise AssertionError("SDPA's convention: never attn_mask together with is_causal")
        kwargs: dict[str, Any] = {}
        if mask is not None:
            kwargs["attn_mask"] = mask
        if causal:
            kwargs["is_causal"] = True
        if scale is not None:
            kwargs["scale"] = scale
        return capture(self.fn, q, k, v, **kwargs)


# -- loading ------------------------------------------------------------------------------------
def load(spec: str) -> tuple[Any, str]:
    """`package.module:attribute[.attribute]` -> (the object, its name)."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise UsageError(f"{spec!r}: expected MODULE:FUNCTION, e.g. scipy.special:softmax")
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")  # like `python -m`: modules in the current directory load
    loaded = capture(importlib.import_module, module_name)
    if loaded.raised:
        raise UsageError(f"{spec}: cannot import {module_name!r}: {loaded.exception}")
    target: Any = loaded.output
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise UsageError(f"{spec}: module {module_name!r} has no attribute {attribute!r}")
        target = getattr(target, part)
    return target, attribute.rsplit(".", 1)[-1]


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
    if kind not in (*KINDS, "auto"):
        raise UsageError(f"--kind {kind}: choose one of {', '.join(KINDS)} or auto")
    declared = {
        "dtypes": list(dtypes) if dtypes else None,
        "devices": list(devices) if devices else None,
        "fully_masked": fully_masked,
    }
    if isinstance(target, Implementation):
        subject = _registry_subject(target, kind)
    elif callable(target):
        subject = _function_subject(target, name, kind, backend)
    else:
        raise UsageError(f"{name}: a {type(target).__name__} is not callable")
    default: tuple[str, ...] = (
        NUMPY_DEFAULT_DTYPES if subject.backend == "numpy" else TORCH_DEFAULT_DTYPES
    )
    if subject.impl_id is not None:
        default = tuple(d for d in default if d in target.dtypes)
    subject.dtypes = tuple(dtypes) if dtypes else default
    subject.devices = tuple(devices) if devices else ("cpu",)
    subject.declared = declared
    subject.fully_masked = fully_masked
    return subject


def _registry_subject(implementation: Implementation, kind: str) -> Subject:
    if implementation.role not in KINDS:
        raise UsageError(f"{implementation.id}: role {implementation.role!r} has no contract")
    if kind not in ("auto", implementation.role):
        raise UsageError(f"{implementation.id} is a {implementation.role}, not a {kind}")
    return Subject(
        implementation.id,
        implementation.role,
        implementation.backend,
        implementation.fn,
        "registry",
        supports=frozenset({"attn_mask", "is_causal"}),
        impl_id=implementation.id,
        available=implementation.available,
    )


def _parameters(fn: Callable[..., Any]) -> dict[str, inspect.Parameter] | None:
    try:
        return dict(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return None


def _function_subject(fn: Callable[..., Any], name: str, kind: str, backend: str | None) -> Subject:
    params = _parameters(fn)
    short = str(getattr(fn, "__name__", name))
    guessed = kind == "auto"
    if guessed:
        kind = _guess_kind(short, params)
    candidates = [kind]
    if guessed and params is None:  # a C function: its signature cannot tell
        candidates += [k for k in ("softmax", "attention") if k != kind]
    failures: list[str] = []
    for candidate in candidates:
        try:
            subject = _make_subject(fn, short, candidate, params, backend)
        except UsageError as exc:
            failures.append(str(exc))
            continue
        if guessed and subject.kind != "attention":
            subject.kind = _softmax_or_log(subject, short)
        subject.name = name
        return subject
    raise UsageError("; ".join(failures))


def _make_subject(
    fn: Callable[..., Any],
    name: str,
    kind: str,
    params: dict[str, inspect.Parameter] | None,
    backend: str | None,
) -> Subject:
    var_keyword = params is not None and any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
    )
    if kind == "attention":
        supports = frozenset(SDPA_KEYWORDS)
        if params is not None and not var_keyword:
            supports = frozenset(k for k in SDPA_KEYWORDS if k in params)
        subject = Subject(name, kind, backend or "?", fn, "sdpa", supports=supports)
    else:
        convention = "axis-or-dim"
        if params is not None:
            if "axis" in params:
                convention = "axis"
            elif "dim" in params:
                convention = "dim"
            elif not var_keyword:
                raise UsageError(
                    f"{name}{inspect.signature(fn)}: a {kind} must take the array and an `axis` "
                    "or `dim` keyword, f(x, axis=-1) or f(x, dim=-1); an attention must take "
                    "(query, key, value, ...) as torch's scaled_dot_product_attention does"
                )
        subject = Subject(name, kind, backend or "?", fn, convention)
    if backend is None:
        subject.backend = _probe_backend(subject)
    return subject


def _guess_kind(name: str, params: dict[str, Any] | None) -> str:
    if params is not None:
        names = set(params)
        positional = [
            p
            for p in params.values()
            if p.kind
            in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
            and p.default is inspect.Parameter.empty
        ]
        if {"query", "key", "value"} <= names or {"q", "k", "v"} <= names:
            return "attention"
        if len(positional) >= 3 or "attn_mask" in names or "is_causal" in names:
            return "attention"
    if "attention" in name.lower() or "attn" in name.lower():
        return "attention"
    return "log-softmax" if "log" in name.lower() else "softmax"


def _softmax_or_log(subject: Subject, name: str) -> str:
    """Tell softmax from log-softmax by what the probe gives: rows summing to 1, or rows whose
    logsumexp is 0; the function's name decides when neither is clear."""
    try:
        x = _probe_inputs("softmax", np if subject.backend == "numpy" else _torch())[0]
        out = np.asarray(_to64(subject.softmax(x, -1).output))
        if np.allclose(out.sum(axis=-1), 1.0, atol=1e-6) and (out >= 0).all():
            return "softmax"
        if np.allclose(np.log(np.exp(out).sum(axis=-1)), 0.0, atol=1e-6) and (out <= 0).all():
            return "log-softmax"
    except Exception:
        pass
    return "log-softmax" if "log" in name.lower() else "softmax"


def _torch() -> Any:
    import torch

    return torch


def _to64(value: Any) -> Any:
    if hasattr(value, "detach"):
        return value.detach().to("cpu").double().numpy()
    return np.asarray(value, dtype=np.float64)


PROBE = np.array([[0.0, 1.0, 2.0], [3.0, 1.0, -1.0]])


def _probe_inputs(kind: str, module: Any, dtype: str = "float64") -> tuple[Any, ...]:
    if kind == "attention":
        rng = np.random.default_rng(0)
        arrays = [rng.standard_normal(s) for s in ((1, 2, 4), (1, 3, 4), (1, 3, 4))]
    else:
        arrays = [PROBE]
    if module is np:
        return tuple(a.astype(dtype) for a in arrays)
    return tuple(module.tensor(a, dtype=getattr(module, dtype)) for a in arrays)


def _probe_backend(subject: Subject) -> str:
    """Call the function once on numpy input, else on torch tensors (float64, else float32):
    the first that returns an array of its own kind names the backend."""
    failures = []
    for backend in ("numpy", "torch"):
        if backend == "torch":
            try:
                import torch
            except ImportError:
                failures.append("torch is not installed")
                continue
            module: Any = torch
        else:
            module = np
        label = "numpy arrays" if backend == "numpy" else "torch tensors"
        # float64 first; a kernel without float64 (many GPU kernels) is probed in float32
        for dtype in ("float64", "float32"):
            args = _probe_inputs(subject.kind, module, dtype)
            with np.errstate(all="ignore"):
                if subject.kind == "attention":
                    call = subject.attention(*args)
                else:
                    call = subject.softmax(args[0], -1)
            if call.raised:
                failures.append(f"on {dtype} {label} it {_verb(call.exception)}")
                continue
            out = call.output
            is_tensor = type(out).__module__.startswith("torch")
            if (backend == "torch") == is_tensor and hasattr(out, "shape"):
                return backend
            failures.append(f"on {dtype} {label} it returned {type(out).__name__}")
            break
    raise UsageError(
        f"{subject.name}: cannot call it as a {subject.kind} ({'; '.join(failures)}); "
        "give --kind and --backend to judge it anyway"
    )


def _verb(exception: str) -> str:
    return exception if exception.startswith("called") else f"raised {exception}"
