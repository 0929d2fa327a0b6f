"""Library kernels as implementations under test, adapted to the registry's signatures.

softmax / log-softmax: fn(x, axis=-1). attention: fn(q, k, v, *, allowed=None, causal=False),
scores scaled by 1/sqrt(d_k), `allowed` a boolean (n, m) mask True where attention may go.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from functools import cache
from typing import Any

from softmax_claimcheck.impl.attention import causal_allowed
from softmax_claimcheck.impl.unsupported import NotSupported

SDPA_BACKENDS = {
    "math": "MATH",
    "flash": "FLASH_ATTENTION",
    "efficient": "EFFICIENT_ATTENTION",
    "cudnn": "CUDNN_ATTENTION",
}
# Messages torch raises when the selected SDPA backend has no kernel for the input.
_NO_KERNEL = ("No available kernel", "No viable backend")


def torch_softmax(x: Any, axis: int = -1) -> Any:
    import torch

    return torch.softmax(x, dim=axis)


def torch_log_softmax(x: Any, axis: int = -1) -> Any:
    import torch

    return torch.log_softmax(x, dim=axis)


# -- attention ----------------------------------------------------------------------------------
def _allowed_mask(q: Any, k: Any, allowed: Any, causal: bool) -> Any:
    """One boolean (n, m) mask from `allowed` and `causal`, or None when nothing is masked."""
    if causal:
        mask = causal_allowed(q.shape[-2], k.shape[-2], q)
        return mask if allowed is None else (mask & allowed)
    return allowed


def _as_batch(x: Any, heads: bool) -> Any:
    """(..., n, d) -> (batch, n, d), or (batch, 1, n, d) with a head axis."""
    flat = x.reshape(-1, x.shape[-2], x.shape[-1])
    return flat.unsqueeze(1) if heads else flat


def sdpa_attention(
    q: Any, k: Any, v: Any, *, allowed: Any = None, causal: bool = False, backend: str = "math"
) -> Any:
    """F.scaled_dot_product_attention with exactly one backend enabled (sdpa_kernel), so the
    named kernel is the one under test and torch cannot fall back to another one."""
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    chosen = getattr(SDPBackend, SDPA_BACKENDS[backend])
    # A causal mask alone goes in as is_causal (the only mask some kernels take); any other
    # mask as a boolean attn_mask, which has our meaning: True where attention may go.
    if allowed is None:
        kwargs: dict[str, Any] = {"is_causal": causal}
    else:
        kwargs = {"attn_mask": _allowed_mask(q, k, allowed, causal)}
    with warnings.catch_warnings(record=True) as caught:
        # torch warns why a kernel was not used: that becomes the skip reason when the one
        # enabled kernel cannot run; when it ran, the diagnostics say nothing about the result.
        warnings.simplefilter("always")
        try:
            with sdpa_kernel(chosen):
                out = F.scaled_dot_product_attention(
                    _as_batch(q, True), _as_batch(k, True), _as_batch(v, True), **kwargs
                )
        except RuntimeError as exc:
            if not any(text in str(exc) for text in _NO_KERNEL):
                raise
            why = "; ".join(_first_line(w.message) for w in caught) or str(exc).split(". ")[0]
            raise NotSupported(
                f"torch {torch.__version__} has no SDPA {backend} kernel for this input on "
                f"{q.device.type}/{str(q.dtype).removeprefix('torch.')}: {why}"
            ) from None
    return out.reshape(*q.shape[:-1], v.shape[-1])


def _first_line(message: Any) -> str:
    text = str(message)
    # torch appends "(Triggered internally at <path>)"; keep the reason only.
    return text.split(" (Triggered internally")[0].splitlines()[0].strip()


def sdpa(backend: str) -> Callable[..., Any]:
    """The SDPA adapter with `backend` fixed, named for the report."""

    def attention(q: Any, k: Any, v: Any, *, allowed: Any = None, causal: bool = False) -> Any:
        return sdpa_attention(q, k, v, allowed=allowed, causal=causal, backend=backend)

    attention.__name__ = attention.__qualname__ = f"sdpa_{backend}_attention"
    attention.__doc__ = f"F.scaled_dot_product_attention, only the {backend} backend enabled."
    return attention


def sdpa_available(backend: str) -> Callable[[str, str], str | None]:
    """Probe: does this backend run a tiny attention (4 queries, head size 8) on device/dtype?"""

    def available(device: str, dtype: str) -> str | None:
        import torch

        q = torch.ones(1, 4, 8, device=device, dtype=getattr(torch, dtype))
        try:
            sdpa_attention(q, q, q, backend=backend)
        except NotSupported as exc:
            return str(exc)
        return None

    return available


def multihead_attention(
    q: Any, k: Any, v: Any, *, allowed: Any = None, causal: bool = False
) -> Any:
    """nn.MultiheadAttention, one head, identity in/out projections and no bias: it then
    computes plain softmax(QKᵀ/√d_k)·V. Its mask means the opposite of ours (True = blocked)."""
    d = q.shape[-1]
    if k.shape[-1] != d or v.shape[-1] != d:
        raise NotSupported(
            f"identity projections need d_k = d_v = embed_dim; got q {d}, k {k.shape[-1]}, "
            f"v {v.shape[-1]}"
        )
    module = _identity_multihead(d, q.dtype, q.device)
    mask = _allowed_mask(q, k, allowed, causal)
    out, _ = module(
        _as_batch(q, False),
        _as_batch(k, False),
        _as_batch(v, False),
        attn_mask=None if mask is None else ~mask,
        need_weights=False,
    )
    return out.reshape(q.shape)


@cache
def _identity_multihead(d: int, dtype: Any, device: Any) -> Any:
    import torch

    module = torch.nn.MultiheadAttention(
        d, num_heads=1, bias=False, batch_first=True, device=device, dtype=dtype
    )
    eye = torch.eye(d, device=device, dtype=dtype)
    with torch.no_grad():
        module.in_proj_weight.copy_(torch.cat([eye, eye, eye]))
        module.out_proj.weight.copy_(eye)
    module.requires_grad_(False)
    return module.eval()


# What torch raises when a kernel has no version for a dtype: the dispatch macros'
# '"addmm_impl_cpu_" not implemented for 'Half'' (NotImplementedError in torch 2.13, RuntimeError
# in older releases) and linalg's 'Low precision dtypes not supported. Got BFloat16'.
_NO_KERNEL_FOR_DTYPE = re.compile(r"not implemented for '\w+'|dtypes? not supported")


def multihead_available(device: str, dtype: str) -> str | None:
    """Probe: can nn.MultiheadAttention run in this dtype on this device? Only a missing kernel
    for the dtype is a reason to skip; any other error is a bug here and is raised."""
    import torch

    q = torch.ones(1, 2, 4, device=device, dtype=getattr(torch, dtype))
    try:
        multihead_attention(q, q, q)
    except (RuntimeError, NotImplementedError) as exc:
        if not _NO_KERNEL_FOR_DTYPE.search(str(exc)):
            raise
        return f"nn.MultiheadAttention does not run on {device}/{dtype}: {_first_line(exc)}"
    return None


# -- torch.compile ------------------------------------------------------------------------------
def _softmax_last_axis(rows: Any) -> Any:
    import torch

    return torch.softmax(rows, dim=-1)


@cache
def _compiled_kernel() -> Callable[..., Any]:
    """Compiled once per process; inductor then builds one graph per dtype and device.
    dynamic=True keeps row lengths and counts symbolic, so new shapes do not recompile."""
    import torch

    return torch.compile(_softmax_last_axis, dynamic=True)


def _compile_limits() -> Any:
    """The checks ask for 12 variants (4 dtypes × plain, one-column, gradient), past dynamo's
    default recompile limit of 8, beyond which it silently runs the function eagerly: the
    evidence would then not be about the compiled kernel. Raised for these calls only, and a hit
    raises instead (an error of this implementation, shown as such) rather than running eagerly."""
    import torch._dynamo

    wanted = {"recompile_limit": 64, "cache_size_limit": 64, "fail_on_recompile_limit_hit": True}
    config = torch._dynamo.config
    present: dict[str, Any] = {k: v for k, v in wanted.items() if hasattr(config, k)}
    if "recompile_limit" in present:  # cache_size_limit is its older alias
        present.pop("cache_size_limit", None)
    return config.patch(**present)


def compiled_softmax(x: Any, axis: int = -1) -> Any:
    """torch.softmax through torch.compile (inductor). Every input goes in as a contiguous 2-D
    batch of at least two rows, since dynamo specialises sizes 0 and 1 and guards strides: a
    single vector or a softmax along another axis would otherwise cost another compile."""
    import torch

    moved = x.movedim(axis, -1)
    rows = moved.reshape(-1, moved.shape[-1]).contiguous()  # strides are guarded too
    count = rows.shape[0]
    if count == 1:
        rows = torch.cat([rows, torch.zeros_like(rows)])
    with warnings.catch_warnings():
        # Inductor advises enabling TF32 on Ampere+ GPUs; a softmax has no matmul to speed up.
        warnings.filterwarnings("ignore", message="TensorFloat32 tensor cores")
        # torch.compile's own internals warn in some releases (torch 2.11 on an H200: "
        # `torch.jit.script_method` is deprecated"): the library's housekeeping, not the kernel's
        # result, so it must not turn the check into a crash under -W error.
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        with _compile_limits():
            out = _compiled_kernel()(rows)
    return out[:count].reshape(moved.shape).movedim(-1, axis)
