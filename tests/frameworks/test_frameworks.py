"""The frameworks table (softmax_claimcheck/frameworks): the generator on an in-memory fake
framework, each real adapter against the exact oracle on small input (skipped with its reason
when the framework is not installed), and the not-installed path."""

from __future__ import annotations

import builtins
import importlib.util
import math
from typing import Any

import numpy as np
import pytest

from softmax_claimcheck.frameworks import adapters as A
from softmax_claimcheck.frameworks import measure as M
from softmax_claimcheck.frameworks import table as T
from softmax_claimcheck.impl import oracle

torch = pytest.importorskip("torch")


# -- a fake framework, in memory --------------------------------------------------------------
def _fake_softmax() -> Any:
    """A float64-internal softmax that flushes weights below e^-50 to 0 and gives zeros for an
    all -inf row: values the table must report as measured."""

    def softmax(x: Any, axis: int = -1) -> Any:
        a = A.to_numpy(x).astype(np.float64)
        with np.errstate(all="ignore"):
            top = np.max(a, axis=axis, keepdims=True)
            e = np.exp(a - np.where(np.isfinite(top), top, 0.0))
            e = np.where(a - top < -50.0, 0.0, e)
            out = e / np.sum(e, axis=axis, keepdims=True)
        out = np.where(np.isnan(out), 0.0, out)
        return A.to_torch(out.astype(A.to_numpy(x).dtype))

    return softmax


def _fake_framework(name: str = "Fake", modules: tuple[str, ...] = ("numpy",)) -> A.Framework:
    return A.Framework(
        name,
        modules,
        [
            A.Kernel(
                "fake.softmax",
                "softmax",
                _fake_softmax,
                lambda dtype: "no bfloat16 in the fake" if dtype == "bfloat16" else None,
            )
        ],
    )


FAST = ["values", "fully-masked-row"]


@pytest.fixture(scope="module")
def fake_data() -> dict[str, Any]:
    return T.collect([_fake_framework()], properties=FAST)


def test_fake_framework_table_values(fake_data: dict[str, Any]) -> None:
    kernel = fake_data["frameworks"][0]["kernels"][0]
    assert kernel["status"] == "ran"
    measured = kernel["measured"]
    gap = measured["underflow-gap"]
    for dtype in ("float64", "float32"):
        # the fake's flush threshold (gap 50) is found by bisection to within 1 %
        assert gap[dtype]["value"] == pytest.approx(50.0, rel=0.01)
    # float16 underflows by itself before the fake flushes: the correctly rounded threshold
    assert gap["float16"]["value"] == pytest.approx(M.exact_underflow_gap("float16"), rel=0.01)
    assert gap["bfloat16"]["text"].startswith("n/s: no bfloat16 in the fake")
    assert measured["fully-masked"]["float32"]["detail"] == "zeros"
    assert measured["accuracy"]["float64"]["value"] < 4
    cells = {c["dtype"]: c for c in kernel["conformance"]["checks"]}
    assert cells["bfloat16"]["outcome"] == "not supported"


def test_fake_framework_markdown(fake_data: dict[str, Any], tmp_path: Any) -> None:
    written = T.write(fake_data, tmp_path / "frameworks.md", tmp_path / "reports")
    md = (tmp_path / "frameworks.md").read_text()
    assert "Generated" in md and fake_data["header"]["commit"] in md
    assert "Fake: `fake.softmax`" in md
    assert "zeros [0, 0, 0, 0]" in md  # the fully masked row as a value
    assert "fake.softmax` in bfloat16: no bfloat16 in the fake" in md
    assert "| values |" in md
    assert (tmp_path / "reports" / "fake.softmax" / "conformance.json").exists()
    assert tmp_path / "reports" / "frameworks.json" in written
    html = (tmp_path / "reports" / "frameworks.html").read_text()
    assert "<script" not in html and "fake.softmax" in html


def test_not_installed_is_not_run_with_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_jax(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "jax" or name.startswith("jax."):
            raise ImportError(f"No module named {name!r} (simulated)")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_jax)
    monkeypatch.setattr(importlib, "import_module", lambda name, package=None: no_jax(name))
    fw = next(f for f in A.frameworks() if f.name == "JAX")  # the real entry, jax hidden
    data = T.collect([fw], properties=FAST)
    entry = data["frameworks"][0]
    assert entry["status"] == "not run"
    assert "not installed" in entry["reason"] and "jax" in entry["reason"]
    assert "softmax-claimcheck[frameworks]" in entry["reason"]
    assert all(k["status"] == "not run" for k in entry["kernels"])
    assert "conformance" not in entry["kernels"][0]  # nothing ran, nothing passed
    md = T.markdown(data)
    assert "not run: not installed" in md
    assert "pass" not in md.split("## Conformance properties")[1].split("Regenerate")[0].replace(
        "pass / ", ""
    )
    assert data["header"]["not_run"]["JAX"].startswith("not installed")


def test_require_fails_when_a_framework_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setattr(A, "frameworks", lambda: [_fake_framework("Ghost", ("no_such_module_x",))])
    code = T.main(["--md", str(tmp_path / "f.md"), "--reports", str(tmp_path / "r"),
                   "--require", "all"])  # fmt: skip
    assert code == 1
    assert "not run: not installed" in (tmp_path / "f.md").read_text()


def test_cuda_is_out_of_scope() -> None:
    assert A.Framework.device_reason("cuda") == A.CUDA_OUT_OF_SCOPE
    assert A.Framework.device_reason("cpu") is None


# -- the real adapters against the oracle --------------------------------------------------------
def _kernels() -> list[Any]:
    return [
        pytest.param(fw, k, id=k.id.replace(" ", "_")) for fw in A.frameworks() for k in fw.kernels
    ]


X = np.array([[0.5, -1.25, 2.0, -np.inf, 0.0], [3.0, 3.0, -2.5, 1.0, -0.75]])


@pytest.mark.parametrize(("fw", "kernel"), _kernels())
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_adapter_matches_oracle(fw: A.Framework, kernel: A.Kernel, dtype: str) -> None:
    A.force_cpu()
    reason = fw.unavailable()
    if reason is not None:
        pytest.skip(f"{fw.name}: {reason}")
    fn = kernel.build()
    tdt = getattr(torch, dtype)
    tol = 1e-12 if dtype == "float64" else 1e-6
    if kernel.id.startswith(("jax.nn.dot", "onnxruntime Attention")):
        tol = (
            1e-6  # they compute attention in float32 inside, also for float64 (the table's finding)
        )
    if kernel.kind == "attention":
        rng = np.random.default_rng(0)
        q, k, v = (np.round(rng.uniform(-2, 2, (1, 2, n, 4)) * 8) / 8 for n in (3, 5, 5))
        mask = np.array([[True, False, True, True, False]] * 3)
        out = fn(*(torch.tensor(a, dtype=tdt) for a in (q, k, v)), attn_mask=torch.tensor(mask))
        from softmax_claimcheck.conformance.harness import exact_attention

        expected = exact_attention(q, k, v, mask=mask)
    else:
        out = fn(torch.tensor(X, dtype=tdt), **{"dim" if "torch" in kernel.id else "axis": -1})
        expected = oracle.log_softmax(X) if kernel.kind == "log-softmax" else oracle.softmax(X)
    assert isinstance(out, torch.Tensor) and out.dtype == tdt
    got = out.double().numpy()
    finite = np.isfinite(expected)
    assert np.array_equal(got[~finite], expected[~finite])
    assert np.max(np.abs(got[finite] - expected[finite])) < tol


def test_bfloat16_bridge_round_trips() -> None:
    pytest.importorskip("ml_dtypes", reason="ml_dtypes comes with jax and onnx (frameworks extra)")
    t = torch.tensor([1000.0, 999.0, -math.inf]).to(torch.bfloat16)
    a = A.to_numpy(t)
    assert a.dtype.name == "bfloat16"
    back = A.to_torch(a)
    assert back.dtype == torch.bfloat16 and torch.equal(back, t)
    assert back.tolist()[:2] == [1000.0, 1000.0]  # 999 rounds to 1000 on input


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed "
                    "(pip install 'softmax-claimcheck[frameworks]')")  # fmt: skip
def test_jax_fully_masked_attention_is_the_mean_of_all_values() -> None:
    """The issue's observation, as a regression check on the measured cell."""
    fw = next(f for f in A.frameworks() if f.name == "JAX")
    assert fw.unavailable() is None
    kernel = next(k for k in fw.kernels if k.kind == "attention")
    s = T.subject(kernel, kernel.build())
    from softmax_claimcheck.conformance.harness import Ctx

    cell = M.fully_masked(Ctx(s, "cpu", "float32"))
    assert cell.detail == "mean of all values"


def test_another_frameworks_gradient_is_not_supported_but_a_torch_reference_fails() -> None:
    """A torch implementation without a gradient path fails `gradient` (issue 21); a kernel of
    another framework adapted to torch tensors is out of torch autograd's reach: not supported,
    with that reason (the table's gradient row stays n/s for JAX, SciPy, ONNX Runtime)."""
    other = T.collect([_fake_framework()], properties=["gradient"])
    checks = other["frameworks"][0]["kernels"][0]["conformance"]["checks"]
    assert {c["outcome"] for c in checks} == {"not supported"}
    assert "torch autograd does not reach it" in checks[0]["message"]
    reference = _fake_framework()
    reference.reference = True
    as_torch = T.collect([reference], properties=["gradient"])
    checks = as_torch["frameworks"][0]["kernels"][0]["conformance"]["checks"]
    assert {c["outcome"] for c in checks if c["dtype"] != "bfloat16"} == {"fail"}
