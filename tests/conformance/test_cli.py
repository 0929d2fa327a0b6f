"""The user's interface: `softmax-claimcheck conform`, its exit codes, output and files, and the
Python entry point (`check`, `assert_conforms`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from softmax_claimcheck.conformance import ConformanceError, assert_conforms, check
from softmax_claimcheck.conformance.results import EXPECTED_FAIL, UNEXPECTED_PASS
from softmax_claimcheck.impl import broken
from softmax_claimcheck.impl.model import KnownDeviation
from softmax_claimcheck.impl.registry import Registry

ROOT = Path(__file__).resolve().parents[2]
CONTROLS = "tests.conformance.controls"


@pytest.mark.parametrize(
    "args",
    [
        ["scipy.special:softmax"],
        ["torch:softmax"],
        ["torch:log_softmax"],
        ["torch.nn.functional:scaled_dot_product_attention"],
        [f"{CONTROLS}:warns_softmax"],
        [f"{CONTROLS}:no_float16_softmax", "--dtypes", "float64,float32,bfloat16"],
        [f"{CONTROLS}:flash_adapter"],
        [f"{CONTROLS}:float32_only_softmax", "--dtypes", "float32"],
    ],
    ids=[
        "scipy",
        "torch-softmax",
        "torch-log-softmax",
        "sdpa",
        "warns",
        "no-float16",
        "flash",
        "float32-only",
    ],
)
def test_correct_controls_conform(conform, args) -> None:
    code, out = conform(*args)
    assert code == 0, out
    assert "CONFORMS" in out


def test_warnings_are_recorded_not_errors(conform) -> None:
    code, out = conform(f"{CONTROLS}:warns_softmax")
    assert code == 0
    assert "DeprecationWarning: warns_softmax is deprecated" in out
    result = check(f"{CONTROLS}:warns_softmax")
    warned = {w for c in result.checks for w in c.warnings}
    assert "RuntimeWarning: −∞ in the input" in warned
    assert any("-inf seen" in c.output for c in result.checks)


def test_undeclared_dtype_that_raises_is_a_usage_error_naming_the_dtypes(conform) -> None:
    """Without --dtypes every dtype of the backend is tried: one that raises is one line and
    exit 2 naming --dtypes to pass (it was one failure per property, 13 times)."""
    code, out = conform(f"{CONTROLS}:no_float16_softmax")
    assert code == 2, out
    assert out.count("\n") == 1, out
    assert "TypeError: no_float16_softmax: float16 is not supported" in out
    assert "pass --dtypes float64,float32,bfloat16" in out
    assert "Traceback" not in out
    # declared, float16 is simply not supported; an exception on a declared dtype still fails
    assert conform(f"{CONTROLS}:no_float16_softmax", "--dtypes", "float64,float32")[0] == 0
    result = check(f"{CONTROLS}:no_float16_softmax", dtypes="float64,float16")
    assert {c.dtype for c in result.failures} == {"float16"}


def test_sys_exit_is_the_implementations_behaviour(conform) -> None:
    code, out = conform(f"{CONTROLS}:exits_softmax", "--dtypes", "float64,float16")
    assert code == 1
    assert "called sys.exit(3)" in out
    code, out = conform(f"{CONTROLS}:exits_softmax")
    assert code == 2 and "called sys.exit(3) on float16 input" in out, out
    assert conform(f"{CONTROLS}:exits_softmax", "--dtypes", "float64,float32")[0] == 0


def test_declared_fully_masked_behaviour(conform) -> None:
    """Recorded by default; checked against what is declared."""
    code, out = conform("torch:softmax", "--property", "fully-masked-row")
    assert code == 0 and "beh: nan" in out
    assert (
        conform("torch:softmax", "--property", "fully-masked-row", "--fully-masked", "nan")[0] == 0
    )
    code, out = conform(
        "torch:softmax", "--property", "fully-masked-row", "--fully-masked", "zeros"
    )
    assert code == 1 and "declared --fully-masked zeros" in out
    sdpa = "torch.nn.functional:scaled_dot_product_attention"
    assert conform(sdpa, "--property", "fully-masked-row", "--fully-masked", "zeros")[0] == 0


@pytest.mark.parametrize(
    "args",
    [
        ["no_such_module_xyz:softmax"],
        ["scipy.special"],
        ["scipy.special:no_such_function"],
        ["numpy:pi"],
        ["scipy.special:softmax", "--kind", "sigmoid"],
        ["scipy.special:softmax", "--fully-masked", "maybe"],
    ],
)
def test_usage_errors_exit_2(conform, args) -> None:
    code, out = conform(*args)
    assert code == 2, out


def test_uncallable_function_is_a_usage_error_unless_forced(conform) -> None:
    """A function that raises on every input cannot be probed (exit 2, with its exception);
    forced with --kind and --backend, every check fails with the exception (exit 1)."""
    code, out = conform(f"{CONTROLS}:always_raises")
    assert code == 2 and "ValueError: always" in out
    code, out = conform(f"{CONTROLS}:always_raises", "--kind", "softmax", "--backend", "numpy")
    assert code == 1 and "raised ValueError: always" in out


def test_writes_page_and_json(conform, tmp_path: Path) -> None:
    code, _ = conform(
        "softmax_claimcheck.impl.broken:modifies_input", "--out", str(tmp_path), files=True
    )
    assert code == 1
    data = json.loads((tmp_path / "conformance.json").read_text())
    assert data["ok"] is False and data["failed_properties"] == ["input-not-modified"]
    assert {c["outcome"] for c in data["checks"]} >= {"pass", "fail", "behaviour"}
    page = (tmp_path / "conformance.html").read_text()
    assert "<script" not in page and "input-not-modified" in page and "http" not in page.lower()


def test_python_entry_point() -> None:
    from scipy.special import softmax

    result = check(softmax, dtypes="float64,float32")
    assert result.ok, result.summary()
    assert {c.dtype for c in result.checks if c.outcome == "not supported"} >= {"float16"}
    assert_conforms(softmax)
    with pytest.raises(ConformanceError, match="axis-non-last"):
        assert_conforms(broken.axis_ignored)


BUILTINS = [
    i.id
    for i in Registry.builtin().implementations(role=None)
    if i.role in ("softmax", "log-softmax", "attention") and "cpu" in i.devices
]


@pytest.mark.parametrize("impl_id", BUILTINS)
def test_builtins_conform_with_their_known_deviations(impl_id: str) -> None:
    """Each built-in conforms on the CPU once its known deviations (data on its entry in
    impl/catalogue.py) are expected; none of those deviations has stopped occurring (that would
    fail: strict)."""
    result = check(Registry.builtin().get(impl_id))
    if result.checked_nothing:  # a kernel this machine lacks (SDPA's CUDA backends): no verdict
        assert "CHECKED NOTHING" in result.summary() and not result.ok
        return
    assert result.ok, result.summary()


def test_known_deviations_are_expected_and_strict() -> None:
    naive = check(Registry.builtin().get("numpy-naive"), dtypes="float64")
    assert {c.property for c in naive.checks if c.outcome == EXPECTED_FAIL} >= {
        "large-scores",
        "very-negative-scores",
    }
    stable = Registry.builtin().get("numpy-stable")
    pretend = replace(stable, known_deviations=(KnownDeviation(frozenset({"values"}), "pretend"),))
    result = check(pretend, dtypes="float64", properties=["values"])
    assert not result.ok
    assert result.checks[0].outcome == UNEXPECTED_PASS


@pytest.mark.parametrize("how", ["console-script", "python-m"])
def test_installed_command_from_another_directory(tmp_path: Path, how: str) -> None:
    command = (
        [str(Path(sys.executable).with_name("softmax-claimcheck"))]
        if how == "console-script"
        else [sys.executable, "-m", "softmax_claimcheck"]
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [*command, "conform", "scipy.special:softmax"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "conformance-report" / "conformance.html").exists()
    assert "CONFORMS" in done.stdout
