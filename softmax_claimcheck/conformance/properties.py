"""The catalogue of conformance properties: data (id, title, the statement shown) plus a check
function, for the softmax, log-softmax and attention contracts.

A check runs on one implementation on one device in one dtype (a `Ctx`) and ends in one of:
returning normally (pass), `PropertyFailed` (fail), `Unsupported` (not supported), `Behaviour`
(recorded; it fails only against what the implementation declared), `ImplementationRaised`
(the user's code raised or exited: a fail, with the exception). Anything else is a defect of the
runner. Inputs are small and fixed (seeded), so every run finds the same counterexample; values
are multiples of 1/8 so that they are exact in every float dtype, and the exact oracle (mpmath,
impl/oracle.py) judges the inputs as the dtype represents them.

Numerical tolerance is FlashAttention's self-calibrating rule: the implementation's error against
the exact result may be at most 2× the error of a plain reference computed in the same dtype
(ours, impl/reference.py), plus the dtype's floor (claimcheck/tolerance.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import mpmath
import numpy as np

from softmax_claimcheck.claimcheck.tolerance import numeric_tolerance
from softmax_claimcheck.conformance.adapters import Call, Subject
from softmax_claimcheck.impl import oracle, reference


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


@dataclass(frozen=True)
class Property:
    id: str
    kinds: tuple[str, ...]
    title: str
    statement: str
    check: Callable[[Ctx], None]


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
        if self.dtype == "bfloat16":
            return 2.0**-7
        return float(np.finfo(np.dtype(self.dtype)).eps)

    # calls
    def _done(self, call: Call, inputs: str) -> Any:
        self.calls.append(call)
        if call.not_supported:
            raise Unsupported(call.not_supported)
        if call.raised:
            raise ImplementationRaised(call, inputs)
        return call.output

    def softmax_raw(self, x: Any, axis: int = -1, shown: Any = None) -> Any:
        with np.errstate(all="warn"):
            call = self.subject.softmax(x, axis)
        return self._done(call, f"x = {show(to64(x) if shown is None else shown)}, axis={axis}")

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
        call = self.subject.attention(
            q,
            k,
            v,
            mask=None if mask is None else self.mask(mask),
            causal=kw.get("causal", False),
            scale=kw.get("scale"),
        )
        return self._done(call, attention_inputs(q, k, v, **kw))

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

    def bound(self, exact: np.ndarray, reference_error: float) -> np.ndarray:
        t = self.tolerance
        return (
            2.0 * reference_error
            + t.atol
            + t.rtol * np.abs(np.where(np.isfinite(exact), exact, 0.0))
        )

    def compare(
        self,
        out: np.ndarray,
        exact: np.ndarray,
        ref: np.ndarray | None,
        inputs: str,
        what: str,
        extra: float = 0.0,
    ) -> None:
        """out ≈ exact within the calibrated bound; infinities and exact zeros where exact has
        them must be reproduced exactly; NaN is never close."""
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
        excess = err - bound
        worst = np.unravel_index(int(np.argmax(excess)), excess.shape) if excess.size else ()
        if excess.size and excess[worst] > 0:
            raise PropertyFailed(
                f"{what}: at index {tuple(int(i) for i in worst)} got {out[worst]:.8g}, exact "
                f"{exact[worst]:.8g} (|error| {err[worst]:.3g} > bound {bound[worst]:.3g}: "
                f"2 × reference error {ref_err:.3g} + {self.tolerance.describe()})",
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
def exact(kind: str, x: np.ndarray, axis: int = -1) -> np.ndarray:
    return oracle.log_softmax(x, axis) if kind == "log-softmax" else oracle.softmax(x, axis)


def allowed_of(n: int, m: int, mask: Any = None, causal: bool = False) -> np.ndarray:
    """SDPA's meaning: causal is top-left aligned (query i sees keys j ≤ i), True = may attend."""
    allowed = np.ones((n, m), dtype=bool)
    if causal:
        allowed &= np.tril(np.ones((n, m), dtype=bool))
    if mask is not None:
        allowed &= np.asarray(mask, dtype=bool)
    return allowed


def exact_attention(
    q: Any, k: Any, v: Any, mask: Any = None, causal: bool = False, scale: float | None = None
) -> np.ndarray:
    """softmax(QKᵀ·scale, disallowed at −∞)·V at 50 digits; NaN rows where nothing is allowed."""
    q, k, v = (np.asarray(a, dtype=np.float64) for a in (q, k, v))
    n, m = q.shape[-2], k.shape[-2]
    allowed = allowed_of(n, m, mask, causal)
    batch = q.shape[:-2]
    out = np.full((*batch, n, v.shape[-1]), np.nan)
    with mpmath.workdps(oracle.DIGITS):
        s = 1 / mpmath.sqrt(q.shape[-1]) if scale is None else mpmath.mpf(scale)
        for index in np.ndindex(*batch):
            qi, ki, vi = q[index], k[index], v[index]
            for i in range(n):
                if not allowed[i].any():
                    continue
                scores = [
                    mpmath.fsum(
                        mpmath.mpf(qi[i, c]) * mpmath.mpf(ki[j, c]) for c in range(q.shape[-1])
                    )
                    * s
                    if allowed[i, j]
                    else mpmath.mpf("-inf")
                    for j in range(m)
                ]
                weights = oracle._softmax_mp(scores)
                for c in range(v.shape[-1]):
                    out[(*index, i, c)] = float(
                        mpmath.fsum(w * mpmath.mpf(vi[j, c]) for j, w in enumerate(weights))
                    )
    return out


def plain_attention(
    q: Any, k: Any, v: Any, mask: Any = None, causal: bool = False, scale: float | None = None
) -> Any:
    """The plain formula in the arrays' own backend and dtype."""
    from array_api_compat import array_namespace

    xp = array_namespace(q)
    s = (q @ xp.matrix_transpose(k)) * (1 / math.sqrt(q.shape[-1]) if scale is None else scale)
    allowed: Any = allowed_of(q.shape[-2], k.shape[-2], mask, causal)
    if not allowed.all():
        if not isinstance(q, np.ndarray):
            import torch

            allowed = torch.as_tensor(allowed, device=q.device)
        weights = reference.masked_softmax(s, allowed)
    else:
        weights = reference.stable_softmax(s)
    return weights @ v


# -- softmax and log-softmax properties ---------------------------------------------------------
VALUE_LENGTHS = (1, 2, 3, 8, 17, 33, 100)


def value_inputs() -> Iterator[np.ndarray]:
    r = rng("values")
    yield grid(r, (5,))
    for length in VALUE_LENGTHS:
        yield grid(r, (3, length))
    yield np.array([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 8.0, 8.0], [-4.0, 4.0, -4.0, 4.0]])


def check_values(ctx: Ctx) -> None:
    for x in value_inputs():
        xr = ctx.rounded(x)
        out = ctx.softmax(x)
        ctx.compare(
            out,
            exact(ctx.subject.kind, xr),
            ctx.reference_softmax(x),
            f"x = {show(x)}, axis=-1",
            "value",
        )


def _sum_bound(ctx: Ctx, ref_sums: np.ndarray) -> float:
    return 2 * float(np.max(np.abs(ref_sums - 1), initial=0.0)) + 4 * ctx.eps + ctx.tolerance.atol


def check_sums_to_one(ctx: Ctx) -> None:
    for x in [*value_inputs(), np.array([[0.0, -np.inf, 2.0, -np.inf]])]:
        out = ctx.softmax(x)
        sums = np.sum(out, axis=-1)
        bound = _sum_bound(ctx, np.sum(ctx.reference_softmax(x), axis=-1))
        err = np.abs(sums - 1)
        err = np.where(np.isnan(err), np.inf, err)
        if np.max(err) > bound:
            row = int(np.argmax(err)) if err.ndim else 0
            raise PropertyFailed(
                f"row {row} sums to {np.ravel(sums)[row]:.8g} (|sum − 1| "
                f"{np.max(err):.3g} > {bound:.3g})",
                f"x = {show(x)}",
                float(np.max(err)),
                bound,
            )


def _extreme_inputs() -> list[np.ndarray]:
    return [
        grid(rng("nonneg"), (4, 9)),
        np.array([[-1000.0, -1001.0, -1002.0], [1000.0, 999.0, 998.0], [0.0, -np.inf, 1.0]]),
        np.array([[-30.0, 0.0, -60.0, -90.0, -120.0]]),
    ]


def check_non_negative(ctx: Ctx) -> None:
    for x in _extreme_inputs():
        out = ctx.softmax(x)
        if np.isnan(out).any() or (out < 0).any():
            bad = np.argwhere(np.isnan(out) | (out < 0))[0]
            raise PropertyFailed(
                f"output {out[tuple(bad)]:.6g} at index {tuple(int(i) for i in bad)}"
                " is negative or NaN",
                f"x = {show(x)}",
            )


def check_non_positive(ctx: Ctx) -> None:
    for x in _extreme_inputs():
        out = ctx.softmax(x)
        if np.isnan(out).any() or (out > 0).any():
            bad = np.argwhere(np.isnan(out) | (out > 0))[0]
            raise PropertyFailed(
                f"output {out[tuple(bad)]:.6g} at index {tuple(int(i) for i in bad)}"
                " is positive or NaN",
                f"x = {show(x)}",
            )


NEG_INF_INPUTS = (
    np.array([[0.0, -np.inf, 1.0, -np.inf, 2.0]]),
    np.array([[-np.inf, 3.0, -np.inf], [2.0, 2.0, -np.inf]]),
    # finite scores below −10⁴: a −∞ replaced by a "large" negative number takes the weight
    np.array([[-np.inf, -29952.0, -30080.0, -np.inf]]),
)


def check_zero_at_neg_inf(ctx: Ctx) -> None:
    for x in NEG_INF_INPUTS:
        xr = ctx.rounded(x)
        out = ctx.softmax(x)
        where = np.isneginf(x)
        inputs = f"x = {show(x)}"
        target = -np.inf if ctx.subject.kind == "log-softmax" else 0.0
        if not (out[where] == target).all():
            raise PropertyFailed(
                f"a −∞ score got {out[where][out[where] != target][0]:.6g}, not exactly {target}",
                inputs,
            )
        ctx.compare(
            out, exact(ctx.subject.kind, xr), ctx.reference_softmax(x), inputs, "value beside −∞"
        )


def check_shift_invariance(ctx: Ctx) -> None:
    x = np.round(rng("shift").uniform(-4, 4, (3, 6)) * 2) / 2
    base = ctx.softmax(x)
    for c in (1000.0, 100.0, 8.0, -8.0):
        if not np.array_equal(ctx.rounded(x + c), x + c):
            continue  # x + c is not exact in this dtype: no longer the same input, shifted
        shifted = ctx.softmax(x + c)
        expected = base  # softmax and log-softmax are both invariant
        bound = 2 * ctx.bound(exact(ctx.subject.kind, x), 0.0)
        with np.errstate(invalid="ignore"):
            err = np.abs(shifted - expected)
        err = np.where(np.isnan(err), np.inf, err)
        if (err > bound).any():
            i = np.unravel_index(int(np.argmax(err - bound)), err.shape)
            raise PropertyFailed(
                f"f(x + {c:g}) differs from f(x) at {tuple(int(j) for j in i)}: "
                f"{shifted[i]:.8g} vs {expected[i]:.8g}",
                f"x = {show(x)}, shifted by {c:g}",
                float(err[i]),
                float(bound[i]),
            )


def _offset_rows(center: float, length: int = 5) -> np.ndarray:
    base = np.array([[0.0, -1.0, -2.0, -3.0, -0.5], [-8.0, -4.0, 0.0, -4.0, -1.5]])
    if length != 5:
        base = np.round(rng(f"offsets-{length}").uniform(-8, 0, (2, length)) * 2) / 2
    return center + base


def check_large_scores(ctx: Ctx) -> None:
    for center, length in ((1000.0, 5), (8000.0, 5), (1000.0, 40)):
        x = _offset_rows(center, length)
        out = ctx.softmax(x)
        inputs = f"x = {show(x)}"
        if not np.isfinite(out).all():
            raise PropertyFailed(
                f"large scores (around {center:g}) give a non-finite output "
                f"{out[~np.isfinite(out)][0]}",
                inputs,
            )
        ctx.compare(
            out, exact(ctx.subject.kind, ctx.rounded(x)), ctx.reference_softmax(x), inputs, "value"
        )


def check_very_negative(ctx: Ctx) -> None:
    for center, length in ((-1000.0, 5), (-8000.0, 5), (-1000.0, 40)):
        x = _offset_rows(center, length)
        out = ctx.softmax(x)
        inputs = f"x = {show(x)}"
        if np.isnan(out).any() or np.isinf(out).any():
            raise PropertyFailed(
                f"very negative scores (around {center:g}) give {out[~np.isfinite(out)][0]}", inputs
            )
        ctx.compare(
            out, exact(ctx.subject.kind, ctx.rounded(x)), ctx.reference_softmax(x), inputs, "value"
        )


def _axis_check(ctx: Ctx, cases: list[tuple[tuple[int, ...], int]]) -> None:
    r = rng("axis")
    for shape, axis in cases:
        x = grid(r, shape)
        out = ctx.softmax(x, axis=axis)
        ctx.compare(
            out,
            exact(ctx.subject.kind, ctx.rounded(x), axis),
            ctx.reference_softmax(x, axis),
            f"x = {show(x)}, axis={axis}",
            f"axis={axis} on shape {shape}",
        )


def check_axis_last(ctx: Ctx) -> None:
    _axis_check(ctx, [((2, 3, 5), -1), ((2, 3, 5), 2), ((2, 2, 2, 6), 3), ((3, 4), 1)])


def check_axis_non_last(ctx: Ctx) -> None:
    _axis_check(
        ctx, [((4, 3), 0), ((2, 3, 5), 1), ((2, 3, 5), -2), ((4, 2, 3), 0), ((2, 2, 2, 6), -3)]
    )


def _kind_and_device(ctx: Ctx, x: Any, out: Any, inputs: str) -> None:
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
    if tuple(out.shape) != tuple(x.shape if ctx.subject.kind != "attention" else out.shape):
        raise PropertyFailed(
            f"output shape {tuple(out.shape)}, input shape {tuple(x.shape)}", inputs
        )
    if str(out.dtype).removeprefix("torch.") != ctx.dtype:
        raise PropertyFailed(
            f"output dtype {str(out.dtype).removeprefix('torch.')} for "
            f"{ctx.dtype} input (no silent up- or downcast)",
            inputs,
        )


def check_shape_and_dtype(ctx: Ctx) -> None:
    r = rng("shape")
    for shape in ((6,), (3, 5), (2, 3, 4), (1, 1)):
        x = ctx.arr(grid(r, shape))
        out = ctx.softmax_raw(x)
        _kind_and_device(ctx, x, out, f"x of shape {shape}, axis=-1")


def _copy(a: Any) -> Any:
    return a.copy() if isinstance(a, np.ndarray) else a.clone()


def _identical(a: Any, b: Any) -> bool:
    return bool(np.array_equal(to64(a), to64(b), equal_nan=True))


def check_input_not_modified(ctx: Ctx) -> None:
    for values in (grid(rng("inplace"), (3, 7)), np.array([[0.0, -np.inf, 2.0, 1000.0]])):
        x = ctx.arr(values)
        before = _copy(x)
        ctx.softmax_raw(x)
        if not _identical(x, before):
            raise PropertyFailed(
                f"the input was modified: now {show(to64(x))}", f"x = {show(values)}"
            )


def check_deterministic(ctx: Ctx) -> None:
    x = grid(rng("determinism"), (4, 33))
    first, second = ctx.softmax(x), ctx.softmax(x)
    if not np.array_equal(first, second, equal_nan=True):
        i = np.argwhere(~((first == second) | (np.isnan(first) & np.isnan(second))))[0]
        raise PropertyFailed(
            f"two calls on the same input differ at {tuple(int(j) for j in i)}: "
            f"{first[tuple(i)]!r} vs {second[tuple(i)]!r}",
            f"x = {show(x)}",
        )


def check_batch_independence(ctx: Ctx) -> None:
    r = rng("batch")
    row = grid(r, (1, 7))
    alone = ctx.softmax(row)
    others = [
        np.vstack([row, grid(r, (2, 7))]),
        np.vstack([grid(r, (3, 7)) + 1000.0, row]),
        np.vstack([grid(r, (20, 7)) - 1000.0, row, grid(r, (11, 7)) + 1000.0]),
        np.vstack([row] * 9),
    ]
    for batch in others:
        out = ctx.softmax(batch)
        bound = 2 * ctx.bound(exact(ctx.subject.kind, ctx.rounded(row)), 0.0)
        where = [i for i in range(len(batch)) if np.array_equal(batch[i], row[0])]
        for i in where:
            with np.errstate(invalid="ignore"):
                err = np.abs(out[i] - alone[0])
            err = np.where(np.isnan(err), np.inf, err)
            if (err > bound[0]).any():
                j = int(np.argmax(err - bound[0]))
                raise PropertyFailed(
                    f"row {i} of a batch of {len(batch)} differs from the same row alone at "
                    f"column {j}: {out[i, j]:.8g} vs {alone[0, j]:.8g}",
                    f"row = {show(row[0])}; batch = {show(batch)}",
                    float(err[j]),
                    float(bound[0][j]),
                )


def _differentiable(ctx: Ctx) -> None:
    if ctx.subject.backend != "torch":
        raise Unsupported("numpy input: no autograd")


def check_gradient(ctx: Ctx) -> None:
    """d/dx of Σ g·f(x) against the closed form: softmax s: s ⊙ (g − Σ g s);
    log-softmax: g − softmax · Σ g."""
    _differentiable(ctx)
    torch = ctx.torch
    r = rng("gradient")
    x_values, g_values = grid(r, (3, 6)), grid(r, (3, 6), -1, 1)
    inputs = f"x = {show(x_values)}, upstream gradient g = {show(g_values)}"
    x = ctx.arr(x_values).requires_grad_(True)
    out = ctx.softmax_raw(x)
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        raise Unsupported("its output carries no autograd graph (not differentiable)")
    call_grad = _capture_backward(ctx, out, ctx.arr(g_values), x, inputs)
    xr, g = ctx.rounded(x_values), ctx.rounded(g_values)
    s = oracle.softmax(xr)
    if ctx.subject.kind == "log-softmax":
        closed = g - s * g.sum(axis=-1, keepdims=True)
        ref_fn = reference.log_softmax
    else:
        closed = s * (g - (g * s).sum(axis=-1, keepdims=True))
        ref_fn = reference.stable_softmax
    xref = ctx.arr(x_values).requires_grad_(True)
    (ref_fn(xref) * ctx.arr(g_values)).sum().backward()
    ctx.compare(call_grad, closed, to64(xref.grad), inputs, "gradient")


def _capture_backward(ctx: Ctx, out: Any, g: Any, x: Any, inputs: str) -> np.ndarray:
    from softmax_claimcheck.conformance.adapters import capture

    call = capture(lambda: (out * g).sum().backward())
    ctx._done(call, inputs)
    if x.grad is None:
        raise Unsupported("backward gave no gradient for the input")
    return to64(x.grad)


def _fully_masked_name(out_row: np.ndarray, uniform: np.ndarray) -> str:
    if np.isnan(out_row).all():
        return "nan"
    if (out_row == 0).all():
        return "zeros"
    if np.allclose(out_row, uniform, rtol=1e-2, atol=1e-3):
        return "uniform"
    if np.isneginf(out_row).all():
        return "-inf"
    return "other"


def _declared(ctx: Ctx, name: str, message: str, inputs: str) -> None:
    declared = ctx.subject.fully_masked
    if declared is not None and name != declared:
        raise PropertyFailed(f"{message}; declared --fully-masked {declared}", inputs)
    raise Behaviour(name, message, inputs)


def check_fully_masked_softmax(ctx: Ctx) -> None:
    x = np.array([[-np.inf, -np.inf, -np.inf, -np.inf], [0.0, 1.0, -np.inf, 2.0]])
    inputs = f"x = {show(x)}"
    try:
        out = ctx.softmax(x)
    except ImplementationRaised as raised:
        _declared(ctx, "raises", f"raises {raised.call.exception}", inputs)
        raise
    ctx.compare(
        out[1:],
        exact(ctx.subject.kind, ctx.rounded(x[1:])),
        ctx.reference_softmax(x[1:]),
        inputs,
        "the row beside the fully masked one",
    )
    uniform = np.full(4, 0.25)
    if ctx.subject.kind == "log-softmax":
        uniform = np.log(uniform)
    name = _fully_masked_name(out[0], uniform)
    _declared(ctx, name, f"an all −∞ row gives {name}: {show(out[0])}", inputs)


# -- log-softmax only ---------------------------------------------------------------------------
def check_logsumexp_zero(ctx: Ctx) -> None:
    for x in [*value_inputs(), np.array([[0.0, -np.inf, 1.0, 2.0]])]:
        out = ctx.softmax(x)
        with np.errstate(all="ignore"):
            top = np.max(out, axis=-1, keepdims=True)
            lse = (top + np.log(np.sum(np.exp(out - top), axis=-1, keepdims=True)))[..., 0]
        ref = ctx.reference_softmax(x)
        with np.errstate(all="ignore"):
            rtop = np.max(ref, axis=-1, keepdims=True)
            rlse = (rtop + np.log(np.sum(np.exp(ref - rtop), axis=-1, keepdims=True)))[..., 0]
        bound = _sum_bound(ctx, 1 + np.abs(rlse))
        err = np.where(np.isnan(lse), np.inf, np.abs(lse))
        if np.max(err) > bound:
            raise PropertyFailed(
                f"logsumexp of an output row is {np.ravel(lse)[np.argmax(err)]:.6g}"
                f", not 0 (bound {bound:.3g})",
                f"x = {show(x)}",
                float(np.max(err)),
                bound,
            )


def check_agrees_with_log_softmax(ctx: Ctx) -> None:
    x = np.array([[0.0, -5.0, -50.0, -100.0, -800.0], [3.0, 3.0, -3.0, 0.5, -20.0]])
    out = ctx.softmax(x)
    xr = ctx.rounded(x)
    with np.errstate(divide="ignore"):
        log_of_softmax = np.log(oracle.softmax(xr))
    finite = np.isfinite(log_of_softmax)
    ctx.compare(
        np.where(finite, out, 0.0),
        np.where(finite, log_of_softmax, 0.0),
        np.where(finite, ctx.reference_softmax(x), 0.0),
        f"x = {show(x)}",
        "log(softmax(x)) where finite",
    )


# -- attention properties -----------------------------------------------------------------------
def qkv(
    name: str,
    n: int = 3,
    m: int = 5,
    d: int = 4,
    dv: int | None = None,
    batch: tuple[int, ...] = (2, 2),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r = rng(name)
    return (
        grid(r, (*batch, n, d), -2, 2),
        grid(r, (*batch, m, d), -2, 2),
        grid(r, (*batch, m, dv or d), -2, 2),
    )


def _attend(
    ctx: Ctx, q: Any, k: Any, v: Any, what: str, conditioned: bool = False, **kw: Any
) -> np.ndarray:
    """Compare with the exact result. `conditioned`: scores so large that one rounding of a
    score (which kernels may do differently, e.g. scaling q and k before the product) moves the
    weights by up to eps·|score|; the bound then adds 2·eps·max|score|·max|v|."""
    out = ctx.attention(q, k, v, **kw)
    rq, rk, rv = ctx.rounded(q), ctx.rounded(k), ctx.rounded(v)
    ref = ctx.reference_attention(q, k, v, **kw)
    extra = 0.0
    if conditioned:
        scale = kw.get("scale") or 1 / math.sqrt(q.shape[-1])
        top = float(np.max(np.abs(rq @ np.swapaxes(rk, -1, -2)))) * scale
        extra = 2 * ctx.eps * top * float(np.max(np.abs(rv)))
    ctx.compare(
        out, exact_attention(rq, rk, rv, **kw), ref, attention_inputs(q, k, v, **kw), what, extra
    )
    return out


def check_attention_values(ctx: Ctx) -> None:
    _attend(ctx, *qkv("attention"), "output")
    _attend(ctx, *qkv("attention-long", n=9, m=17, batch=(1,)), "output")


def check_attention_shape_and_dtype(ctx: Ctx) -> None:
    q, k, v = (ctx.arr(a) for a in qkv("attention-shape", dv=6))
    out = ctx.attention_raw(q, k, v)
    inputs = f"q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}"
    expected = (*q.shape[:-1], v.shape[-1])
    if tuple(getattr(out, "shape", ())) != expected:
        raise PropertyFailed(
            f"output shape {tuple(getattr(out, 'shape', ()))}, expected {expected}", inputs
        )
    _kind_and_device(ctx, q, out, inputs)


def check_causal(ctx: Ctx) -> None:
    _attend(ctx, *qkv("causal", n=4, m=4), "causal output", causal=True)
    _attend(ctx, *qkv("causal-long", n=9, m=9, batch=(1,)), "causal output", causal=True)


def check_causal_lengths_differ(ctx: Ctx) -> None:
    for n, m in ((3, 5), (5, 3), (2, 7)):
        _attend(ctx, *qkv(f"causal-{n}-{m}", n=n, m=m), f"causal output, L={n} S={m}", causal=True)


def check_boolean_mask(ctx: Ctx) -> None:
    r = rng("mask")
    for n, m in ((3, 5), (4, 4)):
        mask = r.uniform(size=(n, m)) < 0.5
        mask[np.arange(n), r.integers(0, m, n)] = True  # every query may attend somewhere
        _attend(ctx, *qkv(f"mask-{n}-{m}", n=n, m=m), "masked output", mask=mask)


def check_custom_scale(ctx: Ctx) -> None:
    for scale in (0.3, 1.0):
        _attend(ctx, *qkv("scale"), f"output with scale={scale}", scale=scale)


def check_head_sizes_differ(ctx: Ctx) -> None:
    _attend(ctx, *qkv("dv", d=4, dv=6), "output with d_v=6, d_qk=4")
    _attend(ctx, *qkv("dv2", d=8, dv=3), "output with d_v=3, d_qk=8")


def _leak_inputs(masked_score: float, allowed_score: float) -> tuple[np.ndarray, ...]:
    """q·k/√4 = (q₀·k₀)/2 exactly: scores chosen per key; the last two keys are masked and
    carry values 1000, so any weight on them shows."""
    q = np.zeros((1, 1, 2, 4))
    q[..., 0] = 2.0
    k = np.zeros((1, 1, 5, 4))
    k[..., :3, 0] = allowed_score + np.array([0.0, -1.0, -2.0])
    k[..., 3:, 0] = masked_score
    v = grid(rng("leak"), (1, 1, 5, 4), -2, 2)
    v[..., 3:, :] = 1000.0
    return q, k, v


def check_no_leak(ctx: Ctx) -> None:
    mask = np.array([[True, True, True, False, False]] * 2)
    for masked, allowed in ((30000.0, 0.0), (-30000.0, -29000.0), (0.0, -30000.0)):
        q, k, v = _leak_inputs(masked, allowed)
        _attend(
            ctx,
            q,
            k,
            v,
            f"output with masked keys at score {masked:g} and allowed ones at {allowed:g}",
            conditioned=True,
            mask=mask,
        )


def check_attention_large_scores(ctx: Ctx) -> None:
    for allowed in (1000.0, -1000.0):
        q, k, v = _leak_inputs(allowed, allowed)
        out = ctx.attention(q, k, v)
        if not np.isfinite(out).all():
            raise PropertyFailed(
                f"scores around {allowed:g} give a non-finite output", attention_inputs(q, k, v)
            )
        _attend(ctx, q, k, v / 1000.0, f"output with scores around {allowed:g}", conditioned=True)


def check_attention_input_not_modified(ctx: Ctx) -> None:
    arrays = [ctx.arr(a) for a in qkv("attention-inplace")]
    before = [_copy(a) for a in arrays]
    ctx.attention_raw(*arrays)
    for name, a, b in zip("qkv", arrays, before, strict=True):
        if not _identical(a, b):
            raise PropertyFailed(f"{name} was modified", attention_inputs(*before))


def check_attention_deterministic(ctx: Ctx) -> None:
    q, k, v = qkv("attention-det", n=5, m=9)
    first, second = ctx.attention(q, k, v), ctx.attention(q, k, v)
    if not np.array_equal(first, second, equal_nan=True):
        raise PropertyFailed("two calls on the same input differ", attention_inputs(q, k, v))


def check_attention_batch_independence(ctx: Ctx) -> None:
    q, k, v = qkv("attention-batch", batch=(1, 1))
    alone = ctx.attention(q, k, v)
    oq, ok_, ov = qkv("attention-batch-others", batch=(3, 1))
    for position in (0, 2):
        bq, bk, bv = (
            np.concatenate([o[:position], a, o[position:]])
            for a, o in ((q, oq * 8), (k, ok_ * 8), (v, ov))
        )
        out = ctx.attention(bq, bk, bv)
        bound = 2 * ctx.bound(alone[0], 0.0)
        with np.errstate(invalid="ignore"):
            err = np.abs(out[position] - alone[0])
        err = np.where(np.isnan(err), np.inf, err)
        if (err > bound).any():
            raise PropertyFailed(
                f"batch element {position} of {len(bq)} differs from the same "
                f"element alone by {np.max(err):.3g}",
                attention_inputs(bq, bk, bv),
                float(np.max(err)),
            )


def check_attention_gradient(ctx: Ctx) -> None:
    """dQ, dK, dV of Σ g·out against autograd of the plain formula in float64."""
    _differentiable(ctx)
    torch = ctx.torch
    q_, k_, v_ = qkv("attention-grad", dv=3)
    g_ = grid(rng("attention-grad-g"), (*q_.shape[:-1], 3), -1, 1)
    inputs = attention_inputs(q_, k_, v_)
    leaves = [ctx.arr(a).requires_grad_(True) for a in (q_, k_, v_)]
    out = ctx.attention_raw(*leaves)
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        raise Unsupported("its output carries no autograd graph (not differentiable)")
    from softmax_claimcheck.conformance.adapters import capture

    ctx._done(capture(lambda: (out * ctx.arr(g_)).sum().backward()), inputs)
    exact64 = [torch.as_tensor(ctx.rounded(a)).requires_grad_(True) for a in (q_, k_, v_)]
    (plain_attention(*exact64) * torch.as_tensor(ctx.rounded(g_))).sum().backward()
    refs = [ctx.arr(a).requires_grad_(True) for a in (q_, k_, v_)]
    try:
        (plain_attention(*refs) * ctx.arr(g_)).sum().backward()
        ref_grads: list[Any] = [to64(r.grad) for r in refs]
    except Exception:
        ref_grads = [None, None, None]
    for name, leaf, e, ref in zip(("dQ", "dK", "dV"), leaves, exact64, ref_grads, strict=True):
        if leaf.grad is None:
            raise PropertyFailed(f"no gradient for {name[1]}", inputs)
        ctx.compare(to64(leaf.grad), to64(e.grad), ref, inputs, name)


def check_attention_fully_masked(ctx: Ctx) -> None:
    q, k, v = qkv("attention-fully-masked", n=3, m=4, batch=(1, 1))
    mask = np.array([[True, False, True, True], [False] * 4, [True, True, False, False]])
    inputs = attention_inputs(q, k, v, mask=mask)
    if "attn_mask" not in ctx.subject.supports:
        raise Unsupported("takes no `attn_mask` keyword")
    try:
        out = ctx.attention(q, k, v, mask=mask)
    except ImplementationRaised as raised:
        _declared(ctx, "raises", f"raises {raised.call.exception}", inputs)
        raise
    keep = [0, 2]
    rq, rk, rv = ctx.rounded(q), ctx.rounded(k), ctx.rounded(v)
    ctx.compare(
        out[..., keep, :],
        exact_attention(rq, rk, rv, mask=mask)[..., keep, :],
        None if (ref := ctx.reference_attention(q, k, v, mask=mask)) is None else ref[..., keep, :],
        inputs,
        "the rows beside the fully masked one",
    )
    name = _fully_masked_name(out[0, 0, 1], rv[0, 0].mean(axis=0))
    _declared(
        ctx, name, f"a query that may attend to no key gives {name}: {show(out[0, 0, 1])}", inputs
    )


# -- the catalogue ------------------------------------------------------------------------------
S, L, A = "softmax", "log-softmax", "attention"
SL = (S, L)
CATALOGUE: tuple[Property, ...] = (
    Property(
        "values",
        SL,
        "matches the exact oracle",
        "every output is within the dtype's tolerance of the exact (mpmath) result, on row "
        f"lengths {', '.join(map(str, VALUE_LENGTHS))}",
        check_values,
    ),
    Property(
        "sums-to-one",
        (S,),
        "sums to one",
        "each row of the output sums to 1 within the dtype's rounding",
        check_sums_to_one,
    ),
    Property(
        "non-negative",
        (S,),
        "non-negative",
        "no output is negative or NaN, on ordinary, huge and −∞ scores",
        check_non_negative,
    ),
    Property(
        "non-positive",
        (L,),
        "outputs ≤ 0",
        "no output is positive or NaN, on ordinary, huge and −∞ scores",
        check_non_positive,
    ),
    Property(
        "zero-at-neg-inf",
        SL,
        "exact zero weight at −∞",
        "a −∞ score gets exactly 0 (log-softmax: stays −∞), whatever the finite scores beside "
        "it (also below −10⁴)",
        check_zero_at_neg_inf,
    ),
    Property(
        "logsumexp-zero",
        (L,),
        "logsumexp of the output is 0",
        "log Σ exp(output) = 0 for every row",
        check_logsumexp_zero,
    ),
    Property(
        "agrees-with-log-softmax",
        (L,),
        "agrees with log(softmax) where finite",
        "equals log of the exact softmax wherever that is finite",
        check_agrees_with_log_softmax,
    ),
    Property(
        "shift-invariance",
        SL,
        "shift invariance",
        "f(x + c) = f(x) for c = 1000, 100, ±8 (where x + c is exact in the dtype)",
        check_shift_invariance,
    ),
    Property(
        "large-scores",
        SL,
        "large finite scores do not overflow",
        "scores around 1000 and 8000, on rows of 5 and 40, give the exact (finite) result",
        check_large_scores,
    ),
    Property(
        "very-negative-scores",
        SL,
        "very negative rows do not underflow to NaN",
        "scores around −1000 and −8000, on rows of 5 and 40, give the exact (finite) result",
        check_very_negative,
    ),
    Property(
        "axis-last",
        SL,
        "last axis of N-D input",
        "the softmax is taken along the requested last axis (as −1 and as a positive index)",
        check_axis_last,
    ),
    Property(
        "axis-non-last",
        SL,
        "non-last axis of N-D input",
        "the softmax is taken along a requested axis that is not the last",
        check_axis_non_last,
    ),
    Property(
        "shape-and-dtype",
        SL,
        "output shape, dtype, kind and device equal the input's",
        "no silent upcast or downcast; numpy in, numpy out; tensor in, tensor on the same "
        "device out",
        check_shape_and_dtype,
    ),
    Property(
        "input-not-modified",
        SL,
        "the input is not modified",
        "the caller's array is bitwise unchanged after the call",
        check_input_not_modified,
    ),
    Property(
        "deterministic",
        SL,
        "same input, same output",
        "two calls on the same input give bitwise equal outputs",
        check_deterministic,
    ),
    Property(
        "batch-independence",
        SL,
        "rows are independent",
        "a row's result does not depend on the other rows of the batch",
        check_batch_independence,
    ),
    Property(
        "gradient",
        SL,
        "gradient matches the closed form",
        "autograd's gradient equals the closed form (softmax: s ⊙ (g − Σgs); log-softmax: "
        "g − s·Σg) within the calibrated tolerance",
        check_gradient,
    ),
    Property(
        "fully-masked-row",
        SL,
        "fully masked row (behaviour)",
        "what an all −∞ row gives (nan, zeros, uniform, ...) is recorded; it fails only "
        "against --fully-masked, and the other rows must stay right",
        check_fully_masked_softmax,
    ),
    # attention
    Property(
        "values",
        (A,),
        "matches the exact oracle",
        "softmax(QKᵀ/√d)·V within the dtype's tolerance of the exact result",
        check_attention_values,
    ),
    Property(
        "shape-and-dtype",
        (A,),
        "output shape, dtype, kind and device",
        "output is (..., L, Ev) in the input's dtype, kind and device",
        check_attention_shape_and_dtype,
    ),
    Property(
        "causal",
        (A,),
        "causal masking",
        "is_causal=True: query i attends to keys j ≤ i",
        check_causal,
    ),
    Property(
        "causal-lengths-differ",
        (A,),
        "causal masking, L ≠ S",
        "is_causal=True with query and key lengths that differ: the top-left aligned mask "
        "tril(ones(L, S)), as SDPA documents",
        check_causal_lengths_differ,
    ),
    Property(
        "boolean-mask",
        (A,),
        "boolean mask (True = may attend)",
        "a boolean attn_mask of shape (L, S) keeps exactly the True positions",
        check_boolean_mask,
    ),
    Property(
        "custom-scale",
        (A,),
        "custom scale",
        "scale=0.3 and scale=1.0 replace 1/√d",
        check_custom_scale,
    ),
    Property(
        "head-sizes-differ",
        (A,),
        "d_qk ≠ d_v",
        "query/key head size 4 with value head size 6, and 8 with 3",
        check_head_sizes_differ,
    ),
    Property(
        "no-leak-from-masked-keys",
        (A,),
        "no leak from masked keys",
        "masked keys get no weight whatever their scores (±30000) and whatever the allowed "
        "keys' scores",
        check_no_leak,
    ),
    Property(
        "large-scores",
        (A,),
        "large and very negative scores",
        "scores around ±1000 give the exact (finite) result",
        check_attention_large_scores,
    ),
    Property(
        "input-not-modified",
        (A,),
        "inputs not modified",
        "q, k and v are bitwise unchanged",
        check_attention_input_not_modified,
    ),
    Property(
        "deterministic",
        (A,),
        "same input, same output",
        "two calls give bitwise equal outputs",
        check_attention_deterministic,
    ),
    Property(
        "batch-independence",
        (A,),
        "batch elements are independent",
        "a batch element's output does not depend on the others",
        check_attention_batch_independence,
    ),
    Property(
        "gradient",
        (A,),
        "dQ, dK, dV against float64",
        "autograd's dQ, dK, dV match float64 autograd of the exact formula within the "
        "calibrated tolerance",
        check_attention_gradient,
    ),
    Property(
        "fully-masked-row",
        (A,),
        "fully masked row (behaviour)",
        "what a query that may attend to no key gives (nan, zeros, uniform) is recorded; it "
        "fails only against --fully-masked",
        check_attention_fully_masked,
    ),
)


def catalogue(kind: str) -> list[Property]:
    return [p for p in CATALOGUE if kind in p.kinds]
