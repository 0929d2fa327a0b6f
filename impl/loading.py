"""Loading an implementation under test and learning how to call it: the one seam that imports
a user's module, reads a function's signature and probes it.

`load("package.module:function")` gives the object; `learn(target, name)` gives a `Callee`: the
function with its kind (softmax, log-softmax, attention), backend (numpy or torch) and calling
convention, learned from its signature and one tiny probe. Every consumer (`--impl` and entry
points in impl/pytest_plugin.py, the conformance command, the frameworks table) goes through
here, so a function is classified the same way everywhere.

Calling conventions:

* softmax / log-softmax: `f(x, axis=-1)` or `f(x, dim=-1)`, numpy arrays or torch tensors;
* attention: `torch.nn.functional.scaled_dot_product_attention`'s convention (the one attention
  convention), `f(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
  scale=None, enable_gqa=False)`, shapes (..., L, E), (..., S, E), (..., S, Ev). Only keywords
  that differ from the defaults are passed, always by keyword after `value`; `attn_mask` is never
  passed with `is_causal=True` (SDPA rejects that); a boolean `attn_mask` is True where a query
  may attend. The built-in attentions take this convention too, so a built-in is learned and
  called exactly as a user's function is.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from softmax_claimcheck.impl.calling import Call, capture, did, returned
from softmax_claimcheck.impl.model import Implementation
from softmax_claimcheck.impl.returns import checked_return

KINDS = ("softmax", "log-softmax", "attention")
SDPA_KEYWORDS = ("attn_mask", "is_causal", "scale")
PROBE = np.array([[0.0, 1.0, 2.0], [3.0, 1.0, -1.0]])  # two rows: a (2, 3) output comes back
SIGNATURE_HELP = (
    "a softmax must take the array and an `axis` or `dim` keyword: f(x, axis=-1) or "
    "f(x, dim=-1); an attention must take (query, key, value, ...) as torch's "
    "scaled_dot_product_attention does"
)


class LoadError(Exception):
    """Nothing can be judged: bad spec, cannot import, cannot call (one line)."""


@dataclass
class Callee:
    """A function under test and how to call it."""

    name: str
    kind: str  # softmax | log-softmax | attention
    backend: str  # numpy | torch
    fn: Callable[..., Any] = field(repr=False)
    convention: str  # "axis" | "dim" | "axis-or-dim" | "sdpa"
    supports: frozenset[str] = frozenset(SDPA_KEYWORDS)  # the SDPA keywords it takes
    _keyword: str | None = field(default=None, repr=False)  # learned for "axis-or-dim"

    def softmax(self, x: Any, axis: int = -1) -> Call:
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
def load_module(name: str) -> Any:
    """Import a module, capturing what it prints or warns while it imports; a LoadError
    ("ModuleNotFoundError: ...") when it cannot be imported or exits."""
    loaded = capture(importlib.import_module, name)
    if loaded.raised:
        raise LoadError(loaded.exception)
    return loaded.output


def load(spec: str) -> tuple[Any, str]:
    """`package.module:attribute[.attribute]` -> (the object, its name). What the module does
    while it imports (printing, warnings, an exception, sys.exit) is captured, not shown."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise LoadError(f"{spec}: expected package.module:function, e.g. scipy.special:softmax")
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")  # like `python -m`: modules in the current directory load
    loaded = capture(importlib.import_module, module_name)
    if isinstance(loaded.error, ImportError):
        raise LoadError(f"{spec}: cannot import module {module_name!r}: {loaded.exception}")
    if loaded.raised:
        raise LoadError(f"{spec}: importing {module_name!r} {did(loaded.exception)}")
    target: Any = loaded.output
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise LoadError(f"{spec}: module {module_name!r} has no attribute {attribute!r}")
        target = getattr(target, part)
    return target, attribute.rsplit(".", 1)[-1]


# -- learning -----------------------------------------------------------------------------------
def of_registry(implementation: Implementation, kind: str = "auto") -> Callee:
    """A registry entry (a built-in, or a user's Implementation object) learned as any function
    is: its kind and backend are its entry's; its convention (a softmax's keyword, the SDPA
    keywords an attention takes) comes from its signature, as for a user's function."""
    if implementation.role not in KINDS:
        raise LoadError(f"{implementation.id}: role {implementation.role!r} has no contract")
    if kind not in ("auto", implementation.role):
        raise LoadError(f"{implementation.id} is a {implementation.role}, not a {kind}")
    fn = implementation.fn
    if isinstance(fn, RegistryFunction):  # a user's function as `--impl` registered it
        fn = fn.callee.fn
    return learn(fn, implementation.id, kind=implementation.role, backend=implementation.backend)


def learn(
    fn: Any, name: str | None = None, *, kind: str = "auto", backend: str | None = None
) -> Callee:
    """A function's kind, backend and convention, from its signature and one tiny probe; the
    caller may fix the kind or the backend (then that part is not guessed)."""
    if kind not in (*KINDS, "auto"):
        raise LoadError(f"--kind {kind}: choose one of {', '.join(KINDS)} or auto")
    if not callable(fn):
        raise LoadError(
            f"{type(fn).__name__} object is not callable; expected a softmax f(x, axis=-1) or "
            "f(x, dim=-1), an attention with SDPA's calling convention, or an Implementation"
        )
    params = parameters(fn)
    short = str(getattr(fn, "__name__", name or type(fn).__name__))
    guessed = kind == "auto"
    if guessed:
        kind = _guess_kind(short, params)
    candidates = [kind]
    if guessed and params is None:  # a C function: its signature cannot tell
        candidates += [k for k in ("softmax", "attention") if k != kind]
    failures: list[str] = []
    for candidate in candidates:
        try:
            callee = _make(fn, short, candidate, params, backend)
        except LoadError as exc:
            failures.append(str(exc))
            continue
        if guessed and callee.kind != "attention":
            callee.kind = _softmax_or_log(callee, short)
        callee.name = name or short
        return callee
    raise LoadError("; ".join(failures))


def parameters(fn: Callable[..., Any]) -> dict[str, inspect.Parameter] | None:
    """The function's parameters; None when its signature cannot be read (a C function)."""
    try:
        return dict(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return None


def _positional_required(params: dict[str, inspect.Parameter]) -> list[str]:
    return [
        p.name
        for p in params.values()
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        and p.default is inspect.Parameter.empty
    ]


def _make(
    fn: Callable[..., Any],
    name: str,
    kind: str,
    params: dict[str, inspect.Parameter] | None,
    backend: str | None,
) -> Callee:
    var_keyword = params is not None and any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
    )
    if kind == "attention":
        supports = frozenset(SDPA_KEYWORDS)
        if params is not None and not var_keyword:
            supports = frozenset(k for k in SDPA_KEYWORDS if k in params)
        callee = Callee(name, kind, backend or "?", fn, "sdpa", supports=supports)
    else:
        convention = "axis-or-dim"
        if params is not None:
            keyword = next((k for k in ("axis", "dim") if k in params), None)
            others = set(_positional_required(params)) - {keyword}
            if (keyword is None and not var_keyword) or len(others) > 1:
                raise LoadError(f"wrong signature {name}{inspect.signature(fn)}; {SIGNATURE_HELP}")
            convention = keyword or "axis-or-dim"
        callee = Callee(name, kind, backend or "?", fn, convention)
    if backend is None:
        callee.backend = _probe_backend(callee)
    return callee


def _guess_kind(name: str, params: dict[str, Any] | None) -> str:
    if params is not None:
        names = set(params)
        if {"query", "key", "value"} <= names or {"q", "k", "v"} <= names:
            return "attention"
        if len(_positional_required(params)) >= 3 or "attn_mask" in names or "is_causal" in names:
            return "attention"
    if "attention" in name.lower() or "attn" in name.lower():
        return "attention"
    return "log-softmax" if "log" in name.lower() else "softmax"


def _softmax_or_log(callee: Callee, name: str) -> str:
    """Tell softmax from log-softmax by what the probe gives: rows summing to 1, or rows whose
    logsumexp is 0; the function's name decides when neither is clear."""
    try:
        x = _probe_inputs("softmax", callee.backend, "float64")[0]
        out = np.asarray(_to64(callee.softmax(x, -1).output))
        if np.allclose(out.sum(axis=-1), 1.0, atol=1e-6) and (out >= 0).all():
            return "softmax"
        if np.allclose(np.log(np.exp(out).sum(axis=-1)), 0.0, atol=1e-6) and (out <= 0).all():
            return "log-softmax"
    except Exception:
        pass
    return "log-softmax" if "log" in name.lower() else "softmax"


def _to64(value: Any) -> Any:
    if hasattr(value, "detach"):
        return value.detach().to("cpu").double().numpy()
    return np.asarray(value, dtype=np.float64)


def _probe_inputs(kind: str, backend: str, dtype: str) -> tuple[Any, ...]:
    if kind == "attention":
        rng = np.random.default_rng(0)
        arrays = [rng.standard_normal(s) for s in ((1, 2, 4), (1, 3, 4), (1, 3, 4))]
    else:
        arrays = [PROBE]
    if backend == "numpy":
        return tuple(a.astype(dtype) for a in arrays)
    import torch

    return tuple(torch.tensor(a, dtype=getattr(torch, dtype)) for a in arrays)


def _probe_backend(callee: Callee) -> str:
    """Call the function once on numpy input, else on torch tensors (float64, else float32):
    the first that returns an array of its own kind and of the expected shape names the
    backend."""
    failures = []
    for backend in ("numpy", "torch"):
        if backend == "torch":
            try:
                import torch  # noqa: F401
            except ImportError:
                failures.append("torch is not installed")
                continue
        label = "numpy arrays" if backend == "numpy" else "torch tensors"
        # float64 first; a kernel without float64 (many GPU kernels) is probed in float32
        for dtype in ("float64", "float32"):
            args = _probe_inputs(callee.kind, backend, dtype)
            with np.errstate(all="ignore"):
                if callee.kind == "attention":
                    call = callee.attention(*args)
                    expected: tuple[int, ...] = (*args[0].shape[:-1], args[2].shape[-1])
                else:
                    call = callee.softmax(args[0], -1)
                    expected = tuple(args[0].shape)
            if call.raised:
                failures.append(f"on {dtype} {label} it {did(call.exception)}")
                continue
            out = call.output
            is_tensor = type(out).__module__.startswith("torch")
            shape = tuple(getattr(out, "shape", ()))
            if (backend == "torch") == is_tensor and shape == expected:
                return backend
            failures.append(
                f"on {dtype} {label} of shape {tuple(args[0].shape)} it returned "
                f"{type(out).__name__} of shape {shape}"
            )
            break
    raise LoadError(
        f"cannot call {callee.name} as a {callee.kind} ({'; '.join(failures)}); "
        "give --kind and --backend to judge it anyway"
    )


# -- as a registry implementation (what `--impl` and entry points register) ---------------------
class RegistryFunction:
    """A Callee called as the registry calls its role: softmax `fn(x, axis=-1)`, attention in
    SDPA's convention (the one attention convention: its arguments pass through). Its warnings
    and exceptions are captured by the seam; an exception or exit is a failure of the
    implementation (impl/calling.py); what it printed is passed on to the check's output.
    `last_call` keeps the latest Call."""

    def __init__(self, callee: Callee) -> None:
        self.callee = callee
        self.last_call: Call | None = None
        self.__name__ = str(getattr(callee.fn, "__name__", callee.name))
        self.__doc__ = callee.fn.__doc__
        self.__wrapped__ = callee.fn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.callee.kind == "attention":
            call = self._attention(*args, **kwargs)
        else:
            call = self.callee.softmax(*args, **kwargs)
        self.last_call = call
        if call.printed:
            sys.stdout.write(call.printed)
        output = returned(call)
        # An answer of the input's kind, shape and device, or a failure of this cell (class 4
        # of issue 22: a meta tensor or a scalar must not crash the check that reads it).
        if self.callee.kind == "attention":
            query = args[0] if args else kwargs["query"]
            value = args[2] if len(args) > 2 else kwargs["value"]
            return checked_return(output, query, (*query.shape[:-1], value.shape[-1]))
        return checked_return(output, args[0] if args else kwargs["x"])

    def _attention(
        self,
        query: Any,
        key: Any,
        value: Any,
        attn_mask: Any = None,
        is_causal: bool = False,
        scale: Any = None,
    ) -> Call:
        return self.callee.attention(query, key, value, attn_mask, is_causal, scale)
