"""Any callable (issue 21, item 5): `f(x)` with no axis keyword (the softmax over the last axis,
said in the output), callable objects and nn.Modules, named from the command line as
`module:attribute` or as an instance `module:Class(literal arguments)`; the correct ones conform,
and the seam gives `--impl` the same."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from softmax_claimcheck.conformance import check
from softmax_claimcheck.conformance.results import NOT_SUPPORTED
from softmax_claimcheck.impl.loading import RegistryFunction, learn, load
from softmax_claimcheck.impl.unsupported import NotSupported

CONTROLS = "tests.conformance.callable_controls"


@pytest.mark.parametrize(
    ("target", "kind", "convention"),
    [
        (f"{CONTROLS}:fx_softmax", "softmax", "x"),
        (f"{CONTROLS}:softmax_object", "softmax", "dim"),
        (f"{CONTROLS}:SoftmaxObject(1.0)", "softmax", "dim"),
        (f"{CONTROLS}:softmax_module", "softmax", "x"),
        ("torch.nn:Softmax(dim=-1)", "softmax", "x"),
        ("torch.nn:LogSoftmax(dim=-1)", "log-softmax", "x"),
    ],
)
def test_correct_callables_conform(conform, target: str, kind: str, convention: str) -> None:
    code, out = conform(target)
    assert code == 0, out
    assert f"[{kind}, " in out and "CONFORMS" in out
    result = check(target)
    assert result.convention == convention
    if convention == "x":
        assert out.splitlines()[0] == f"{target}: called as f(x): softmax over the last axis"
        non_last = [c for c in result.checks if c.property == "axis-non-last"]
        assert {c.outcome for c in non_last} == {NOT_SUPPORTED}
        assert "axis-non-last on cpu/float64" in out  # the reason, printed
        assert "it takes no axis keyword" in out


def test_a_class_is_named_as_an_instance(conform) -> None:
    code, out = conform("torch.nn:Softmax")
    assert code == 2
    assert "is a class" in out and "'torch.nn:Softmax(dim=-1)'" in out


def test_instance_arguments_are_literals_never_evaluated(tmp_path, monkeypatch) -> None:
    marker = tmp_path / "evaluated"
    spec = f"torch.nn:Softmax(dim=open({str(marker)!r}, 'w').close())"
    with pytest.raises(Exception, match="not a literal"):
        load(spec)
    assert not marker.exists()
    made, name = load("torch.nn:Softmax(dim=-1)")
    assert name == "Softmax" and made.dim == -1


def test_fx_under_impl_takes_the_last_axis_only() -> None:
    """--impl calls through the same seam: a non-last axis is not supported (a skip), never
    emulated by moving axes around the user's function."""
    from tests.conformance.callable_controls import fx_softmax

    fn = RegistryFunction(learn(fx_softmax, "fx_softmax"))
    x = np.array([[0.0, 1.0], [2.0, 4.0]])
    np.testing.assert_allclose(fn(x, axis=-1).sum(axis=-1), 1.0)
    np.testing.assert_allclose(fn(x, axis=1).sum(axis=-1), 1.0)
    with pytest.raises(NotSupported, match="called as f\\(x\\)"):
        fn(x, axis=0)


def test_undeclared_dtype_of_an_fx_function_names_the_dtypes(conform) -> None:
    code, out = conform(f"{CONTROLS}:float16_refusing_fx")
    assert code == 2 and out.count("\n") == 1, out
    assert "pass --dtypes float64,float32" in out
    assert conform(f"{CONTROLS}:float16_refusing_fx", "--dtypes", "float64,float32")[0] == 0


def test_impl_takes_an_instance_made_from_the_command_line() -> None:
    from softmax_claimcheck.impl import pytest_plugin

    impl = pytest_plugin.from_option("torch.nn:Softmax(dim=-1)")
    assert (impl.id, impl.role, impl.backend) == ("user-Softmax", "softmax", "torch")
    x = torch.tensor([[0.0, 1.0, 2.0]], dtype=torch.float64)
    torch.testing.assert_close(impl.fn(x, axis=-1), torch.softmax(x, dim=-1))
    with pytest.raises(pytest.UsageError, match="is a class"):
        pytest_plugin.from_option("torch.nn:Softmax")


def test_impl_devices_are_checked_like_conforms(pytester) -> None:
    """--impl-devices tpu stops the run before any check with one line (pytest's exit 4)."""
    result = pytester.runpytest("--impl", "torch:softmax", "--impl-devices", "tpu,cpu",
                                "-p", "no:cacheprovider")  # fmt: skip
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--impl-devices: unknown device(s) tpu; choose from cpu*"])
