"""Our own Triton kernels, registered as implementations under test: what a fused-kernel author
would run through the conformance checks.

* `triton-softmax-fused`: one program per row, the whole row in registers (rows up to
  FUSED_MAX_COLS; longer rows go through the online kernel with large blocks).
* `triton-softmax-online`: streams each row in column blocks keeping a running max and a
  rescaled running sum (the FlashAttention recurrence), then writes exp(x − max) / sum.
* `triton-attention-flash`: a flash-style attention forward pass (query blocks × key blocks,
  online softmax over key blocks, never forming the n×m matrix), in SDPA's calling convention:
  is_causal, a boolean or an additive float attn_mask, a custom scale, enable_gqa.

What the kernels return (documented behaviour, checked in tests/kernels/test_triton_kernels.py):
* They compute in float32 whatever the input dtype (float32, float16, bfloat16) and store the
  result in the input dtype. float64 is not offered: a float32 kernel cannot meet float64's bar.
* −∞ scores get weight exactly 0, also when a whole column block (the first one included) is −∞:
  the running max stays −∞ and the kernels shift by 0 instead, so no −∞ − (−∞) = NaN arises.
* A fully masked row (every score −∞, or every key disallowed) returns zeros, not NaN: zero
  weights, and for attention a zero output vector. The exact softmax of such a row is undefined.
* NaN or +∞ among the scores gives NaN for the row, as torch.softmax does.
* The softmax kernels are differentiable (a Triton backward kernel, dx = y ⊙ (dy − Σ dy ⊙ y));
  the attention kernel is forward-only and says so (NotSupported) when a gradient is asked for.

Where they run: Triton decides once per process, when `triton` is first imported: with
TRITON_INTERPRET=1 set before that, every @triton.jit function (Triton's own tl.max and tl.sum
included) runs under Triton's interpreter, in numpy on CPU tensors, one program after another
(slow: small shapes only); without it they compile for the GPU. The registry lists our
implementations on "cpu" in the first case and on "cuda" in the second, so
`TRITON_INTERPRET=1 pytest tests/checks` runs every conformance check on them without a GPU.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import triton
import triton.language as tl
from triton.runtime.jit import JITFunction

from softmax_claimcheck.impl.attention import grouped_heads, no_dropout, one_mask_only
from softmax_claimcheck.impl.model import Implementation
from softmax_claimcheck.impl.unsupported import NotSupported

DTYPES = ("float32", "float16", "bfloat16")
# The longest row the fused kernel keeps in registers: at 32768 columns and 32 warps ptxas
# (sm_90) needs no stack (no spills); at 65536 it spills. Checked by the sm_90 compile test.
FUSED_MAX_COLS = 32768
ONLINE_MIN_BLOCK = 2  # a row of 3 values still streams in two blocks: the recurrence is tested
ONLINE_MAX_BLOCK = 4096
INTERPRETER_TILE = 1 << 16  # values per program under the interpreter (rows × block)


# True when triton was imported with TRITON_INTERPRET=1: its own tl.max is then interpreted too.
INTERPRETED = not isinstance(tl.standard.max, JITFunction)
TRITON_VERSION = tuple(int(p) for p in triton.__version__.split("+")[0].split(".")[:2])


def _interpreter_loop_bounds_compat() -> bool:
    """Triton before 3.7: its interpreter turns a tensor used as a loop bound (`range(0, n, B)`
    with n a kernel argument, which the interpreter holds as a 1-element array) into an int by
    `int(array)`: a TypeError under numpy ≥ 2.4 (a DeprecationWarning, an error under our
    filterwarnings, with 2.3). Triton 3.7 converts `int(array.squeeze())`; we give the older
    interpreter the same conversion. Compiled kernels are untouched: this is only the
    interpreter's Python-side `__index__` of a scalar tensor. Returns whether it applied."""
    if not INTERPRETED or TRITON_VERSION >= (3, 7):
        return False
    from triton.runtime import interpreter

    original = getattr(interpreter, "_patch_lang_tensor", None)
    if original is None or getattr(original, "_claimcheck_compat", False):
        return False

    def patch_lang_tensor(tensor: Any, scope: Any) -> None:
        original(tensor, scope)
        scope.set_attr(tensor, "__index__", lambda self: int(self.handle.data.reshape(-1)[0]))

    patch_lang_tensor._claimcheck_compat = True  # type: ignore[attr-defined]
    interpreter._patch_lang_tensor = patch_lang_tensor
    return True


INTERPRETER_COMPAT = _interpreter_loop_bounds_compat()


# -- kernels -------------------------------------------------------------------------------------
@triton.jit
def softmax_fused_kernel(
    out_ptr, in_ptr, in_row_stride, out_row_stride, n_rows, n_cols,
    ROWS: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    """ROWS rows per program (1 on a GPU), each padded with −∞ to BLOCK and loaded once: max,
    exp, sum and the division all happen in registers."""
    rows = tl.program_id(0).to(tl.int64) * ROWS + tl.arange(0, ROWS)
    cols = tl.arange(0, BLOCK)
    inside = (rows < n_rows)[:, None] & (cols < n_cols)[None, :]
    x = tl.load(
        in_ptr + rows[:, None] * in_row_stride + cols[None, :], mask=inside, other=float("-inf")
    ).to(tl.float32)
    row_max = tl.max(x, axis=1)
    shift = tl.where(row_max == float("-inf"), 0.0, row_max)  # fully masked row: shift by 0
    e = tl.exp(x - shift[:, None])
    total = tl.sum(e, axis=1)[:, None]
    weights = tl.where(total == 0, 0.0, e / tl.where(total == 0, 1.0, total))  # NaN stays NaN
    tl.store(
        out_ptr + rows[:, None] * out_row_stride + cols[None, :],
        weights.to(out_ptr.dtype.element_ty),
        mask=inside,
    )


@triton.jit
def softmax_online_kernel(
    out_ptr, in_ptr, in_row_stride, out_row_stride, n_rows, n_cols,
    ROWS: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    """Two passes over column blocks. Pass 1 keeps, in each of the BLOCK lanes, a running max m
    and a rescaled running sum s ← s·exp(m_old − m_new) + exp(x − m_new); the lanes are merged
    once at the end (M = max m, S = Σ s·exp(m − M)), so no block needs a cross-lane reduction.
    Pass 2 writes exp(x − M) / S."""
    rows = tl.program_id(0).to(tl.int64) * ROWS + tl.arange(0, ROWS)
    row_inside = (rows < n_rows)[:, None]
    cols = tl.arange(0, BLOCK)[None, :]
    source = in_ptr + rows[:, None] * in_row_stride + cols
    target = out_ptr + rows[:, None] * out_row_stride + cols
    lane_max = tl.full([ROWS, BLOCK], float("-inf"), tl.float32)
    lane_sum = tl.zeros([ROWS, BLOCK], tl.float32)
    for start in range(0, n_cols, BLOCK):
        inside = row_inside & (cols < n_cols - start)
        x = tl.load(source + start, mask=inside, other=float("-inf")).to(tl.float32)
        new_max = tl.maximum(lane_max, x)
        shift = tl.where(new_max == float("-inf"), 0.0, new_max)  # all −∞ so far: shift by 0
        lane_sum = lane_sum * tl.exp(lane_max - shift) + tl.exp(x - shift)
        lane_max = new_max
    row_max = tl.max(lane_max, axis=1)
    shift = tl.where(row_max == float("-inf"), 0.0, row_max)[:, None]
    total = tl.sum(lane_sum * tl.exp(lane_max - shift), axis=1)[:, None]
    scale = tl.where(total == 0, 0.0, 1.0 / tl.where(total == 0, 1.0, total))  # NaN stays NaN
    for start in range(0, n_cols, BLOCK):
        inside = row_inside & (cols < n_cols - start)
        x = tl.load(source + start, mask=inside, other=float("-inf")).to(tl.float32)
        weights = tl.exp(x - shift) * scale
        tl.store(target + start, weights.to(out_ptr.dtype.element_ty), mask=inside)


@triton.jit
def softmax_backward_kernel(
    grad_in_ptr, out_ptr, grad_out_ptr, row_stride, n_rows, n_cols,
    ROWS: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    """The softmax gradient from the saved output y: dx = y ⊙ (dy − Σ dy ⊙ y), two passes over
    column blocks (all three tensors are contiguous (rows, n) matrices)."""
    rows = tl.program_id(0).to(tl.int64) * ROWS + tl.arange(0, ROWS)
    row_inside = (rows < n_rows)[:, None]
    cols = tl.arange(0, BLOCK)[None, :]
    offsets = rows[:, None] * row_stride + cols
    lane_dot = tl.zeros([ROWS, BLOCK], tl.float32)
    for start in range(0, n_cols, BLOCK):
        inside = row_inside & (cols < n_cols - start)
        y = tl.load(out_ptr + offsets + start, mask=inside, other=0.0).to(tl.float32)
        dy = tl.load(grad_out_ptr + offsets + start, mask=inside, other=0.0).to(tl.float32)
        lane_dot += y * dy
    dot = tl.sum(lane_dot, axis=1)[:, None]
    for start in range(0, n_cols, BLOCK):
        inside = row_inside & (cols < n_cols - start)
        y = tl.load(out_ptr + offsets + start, mask=inside, other=0.0).to(tl.float32)
        dy = tl.load(grad_out_ptr + offsets + start, mask=inside, other=0.0).to(tl.float32)
        grad_in = (y * (dy - dot)).to(grad_in_ptr.dtype.element_ty)
        tl.store(grad_in_ptr + offsets + start, grad_in, mask=inside)


@triton.jit
def attention_forward_kernel(
    q_ptr, k_ptr, v_ptr, out_ptr, allowed_ptr, bias_ptr,
    n_queries, n_keys, head_dim, value_dim, scale,
    stride_qb, stride_qn, stride_kb, stride_kn, stride_vb, stride_vn,
    stride_ob, stride_on, stride_ab, stride_an, stride_bb, stride_bn,
    CAUSAL: tl.constexpr, HAS_MASK: tl.constexpr, HAS_BIAS: tl.constexpr,
    DOT_PRECISION: tl.constexpr, DOT_IN_FP32: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_DV: tl.constexpr,
):  # fmt: skip
    """One program per (batch, query block), numbered along grid axis 0 (which takes up to
    2^31 − 1 programs; axes 1 and 2 stop at 65,535): scores for one key block at a time, online
    softmax over key blocks (running max, rescaled sum and rescaled output accumulator).
    Offsets are 64-bit: n·d, m·d or n·m may pass 2^31 within one batch entry.
    DOT_IN_FP32 upcasts the dot operands (after rounding p to v's dtype, as a tensor-core dot
    sees it): the interpreter's bfloat16 dot would multiply the raw bits. HAS_MASK reads a
    boolean mask (int8, nonzero = may attend), HAS_BIAS a float32 mask added to the scores
    (SDPA's float attn_mask)."""
    program = tl.program_id(0).to(tl.int64)
    n_blocks = tl.cdiv(n_queries, BLOCK_M)
    batch = program // n_blocks
    block = program % n_blocks
    rows = block * BLOCK_M + tl.arange(0, BLOCK_M).to(tl.int64)
    dims = tl.arange(0, BLOCK_D)
    value_dims = tl.arange(0, BLOCK_DV)
    row_inside = rows < n_queries
    q = tl.load(
        q_ptr + batch * stride_qb + rows[:, None] * stride_qn + dims[None, :],
        mask=row_inside[:, None] & (dims[None, :] < head_dim),
        other=0.0,
    )
    if DOT_IN_FP32:
        q = q.to(tl.float32)
    running_max = tl.full([BLOCK_M], float("-inf"), tl.float32)
    running_sum = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, BLOCK_DV], tl.float32)
    end = n_keys
    if CAUSAL:  # keys after the block's last query are never allowed: skip their blocks
        end = tl.minimum(n_keys, (block + 1) * BLOCK_M)
    for start in range(0, end, BLOCK_N):
        cols = start + tl.arange(0, BLOCK_N).to(tl.int64)
        col_inside = cols < n_keys
        k = tl.load(
            k_ptr + batch * stride_kb + cols[:, None] * stride_kn + dims[None, :],
            mask=col_inside[:, None] & (dims[None, :] < head_dim),
            other=0.0,
        )
        if DOT_IN_FP32:
            k = k.to(tl.float32)
        scores = tl.dot(q, tl.trans(k), input_precision=DOT_PRECISION) * scale
        allowed = row_inside[:, None] & col_inside[None, :]
        if CAUSAL:
            allowed = allowed & (cols[None, :] <= rows[:, None])
        if HAS_MASK:
            given = tl.load(
                allowed_ptr + batch * stride_ab + rows[:, None] * stride_an + cols[None, :],
                mask=allowed,
                other=0,
            )
            allowed = allowed & (given != 0)
        if HAS_BIAS:
            scores += tl.load(
                bias_ptr + batch * stride_bb + rows[:, None] * stride_bn + cols[None, :],
                mask=allowed,
                other=0.0,
            )
        scores = tl.where(allowed, scores, float("-inf"))
        new_max = tl.maximum(running_max, tl.max(scores, axis=1))
        shift = tl.where(new_max == float("-inf"), 0.0, new_max)  # row all −∞ so far
        p = tl.exp(scores - shift[:, None])
        rescale = tl.exp(running_max - shift)
        running_sum = running_sum * rescale + tl.sum(p, axis=1)
        v = tl.load(
            v_ptr + batch * stride_vb + cols[:, None] * stride_vn + value_dims[None, :],
            mask=col_inside[:, None] & (value_dims[None, :] < value_dim),
            other=0.0,
        )
        p_rounded = p.to(v_ptr.dtype.element_ty)
        if DOT_IN_FP32:
            v = v.to(tl.float32)
            p_rounded = p_rounded.to(tl.float32)
        acc = acc * rescale[:, None] + tl.dot(p_rounded, v, input_precision=DOT_PRECISION)
        running_max = new_max
    no_weight = running_sum == 0  # a fully masked row: its output is zeros (NaN stays NaN)
    out = tl.where(no_weight[:, None], 0.0, acc / tl.where(no_weight, 1.0, running_sum)[:, None])
    tl.store(
        out_ptr + batch * stride_ob + rows[:, None] * stride_on + value_dims[None, :],
        out.to(out_ptr.dtype.element_ty),
        mask=row_inside[:, None] & (value_dims[None, :] < value_dim),
    )


KERNELS = {
    k.fn.__name__: k
    for k in (
        softmax_fused_kernel,
        softmax_online_kernel,
        softmax_backward_kernel,
        attention_forward_kernel,
    )
}


def _launch(kernel: Any, grid: tuple[int, ...], *args: Any, **options: Any) -> None:
    """Launch on the tensors' device. The interpreter takes no num_warps/num_stages."""
    if INTERPRETED:
        kernel[grid](*args)
    else:
        kernel[grid](*args, **options)


# -- launchers ------------------------------------------------------------------------------------
def _check_dtype(*tensors: torch.Tensor) -> None:
    for t in tensors:
        if str(t.dtype).removeprefix("torch.") not in DTYPES:
            raise TypeError(f"our Triton kernels take {', '.join(DTYPES)}, not {t.dtype}")


def _as_rows(x: torch.Tensor, axis: int) -> tuple[torch.Tensor, Callable[[torch.Tensor], Any]]:
    """x with `axis` moved last, as a contiguous (rows, n) matrix, and the way back."""
    _check_dtype(x)
    if x.dim() == 0:
        return x.reshape(1, 1), lambda out: out.reshape(())
    moved = x.movedim(axis, -1).contiguous()
    shape = moved.shape
    rows = moved.reshape(math.prod(shape[:-1]), shape[-1])
    return rows, lambda out: out.reshape(shape).movedim(-1, axis)


def row_warps(block: int) -> int:
    """Warps for one row program: enough threads that a long row fits in registers."""
    return 32 if block >= 32768 else 16 if block >= 8192 else 8 if block >= 2048 else 4


def rows_per_program(n_rows: int, block: int) -> int:
    """1 on a GPU (one program per row). The interpreter runs programs one after another in
    Python, so there a program takes many rows at once (numpy then works on the whole tile)."""
    if not INTERPRETED:
        return 1
    return max(1, min(triton.next_power_of_2(n_rows), INTERPRETER_TILE // block))


def online_block(n_cols: int) -> int:
    """A power of two ≥ n/2, so every row of more than 2 values (up to 8192) streams in two
    blocks: enough to exercise the rescaling on the checks' small rows, while each block under
    the interpreter costs a Python-level loop iteration."""
    wanted = triton.next_power_of_2(max(1, math.ceil(n_cols / 2)))
    return max(ONLINE_MIN_BLOCK, min(ONLINE_MAX_BLOCK, wanted))


def _launch_rows(kernel: Any, rows: torch.Tensor, out: torch.Tensor, block: int) -> None:
    """A row-wise softmax kernel over a contiguous (rows, n) matrix."""
    n_rows, n_cols = rows.shape
    per_program = rows_per_program(n_rows, block)
    _launch(
        kernel, (triton.cdiv(n_rows, per_program),), out, rows, rows.stride(0), out.stride(0),
        n_rows, n_cols, per_program, block, num_warps=row_warps(block),
    )  # fmt: skip


def _online_rows(rows: torch.Tensor, block: int | None = None) -> torch.Tensor:
    out = torch.empty_like(rows)
    if rows.numel():
        _launch_rows(softmax_online_kernel, rows, out, block or online_block(rows.shape[1]))
    return out


def _fused_rows(rows: torch.Tensor, max_cols: int = FUSED_MAX_COLS) -> torch.Tensor:
    if rows.shape[1] > max_cols:
        return _online_rows(rows, ONLINE_MAX_BLOCK)
    out = torch.empty_like(rows)
    if rows.numel():
        _launch_rows(softmax_fused_kernel, rows, out, triton.next_power_of_2(rows.shape[1]))
    return out


class _RowSoftmax(torch.autograd.Function):
    """Our forward kernel, and softmax_backward_kernel for the gradient."""

    @staticmethod
    def forward(ctx: Any, rows: torch.Tensor, forward: Callable[..., torch.Tensor]) -> Any:
        out = forward(rows)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> Any:
        (out,) = ctx.saved_tensors
        grad_out = grad_out.contiguous()
        grad_in = torch.empty_like(out)
        n_rows, n_cols = out.shape
        if out.numel():
            block = min(ONLINE_MAX_BLOCK, triton.next_power_of_2(n_cols))
            per_program = rows_per_program(n_rows, block)
            _launch(
                softmax_backward_kernel, (triton.cdiv(n_rows, per_program),), grad_in, out,
                grad_out, out.stride(0), n_rows, n_cols, per_program, block,
                num_warps=row_warps(block),
            )  # fmt: skip
        return grad_in, None


def softmax_online(x: torch.Tensor, axis: int = -1, block: int | None = None) -> torch.Tensor:
    """Softmax along `axis` by the block-wise online kernel (differentiable)."""
    rows, back = _as_rows(x, axis)
    return back(_RowSoftmax.apply(rows, lambda r: _online_rows(r, block)))


def softmax_fused(
    x: torch.Tensor, axis: int = -1, *, max_cols: int = FUSED_MAX_COLS
) -> torch.Tensor:
    """Softmax along `axis`, the whole row in one program's registers; rows longer than
    `max_cols` stream through the online kernel in ONLINE_MAX_BLOCK blocks instead
    (differentiable)."""
    rows, back = _as_rows(x, axis)
    return back(_RowSoftmax.apply(rows, lambda r: _fused_rows(r, max_cols)))


@dataclass(frozen=True)
class AttentionBlocks:
    m: int  # queries per program
    n: int  # keys per step
    num_warps: int
    num_stages: int


def attention_blocks(on_gpu: bool, head_dim: int, dtype: torch.dtype) -> AttentionBlocks:
    """GPU: the usual flash tiles for float16/bfloat16 (tensor cores); smaller ones for float32,
    whose IEEE dots run on the FMA units. Interpreter: small tiles, so small test shapes still
    cross several key blocks (each program is a Python loop there)."""
    if not on_gpu:
        return AttentionBlocks(16, 16, 1, 1)
    if dtype == torch.float32:
        return AttentionBlocks(64, 32, 4, 2)
    if head_dim <= 64:
        return AttentionBlocks(128, 64, 4, 3)
    return AttentionBlocks(128, 64, 8, 2)


def attention_flash(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attn_mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
    *,
    blocks: AttentionBlocks | None = None,
) -> torch.Tensor:
    """softmax(QKᵀ·scale + mask)·V by the flash-style forward kernel, in SDPA's calling
    convention: query (..., n, d), key (..., m, d), value (..., m, d_v); `attn_mask` broadcasts to
    (..., n, m), boolean (True where query i may attend to key j) or float (added to the scores);
    `is_causal` allows j ≤ i (top-left aligned); `scale` defaults to 1/√d. A row with no allowed
    key gets 0. Forward only: asking for a gradient raises NotSupported (the check then skips,
    saying so); so does a dropout probability other than 0."""
    one_mask_only(attn_mask, is_causal)
    no_dropout(dropout_p, "our Triton attention kernel")
    key, value = grouped_heads(query, key, value, enable_gqa)
    q, k, v = query, key, value
    _check_dtype(q, k, v)
    if torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v)):
        raise NotSupported("our Triton attention kernel is forward-only: it has no backward pass")
    *batch_shape, n, d = q.shape
    m, d_v = k.shape[-2], v.shape[-1]
    batch = math.prod(batch_shape)
    q3, k3, v3 = (t.contiguous().reshape(batch, t.shape[-2], t.shape[-1]) for t in (q, k, v))
    out = torch.empty((batch, n, d_v), dtype=q.dtype, device=q.device)
    boolean = attn_mask is not None and attn_mask.dtype == torch.bool
    added = attn_mask is not None and not boolean
    mask = torch.ones((1, 1, 1), dtype=torch.int8, device=q.device)  # read only when boolean
    bias = torch.zeros((1, 1, 1), dtype=torch.float32, device=q.device)  # read only when added
    if attn_mask is not None:
        full = attn_mask.to(device=q.device).expand(*batch_shape, n, m).reshape(batch, n, m)
        if boolean:
            mask = full.to(torch.int8).contiguous()
        else:
            bias = full.to(torch.float32).contiguous()
    tiles = blocks or attention_blocks(q.is_cuda, d, q.dtype)
    upcast = INTERPRETED and q.dtype == torch.bfloat16
    if out.numel():
        grid = (triton.cdiv(n, tiles.m) * batch,)  # one axis: any batch fits
        _launch(
            attention_forward_kernel, grid, q3, k3, v3, out, mask, bias, n, m, d, d_v,
            1.0 / math.sqrt(d) if scale is None else float(scale),
            q3.stride(0), q3.stride(1), k3.stride(0), k3.stride(1), v3.stride(0), v3.stride(1),
            out.stride(0), out.stride(1), mask.stride(0), mask.stride(1),
            bias.stride(0), bias.stride(1),
            is_causal, boolean, added,
            "ieee" if upcast or q.dtype == torch.float32 else "tf32",
            upcast,
            tiles.m, tiles.n, max(16, triton.next_power_of_2(d)),
            max(16, triton.next_power_of_2(d_v)),
            num_warps=tiles.num_warps, num_stages=tiles.num_stages,
        )  # fmt: skip
    return out.reshape(*batch_shape, n, d_v)


# -- registration ---------------------------------------------------------------------------------
def triton_implementations() -> list[Implementation]:
    """Our kernels as implementations: on "cuda", or on "cpu" under TRITON_INTERPRET=1."""
    devices = ("cpu",) if INTERPRETED else ("cuda",)
    return [
        Implementation(
            "triton-softmax-fused",
            "softmax",
            "torch",
            softmax_fused,
            devices,
            DTYPES,
            "our Triton kernel: one program per row, row in registers, float32 math",
            frozenset({"stable", "row-wise", "triton", "fused"}),
        ),
        Implementation(
            "triton-softmax-online",
            "softmax",
            "torch",
            softmax_online,
            devices,
            DTYPES,
            "our Triton kernel: running max and rescaled sum over column blocks",
            frozenset({"stable", "row-wise", "triton", "online"}),
        ),
        Implementation(
            "triton-attention-flash",
            "attention",
            "torch",
            attention_flash,
            devices,
            DTYPES,
            "our Triton flash-style forward: online softmax over key blocks; "
            "a fully masked row gives 0",
            frozenset({"masking", "triton", "fused"}),
        ),
    ]
