"""The implementation registry, the library adapters' contracts, and the --impl plugin: what is
registered, how unavailable kernels are skipped, and how a bad --impl is refused."""

from __future__ import annotations

import numpy as np
import pytest

from softmax_claimcheck.impl import library, pytest_plugin, reference, registry
from softmax_claimcheck.impl.model import ALL_DTYPES, NUMPY_DTYPES, ImplCase, Implementation
from softmax_claimcheck.impl.unsupported import NotSupported

ROLES = {"softmax", "log-softmax", "normalizer", "attention"}
REGISTRY = registry.Registry.builtin()
# Ids and tags other checks select on: they must keep existing.
KEPT = {
    "numpy-stable": {"stable", "row-wise"},
    "numpy-naive": {"row-wise"},
    "numpy-article": {"stable"},
    "torch-stable": {"stable", "row-wise"},
    "torch-naive": {"row-wise"},
    "torch-article": {"stable"},
    "torch-softmax": {"stable", "row-wise", "library"},
    "numpy-attention": {"masking", "reference"},
    "torch-attention": {"masking", "reference"},
}
NEW = {
    "numpy-online": "softmax",
    "torch-online": "softmax",
    "numpy-log-stable": "log-softmax",
    "torch-log-stable": "log-softmax",
    "torch-log-softmax": "log-softmax",
    "numpy-sum-normalize": "normalizer",
    "torch-sum-normalize": "normalizer",
    "numpy-relu-normalize": "normalizer",
    "torch-relu-normalize": "normalizer",
    "sdpa-math": "attention",
    "sdpa-flash": "attention",
    "sdpa-efficient": "attention",
    "sdpa-cudnn": "attention",
    "torch-mha": "attention",
    "torch-compiled-softmax": "softmax",
}


def _all() -> list[Implementation]:
    return [i for role in ROLES for i in REGISTRY.implementations(role)]


# -- the registry -------------------------------------------------------------------------------
def test_existing_ids_keep_their_tags():
    for impl_id, tags in KEPT.items():
        assert tags <= REGISTRY.get(impl_id).tags, impl_id


def test_new_entries_have_their_roles():
    for impl_id, role in NEW.items():
        assert REGISTRY.get(impl_id).role == role, impl_id


def test_entries_are_well_formed():
    for impl in _all():
        assert impl.role in ROLES and impl.backend in ("numpy", "torch"), impl.id
        assert set(impl.dtypes) <= set(NUMPY_DTYPES if impl.backend == "numpy" else ALL_DTYPES)
        assert impl.backend == "torch" or impl.devices == ("cpu",), impl.id
        assert impl.description, impl.id


def test_sdpa_backends_are_library_attentions_with_a_probe():
    for backend in ("math", "flash", "efficient", "cudnn"):
        impl = REGISTRY.get(f"sdpa-{backend}")
        assert impl.tags == {"masking", "library"} and impl.available is not None


def test_compiled_softmax_is_registered_on_cuda_only():
    impl = REGISTRY.get("torch-compiled-softmax")
    assert impl.devices == ("cuda",) and "compiled" in impl.tags


def test_case_ids_read_as_implementation_device_dtype():
    ids = [p.id for p in REGISTRY.cases(ids=["numpy-stable"])]
    assert ids == [
        "numpy-stable-cpu-float64",
        "numpy-stable-cpu-float32",
        "numpy-stable-cpu-float16",
    ]


def test_cases_filter_by_role_and_tags():
    chosen = {p.values[0].impl.id for p in REGISTRY.cases("library-attention")}
    assert chosen == {"sdpa-math", "sdpa-flash", "sdpa-efficient", "sdpa-cudnn", "torch-mha"}


def test_normalizers_are_the_brain_teaser_formulas():
    x = np.array([[1.0, 3.0], [-1.0, 2.0]])
    np.testing.assert_allclose(
        REGISTRY.get("numpy-sum-normalize").fn(x), x / x.sum(-1, keepdims=True)
    )
    np.testing.assert_allclose(
        REGISTRY.get("numpy-relu-normalize").fn(x), [[0.25, 0.75], [0.0, 1.0]]
    )


# -- availability: probed once, skipped with the reason ------------------------------------------
def test_an_unavailable_case_is_kept_and_skipped_with_its_reason():
    calls = []

    def available(device: str, dtype: str) -> str | None:
        calls.append((device, dtype))
        return "no such kernel here" if dtype == "float16" else None

    impl = Implementation(
        "probe-test",
        "softmax",
        "numpy",
        reference.stable_softmax,
        ("cpu",),
        NUMPY_DTYPES,
        "probe test",
        available=available,
    )
    run_registry = REGISTRY.with_added([impl])
    first = run_registry.cases(ids=["probe-test"])
    run_registry.cases(ids=["probe-test"])
    assert "probe-test" not in REGISTRY  # a run's additions never reach another registry
    skipped = {p.id: [m.kwargs["reason"] for m in p.marks] for p in first}
    assert skipped == {
        "probe-test-cpu-float64": [],
        "probe-test-cpu-float32": [],
        "probe-test-cpu-float16": ["no such kernel here"],
    }
    assert sorted(calls) == sorted(("cpu", d) for d in NUMPY_DTYPES), "probed once per dtype"


def test_efficient_and_cudnn_attention_are_unavailable_on_cpu_with_a_reason():
    for backend in ("efficient", "cudnn"):
        reason = ImplCase(REGISTRY.get(f"sdpa-{backend}"), "cpu", "float32").skip_reason()
        assert reason and f"no SDPA {backend} kernel" in reason


def test_an_input_a_kernel_rejects_skips_the_check_instead_of_crashing():
    """Flash attention needs d_v = d_k: the adapter raises pytest's skip exception."""
    import torch

    q = torch.ones(1, 3, 8)
    v = torch.ones(1, 3, 2)
    for fn in (library.sdpa("flash"), library.multihead_attention):
        with pytest.raises(pytest.skip.Exception) as caught:
            fn(q, q, v)
        assert isinstance(caught.value, NotSupported) and str(caught.value)


def test_multihead_attention_mask_means_allowed():
    """nn.MultiheadAttention's boolean mask is True where attention is *blocked*: the adapter
    must invert ours."""
    rng = np.random.default_rng(0)
    q, k, v = (rng.normal(size=(1, 3, 4)) for _ in range(3))
    allowed = np.array([[True, False, False], [True, True, False], [False, True, True]])
    case = ImplCase(REGISTRY.get("torch-mha"), "cpu", "float64")
    expected = ImplCase(REGISTRY.get("numpy-attention"), "cpu", "float64")
    np.testing.assert_allclose(
        registry.to_numpy(case.attention(q, k, v, attn_mask=allowed)),
        expected.attention(q, k, v, attn_mask=allowed),
        atol=1e-12,
    )


@pytest.mark.gpu
@pytest.mark.skipif(not registry.cuda_available(), reason="no CUDA device on this machine")
def test_compiled_softmax_compiles_once_per_dtype():
    import torch
    from torch._dynamo.utils import counters

    before = counters["stats"]["unique_graphs"]
    for dtype in ALL_DTYPES:
        for shape, axis in (((5,), -1), ((3, 7), -1), ((2, 3, 4), 0), ((1, 9), 1)):
            x = torch.randn(*shape, device="cuda", dtype=getattr(torch, dtype))
            library.compiled_softmax(x, axis)
    assert counters["stats"]["unique_graphs"] - before <= len(ALL_DTYPES)


# -- --impl: resolving and probing ----------------------------------------------------------------
def test_scipy_softmax_registers_as_a_numpy_user_softmax():
    impl = pytest_plugin.from_option("scipy.special:softmax")
    assert (impl.id, impl.role, impl.backend) == ("user-softmax", "softmax", "numpy")
    assert impl.tags == {"row-wise", "stable", "user"}
    np.testing.assert_allclose(impl.fn(np.array([0.0, np.log(3.0)])), [0.25, 0.75])


def test_a_torch_only_dim_function_registers_as_torch(pytester):
    pytester.syspathinsert()
    pytester.makepyfile(mysoftmax="def torch_softmax(x, dim=-1):\n    return x.softmax(dim)\n")
    impl = pytest_plugin.from_option("mysoftmax:torch_softmax")
    assert (impl.id, impl.backend, impl.devices) == ("user-torch_softmax", "torch", ("cpu", "cuda"))
    assert impl.dtypes == ALL_DTYPES


BAD_USER_MODULE = """
import numpy as np

def raises(x, axis=-1):
    raise ValueError("boom")

def no_array():
    return 0.5

def two_arrays(x, y, axis=-1):
    return x

def total(x, axis=-1):
    return np.sum(x, axis=axis)
"""


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_module_xyz:softmax", "cannot import module 'no_such_module_xyz'"),
        ("badimpls:missing", "module 'badimpls' has no attribute 'missing'"),
        ("badimpls:np.pi", "float object is not callable"),
        ("badimpls:no_array", "wrong signature no_array()"),  # f(x) alone is the last axis
        ("badimpls:two_arrays", "wrong signature two_arrays(x, y, axis=-1)"),
        ("badimpls:raises", "raised ValueError: boom"),
        ("badimpls:total", "returned ndarray of shape (2,)"),
        ("badimpls", "expected package.module:function"),
    ],
)
def test_a_bad_impl_is_a_usage_error_naming_the_problem(pytester, spec, message):
    pytester.syspathinsert()
    pytester.makepyfile(badimpls=BAD_USER_MODULE)
    with pytest.raises(pytest.UsageError) as caught:
        pytest_plugin.from_option(spec)
    assert message in str(caught.value) and spec in str(caught.value)


def test_a_bad_impl_stops_the_run_with_a_clean_error(pytester):
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    result = pytester.runpytest_inprocess("--impl", "no_such_module_xyz:softmax")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --impl no_such_module_xyz:softmax: cannot import*"])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_two_functions_with_one_name_are_refused(pytester):
    pytester.syspathinsert()
    pytester.makepyfile(
        othersoftmax="def softmax(x, axis=-1):\n    return x\n",
        test_nothing="def test_nothing():\n    pass\n",
    )
    result = pytester.runpytest_inprocess(
        "--impl", "scipy.special:softmax", "--impl", "othersoftmax:softmax"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: implementation id(s) already taken: user-softmax*"])


# -- --impl and entry points in a run -------------------------------------------------------------
SEES_USER_IMPLS = """
import pytest

def test_user_implementations_are_in_the_run_registry(implementations):
    assert {i.id for i in implementations.implementations(tags={"user"})} == {
        "user-softmax", "user-offered"
    }
    # ... and in no claim's scope
    assert not implementations.scope_members("production-softmax") & {"user-softmax"}

@pytest.mark.cases("production-softmax", dtypes=("float64",))
def test_user_cases_are_parametrized(case):
    pass
"""


def test_impl_and_entry_points_are_registered_for_the_run_only(pytester):
    """An entry point of an installed package (a dist-info on sys.path) and an --impl both
    reach the run's registry and the checks of matching selections; the registry belongs to
    that run only."""
    pytester.syspathinsert()
    pytester.makepyfile(offered="def my_softmax(x, axis=-1):\n    return x / x.sum()\n")
    dist = pytester.mkdir("offered_pkg-1.0.dist-info")
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: offered-pkg\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        f"[{pytest_plugin.ENTRY_POINT_GROUP}]\noffered = offered:my_softmax\n"
    )
    pytester.makepyfile(test_sees=SEES_USER_IMPLS)
    result = pytester.runpytest_inprocess("--impl", "scipy.special:softmax", "-p", "no:html")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes["passed"] >= 3
    result.stdout.fnmatch_lines(["*collected 12 items*"])  # 1 + 11 cases, user ones included
    assert not [i for i in _all() if "user" in i.tags]


def test_a_broken_entry_point_is_a_usage_error_naming_it(pytester):
    pytester.syspathinsert()
    dist = pytester.mkdir("broken_pkg-1.0.dist-info")
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-pkg\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        f"[{pytest_plugin.ENTRY_POINT_GROUP}]\nbad = no_such_module_xyz:softmax\n"
    )
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    result = pytester.runpytest_inprocess("--claims-dir", "claims")  # a claims run loads them
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: entry point 'bad' (no_such_module_xyz:softmax)*"])


def test_an_impl_module_that_exits_on_import_is_a_usage_error(pytester):
    """`sys.exit()` while importing the module given to --impl: one line, exit 4, never an
    INTERNALERROR."""
    pytester.syspathinsert()
    pytester.makepyfile(exits="import sys\nsys.exit(3)\n")
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    result = pytester.runpytest_inprocess("--impl", "exits:softmax")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: --impl exits:softmax: importing 'exits' called sys.exit(3)"]
    )
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
