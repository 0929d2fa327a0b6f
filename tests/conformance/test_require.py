"""Requirements (issue 21, item 4): `--require` (and `require=`) turns "not supported" into a
failure; a torch output without a gradient path fails the gradient property; the reason for
every "not supported" is printed and written on the page as text; a run in which every check
was not supported checked nothing and does not conform."""

from __future__ import annotations

import json
from pathlib import Path

from softmax_claimcheck.conformance import check
from softmax_claimcheck.conformance.results import FAIL, NOT_SUPPORTED, PASS

SCIPY = "scipy.special:softmax"
BROKEN = "softmax_claimcheck.impl.broken_callables"
REQUIRED = "required (--require gradient) but not supported: numpy input: no autograd"


def test_not_supported_is_shown_with_its_reason_and_passes(conform) -> None:
    code, out = conform(SCIPY)
    assert code == 0, out
    assert "not supported, and why:" in out
    assert "gradient on cpu/float64, cpu/float32, cpu/float16: numpy input: no autograd" in out


def test_require_turns_not_supported_into_a_failure(conform) -> None:
    code, out = conform(SCIPY, "--require", "gradient")
    assert code == 1, out
    assert f"FAIL: gradient [cpu/float64]: {REQUIRED}" in out
    result = check(SCIPY, require=["gradient"])
    gradient = {c.outcome for c in result.checks if c.property == "gradient"}
    assert gradient == {FAIL} and result.failed_properties() == ["gradient"]
    assert result.declared["require"] == ["gradient"]


def test_require_adds_to_the_selected_properties(conform) -> None:
    code, out = conform(SCIPY, "--property", "values", "--require", "gradient")
    assert code == 1 and "FAIL: gradient [cpu/float64]" in out
    result = check(SCIPY, properties=["values"], require="gradient")
    assert {p.id for p in result.properties} == {"values", "gradient"}


def test_require_keeps_undeclared_dtypes_not_supported(conform) -> None:
    """A requirement is on what the implementation declared: a dtype left out by --dtypes
    stays not supported."""
    code, out = conform("torch:softmax", "--dtypes", "float64", "--require", "gradient")
    assert code == 0, out
    result = check("torch:softmax", dtypes="float64", require=["gradient"])
    outcomes = {c.dtype: c.outcome for c in result.checks if c.property == "gradient"}
    assert outcomes == {"float64": PASS, "float32": NOT_SUPPORTED, "float16": NOT_SUPPORTED,
                        "bfloat16": NOT_SUPPORTED}  # fmt: skip


def test_require_a_keyword_the_implementation_lacks(conform) -> None:
    code, out = conform("torch.nn:Softmax(dim=-1)", "--require", "axis-non-last")
    assert code == 1 and "FAIL: axis-non-last [cpu/float64]: required" in out
    code, out = conform("tests.conformance.controls:flash_adapter", "--dtypes", "float32",
                        "--require", "boolean-mask")  # fmt: skip
    assert code == 1 and "takes no `attn_mask` keyword" in out


def test_a_detached_output_fails_gradient_even_alone(conform) -> None:
    """Before: with --property gradient only, "CONFORMS; 4 not supported"."""
    code, out = conform(f"{BROKEN}:detached_softmax", "--property", "gradient")
    assert code == 1, out
    assert "FAIL: gradient [cpu/float32]: returned a tensor without a gradient path" in out


def test_checked_nothing_does_not_conform(conform) -> None:
    code, out = conform(SCIPY, "--property", "gradient")
    assert code == 1, out
    assert "CHECKED NOTHING (every check was not supported)" in out
    assert not check(SCIPY, properties=["gradient"]).ok


def test_the_page_says_why_as_text(conform, tmp_path: Path) -> None:
    code, _ = conform(SCIPY, "--out", str(tmp_path), files=True)
    assert code == 0
    page = (tmp_path / "conformance.html").read_text(encoding="utf-8")
    assert "<h2>Not supported, and why</h2>" in page
    assert "<li>gradient on cpu/float64, cpu/float32, cpu/float16: numpy input: no autograd" in page
    assert "<li>all 15 properties on cpu/bfloat16" not in page  # numpy: no bfloat16 column
    data = json.loads((tmp_path / "conformance.json").read_text(encoding="utf-8"))
    reasons = {c["message"] for c in data["checks"] if c["outcome"] == NOT_SUPPORTED}
    assert reasons == {"numpy input: no autograd"}
