"""Issue 22, class 5: one line where a traceback was.

A control character in a claim file (PyYAML's reader rejects it before any mark exists), the
plugin disabled (`-p no:claimcheck`, in this kind of project and in an unrelated one), and the
reports folder replaced or removed while the run goes on: each gives one line and a non-zero
exit status (or, in an unrelated project, an ordinary run), never an INTERNALERROR."""

from __future__ import annotations

import pytest

from tests.engine.faults.runs import CHECK, assert_clean_failure, flags, project, run

CONTROL = {
    "bell": "\x07",
    "nul": "\x00",
    "escape": "\x1b",
    "delete": "\x7f",
    "noncharacter": "\ufffe",
}


@pytest.mark.parametrize("case", list(CONTROL))
def test_a_control_character_in_a_claim_file_is_one_line(tmp_path, case):
    root = project(tmp_path / "proj")
    bad = root / "claims" / "claims.yaml"
    text = bad.read_text().replace("shift invariant", f"shift{CONTROL[case]}invariant")
    bad.write_text(text, encoding="utf-8")
    result = run(root, "tests")
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.text[-2000:]
    assert_clean_failure(result, "claims.yaml:5:", "control character", "not allowed")
    assert flags(root / "reports") == (False, False)


def test_plugin_disabled_in_an_unrelated_project_is_an_ordinary_run(tmp_path):
    (tmp_path / "test_plain.py").write_text("def test_plain():\n    assert True\n")
    result = run(tmp_path, "-p", "no:claimcheck", plugins=None)
    assert result.ret == 0, result.text[-2000:]
    assert "INTERNALERROR" not in result.text and "1 passed" in result.text


@pytest.mark.parametrize("disabled", ["no:claimcheck", "no:claimcheck_impl"])
def test_plugin_disabled_in_a_claims_project_fails_without_a_traceback(tmp_path, disabled):
    root = project(tmp_path / "proj")
    result = run(root, "tests", "-p", disabled, plugins=None)
    if disabled == "no:claimcheck":
        assert result.ret != 0, result.text[-2000:]
        assert "INTERNALERROR" not in result.text and "Traceback" not in result.text
    else:  # the checks of this project need no implementation: the claims run goes on
        assert result.ret == 0, result.text[-2000:]
        assert flags(root / "reports") == (True, True)


REPLACE = """\
import os, shutil, pytest
from pathlib import Path

@pytest.mark.claim("good-claim")
def test_good(evidence):
    shutil.rmtree("reports")
    {after}
    evidence.property_holds("one", True, 1, "1")
"""


@pytest.mark.parametrize(
    "after",
    [
        "Path('reports').write_text('a file now')",
        "pass",
        "os.symlink('/etc/hostname', 'reports')",
    ],
    ids=["replaced-by-a-file", "removed", "replaced-by-a-symlink-to-a-file"],
)
def test_the_reports_folder_replaced_during_the_run_is_one_line(tmp_path, after):
    root = project(tmp_path / "proj", check=REPLACE.format(after=after))
    result = run(root, "tests")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.text[-2000:]
    assert_clean_failure(result, "junit.xml was not written")
    assert "claims: FAILED" in result.text
    if after == "pass":  # the folder can be made again: the report says what went wrong
        assert flags(root / "reports") == (True, False)


def test_check_is_fine_reference(tmp_path):
    """The project these faults start from is a passing claims run."""
    root = project(tmp_path / "proj", check=CHECK)
    assert run(root, "tests").ret == 0
