"""Issue 22, classes 3 and 4, on the project's own checks with a user's `--impl`.

Class 3: a NaN or an infinity is never evidence that a property holds. Every check that reaches
an all-NaN, all-+∞ or all-−∞ implementation fails that cell (never holds, never crashes; one NaN
per input: never crashes): a worst-row search or a minimum that drops NaN (every comparison
with NaN is False) would let it pass.

Class 4: a user's implementation that returns something that is no answer (a meta tensor, a
scalar, None, a list, a tuple, the wrong shape or dtype, a sparse tensor), ends the process, or
sleeps past the time bound fails only its own cells (ImplementationFailure /
ImplementationTimedOut); the article's verdicts stay as they are and the run is ok."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import pytest

from tests.engine.faults.runs import run

ROOT = Path(__file__).resolve().parents[3]
MODULE = "tests.engine.faults.bad_impls"


def user_cells(reports: Path) -> dict[str, collections.Counter[str]]:
    data = json.loads((reports / "verdict.json").read_text(encoding="utf-8"))
    cells: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for claim in data["claims"]:
        for check in claim["checks"]:
            implementation = check["params"].get("implementation", "")
            if implementation.startswith("user-"):
                cells[implementation.removeprefix("user-")][check["outcome"]] += 1
                if check["outcome"] in ("holds", "crashed"):
                    cells[implementation.removeprefix("user-")][check["nodeid"]] += 1
    return cells


def run_checks(tmp_path: Path, names: list[str], *args: str):
    reports = tmp_path / "reports"
    impls = [f"--impl={MODULE}:{name}" for name in names]
    result = run(ROOT, "tests/checks", *impls, *args, f"--reports-dir={reports}", plugins=None)
    return result, reports


NON_FINITE = ["all_nan", "all_inf", "all_neg_inf", "one_nan"]


def test_a_nan_or_an_infinity_fails_every_property_check_it_reaches(tmp_path):
    result, reports = run_checks(
        tmp_path, NON_FINITE, "-m", "not training", "-k", " or ".join(NON_FINITE)
    )
    assert "Traceback" not in result.text and "INTERNALERROR" not in result.text
    cells = user_cells(reports)
    for name in NON_FINITE:
        counts = cells[name]
        assert counts["fails"] >= 20, (name, dict(counts))  # the sweep reached many checks
        assert counts["crashed"] == 0, (name, dict(counts))
        if name.startswith("all_"):  # one_nan: a check that reads only other entries may hold
            assert counts["holds"] == 0, (name, dict(counts))
    data = json.loads((reports / "verdict.json").read_text())
    assert data["summary"]["finished"]  # no article claim was touched by these cells
    assert not any(c["verdict"] == "ERROR" for c in data["claims"]), result.text[-2000:]


NOT_AN_ANSWER = {
    "returns_meta": "device meta",
    "returns_scalar": "shape ()",
    "returns_python_float": "returned float",
    "returns_none": "returned NoneType",
    "returns_flattened": "for an answer of shape",
    "returns_int_dtype": "dtype torch.int64",
    "returns_complex_dtype": "dtype torch.complex128",
    "returns_list": "returned list",
    "returns_sparse": "torch.sparse_coo",
    "returns_tuple": "returned tuple",
    "exits": "os._exit(0)",
}
CLAIMS = ("--claim=outputs-sum-to-one", "--claim=implementations-compute-textbook-softmax")


def _messages(reports: Path) -> dict[str, set[str]]:
    data = json.loads((reports / "verdict.json").read_text(encoding="utf-8"))
    found: dict[str, set[str]] = collections.defaultdict(set)
    for claim in data["claims"]:
        for check in claim["checks"]:
            name = check["params"].get("implementation", "").removeprefix("user-")
            if name in NOT_AN_ANSWER and check["outcome"] == "fails":
                found[name].add(check["message"].splitlines()[0] if check["message"] else "")
    return found


def test_a_user_implementation_that_returns_no_answer_fails_only_its_cells(tmp_path):
    result, reports = run_checks(tmp_path, list(NOT_AN_ANSWER), *CLAIMS)
    assert result.ret == 0, result.text[-3000:]
    assert "Traceback" not in result.text and "INTERNALERROR" not in result.text
    data = json.loads((reports / "verdict.json").read_text())
    assert (data["summary"]["finished"], data["summary"]["ok"]) == (True, True)
    assert all(c["verdict"] == c["expect"] for c in data["claims"])
    cells, messages = user_cells(reports), _messages(reports)
    for name, words in NOT_AN_ANSWER.items():
        assert cells[name]["fails"] >= 1 and cells[name]["crashed"] == 0, (name, dict(cells[name]))
        assert any(words in m for m in messages[name]), (name, messages[name])


def test_a_user_implementation_that_sleeps_past_the_bound_fails_only_its_cells(tmp_path):
    result, reports = run_checks(
        tmp_path, ["sleeps"], "--claim=outputs-sum-to-one", "--timeout=10", "--impl-dtypes=float64"
    )
    assert result.ret == 0, result.text[-3000:]
    data = json.loads((reports / "verdict.json").read_text())
    assert (data["summary"]["finished"], data["summary"]["ok"]) == (True, True)
    assert all(c["verdict"] == c["expect"] for c in data["claims"])
    cells = user_cells(reports)
    assert cells["sleeps"]["fails"] >= 1 and cells["sleeps"]["crashed"] == 0, dict(cells["sleeps"])
    messages = {
        check["message"]
        for claim in data["claims"]
        for check in claim["checks"]
        if check["params"].get("implementation") == "user-sleeps" and check["outcome"] == "fails"
    }
    assert any("Timeout" in m or "did not return" in m for m in messages), messages


@pytest.mark.parametrize("name", ["exits"])
def test_a_user_implementation_wrong_on_the_probe_is_one_line(tmp_path, name):
    """Ending the process already on the probe's 2×3 input (at configure time, before any
    check): the process guard is on from configure, so the run stops with one line (exit 4)."""
    module = tmp_path / "wrong_at_once.py"
    body = {
        "returns_meta": "return torch.empty_like(x, device='meta')",
        "exits": "os._exit(0)",
    }[name]
    module.write_text(f"import os, torch\n\ndef {name}(x, dim=-1):\n    {body}\n")
    reports = tmp_path / "reports"
    result = run(
        ROOT, "tests/checks", f"--impl=wrong_at_once:{name}", f"--reports-dir={reports}",
        plugins=None, env={"PYTHONPATH": str(tmp_path)},
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.text[-2000:]
    words = {"returns_meta": "device meta", "exits": "os._exit(0)"}[name]
    assert f"--impl wrong_at_once:{name}" in result.text and words in result.text
    assert "Traceback" not in result.text
