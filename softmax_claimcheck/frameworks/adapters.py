"""Other frameworks' softmax, log-softmax and attention kernels in the conformance calling
convention, so the same properties (softmax_claimcheck/conformance/catalogue.py) judge them.

Every kernel is bridged as a *torch-convention* function: the conformance runner builds torch
tensors (which have all four dtypes, bfloat16 included), the bridge hands the framework the same
bits as its own array type (numpy, with ml_dtypes' bfloat16), calls the framework's kernel, and
gives its output back as a tensor of the dtype the framework returned (a silent upcast stays
visible). Nothing is computed by the bridge: reshapes and dtype-preserving copies only.

Frameworks are optional (`pip install 'softmax-claimcheck[frameworks]'`, CPU builds only). One
that cannot be imported is *not run, with its reason*, never passing. CUDA builds are out of
scope: every framework is forced onto its CPU backend (JAX_PLATFORMS=cpu, ONNX Runtime's
CPUExecutionProvider), and a request for another device is answered with that reason.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from softmax_claimcheck.impl.loading import LoadError, load_module

DTYPES = ("float64", "float32", "float16", "bfloat16")
INSTALL_HINT = "pip install 'softmax-claimcheck[frameworks]'"
CUDA_OUT_OF_SCOPE = (
    "CUDA builds of the frameworks are out of scope (CPU builds only; the GPU machines have none)"
)


@dataclass
class Kernel:
    """One kernel of a framework, adapted to the conformance convention."""

    id: str  # "jax.nn.softmax": also the name shown in the table
    kind: str  # softmax | log-softmax | attention
    build: Callable[[], Callable[..., Any]]  # imports the framework; returns the adapted function
    # (dtype) -> reason it cannot run in this dtype, or None; called once the framework imports
    dtype_reason: Callable[[str], str | None] = lambda dtype: None
    note: str = ""  # how it is called, shown under the table


@dataclass
class Framework:
    name: str  # "JAX"
    modules: tuple[str, ...]  # what must import (their versions go into the table's header)
    kernels: list[Kernel]
    reference: bool = False  # torch: the reference columns
    setup: Callable[[], None] = lambda: None  # e.g. enable x64 before the first kernel runs
    _reason: str | None = field(default=None, init=False)
    _checked: bool = field(default=False, init=False)

    def unavailable(self) -> str | None:
        """None when the framework imports; otherwise why it is not run."""
        if not self._checked:
            self._checked = True
            for module in self.modules:
                try:
                    load_module(module)
                except LoadError as exc:  # ImportError, or a broken install
                    self._reason = (
                        f"not installed: {module} cannot be imported ({exc}); {INSTALL_HINT}"
                    )
                    break
            else:
                self.setup()
        return self._reason

    def versions(self) -> dict[str, str]:
        if self.unavailable() is not None:
            return {}
        found = {}
        for module in self.modules:
            mod = load_module(module)
            found[module] = str(getattr(mod, "__version__", "?"))
        return found

    @staticmethod
    def device_reason(device: str) -> str | None:
        return None if device == "cpu" else CUDA_OUT_OF_SCOPE


# -- torch tensor <-> numpy with the same bits ---------------------------------------------------
def to_numpy(t: Any) -> np.ndarray:
    """The tensor's values as a numpy array of the same dtype (bfloat16 through ml_dtypes).
    It shares memory where torch allows, so an in-place write by the kernel stays visible."""
    import torch

    t = t.detach()
    if t.dtype == torch.bfloat16:
        import ml_dtypes

        return t.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return t.numpy()


def to_torch(a: Any) -> Any:
    """A framework's output back as a tensor of the dtype the framework returned."""
    import torch

    arr = np.asarray(a)
    if arr.dtype.name == "bfloat16":
        return torch.from_numpy(arr.view(np.int16).copy()).view(torch.bfloat16)
    return torch.from_numpy(np.array(arr, copy=True))


def _flatten_heads(q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: Any) -> tuple[Any, ...]:
    """SDPA's (..., L, E) arrays as (B, L, E) with B the product of the leading dims, and a
    boolean mask broadcast to (B, L, S)."""
    lead = q.shape[:-2]
    batch = math.prod(lead)
    n, m = q.shape[-2], k.shape[-2]
    q3 = q.reshape(batch, n, q.shape[-1])
    k3 = k.reshape(batch, m, k.shape[-1])
    v3 = v.reshape(batch, m, v.shape[-1])
    mask3 = None
    if mask is not None:
        mask3 = np.broadcast_to(np.asarray(mask, dtype=bool), (*lead, n, m)).reshape(batch, n, m)
    return lead, q3, k3, v3, mask3


# -- torch: the reference columns --------------------------------------------------------------
def _torch_softmax() -> Callable[..., Any]:
    import torch

    def softmax(x: Any, dim: int = -1) -> Any:
        return torch.softmax(x, dim=dim)

    return softmax


def _torch_log_softmax() -> Callable[..., Any]:
    import torch

    def log_softmax(x: Any, dim: int = -1) -> Any:
        return torch.log_softmax(x, dim=dim)

    return log_softmax


def _torch_sdpa_math() -> Callable[..., Any]:
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    def attention(
        query: Any,
        key: Any,
        value: Any,
        attn_mask: Any = None,
        is_causal: bool = False,
        scale: float | None = None,
    ) -> Any:
        with sdpa_kernel(SDPBackend.MATH):
            return F.scaled_dot_product_attention(
                query, key, value, attn_mask=attn_mask, is_causal=is_causal, scale=scale
            )

    return attention


# -- JAX ----------------------------------------------------------------------------------------
def _jax_setup() -> None:
    import jax

    jax.config.update("jax_enable_x64", True)  # float64 stays float64
    jax.config.update("jax_platforms", "cpu")


def _jax_softmax(log: bool) -> Callable[[], Callable[..., Any]]:
    def build() -> Callable[..., Any]:
        import jax
        import jax.numpy as jnp

        # called eagerly, as written in user code (under jax.jit, dot_product_attention takes
        # another path: in float16 it raises on CPU), so eager for every JAX kernel here
        kernel = jax.nn.log_softmax if log else jax.nn.softmax

        def softmax(x: Any, axis: int = -1) -> Any:
            return to_torch(kernel(jnp.asarray(to_numpy(x)), axis=axis))

        return softmax

    return build


def _jax_attention() -> Callable[..., Any]:
    import jax
    import jax.numpy as jnp

    from softmax_claimcheck.impl.unsupported import NotSupported

    kernel = jax.nn.dot_product_attention

    def attention(
        query: Any,
        key: Any,
        value: Any,
        attn_mask: Any = None,
        is_causal: bool = False,
        scale: float | None = None,
    ) -> Any:
        if value.shape[-1] != query.shape[-1]:
            raise NotSupported(
                "jax.nn.dot_product_attention requires the value head size to equal the "
                "query/key head size"
            )
        mask = None if attn_mask is None else to_numpy(attn_mask)
        lead, q, k, v, m = _flatten_heads(to_numpy(query), to_numpy(key), to_numpy(value), mask)
        # JAX's layout is (batch, seq, heads, dim) and its mask (batch, heads, L, S)
        kwargs: dict[str, Any] = {}
        if m is not None:
            kwargs["mask"] = jnp.asarray(m[:, None])
        if is_causal:
            kwargs["is_causal"] = True
        if scale is not None:
            kwargs["scale"] = scale
        out = kernel(
            jnp.asarray(q[:, :, None]), jnp.asarray(k[:, :, None]), jnp.asarray(v[:, :, None]),
            **kwargs,
        )  # fmt: skip
        out = np.asarray(out)[:, :, 0]
        return to_torch(out.reshape(*lead, *out.shape[1:]))

    return attention


# -- SciPy --------------------------------------------------------------------------------------
def _scipy_softmax(log: bool) -> Callable[[], Callable[..., Any]]:
    def build() -> Callable[..., Any]:
        import scipy.special

        kernel = scipy.special.log_softmax if log else scipy.special.softmax

        def softmax(x: Any, axis: int = -1) -> Any:
            return to_torch(kernel(to_numpy(x), axis=axis))

        return softmax

    return build


def _numpy_dtypes(dtype: str) -> str | None:
    if dtype == "bfloat16":
        return "SciPy works on numpy arrays, and numpy has no bfloat16"
    return None


# -- ONNX Runtime -------------------------------------------------------------------------------
ONNX_OPSET = 23  # the first opset with the standard Attention operator


def _onnx_elem(dtype: str) -> int:
    from onnx import TensorProto

    return {
        "float64": TensorProto.DOUBLE,
        "float32": TensorProto.FLOAT,
        "float16": TensorProto.FLOAT16,
        "bfloat16": TensorProto.BFLOAT16,
    }[dtype]


def _session(nodes: list[Any], inputs: list[tuple[str, int]], output: tuple[str, int]) -> Any:
    """An InferenceSession on the CPU for a graph built in memory (nothing is downloaded)."""
    import onnxruntime as ort
    from onnx import helper

    graph = helper.make_graph(
        nodes,
        "softmax_claimcheck",
        [helper.make_tensor_value_info(name, elem, None) for name, elem in inputs],
        [helper.make_tensor_value_info(output[0], output[1], None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)])
    model.ir_version = 10
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def _dtype_name(t: Any) -> str:
    return str(t.dtype).removeprefix("torch.")


def _ort_softmax(log: bool) -> Callable[[], Callable[..., Any]]:
    def build() -> Callable[..., Any]:
        from onnx import helper

        op = "LogSoftmax" if log else "Softmax"
        sessions: dict[tuple[str, int], Any] = {}

        def softmax(x: Any, axis: int = -1) -> Any:
            key = (_dtype_name(x), axis)
            if key not in sessions:
                elem = _onnx_elem(key[0])
                node = helper.make_node(op, ["x"], ["y"], axis=axis)
                sessions[key] = _session([node], [("x", elem)], ("y", elem))
            return to_torch(sessions[key].run(None, {"x": to_numpy(x)})[0])

        return softmax

    return build


def _ort_attention() -> Callable[..., Any]:
    from onnx import TensorProto, helper

    sessions: dict[tuple[Any, ...], Any] = {}

    def attention(
        query: Any,
        key: Any,
        value: Any,
        attn_mask: Any = None,
        is_causal: bool = False,
        scale: float | None = None,
    ) -> Any:
        dtype = _dtype_name(query)
        cache = (dtype, attn_mask is not None, is_causal, scale)
        if cache not in sessions:
            elem = _onnx_elem(dtype)
            attrs: dict[str, Any] = {"is_causal": int(is_causal)}
            if scale is not None:
                attrs["scale"] = float(scale)
            names = ["q", "k", "v"] + (["mask"] if attn_mask is not None else [])
            inputs = [(n, elem) for n in "qkv"]
            if attn_mask is not None:
                inputs.append(("mask", TensorProto.BOOL))
            node = helper.make_node("Attention", names, ["y"], **attrs)
            sessions[cache] = _session([node], inputs, ("y", elem))
        mask = None if attn_mask is None else to_numpy(attn_mask)
        lead, q, k, v, m = _flatten_heads(to_numpy(query), to_numpy(key), to_numpy(value), mask)
        # ONNX Attention (opset 23): 4-D (batch, heads, seq, dim); boolean mask True = attend
        feeds = {"q": q[:, None], "k": k[:, None], "v": v[:, None]}
        if m is not None:
            feeds["mask"] = np.ascontiguousarray(m[:, None])
        out = sessions[cache].run(None, feeds)[0][:, 0]
        return to_torch(out.reshape(*lead, *out.shape[1:]))

    return attention


def _ort_dtype_probe(kind: str, build: Callable[[], Callable[..., Any]]) -> Callable[[str], Any]:
    """ONNX Runtime's CPU provider has no kernel for some dtypes (bfloat16): one tiny call
    says so, with ORT's own message, before the properties run."""
    cache: dict[str, str | None] = {}

    def reason(dtype: str) -> str | None:
        if dtype not in cache:
            import torch

            fn = build()
            t = torch.ones(1, 2, 3, dtype=getattr(torch, dtype))
            try:
                fn(t, t, t) if kind == "attention" else fn(t, axis=-1)
                cache[dtype] = None
            except Exception as exc:
                text = str(exc).strip().splitlines()[0][:200]
                cache[dtype] = f"ONNX Runtime's CPU provider has no {dtype} kernel ({text})"
        return cache[dtype]

    return reason


def frameworks() -> list[Framework]:
    """The frameworks of the table, torch (the reference columns) first."""
    ort_softmax, ort_log, ort_att = _ort_softmax(False), _ort_softmax(True), _ort_attention
    sdpa = "SDPA convention bridged: (..., L, E) flattened to (B, L, 1 head, E)"
    return [
        Framework(
            "torch",
            ("torch",),
            [
                Kernel("torch.softmax", "softmax", _torch_softmax),
                Kernel("torch.log_softmax", "log-softmax", _torch_log_softmax),
                Kernel(
                    "torch SDPA (math)",
                    "attention",
                    _torch_sdpa_math,
                    note="F.scaled_dot_product_attention under sdpa_kernel(SDPBackend.MATH)",
                ),
            ],
            reference=True,
        ),
        Framework(
            "JAX",
            ("jax", "jaxlib", "ml_dtypes"),
            [
                Kernel("jax.nn.softmax", "softmax", _jax_softmax(False)),
                Kernel("jax.nn.log_softmax", "log-softmax", _jax_softmax(True)),
                Kernel(
                    "jax.nn.dot_product_attention",
                    "attention",
                    _jax_attention,
                    note=f"{sdpa}; boolean mask as (B, 1, L, S); x64 enabled; called eagerly",
                ),
            ],
            setup=_jax_setup,
        ),
        Framework(
            "SciPy",
            ("scipy",),
            [
                Kernel("scipy.special.softmax", "softmax", _scipy_softmax(False), _numpy_dtypes),
                Kernel(
                    "scipy.special.log_softmax",
                    "log-softmax",
                    _scipy_softmax(True),
                    _numpy_dtypes,
                ),
            ],
        ),
        Framework(
            "ONNX Runtime",
            ("onnxruntime", "onnx", "ml_dtypes"),
            [
                Kernel(
                    "onnxruntime Softmax",
                    "softmax",
                    ort_softmax,
                    _ort_dtype_probe("softmax", ort_softmax),
                    note=f"one Softmax node (opset {ONNX_OPSET}), built in memory",
                ),
                Kernel(
                    "onnxruntime LogSoftmax",
                    "log-softmax",
                    ort_log,
                    _ort_dtype_probe("log-softmax", ort_log),
                    note=f"one LogSoftmax node (opset {ONNX_OPSET}), built in memory",
                ),
                Kernel(
                    "onnxruntime Attention",
                    "attention",
                    ort_att,
                    _ort_dtype_probe("attention", ort_att),
                    note=f"the standard Attention node (opset {ONNX_OPSET}); {sdpa}",
                ),
            ],
        ),
    ]


def force_cpu() -> None:
    """Before any framework is imported: CPU backends only (CUDA builds are out of scope)."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
