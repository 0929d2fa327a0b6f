"""Our Triton kernels (impl/triton_kernels.py) against impl.reference, the −∞ cases included, and
built for an sm_90 GPU (H100) by Triton's bundled ptxas without a GPU present.

Triton fixes its mode for the whole process when it is first imported: interpreted
(TRITON_INTERPRET=1, the kernels run in numpy on CPU tensors) or compiled (CUDA tensors). Each test
below needs one mode; `test_the_other_mode_in_a_child_process` runs this file again in the other
mode, so one pytest run covers both: correctness under the interpreter and the sm_90 build on a
CPU machine, correctness on the GPU itself on a CUDA runner.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip(
    "triton", reason="triton is not installed (an optional extra: pip install -e '.[triton]')"
)
import torch

from softmax_claimcheck.claimcheck.tolerance import numeric_tolerance
from softmax_claimcheck.impl import attention, reference
from softmax_claimcheck.impl import triton_kernels as tk
from softmax_claimcheck.impl.unsupported import NotSupported

DEVICE = "cpu" if tk.INTERPRETED else "cuda"
OTHER_MODE = "compiled" if tk.INTERPRETED else "interpreted"
CHILD_FLAG = "CLAIMCHECK_TRITON_CHILD"
NEG_INF = float("-inf")

needs_kernel_device = pytest.mark.skipif(
    DEVICE == "cuda" and not torch.cuda.is_available(),
    reason="triton is in compiled mode and there is no CUDA device; the interpreted run "
    "(test_the_other_mode_in_a_child_process) checks the kernels on CPU",
)
needs_compiler = pytest.mark.skipif(
    tk.INTERPRETED,
    reason="triton was imported with TRITON_INTERPRET=1 and cannot compile here; the compiled "
    "run (test_the_other_mode_in_a_child_process) builds the sm_90 kernels",
)
SOFTMAX_KERNELS = {"fused": tk.softmax_fused, "online": tk.softmax_online}


def _on_device(values: np.ndarray, dtype: str) -> torch.Tensor:
    return torch.as_tensor(values, dtype=torch.float64).to(DEVICE, getattr(torch, dtype))


def _float64(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to("cpu", torch.float64)


def _assert_close(measured: torch.Tensor, exact: torch.Tensor, bound: float, what: str) -> None:
    error = float((measured - exact).abs().max()) if exact.numel() else 0.0
    assert error <= bound, f"{what}: max |measured − exact| = {error:.3g} > {bound:.3g}"


def _softmax_bound(dtype: str, exact: torch.Tensor) -> float:
    tol = numeric_tolerance(dtype)
    return tol.bound(float(exact.abs().max()))


# -- softmax kernels ------------------------------------------------------------------------------
SHAPES = {  # (shape, axis): rows of 1 value, several blocks, a batch, a non-last axis, long rows
    "one-value": ((3, 1), -1),
    "short-rows": ((4, 7), -1),
    "batch-of-rows": ((2, 3, 37), -1),
    "axis-0": ((19, 5), 0),
    "long-row": ((2, 600), -1),
}


@needs_kernel_device
@pytest.mark.parametrize("dtype", tk.DTYPES)
@pytest.mark.parametrize("kernel", SOFTMAX_KERNELS)
def test_softmax_kernel_matches_reference(kernel, dtype):
    rng = np.random.default_rng(7)
    for name, (shape, axis) in SHAPES.items():
        x = _on_device(rng.normal(0, 4, shape), dtype)
        out = SOFTMAX_KERNELS[kernel](x, axis=axis)
        exact = reference.stable_softmax(_float64(x), axis=axis)  # on the inputs as rounded
        assert out.dtype == x.dtype and out.shape == x.shape
        bound = _softmax_bound(dtype, exact)
        _assert_close(_float64(out), exact, bound, f"{kernel} {dtype} {name}")


@needs_kernel_device
@pytest.mark.parametrize("dtype", tk.DTYPES)
def test_fused_kernel_hands_long_rows_to_the_online_kernel(dtype):
    x = _on_device(np.random.default_rng(8).normal(0, 4, (2, 40)), dtype)
    out = tk.softmax_fused(x, max_cols=16)  # 40 > 16: the online kernel, 4096-column blocks
    exact = reference.stable_softmax(_float64(x))
    _assert_close(_float64(out), exact, _softmax_bound(dtype, exact), "fused → online")


def _rows_with_minus_infinity(n: int, block: int) -> np.ndarray:
    """Rows the −∞ handling must get right (the block is the online kernel's column block)."""
    rng = np.random.default_rng(9)
    first_block_masked = rng.normal(0, 3, n)
    first_block_masked[:block] = NEG_INF
    first_block_and_more = rng.normal(0, 3, n)
    first_block_and_more[: block + 3] = NEG_INF
    scattered = rng.normal(0, 3, n)
    scattered[::3] = NEG_INF
    last_only = np.full(n, NEG_INF)
    last_only[-1] = 2.0
    fully_masked = np.full(n, NEG_INF)
    return np.stack([first_block_masked, first_block_and_more, scattered, last_only, fully_masked])


@needs_kernel_device
@pytest.mark.parametrize("dtype", tk.DTYPES)
@pytest.mark.parametrize("kernel", SOFTMAX_KERNELS)
def test_softmax_kernel_with_minus_infinity(kernel, dtype):
    n = 16
    rows = _rows_with_minus_infinity(n, tk.online_block(n))
    out = _float64(SOFTMAX_KERNELS[kernel](_on_device(rows, dtype)))
    finite = torch.as_tensor(rows[:-1])
    exact = reference.masked_softmax(finite, torch.isfinite(finite))
    assert not out.isnan().any(), f"NaN leaked: {out}"
    assert (out[:-1][torch.isinf(finite)] == 0).all(), "a −∞ score got a non-zero weight"
    _assert_close(out[:-1], exact, _softmax_bound(dtype, exact), f"{kernel} rows with −∞")
    assert (out[-1] == 0).all(), f"a fully masked row gives zeros (documented), got {out[-1]}"


@needs_kernel_device
def test_online_kernel_many_blocks_all_minus_infinity_first():
    """Six of eight 4-column blocks are −∞ before the first finite score."""
    row = np.full((1, 32), NEG_INF)
    row[0, 24:] = np.arange(8.0)
    out = _float64(tk.softmax_online(_on_device(row, "float32"), block=4))
    exact = reference.masked_softmax(torch.as_tensor(row), torch.isfinite(torch.as_tensor(row)))
    _assert_close(out, exact, _softmax_bound("float32", exact), "online, blocks of −∞ first")


@needs_kernel_device
@pytest.mark.parametrize("kernel", SOFTMAX_KERNELS)
def test_nan_or_plus_infinity_gives_a_nan_row(kernel):
    rows = np.array([[0.0, np.inf, 1.0, 2.0, 3.0], [0.0, np.nan, 1.0, 2.0, 3.0], [0, 1, 2, 3, 4]])
    with np.errstate(all="ignore"):  # the interpreter computes inf − inf in numpy
        out = _float64(SOFTMAX_KERNELS[kernel](_on_device(rows, "float32")))
    assert out[:2].isnan().all(), f"documented: NaN or +∞ gives a NaN row, got {out[:2]}"
    assert not out[2].isnan().any()


@needs_kernel_device
@pytest.mark.parametrize("dtype", tk.DTYPES)
@pytest.mark.parametrize("kernel", SOFTMAX_KERNELS)
def test_softmax_kernel_gradient(kernel, dtype):
    """The backward kernel against dx = y ⊙ (dy − Σ dy ⊙ y) in float64, along a non-last axis."""
    rng = np.random.default_rng(10)
    x = _on_device(rng.normal(0, 3, (3, 23, 2)), dtype).requires_grad_(True)
    upstream = rng.normal(0, 1, (3, 23, 2))
    out = SOFTMAX_KERNELS[kernel](x, axis=1)
    (out * _on_device(upstream, dtype)).sum().backward()
    y = reference.stable_softmax(_float64(x), axis=1)
    dy = _float64(_on_device(upstream, dtype))
    exact = y * (dy - (dy * y).sum(dim=1, keepdim=True))
    bound = numeric_tolerance(dtype).bound(float(dy.abs().max()))
    _assert_close(_float64(x.grad), exact, bound, f"{kernel} gradient {dtype}")


@needs_kernel_device
def test_attention_kernel_refuses_a_gradient():
    q, k, v = _qkv((1,), 4, 4, 8, 8, "float32")
    with pytest.raises(NotSupported, match="forward-only"):
        tk.attention_flash(q.requires_grad_(True), k, v)


# -- attention kernel ---------------------------------------------------------------------------
def _qkv(batch: tuple[int, ...], n: int, m: int, d: int, d_v: int, dtype: str, seed: int = 11):
    rng = np.random.default_rng(seed)
    return (
        _on_device(rng.normal(0, 1.5, (*batch, n, d)), dtype),
        _on_device(rng.normal(0, 1.5, (*batch, m, d)), dtype),
        _on_device(rng.normal(0, 1.0, (*batch, m, d_v)), dtype),
    )


def _attention_bound(q, k, v, exact, dtype: str, **sdpa) -> float:
    """FlashAttention's rule: at most 2× the error of the plain reference run in the same dtype
    and device, plus the dtype's absolute floor."""
    plain = _float64(attention.reference_attention(q, k, v, **sdpa))
    keep = ~exact.isnan()
    plain_error = float((plain[keep] - exact[keep]).abs().max())
    return 2 * plain_error + numeric_tolerance(dtype).atol


ATTENTION_SHAPES = {  # batch, n queries, m keys, d, d_v: not multiples of the 16-wide blocks
    "full-4d-n<m": ((1, 2), 20, 35, 16, 12),
    "causal-n>m": ((2,), 37, 29, 8, 5),
}


@needs_kernel_device
@pytest.mark.parametrize("dtype", tk.DTYPES)
@pytest.mark.parametrize("shape_name", ATTENTION_SHAPES)
def test_attention_kernel_matches_reference(shape_name, dtype):
    causal = shape_name.startswith("causal")
    q, k, v = _qkv(*ATTENTION_SHAPES[shape_name], dtype)
    out = tk.attention_flash(q, k, v, is_causal=causal)
    exact = attention.reference_attention(_float64(q), _float64(k), _float64(v), is_causal=causal)
    assert out.dtype == q.dtype and out.shape == exact.shape
    bound = _attention_bound(q, k, v, exact, dtype, is_causal=causal)
    _assert_close(_float64(out), exact, bound, f"attention {dtype} causal={causal}")


def _mask_with_hard_rows(n: int, m: int) -> np.ndarray:
    """Random allowed-mask plus: row 0 allows nothing; row 1 only keys past the first 16-key
    block (its first block is all −∞); row 2 only the last key."""
    allowed = np.random.default_rng(12).random((n, m)) < 0.6
    allowed[0] = False
    allowed[1] = False
    allowed[1, 17::2] = True
    allowed[2] = False
    allowed[2, -1] = True
    return allowed


MASK_CASES = [(dtype, False) for dtype in tk.DTYPES] + [("float32", True)]


@needs_kernel_device
@pytest.mark.parametrize(("dtype", "causal"), MASK_CASES, ids=lambda v: str(v))
def test_attention_kernel_with_masked_rows(dtype, causal):
    n, m = 36, 36
    q, k, v = _qkv((1,), n, m, 8, 8, dtype, seed=13)
    allowed = _mask_with_hard_rows(n, m)
    if causal:  # rows 1 and 2 need keys ≤ their index under causal: give row 20 the hard row
        allowed[20] = False
        allowed[20, 17:20] = True
        allowed &= np.tril(np.ones((n, m), dtype=bool))  # SDPA's convention: one mask
    mask = torch.as_tensor(allowed, device=DEVICE)
    out = _float64(tk.attention_flash(q, k, v, attn_mask=mask))
    exact = attention.reference_attention(
        _float64(q), _float64(k), _float64(v), attn_mask=torch.as_tensor(allowed)
    )
    none_allowed = exact.isnan().any(dim=-1)  # the reference gives NaN for such rows
    assert none_allowed[:, 0].all(), "row 0 allows no key"
    assert not out.isnan().any(), "NaN leaked from a masked row"
    assert (out[none_allowed] == 0).all(), "a row with no allowed key gives 0 (documented)"
    bound = _attention_bound(q, k, v, exact, dtype, attn_mask=mask)
    _assert_close(out[~none_allowed], exact[~none_allowed], bound, f"masked attention {dtype}")


@needs_kernel_device
@pytest.mark.parametrize("dtype", tk.DTYPES)
def test_attention_kernel_takes_the_rest_of_sdpas_convention(dtype):
    """An additive float mask (−∞ entries included, a fully masked row among them), a custom
    scale and grouped-query heads, against the reference in float64."""
    n, m, d = 20, 35, 8
    q, k, v = _qkv((1, 4), n, m, d, d, dtype, seed=15)
    k, v = k[:, :2], v[:, :2]  # 4 query heads share 2 key/value heads
    rng = np.random.default_rng(16)
    added = np.where(rng.random((n, m)) < 0.3, NEG_INF, rng.normal(0, 2, (n, m)))
    added[0] = NEG_INF
    mask = _on_device(added, dtype)  # SDPA: a float mask in the query's dtype
    sdpa = {"attn_mask": mask, "scale": 0.3, "enable_gqa": True}
    out = _float64(tk.attention_flash(q, k, v, **sdpa))
    exact = attention.reference_attention(
        _float64(q), _float64(k), _float64(v), **{**sdpa, "attn_mask": _float64(mask)}
    )
    assert out.shape == exact.shape == (1, 4, n, d)
    assert (out[..., 0, :] == 0).all(), "a fully masked row gives 0 (documented)"
    keep = ~exact.isnan().any(dim=-1)
    bound = _attention_bound(q, k, v, exact, dtype, **sdpa)
    _assert_close(out[keep], exact[keep], bound, f"float mask, scale, gqa {dtype}")


@needs_kernel_device
def test_attention_kernel_refuses_what_it_cannot_do():
    q, k, v = _qkv((1,), 4, 4, 8, 8, "float32")
    with pytest.raises(NotSupported, match="dropout"):
        tk.attention_flash(q, k, v, dropout_p=0.1)
    with pytest.raises(ValueError, match="one mask"):
        tk.attention_flash(q, k, v, attn_mask=torch.ones(4, 4, dtype=torch.bool), is_causal=True)


# -- registration -------------------------------------------------------------------------------
def test_registered_on_the_device_of_this_mode():
    from softmax_claimcheck.impl.registry import Registry

    registry = Registry.builtin()

    ours = {i.id: i for i in tk.triton_implementations()}
    assert set(ours) == {"triton-softmax-fused", "triton-softmax-online", "triton-attention-flash"}
    for implementation in ours.values():
        assert implementation.devices == (DEVICE,)
        assert implementation.dtypes == tk.DTYPES  # no float64: the kernels compute in float32
        assert registry.get(implementation.id).devices == (DEVICE,)


# -- the sm_90 build ----------------------------------------------------------------------------
SM90_BUILDS = {  # kernel, pointer dtype, constexprs, num_warps, num_stages
    "fused-fp32-longest-row": (
        "softmax_fused_kernel",
        "fp32",
        {"ROWS": 1, "BLOCK": tk.FUSED_MAX_COLS},
        tk.row_warps(tk.FUSED_MAX_COLS),
        3,
    ),
    "online-bf16": (
        "softmax_online_kernel",
        "bf16",
        {"ROWS": 1, "BLOCK": tk.ONLINE_MAX_BLOCK},
        tk.row_warps(tk.ONLINE_MAX_BLOCK),
        3,
    ),
    "backward-fp16": (
        "softmax_backward_kernel",
        "fp16",
        {"ROWS": 1, "BLOCK": tk.ONLINE_MAX_BLOCK},
        tk.row_warps(tk.ONLINE_MAX_BLOCK),
        3,
    ),
}
for _name, _dtype, _torch_dtype, _d, _causal, _mask, _bias in [
    ("attention-fp16-causal-d64", "fp16", torch.float16, 64, True, False, False),
    ("attention-bf16-mask-d128", "bf16", torch.bfloat16, 128, False, True, False),
    ("attention-fp16-float-mask-d64", "fp16", torch.float16, 64, False, False, True),
]:
    _tiles = tk.attention_blocks(True, _d, _torch_dtype)
    SM90_BUILDS[_name] = (
        "attention_forward_kernel",
        _dtype,
        {
            "CAUSAL": _causal,
            "HAS_MASK": _mask,
            "HAS_BIAS": _bias,
            "DOT_PRECISION": "ieee" if _dtype == "fp32" else "tf32",
            "DOT_IN_FP32": False,
            "BLOCK_M": _tiles.m,
            "BLOCK_N": _tiles.n,
            "BLOCK_D": _d,
            "BLOCK_DV": _d,
        },
        _tiles.num_warps,
        _tiles.num_stages,
    )


def _signature(kernel, pointee: str, constexprs: dict) -> dict[str, str]:
    def kind(name: str) -> str:
        if name in constexprs:
            return "constexpr"
        if name == "allowed_ptr":
            return "*i8"
        if name == "bias_ptr":
            return "*fp32"
        if name.endswith("_ptr"):
            return "*" + pointee
        return "fp32" if name == "scale" else "i32"

    return {name: kind(name) for name in kernel.arg_names}


def _resource_usage(cubin: bytes, tmp_path: Path) -> dict[str, int]:
    """Registers, stack and local memory per thread, from the bundled cuobjdump."""
    import triton

    path = tmp_path / "kernel.cubin"
    path.write_bytes(cubin)
    tool = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"
    text = subprocess.run(
        [str(tool), "-res-usage", str(path)], capture_output=True, text=True, check=True
    ).stdout
    return {key: int(value) for key, value in re.findall(r"\b(REG|STACK|LOCAL):(\d+)", text)}


@needs_compiler
@pytest.mark.parametrize("build", SM90_BUILDS)
def test_kernel_builds_for_sm90(build, tmp_path, monkeypatch):
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    monkeypatch.setenv("TRITON_CACHE_DIR", str(tmp_path / "cache"))  # really build, here
    name, pointee, constexprs, num_warps, num_stages = SM90_BUILDS[build]
    kernel = tk.KERNELS[name]
    source = ASTSource(kernel, _signature(kernel, pointee, constexprs), constexprs=constexprs)
    compiled = triton.compile(
        source,
        target=GPUTarget("cuda", 90, 32),
        options={"num_warps": num_warps, "num_stages": num_stages},
    )
    assert ".target sm_90" in compiled.asm["ptx"]
    assert compiled.asm["cubin"], "ptxas produced no cubin"
    usage = _resource_usage(compiled.asm["cubin"], tmp_path)
    assert usage.get("REG", 0) > 0, f"no resource usage read from the cubin: {usage}"
    if name == "softmax_fused_kernel":  # "the whole row in registers": no spill to memory
        assert usage.get("STACK", 0) == 0 and usage.get("LOCAL", 0) == 0, (
            f"{tk.FUSED_MAX_COLS} float32 columns spill at {num_warps} warps: {usage}"
        )
    if name == "attention_forward_kernel" and pointee != "fp32":
        assert "mma" in compiled.asm["ptx"], "float16/bfloat16 dots should use tensor cores"


# -- the other mode -----------------------------------------------------------------------------
@pytest.mark.skipif(
    os.environ.get(CHILD_FLAG) == "1", reason="this is the child run of the other mode"
)
def test_the_other_mode_in_a_child_process():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    if not tk.INTERPRETED:
        env["TRITON_INTERPRET"] = "1"
    env[CHILD_FLAG] = "1"
    child = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            __file__,
            "-q",
            "-p",
            "no:cacheprovider",
            "-rs",
            "--no-reports",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        timeout=110,  # under pytest-timeout's 120 s
    )
    tail = (child.stdout + child.stderr)[-4000:]
    assert child.returncode == 0, f"the {OTHER_MODE} run failed:\n{tail}"
    passed = re.search(r"(\d+) passed", child.stdout)
    assert passed and int(passed.group(1)) > 0, f"the {OTHER_MODE} run passed nothing:\n{tail}"


# -- the box's triton, and grids ------------------------------------------------------------------
def test_interpreter_compat_applies_only_to_interpreted_triton_before_3_7():
    assert (tk.INTERPRETED and tk.TRITON_VERSION < (3, 7)) == tk.INTERPRETER_COMPAT


def test_attention_grid_is_one_axis_whatever_the_batch(monkeypatch):
    """Grid axes 1 and 2 stop at 65,535: (batch × query blocks) programs all go on axis 0."""
    grids = []
    monkeypatch.setattr(tk, "_launch", lambda kernel, grid, *a, **o: grids.append(grid))
    q = torch.zeros((70_000, 20, 8), device="meta", dtype=torch.float16)
    tk.attention_flash(q, q, q, blocks=tk.AttentionBlocks(16, 16, 1, 1))
    assert grids == [(70_000 * 2,)]
