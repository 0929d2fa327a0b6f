"""Library kernels as implementations under test, adapted to the registry's signatures.

softmax / log-softmax: fn(x, axis=-1). attention: SDPA's calling convention, the one attention
convention (impl/attention.py): fn(query, key, value, attn_mask=None, dropout_p=0.0,
is_causal=False, scale=None, enable_gqa=False), a boolean attn_mask True where a query may attend.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from functools import cache
from typing import Any

from softmax_claimcheck.impl.attention import (
    grouped_heads,
    is_boolean,
    no_dropout,
    one_mask_only,
    sdpa_mask,
)
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


# -- attention: SDPA's calling convention (impl/attention.py) -------------------------------------
def _as_batch(x: Any, heads: int | None) -> Any:
    """(..., n, d) -> (batch, n, d) without a head axis (heads None), else (batch, heads, n, d):
    one head, or the input's own heads (axis −3) for grouped-query attention."""
    if heads is None:
        return x.reshape(-1, x.shape[-2], x.shape[-1])
    return x.reshape(-1, heads, x.shape[-2], x.shape[-1])


def _batched_mask(mask: Any, q: Any, k: Any, heads: int | None) -> Any:
    """A mask with batch axes broadcast to the query's batch and flattened as `_as_batch` does;
    an (L, S) mask (or none) as it is."""
    if mask is None or mask.dim() <= 2:
        return mask
    import torch

    full = torch.broadcast_to(mask, (*q.shape[:-1], k.shape[-2]))
    return _as_batch(full, heads)


def sdpa_attention(
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
    *,
    backend: str = "math",
) -> Any:
    """F.scaled_dot_product_attention with exactly one backend enabled (sdpa_kernel), so the
    named kernel is the one under test and torch cannot fall back to another one. The arguments
    are SDPA's own and pass through; the input is flattened to the 4-D batch the kernels take."""
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    one_mask_only(attn_mask, is_causal)
    chosen = getattr(SDPBackend, SDPA_BACKENDS[backend])
    heads = query.shape[-3] if enable_gqa else 1
    kv_heads = key.shape[-3] if enable_gqa else 1
    # A causal mask alone goes in as is_causal (the only mask some kernels take).
    kwargs: dict[str, Any] = (
        {"is_causal": is_causal}
        if attn_mask is None
        else {"attn_mask": _batched_mask(attn_mask, query, key, heads)}
    )
    if dropout_p:
        kwargs["dropout_p"] = dropout_p
    if scale is not None:
        kwargs["scale"] = scale
    if enable_gqa:
        kwargs["enable_gqa"] = True
    with warnings.catch_warnings(record=True) as caught:
        # torch warns why a kernel was not used: that becomes the skip reason when the one
        # enabled kernel cannot run; when it ran, the diagnostics say nothing about the result.
        warnings.simplefilter("always")
        try:
            with sdpa_kernel(chosen):
                out = F.scaled_dot_product_attention(
                    _as_batch(query, heads),
                    _as_batch(key, kv_heads),
                    _as_batch(value, kv_heads),
                    **kwargs,
                )
        except RuntimeError as exc:
            if not any(text in str(exc) for text in _NO_KERNEL):
                raise
            why = "; ".join(_first_line(w.message) for w in caught) or str(exc).split(". ")[0]
            raise NotSupported(
                f"torch {torch.__version__} has no SDPA {backend} kernel for this input on "
                f"{query.device.type}/{str(query.dtype).removeprefix('torch.')}: {why}"
            ) from None
    return out.reshape(*query.shape[:-1], value.shape[-1])


def _first_line(message: Any) -> str:
    text = str(message)
    # torch appends "(Triggered internally at <path>)"; keep the reason only.
    return text.split(" (Triggered internally")[0].splitlines()[0].strip()


def sdpa(backend: str) -> Callable[..., Any]:
    """The SDPA adapter with `backend` fixed, named for the report."""

    def attention(
        query: Any,
        key: Any,
        value: Any,
        attn_mask: Any = None,
        dropout_p: float = 0.0,
        is_causal: bool = False,
        scale: float | None = None,
        enable_gqa: bool = False,
    ) -> Any:
        return sdpa_attention(
            query,
            key,
            value,
            attn_mask,
            dropout_p,
            is_causal,
            scale,
            enable_gqa,
            backend=backend,
        )

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
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Any:
    """nn.MultiheadAttention, one head, identity in/out projections and no bias: it then
    computes plain softmax(QKᵀ/√d_k + mask)·V. Its boolean mask means the opposite of SDPA's
    (True = blocked), so ours is inverted; a float mask is added, as in SDPA. The module always
    scales by 1/√d_k and has no dropout here: another scale or dropout is not supported."""
    no_dropout(dropout_p, "nn.MultiheadAttention (dropout=0)")
    if scale is not None:
        raise NotSupported("nn.MultiheadAttention always scales the scores by 1/√d_k")
    d = query.shape[-1]
    if key.shape[-1] != d or value.shape[-1] != d:
        raise NotSupported(
            f"identity projections need d_k = d_v = embed_dim; got q {d}, k {key.shape[-1]}, "
            f"v {value.shape[-1]}"
        )
    key, value = grouped_heads(query, key, value, enable_gqa)
    mask = _batched_mask(sdpa_mask(query, key, attn_mask, is_causal), query, key, None)
    if mask is not None and is_boolean(mask):
        mask = ~mask
    module = _identity_multihead(d, query.dtype, query.device)
    out, _ = module(
        _as_batch(query, None),
        _as_batch(key, None),
        _as_batch(value, None),
        attn_mask=mask,
        need_weights=False,
    )
    return out.reshape(query.shape)


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
