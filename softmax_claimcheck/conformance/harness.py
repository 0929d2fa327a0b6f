"""The harness the conformance properties run in: how a check ends, the context of one check
(`Ctx`: one implementation, one device, one dtype; every call goes through the seam and is
recorded), seeded inputs, and the plain reference in the dtype under test.

A check ends in one of: returning normally (pass), `PropertyFailed` (fail), `Unsupported` (not
supported), `Behaviour` (recorded; it fails only against what the implementation declared),
`ImplementationRaised` (the user's code raised or exited: a fail, with the exception),
`ImplementationTimedOut` (a call outlived its time bound: a fail, and the rest of the device and
dtype is not run). Anything
else is a defect of the runner. Inputs are small and fixed (seeded), so every run finds the same
counterexample; values are multiples of 1/8 so that they are exact in every float dtype, and the
exact oracle (impl/oracle.py) judges the inputs as the dtype represents them.

Numerical tolerance is FlashAttention's self-calibrating rule: the implementation's error against
the exact result may be at most 2× the error of a plain reference computed in the same dtype
(ours, impl/reference.py), plus the dtype's floor (claimcheck/tolerance.py).
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np

from softmax_claimcheck.claimcheck.tolerance import DtypeRange, dtype_range, numeric_tolerance
from softmax_claimcheck.conformance.subject import Subject
from softmax_claimcheck.impl import oracle, reference
from softmax_claimcheck.impl.attention import causal_allowed, reference_attention
from softmax_claimcheck.impl.calling import Call, about, invoke


# -- how a check ends ---------------------------------------------------------------------------
class PropertyFailed(Exception):
    def __init__(
        self,
        message: str,
        inputs: str = "",
        measured: float | None = None,
        bound: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message, self.inputs, self.measured, self.bound = message, inputs, measured, bound


class Unsupported(Exception):
    """The property needs something this implementation does not offer."""


class Behaviour(Exception):
    """A behaviour with no single right answer, recorded (name: nan, zeros, uniform, ...)."""

    def __init__(self, name: str, message: str, inputs: str = "") -> None:
        super().__init__(message)
        self.name, self.message, self.inputs = name, message, inputs


class ImplementationRaised(Exception):
    def __init__(self, call: Call, inputs: str) -> None:
        super().__init__(call.exception)
        self.call, self.inputs = call, inputs


class ImplementationTimedOut(Exception):
    """A call did not return within its bound: a fail, never a recorded behaviour."""

    def __init__(self, call: Call, inputs: str) -> None:
        super().__init__(call.exception)
        self.call, self.inputs = call, inputs


# -- the context of one check -------------------------------------------------------------------
def show(a: Any) -> str:
    """A small input printed so it can be pasted into a test."""
    arr = np.asarray(a)
    with np.printoptions(precision=6, threshold=60, edgeitems=4, linewidth=100):
        text = np.array2string(arr, separator=", ")
    return f"{text} (shape {arr.shape})" if arr.ndim > 1 else text


class Ctx:
    """One implementation, one device, one dtype; every call records warnings and printing."""

    def __init__(self, subject: Subject, device: str, dtype: str) -> None:
        self.subject, self.device, self.dtype = subject, device, dtype
        self.calls: list[Call] = []
        self.tolerance = numeric_tolerance(dtype)

    # arrays
    @property
    def torch(self) -> Any:
        import torch

        return torch

    def arr(self, values: Any) -> Any:
        values = np.asarray(values, dtype=np.float64)
        if self.subject.backend == "numpy":
            with np.errstate(over="ignore"):
                return values.astype(self.dtype)
        torch = self.torch
        # a copy: the user's function may write into what it is given
        return torch.tensor(values).to(device=self.device, dtype=getattr(torch, self.dtype))

    def mask(self, allowed: Any) -> Any:
        allowed = np.asarray(allowed, dtype=bool)
        if self.subject.backend == "numpy":
            return allowed
        return self.torch.as_tensor(allowed, device=self.device)

    def rounded(self, values: Any) -> np.ndarray:
        return to64(self.arr(values))

    @property
    def eps(self) -> float:
        return self.range.eps

    # calls
    def backward(self, out: Any, g: Any, inputs: str) -> None:
        """(out · g).sum().backward(), through the seam: the implementation's autograd is its
        code too (its warnings, printing and exceptions are recorded)."""
        with about(f"backward of the output for {inputs}"):
            call = invoke(lambda: (out * g).sum().backward(), timeout=self.subject.callee.timeout)
        self._done(call, inputs)

    def _done(self, call: Call, inputs: str) -> Any:
        self.calls.append(call)
        if call.timed_out:
            raise ImplementationTimedOut(call, inputs)
        if call.not_supported:
            raise Unsupported(call.not_supported)
        if call.raised:
            raise ImplementationRaised(call, inputs)
        return call.output

    def softmax_raw(self, x: Any, axis: int = -1, shown: Any = None) -> Any:
        inputs = f"x = {show(to64(x) if shown is None else shown)}, axis={axis}"
        with np.errstate(all="warn"), about(inputs):
            call = self.subject.softmax(x, axis)
        return self._done(call, inputs)

    def softmax(self, values: Any, axis: int = -1) -> np.ndarray:
        """The implementation's output for these float64 values, back as float64 numpy."""
        out = self.softmax_raw(self.arr(values), axis, shown=values)
        return self.as64(out, f"x = {show(values)}, axis={axis}")

    def attention_raw(self, q: Any, k: Any, v: Any, **kw: Any) -> Any:
        needs = {
            "attn_mask": kw.get("mask") is not None,
            "is_causal": kw.get("causal", False),
            "scale": kw.get("scale") is not None,
        }
        missing = [
            name for name, needed in needs.items() if needed and name not in self.subject.supports
        ]
        if missing:
            raise Unsupported(f"takes no `{missing[0]}` keyword")
        mask = kw.get("mask")
        inputs = attention_inputs(q, k, v, **kw)
        with about(inputs):
            call = self.subject.attention(
                q,
                k,
                v,
                mask=None if mask is None else self.mask(mask),
                causal=kw.get("causal", False),
                scale=kw.get("scale"),
            )
        return self._done(call, inputs)

    def attention(self, q: Any, k: Any, v: Any, **kw: Any) -> np.ndarray:
        out = self.attention_raw(self.arr(q), self.arr(k), self.arr(v), **kw)
        return self.as64(out, attention_inputs(q, k, v, **kw))

    def as64(self, out: Any, inputs: str) -> np.ndarray:
        try:
            return to64(out)
        except Exception as exc:
            raise PropertyFailed(
                f"returned {type(out).__name__}, which is not an array ({exc})", inputs
            ) from None

    # the plain reference in this dtype (the calibration of the tolerance)
    def reference_softmax(self, values: Any, axis: int = -1) -> np.ndarray:
        fn = (
            reference.log_softmax
            if self.subject.kind == "log-softmax"
            else (reference.stable_softmax)
        )
        with np.errstate(all="ignore"):
            return to64(fn(self.arr(values), axis=axis))

    def reference_attention(self, q: Any, k: Any, v: Any, **kw: Any) -> np.ndarray | None:
        try:
            with np.errstate(all="ignore"):
                return to64(plain_attention(self.arr(q), self.arr(k), self.arr(v), **kw))
        except Exception:
            return None  # e.g. no half matmul here: the dtype's floor alone then

    def compare_output(
        self, out: np.ndarray, exact: np.ndarray, ref: np.ndarray | None, inputs: str, what: str
    ) -> None:
        """A softmax's or log-softmax's output: absolutely and, each weight, relatively."""
        self.compare(out, exact, ref, inputs, what, relative=True)

    @property
    def range(self) -> DtypeRange:
        return dtype_range(self.dtype)

    def bound(self, exact: np.ndarray, reference_error: float) -> np.ndarray:
        return self.tolerance.calibrated(exact, reference_error)

    def compare(
        self,
        out: np.ndarray,
        exact: np.ndarray,
        ref: np.ndarray | None,
        inputs: str,
        what: str,
        extra: float = 0.0,
        relative: bool = False,
    ) -> None:
        """out ≈ exact within the calibrated bound; infinities and exact zeros where exact has
        them must be reproduced exactly; NaN is never close. `relative` (softmax and log-softmax
        outputs): where the exact weight is a normal number of the dtype it must also be within
        the calibrated relative bound of its own size (log-softmax: in log space), so flushed,
        truncated or mis-scaled small weights fail (claimcheck/tolerance.py)."""
        if out.shape != exact.shape:
            raise PropertyFailed(
                f"{what}: output shape {out.shape}, expected {exact.shape}", inputs
            )
        ref_err = 0.0 if ref is None else finite_error(ref, exact)
        bound = self.bound(exact, ref_err) + extra
        infinite = ~np.isfinite(exact)
        with np.errstate(invalid="ignore"):
            err = np.where(infinite, np.where(out == exact, 0.0, np.inf), np.abs(out - exact))
        err = np.where(np.isnan(err), np.inf, err)
        rule = f"2 × reference error {ref_err:.3g} + {self.tolerance.describe()}"
        log_space = self.subject.kind == "log-softmax"
        tighter = np.zeros(bound.shape, dtype=bool)
        if relative:
            # each weight against its own size where it is a normal number of the dtype
            terms = exact.shape[-1] if exact.ndim else 1
            rel = self.tolerance.relative_bound(exact, ref, log_space=log_space, terms=terms)
            rel = rel + extra
            tighter = rel < bound
            bound = np.where(tighter, rel, bound)
        excess = err - bound
        worst = np.unravel_index(int(np.argmax(excess)), excess.shape) if excess.size else ()
        if excess.size and excess[worst] > 0:
            if relative and tighter[worst]:
                rule = "relative: " + self.tolerance.describe_relative(log_space)
                if not log_space:
                    rule += f"; relative error {err[worst] / abs(exact[worst]):.3g}"
            raise PropertyFailed(
                f"{what}: at index {tuple(int(i) for i in worst)} got {out[worst]:.8g}, exact "
                f"{exact[worst]:.8g} (|error| {err[worst]:.3g} > bound {bound[worst]:.3g}: "
                f"{rule})",
                inputs,
                float(err[worst]),
                float(bound[worst]),
            )


def to64(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        return value.detach().to("cpu").double().numpy()
    if not hasattr(value, "shape") and not isinstance(value, list | tuple | float | int):
        raise TypeError(f"{type(value).__name__} has no shape")
    return np.asarray(value, dtype=np.float64)


def finite_error(ref: np.ndarray, exact: np.ndarray) -> float:
    finite = np.isfinite(exact) & np.isfinite(ref)
    return float(np.max(np.abs(ref - exact)[finite], initial=0.0))


def grid(
    rng: np.random.Generator, shape: tuple[int, ...], low: float = -4, high: float = 4
) -> np.ndarray:
    """Seeded values on multiples of 1/8: exact in float16 and bfloat16 too."""
    return np.round(rng.uniform(low, high, shape) * 8) / 8


def rng(name: str) -> np.random.Generator:
    return np.random.default_rng(sum(ord(c) * (i + 1) for i, c in enumerate(name)))


def attention_inputs(q: Any, k: Any, v: Any, **kw: Any) -> str:
    shapes = f"q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}"
    extra = ", ".join(
        f"{k_}={show(val) if k_ == 'mask' else val}"
        for k_, val in kw.items()
        if val is not None and val is not False
    )
    values = f"q = {show(to64(q))}; k = {show(to64(k))}; v = {show(to64(v))}"
    return f"{shapes}{', ' + extra if extra else ''}; {values}"


# -- exact and plain references -----------------------------------------------------------------
_EXACT_CACHE: dict[tuple[str, int, tuple[int, ...], bytes], np.ndarray] = {}
_EXACT_CACHE_SIZE = 256


def exact(kind: str, x: np.ndarray, axis: int = -1) -> np.ndarray:
    """The exact (mpmath) result, long rows included (through their distinct values). Cached
    by value: most inputs are exact in every dtype, so each dtype asks for the same ones."""
    x = np.asarray(x, dtype=np.float64)
    key = (kind, axis, x.shape, hashlib.sha256(x.tobytes()).digest())
    if key not in _EXACT_CACHE:
        if len(_EXACT_CACHE) >= _EXACT_CACHE_SIZE:
            del _EXACT_CACHE[next(iter(_EXACT_CACHE))]
        if kind == "log-softmax":
            _EXACT_CACHE[key] = oracle.log_softmax(x, axis, always_exact=True)
        else:
            _EXACT_CACHE[key] = oracle.softmax(x, axis, always_exact=True)
    return _EXACT_CACHE[key].copy()


def allowed_of(n: int, m: int, mask: Any = None, causal: bool = False) -> np.ndarray:
    """SDPA's meaning: causal is top-left aligned (query i sees keys j ≤ i), True = may attend."""
    allowed = np.ones((n, m), dtype=bool)
    if causal:
        allowed &= causal_allowed(n, m, allowed)
    if mask is not None:
        allowed &= np.asarray(mask, dtype=bool)
    return allowed


def exact_attention(
    q: Any, k: Any, v: Any, mask: Any = None, causal: bool = False, scale: float | None = None
) -> np.ndarray:
    """The exact oracle (impl/oracle.py) with SDPA's meaning of mask, causal and scale; NaN
    rows where nothing is allowed."""
    q = np.asarray(q, dtype=np.float64)
    allowed = allowed_of(q.shape[-2], np.shape(k)[-2], mask, causal)
    return oracle.attention(q, k, v, allowed, scale=scale, nan_where_nothing_allowed=True)


def plain_attention(
    q: Any, k: Any, v: Any, mask: Any = None, causal: bool = False, scale: float | None = None
) -> Any:
    """The plain formula in the arrays' own backend and dtype: the reference attention, scaled by
    multiplying with 1/√d (as a kernel does), given the one boolean mask mask and causal make."""
    allowed: Any = allowed_of(q.shape[-2], k.shape[-2], mask, causal)
    if allowed.all():
        allowed = None
    elif not isinstance(q, np.ndarray):
        import torch

        allowed = torch.as_tensor(allowed, device=q.device)
    factor = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    return reference_attention(q, k, v, allowed, scale=factor)


def kind_and_device(ctx: Ctx, x: Any, out: Any, inputs: str) -> None:
    backend = ctx.subject.backend
    if backend == "numpy" and not isinstance(out, np.ndarray):
        raise PropertyFailed(
            f"numpy input gave a {type(out).__module__}.{type(out).__name__}, not a numpy array",
            inputs,
        )
    if backend == "torch":
        if not isinstance(out, ctx.torch.Tensor):
            raise PropertyFailed(
                f"a torch tensor gave a {type(out).__name__}, not a tensor", inputs
            )
        if out.device != x.device:
            raise PropertyFailed(f"output on {out.device}, input on {x.device}", inputs)
    # an attention's output shape, (..., L, Ev), is checked by its caller
    if ctx.subject.kind != "attention" and tuple(out.shape) != tuple(x.shape):
        raise PropertyFailed(
            f"output shape {tuple(out.shape)}, input shape {tuple(x.shape)}", inputs
        )
    if str(out.dtype).removeprefix("torch.") != ctx.dtype:
        raise PropertyFailed(
            f"output dtype {str(out.dtype).removeprefix('torch.')} for "
            f"{ctx.dtype} input (no silent up- or downcast)",
            inputs,
        )


def copy_of(a: Any) -> Any:
    return a.copy() if isinstance(a, np.ndarray) else a.clone()


def identical(a: Any, b: Any) -> bool:
    return bool(np.array_equal(to64(a), to64(b), equal_nan=True))


def require_autograd(ctx: Ctx) -> None:
    if ctx.subject.backend != "torch":
        raise Unsupported("numpy input: no autograd")
    if ctx.subject.no_autograd:
        raise Unsupported(ctx.subject.no_autograd)


def no_gradient_path(out: Any, inputs: str) -> None:
    """A torch implementation given an input that requires grad must return an output that
    does too: a detached result (computed through numpy, under no_grad, or .detach()ed) cuts
    the graph of every model built on it, so it fails, never reads as not supported."""
    import torch

    if not isinstance(out, torch.Tensor):
        raise PropertyFailed(
            f"returned {type(out).__name__}, not a tensor, for an input that requires grad "
            "(no gradient path)",
            inputs,
        )
    if not out.requires_grad:
        raise PropertyFailed(
            "returned a tensor without a gradient path (requires_grad=False, no grad_fn) for "
            "an input that requires grad: detached, computed under no_grad or outside torch",
            inputs,
        )


def fully_masked_name(out_row: np.ndarray, uniform: np.ndarray) -> str:
    if np.isnan(out_row).all():
        return "nan"
    if (out_row == 0).all():
        return "zeros"
    if np.allclose(out_row, uniform, rtol=1e-2, atol=1e-3):
        return "uniform"
    if np.isneginf(out_row).all():
        return "-inf"
    return "other"


def declared_behaviour(ctx: Ctx, name: str, message: str, inputs: str) -> None:
    declared = ctx.subject.fully_masked
    if declared is not None and name != declared:
        raise PropertyFailed(f"{message}; declared --fully-masked {declared}", inputs)
    raise Behaviour(name, message, inputs)
