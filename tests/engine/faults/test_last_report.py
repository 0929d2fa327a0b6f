"""Issue 22, class 7: a usage error never destroys the last report.

A typo in --claim, a -k or -m expression pytest cannot parse: the run stops with one line (exit
4) before any check, and the previous run's report stays byte for byte (and the logs beside it)."""

from __future__ import annotations

import pytest

from tests.engine.faults.runs import assert_clean_failure, project, run

LAST = '{"summary": {"finished": true, "ok": true}, "claims": [], "marker": "the last run"}\n'

CASES = {
    "claim-typo": (["--claim", "good-clam"], "unknown claim"),
    "claim-empty": (["--claim="], "unknown claim"),
    "claim-one-typo-of-two": (["--claim", "good-claim", "--claim", "nope"], "nope"),
    "k-unparsable": (["-k", "good and"], "-k"),
    "m-unparsable": (["-m", "slow("], "-m"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_usage_error_keeps_the_last_report(tmp_path, case):
    args, words = CASES[case]
    root = project(tmp_path / "proj", expect="REFUTED")  # a run that checked would fail anyway
    reports = root / "reports"
    reports.mkdir()
    (reports / "verdict.json").write_text(LAST)
    (reports / "verdict.html").write_text("<html>the last run</html>")
    (reports / "junit.xml").write_text("<testsuites/>")
    result = run(root, "tests", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.text[-2000:]
    assert_clean_failure(result, words)
    assert (reports / "verdict.json").read_text() == LAST
    assert (reports / "verdict.html").read_text() == "<html>the last run</html>"
    assert (reports / "junit.xml").read_text() == "<testsuites/>"
