"""Loading an implementation under test and learning how to call it: the one seam that imports
a user's module, reads a function's signature and probes it.

`load("package.module:function")` gives the object; `learn(target, name)` gives a `Callee`: the
function with its kind (softmax, log-softmax, attention), backend (numpy or torch) and calling
convention, learned from its signature and one tiny probe. Every consumer (`--impl` and entry
points in impl/pytest_plugin.py, the conformance command, the frameworks table) goes through
here, so a function is classified the same way everywhere.

Calling conventions:

* softmax / log-softmax: `f(x, axis=-1)` or `f(x, dim=-1)`, numpy arrays or torch tensors;
  or `f(x)` with no axis keyword (scikit-learn's `softmax(X, copy=True)`, an `nn.Module` such as
  `torch.nn.Softmax(dim=-1)`): the softmax over the last axis, called as `f(x)`; a non-last axis
  is then not supported (it is never emulated by moving axes around the user's function);
* any callable: a function, an object with `__call__`, an `nn.Module` (its `forward` signature
  is read). A spec names an instance as `module:Class(arguments)` with literal arguments
  (`torch.nn:Softmax(dim=-1)`), read with `ast.literal_eval`, never `eval`;
* attention: `torch.nn.functional.scaled_dot_product_attention`'s convention (the one attention
  convention), `f(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
  scale=None, enable_gqa=False)`, shapes (..., L, E), (..., S, E), (..., S, Ev). Only keywords
  that differ from the defaults are passed, always by keyword after `value`; `attn_mask` is never
  passed with `is_causal=True` (SDPA rejects that); a boolean `attn_mask` is True where a query
  may attend. The built-in attentions take this convention too, so a built-in is learned and
  called exactly as a user's function is.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from softmax_claimcheck.impl.attention import sdpa_keywords
from softmax_claimcheck.impl.calling import ONE_OFF_FACTOR, Call, did, invoke, returned
from softmax_claimcheck.impl.model import Implementation, to_numpy
from softmax_claimcheck.impl.returns import checked_return
from softmax_claimcheck.impl.unsupported import NotSupported

KINDS = ("softmax", "log-softmax", "attention")
SDPA_KEYWORDS = ("attn_mask", "is_causal", "scale")
PROBE = np.array([[0.0, 1.0, 2.0], [3.0, 1.0, -1.0]])  # two rows: a (2, 3) output comes back
SIGNATURE_HELP = (
    "a softmax must take the array, with an `axis` or `dim` keyword or alone: f(x, axis=-1), "
    "f(x, dim=-1) or f(x) (over the last axis); an attention must take (query, key, value, "
    "...) as torch's scaled_dot_product_attention does"
)


def _column(x: Any) -> str:
    """'cpu/float32': the device and dtype of an input."""
    dtype = str(getattr(x, "dtype", type(x).__name__)).removeprefix("torch.")
    return f"{getattr(x, 'device', 'cpu')}/{dtype}"


CONVENTIONS = {
    "axis": "called as f(x, axis=...)",
    "dim": "called as f(x, dim=...)",
    "axis-or-dim": "called as f(x, axis=...), or f(x, dim=...) when it rejects axis",
    "x": "called as f(x): softmax over the last axis",
    "sdpa": "called as f(query, key, value, ...) with SDPA's keywords",
}


DEVICES = re.compile(r"cpu|cuda(:\d+)?|mps|xpu(:\d+)?")
DEVICES_HELP = "choose from cpu, cuda, cuda:N, mps, xpu, xpu:N"


def unknown_devices(devices: tuple[str, ...] | list[str]) -> list[str]:
    """The names that are no device an implementation can be judged on (`tpu`, `garbage`)."""
    return [d for d in devices if DEVICES.fullmatch(d) is None]


def described(convention: str) -> str:
    """The calling convention in words, as the command's output states it."""
    return CONVENTIONS.get(convention, convention)


class LoadError(Exception):
    """Nothing can be judged: bad spec, cannot import, cannot call (one line)."""


@dataclass
class Callee:
    """A function under test and how to call it."""

    name: str
    kind: str  # softmax | log-softmax | attention
    backend: str  # numpy | torch
    fn: Callable[..., Any] = field(repr=False)
    convention: str  # "axis" | "dim" | "axis-or-dim" | "x" | "sdpa"
    supports: frozenset[str] = frozenset(SDPA_KEYWORDS)  # the SDPA keywords it takes
    _keyword: str | None = field(default=None, repr=False)  # learned for "axis-or-dim"
    timeout: float | None = None  # each call's time bound in seconds (impl/calling.py)
    _warm: set[str] = field(default_factory=set, repr=False)  # device/dtype columns called

    def call(self, *args: Any, **kwargs: Any) -> Call:
        """One call of the function through the seam, within its time bound (ONE_OFF_FACTOR
        times that for the first call on a device and dtype: lazy imports, JIT compilation)."""
        column = _column(args[0]) if args else "?"
        bound = self.timeout
        if bound is not None and column not in self._warm:
            bound *= ONE_OFF_FACTOR
        call = invoke(self.fn, args, kwargs, timeout=bound)
        if not call.timed_out:
            self._warm.add(column)
        return call

    def softmax(self, x: Any, axis: int = -1) -> Call:
        if self.convention in ("axis", "dim"):
            return self.call(x, **{self.convention: axis})
        if self.convention == "x":
            if axis not in (-1, len(getattr(x, "shape", ())) - 1):
                reason = f"{CONVENTIONS['x']} only (it takes no axis keyword)"
                return Call(not_supported=reason, error=NotSupported(reason))
            return self.call(x)
        if self._keyword is not None:
            return self.call(x, **{self._keyword: axis})
        call = self.call(x, axis=axis)
        if call.exception.startswith("TypeError"):
            other = self.call(x, dim=axis)
            if not other.raised:
                self._keyword = "dim"
                return other
            if other.exception.startswith("TypeError") and axis in (-1, x.ndim - 1):
                alone = self.call(x)  # a C function that takes the array alone
                if not alone.raised:
                    self.convention = "x"
                    return alone
        elif not call.raised:
            self._keyword = "axis"
        return call

    def attention(
        self, q: Any, k: Any, v: Any, mask: Any = None, causal: bool = False, scale: Any = None
    ) -> Call:
        if mask is not None and causal:
            raise AssertionError("SDPA's convention: never attn_mask together with is_causal")
        return self.call(q, k, v, **sdpa_keywords(mask, causal, scale))


# -- loading ------------------------------------------------------------------------------------
def load_module(name: str, timeout: float | None = None) -> Any:
    """Import a module, capturing what it prints or warns while it imports; a LoadError
    ("ModuleNotFoundError: ...") when it cannot be imported, exits or does not finish within
    `timeout` seconds."""
    loaded = invoke(importlib.import_module, (name,), timeout=timeout)
    if loaded.raised:
        raise LoadError(loaded.exception)
    return loaded.output


def load(spec: str, timeout: float | None = None) -> tuple[Any, str]:
    """`package.module:attribute[.attribute]` -> (the object, its name); `package.module:
    Class(literal arguments)` -> an instance, e.g. `torch.nn:Softmax(dim=-1)` (the arguments are
    read by ast.literal_eval, never evaluated). What the module does while it imports (printing,
    warnings, an exception, sys.exit, not finishing within `timeout` seconds) is captured, not
    shown."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        head, dot, tail = spec.partition("(")[0].rpartition(".")
        example = (
            f"{head}:{tail}{spec[len(head) + 1 + len(tail) :]}" if dot else "scipy.special:softmax"
        )
        raise LoadError(
            f"{spec}: expected package.module:function (a colon before the function's name), "
            f"e.g. {example}"
        )
    path, args, kwargs = _parse_attribute(spec, attribute)
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")  # like `python -m`: modules in the current directory load
    loaded = invoke(importlib.import_module, (module_name,), timeout=timeout)
    if isinstance(loaded.error, ImportError):
        raise LoadError(f"{spec}: cannot import module {module_name!r}: {loaded.exception}")
    if loaded.raised:
        raise LoadError(f"{spec}: importing {module_name!r} {did(loaded.exception)}")
    target: Any = loaded.output
    for part in path.split("."):
        if not hasattr(target, part):
            raise LoadError(f"{spec}: module {module_name!r} has no attribute {path!r}")
        target = getattr(target, part)
    name = path.rsplit(".", 1)[-1]
    if args is None:
        if isinstance(target, type):
            raise LoadError(
                f"{spec} is a class, not a function: name an instance with its arguments, "
                f"e.g. '{module_name}:{path}()' or '{module_name}:{path}(dim=-1)'"
            )
        return target, name
    made = invoke(target, args, kwargs, timeout=timeout)
    if made.raised:
        raise LoadError(f"{spec}: {path}(...) {did(made.exception)}")
    return made.output, name


def _parse_attribute(
    spec: str, attribute: str
) -> tuple[str, tuple[Any, ...] | None, dict[str, Any]]:
    """`a.b` -> ("a.b", None, {}); `A(1, dim=-1)` -> ("A", (1,), {"dim": -1}); the arguments
    must be Python literals."""
    if "(" not in attribute:  # any attribute name (a module's __getattr__ may serve "sdpa-math")
        return attribute, None, {}
    hint = "e.g. torch.nn:Softmax(dim=-1); arguments must be literals (numbers, strings, ...)"
    try:
        tree = ast.parse(attribute, mode="eval").body
    except SyntaxError:
        raise LoadError(f"{spec}: cannot read {attribute!r}; {hint}") from None
    if not isinstance(tree, ast.Call) or _dotted(tree.func) is None:
        raise LoadError(f"{spec}: expected Class(arguments); {hint}")
    try:
        args = tuple(ast.literal_eval(a) for a in tree.args)
        kwargs = {k.arg: ast.literal_eval(k.value) for k in tree.keywords if k.arg is not None}
    except (ValueError, TypeError, SyntaxError, RecursionError):
        raise LoadError(f"{spec}: an argument is not a literal; {hint}") from None
    if any(k.arg is None for k in tree.keywords):
        raise LoadError(f"{spec}: **arguments are not read; {hint}")
    return str(_dotted(tree.func)), args, kwargs


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return None if inner is None else f"{inner}.{node.attr}"
    return None


# -- learning -----------------------------------------------------------------------------------
def of_registry(
    implementation: Implementation, kind: str = "auto", timeout: float | None = None
) -> Callee:
    """A built-in (or a user's Implementation object) called with its own signature."""
    if implementation.role not in KINDS:
        raise LoadError(f"{implementation.id}: role {implementation.role!r} has no contract")
    if kind not in ("auto", implementation.role):
        raise LoadError(f"{implementation.id} is a {implementation.role}, not a {kind}")
    fn = implementation.fn
    if isinstance(fn, RegistryFunction):  # a user's function as `--impl` registered it
        fn = fn.callee.fn
    return learn(
        fn,
        implementation.id,
        kind=implementation.role,
        backend=implementation.backend,
        timeout=timeout,
    )


def learn(
    fn: Any,
    name: str | None = None,
    *,
    kind: str = "auto",
    backend: str | None = None,
    timeout: float | None = None,
) -> Callee:
    """A function's kind, backend and convention, from its signature and one tiny probe; the
    caller may fix the kind or the backend (then that part is not guessed). Every call,
    the probe's too, is bounded by `timeout` seconds."""
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
            callee = _make(fn, short, candidate, params, backend, timeout)
        except LoadError as exc:
            failures.append(str(exc))
            continue
        if guessed and callee.kind != "attention":
            callee.kind = _softmax_or_log(callee, short)
        callee.name = name or short
        return callee
    raise LoadError("; ".join(failures))


def parameters(fn: Callable[..., Any]) -> dict[str, inspect.Parameter] | None:
    """The function's parameters (an nn.Module's are its `forward`'s: its `__call__` takes
    anything); None when its signature cannot be read (a C function)."""
    if _is_module(fn):
        fn = fn.forward  # type: ignore[attr-defined]
    try:
        return dict(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return None


def _is_module(fn: Any) -> bool:
    """A torch.nn.Module instance (told without importing torch)."""
    return not isinstance(fn, type) and any(
        c.__name__ == "Module" and c.__module__.startswith("torch.nn") for c in type(fn).__mro__
    )


def _positional_required(params: dict[str, inspect.Parameter]) -> list[str]:
    return [
        p.name
        for p in params.values()
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        and p.default is inspect.Parameter.empty
    ]


_POSITIONAL = (
    inspect.Parameter.POSITIONAL_ONLY,
    inspect.Parameter.POSITIONAL_OR_KEYWORD,
    inspect.Parameter.VAR_POSITIONAL,
)


def _make(
    fn: Callable[..., Any],
    name: str,
    kind: str,
    params: dict[str, inspect.Parameter] | None,
    backend: str | None,
    timeout: float | None,
) -> Callee:
    var_keyword = params is not None and any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
    )
    if kind == "attention":
        supports = frozenset(SDPA_KEYWORDS)
        if params is not None and not var_keyword:
            supports = frozenset(k for k in SDPA_KEYWORDS if k in params)
        callee = Callee(name, kind, backend or "?", fn, "sdpa", supports=supports, timeout=timeout)
    else:
        convention = "axis-or-dim"
        if params is not None:
            keyword = next((k for k in ("axis", "dim") if k in params), None)
            others = set(_positional_required(params)) - {keyword}
            positional = [p for p in params.values() if p.kind in _POSITIONAL]
            if len(others) > 1 or not (keyword or var_keyword or positional):
                shown = f"{name}({', '.join(str(p) for p in params.values())})"
                raise LoadError(f"wrong signature {shown}; {SIGNATURE_HELP}")
            convention = keyword or ("axis-or-dim" if var_keyword else "x")
        callee = Callee(name, kind, backend or "?", fn, convention, timeout=timeout)
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
        out = to_numpy(callee.softmax(x, -1).output)
        if np.allclose(out.sum(axis=-1), 1.0, atol=1e-6) and (out >= 0).all():
            return "softmax"
        if np.allclose(np.log(np.exp(out).sum(axis=-1)), 0.0, atol=1e-6) and (out <= 0).all():
            return "log-softmax"
    except Exception:
        pass
    return "log-softmax" if "log" in name.lower() else "softmax"


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


def probe(callee: Callee, dtype: str, device: str = "cpu") -> Call:
    """One call on the tiny probe input in this dtype, on this device (torch)."""
    args = _probe_inputs(callee.kind, callee.backend, dtype)
    if callee.backend == "torch":
        args = tuple(a.to(device) for a in args)
    with np.errstate(all="ignore"):
        if callee.kind == "attention":
            return callee.attention(*args)
        return callee.softmax(args[0], -1)


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
            if call.timed_out:  # probing on would only wait again
                raise LoadError(
                    f"cannot call {callee.name} as a {callee.kind}: on {dtype} {label} of shape "
                    f"{tuple(args[0].shape)} it {did(call.exception)}; give --kind and "
                    "--backend to judge it anyway"
                )
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
    and exceptions are captured by the seam; an exception, exit or timeout is a failure of the
    implementation (impl/calling.py); what it printed is passed on to the check's output.
    `last_call` keeps the latest Call.

    Once a call times out on a device and dtype, later calls on that device and dtype fail at
    once without calling it (each would wait out the bound again: a pytest run with a hanging
    implementation would take the bound times every call of every check)."""

    def __init__(self, callee: Callee) -> None:
        self.callee = callee
        self.last_call: Call | None = None
        self.hung: dict[str, str] = {}  # "cpu/float16" -> what the first timed-out call did
        self.__name__ = str(getattr(callee.fn, "__name__", callee.name))
        self.__doc__ = callee.fn.__doc__
        self.__wrapped__ = callee.fn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        column = _column(args[0]) if args else "?"
        if column in self.hung:
            from softmax_claimcheck.claimcheck.outcomes import ImplementationFailure

            raise ImplementationFailure(
                f"the implementation was not called: an earlier call on {column} "
                f"{self.hung[column]}"
            )
        if self.callee.kind == "attention":
            call = self._attention(*args, **kwargs)
        else:
            call = self.callee.softmax(*args, **kwargs)
        self.last_call = call
        if call.timed_out:
            self.hung[column] = call.exception
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
