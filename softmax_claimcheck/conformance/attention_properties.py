"""The attention properties (SDPA's calling convention): each takes a `Ctx` (harness.py) and
returns (holds) or raises how it ended."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from softmax_claimcheck.conformance.harness import (
    Ctx,
    ImplementationRaised,
    PropertyFailed,
    Unsupported,
    attention_inputs,
    copy_of,
    declared_behaviour,
    exact_attention,
    fully_masked_name,
    grid,
    identical,
    kind_and_device,
    no_gradient_path,
    plain_attention,
    require_autograd,
    rng,
    show,
    to64,
)


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
    kind_and_device(ctx, q, out, inputs)


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
    before = [copy_of(a) for a in arrays]
    ctx.attention_raw(*arrays)
    for name, a, b in zip("qkv", arrays, before, strict=True):
        if not identical(a, b):
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
    require_autograd(ctx)
    torch = ctx.torch
    q_, k_, v_ = qkv("attention-grad", dv=3)
    g_ = grid(rng("attention-grad-g"), (*q_.shape[:-1], 3), -1, 1)
    inputs = attention_inputs(q_, k_, v_)
    leaves = [ctx.arr(a).requires_grad_(True) for a in (q_, k_, v_)]
    out = ctx.attention_raw(*leaves)
    no_gradient_path(out, inputs)
    ctx.backward(out, ctx.arr(g_), inputs)
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
        declared_behaviour(ctx, "raises", f"raises {raised.call.exception}", inputs)
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
    name = fully_masked_name(out[0, 0, 1], rv[0, 0].mean(axis=0))
    declared_behaviour(
        ctx, name, f"a query that may attend to no key gives {name}: {show(out[0, 0, 1])}", inputs
    )
