"""Usage errors of `softmax-claimcheck conform` (issue 21, item 5): each is one line on stderr,
exit 2, no traceback, with the option or spelling that fixes it; nothing is judged and no
report is written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from softmax_claimcheck import cli

SCIPY = "scipy.special:softmax"
TORCH = "torch:softmax"


def one_line_usage_error(code: int, out: str) -> str:
    assert code == 2, out
    assert out.count("\n") == 1 and out.endswith("\n"), out
    assert "Traceback" not in out
    return out


# (arguments, a fragment of the message that fixes it)
CASES = {
    "unknown-devices": ([TORCH, "--devices", "tpu,garbage"], "choose from cpu, cuda"),
    "devices-empty": ([TORCH, "--devices", ","], "--devices is empty"),
    "numpy-on-a-gpu-only": ([SCIPY, "--devices", "cuda"], "pass --devices cpu"),
    "unknown-dtype": ([SCIPY, "--dtypes", "float33"], "did you mean float32?"),
    "dtypes-empty": ([SCIPY, "--dtypes", ","], "--dtypes is empty"),
    "numpy-bfloat16": ([SCIPY, "--dtypes", "float32,bfloat16"], "numpy has no bfloat16"),
    "unknown-property": ([SCIPY, "--property", "sums-to-won"], "did you mean sums-to-one?"),
    "property-of-another-kind": ([SCIPY, "--property", "causal"], "a property of attention"),
    "unknown-require": ([SCIPY, "--require", "gradiant"], "did you mean gradient?"),
    "no-colon": (["torch.nn.functional.softmax"], "e.g. torch.nn.functional:softmax"),
    "not-callable": (["numpy:pi"], "not callable"),
    "a-class": (["torch.nn:Softmax"], "torch.nn:Softmax(dim=-1)"),
    "not-a-literal": (["torch.nn:Softmax(dim=d)"], "must be literals"),
    "constructor-raises": (["torch.nn:Softmax(foo=1)"], "unexpected keyword argument 'foo'"),
    "no-attribute": (["numpy:soft-max"], "has no attribute 'soft-max'"),
    "no-module": (["no_such_module_xyz:softmax"], "cannot import module"),
    "bad-kind": ([SCIPY, "--kind", "sigmoid"], "invalid choice: 'sigmoid'"),
    "unknown-option": ([SCIPY, "--frobnicate"], "unrecognized arguments: --frobnicate"),
    "no-target": ([], "required: MODULE:FUNCTION"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_usage_error_is_one_line_with_its_fix(conform, case: str) -> None:
    args, fix = CASES[case]
    out = one_line_usage_error(*conform(*args))
    assert fix in out, out


def test_devices_not_on_this_machine_are_a_usage_error(conform) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    out = one_line_usage_error(*conform(TORCH, "--devices", "cuda"))
    assert "no CUDA device on this machine" in out and "pass --devices cpu" in out
    # beside a device that runs, it is only not supported there (with its reason)
    code, out = conform(TORCH, "--devices", "cpu,cuda", "--dtypes", "float64")
    assert code == 0 and "cuda/float64: no CUDA device on this machine" in out, out


def test_out_pointing_at_a_file(conform, tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    target.write_text("mine", encoding="utf-8")
    out = one_line_usage_error(*conform(SCIPY, "--out", str(target), files=True))
    assert "is a file, not a folder" in out
    assert target.read_text(encoding="utf-8") == "mine"
    out = one_line_usage_error(*conform(SCIPY, "--out", str(target / "sub"), files=True))
    assert "cannot write the report" in out


def test_read_only_working_directory(conform, tmp_path: Path, monkeypatch) -> None:
    """The default --out is ./conformance-report: a folder that cannot be written is a usage
    error before anything runs (as root, where permissions do not stop a write, the refusal
    is the file system's, simulated)."""
    monkeypatch.chdir(tmp_path)
    if os.geteuid() == 0:

        def refuse(self: Path, *args: object, **kwargs: object) -> None:
            raise PermissionError(13, "Permission denied", str(self))

        monkeypatch.setattr(Path, "mkdir", refuse)
    else:
        tmp_path.chmod(0o555)
    try:
        out = one_line_usage_error(*conform(SCIPY, files=True))
    finally:
        tmp_path.chmod(0o755)
    assert "cannot write the report to conformance-report/ (Permission denied)" in out
    assert "--out DIR" in out and "--no-files" in out


def test_help_still_exits_0(capsys) -> None:
    assert cli.main(["conform", "--help"]) == 0
    assert "--require" in capsys.readouterr().out
